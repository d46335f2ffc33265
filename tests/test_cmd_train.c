/* test_cmd_train: `kestrel train` argument and environment handling, run
 * in-process: exit statuses, report lines on KESTREL_REPORT_FD, and the
 * Hyperband hand-off (KESTREL_BUDGET, KESTREL_CHECKPOINT_DIR,
 * KESTREL_RESUME_FROM) continuing a run where the last one stopped. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "check_main.h"
#include "cmd_train.h"
#include "../trainer/train_config.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_cmd_train.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    unsetenv("KESTREL_BUDGET");
    unsetenv("KESTREL_CHECKPOINT_DIR");
    unsetenv("KESTREL_RESUME_FROM");
    unsetenv("KESTREL_REPORT_FD");
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Runs `train ARGS... --set data=synthetic-classification ...` with the
 * report fd on a fresh file; returns the exit status and the lines read. */
static int run(const char *report, char *out, size_t n, const char *extra)
{
    char rpath[128];
    snprintf(rpath, sizeof rpath, "%s/%s", dir, report);
    int fd = open(rpath, O_CREAT | O_TRUNC | O_RDWR, 0600);
    ck_assert_int_ge(fd, 0);
    char fds[16];
    snprintf(fds, sizeof fds, "%d", fd);
    setenv("KESTREL_REPORT_FD", fds, 1);
    char *argv[] = {"train", "--set", "data=synthetic-classification", "--set=epochs=4",
                    "--set", "synthetic_samples=600", "--set", (char *)extra, NULL};
    int status = cmd_train_main(extra ? 8 : 6, argv);
    ssize_t got = pread(fd, out, n - 1, 0);
    out[got > 0 ? got : 0] = '\0';
    close(fd);
    return status;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

START_TEST(usage_errors)
{
    char *bad_opt[] = {"train", "--set", "lrr=1", NULL};
    ck_assert_int_eq(cmd_train_main(3, bad_opt), 2);
    char *bad_arg[] = {"train", "--frobnicate", NULL};
    ck_assert_int_eq(cmd_train_main(2, bad_arg), 2);
    /* a file that cannot be read is exit 1, as a spec's is for kestrel run
     * (a missing --config, teacher or resume file was exit 2, a missing CSV
     * 1) */
    char *missing[] = {"train", "--config", "/nonexistent/x.json", NULL};
    ck_assert_int_eq(cmd_train_main(3, missing), 1);
    char *no_teacher[] = {"train", "--set", "teacher=/nonexistent/t.kck", NULL};
    ck_assert_int_eq(cmd_train_main(3, no_teacher), 1);
    /* an option error, found before the data is read: it was the data
     * load's, exit 1 */
    char *mnist[] = {"train", "--set", "data=mnist", NULL};
    ck_assert_int_eq(cmd_train_main(3, mnist), 2);
    setenv("KESTREL_BUDGET", "-1", 1);
    char *plain[] = {"train", NULL};
    ck_assert_int_eq(cmd_train_main(1, plain), 2);
}
END_TEST

START_TEST(help)
{
    char *argv[] = {"train", "--help", NULL};
    ck_assert_int_eq(cmd_train_main(2, argv), 0);
}
END_TEST

START_TEST(reports_on_fd)
{
    char out[8192];
    ck_assert_int_eq(run("r.jsonl", out, sizeof out, "hidden=16"), 0);
    ck_assert_int_eq(count_lines(out), 5);
    ck_assert_ptr_nonnull(strstr(out, "{\"step\":1,"));
    ck_assert_ptr_nonnull(strstr(out, "\n{\"val_loss\":"));
}
END_TEST

START_TEST(diverging_run_fails)
{
    char out[8192];
    ck_assert_int_eq(run("r.jsonl", out, sizeof out, "lr=1e30"), 1);
}
END_TEST

/* Two trial folders in the test's folder, as a study's rungs 1 and 2 (128 bytes each). */
static void make_rungs(char *rung1, char *rung2)
{
    snprintf(rung1, 128, "%s/rung1", dir);
    snprintf(rung2, 128, "%s/rung2", dir);
    ck_assert_int_eq(mkdir(rung1, 0700), 0);
    ck_assert_int_eq(mkdir(rung2, 0700), 0);
}

START_TEST(hyperband_hand_off)
{
    char out[8192], rung1[128], rung2[128], path[160];
    make_rungs(rung1, rung2);
    setenv("KESTREL_BUDGET", "1", 1);
    setenv("KESTREL_CHECKPOINT_DIR", rung1, 1);
    ck_assert_int_eq(run("a.jsonl", out, sizeof out, NULL), 0);
    ck_assert_int_eq(count_lines(out), 2);
    ck_assert_ptr_nonnull(strstr(out, "\"epochs\":1,\"stopped_early\":0}"));
    snprintf(path, sizeof path, "%s/checkpoint.kck", rung1);
    ck_assert_int_eq(access(path, R_OK), 0);

    setenv("KESTREL_BUDGET", "3", 1);
    setenv("KESTREL_RESUME_FROM", rung1, 1);
    setenv("KESTREL_CHECKPOINT_DIR", rung2, 1);
    ck_assert_int_eq(run("b.jsonl", out, sizeof out, NULL), 0);
    ck_assert_int_eq(count_lines(out), 3);   /* epochs 2 and 3, then final */
    ck_assert_ptr_nonnull(strstr(out, "{\"step\":2,"));
    ck_assert_ptr_nonnull(strstr(out, "\"epochs\":3,\"stopped_early\":0}"));
}
END_TEST

/* A promotion whose parent's folder holds no checkpoint (a worker's folder
 * the server refused over --checkpoint-max) trains from the start, to the
 * same end as the run it would have continued; a checkpoint that is there
 * but unreadable is still an error, never a fresh start. */
START_TEST(promotion_without_a_checkpoint_starts_afresh)
{
    char out[8192], whole[8192], rung1[128], rung2[128], path[160];
    make_rungs(rung1, rung2);
    setenv("KESTREL_BUDGET", "3", 1);
    ck_assert_int_eq(run("whole.jsonl", whole, sizeof whole, NULL), 0);
    setenv("KESTREL_RESUME_FROM", rung1, 1);
    setenv("KESTREL_CHECKPOINT_DIR", rung2, 1);
    ck_assert_int_eq(run("b.jsonl", out, sizeof out, NULL), 0);
    ck_assert_int_eq(count_lines(out), 4);   /* epochs 1 to 3, then final */
    ck_assert_str_eq(strrchr(out, '{'), strrchr(whole, '{'));
    snprintf(path, sizeof path, "%s/checkpoint.kck", rung2);
    ck_assert_int_eq(access(path, R_OK), 0);
    snprintf(path, sizeof path, "%s/checkpoint.kck", rung1);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("KSTRLCKP torn", f);
    fclose(f);
    ck_assert_int_eq(run("c.jsonl", out, sizeof out, NULL), 1);
}
END_TEST

/* k-fold keeps no model (kfold refuses checkpoint and resume): a study's
 * trial, whose folder the scheduler always names, failed every time; it
 * trains without one, and a promotion of it trains from the start. */
START_TEST(kfold_trial_of_a_study_keeps_no_checkpoint)
{
    char out[8192], whole[8192], rung1[128], rung2[128], path[160];
    make_rungs(rung1, rung2);
    setenv("KESTREL_BUDGET", "3", 1);
    ck_assert_int_eq(run("whole.jsonl", whole, sizeof whole, "kfold=2"), 0);
    setenv("KESTREL_BUDGET", "1", 1);
    setenv("KESTREL_CHECKPOINT_DIR", rung1, 1);
    ck_assert_int_eq(run("a.jsonl", out, sizeof out, "kfold=2"), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"cv_val_loss_mean\":"));
    snprintf(path, sizeof path, "%s/checkpoint.kck", rung1);
    ck_assert_int_ne(access(path, F_OK), 0);
    setenv("KESTREL_BUDGET", "3", 1);
    setenv("KESTREL_RESUME_FROM", rung1, 1);
    setenv("KESTREL_CHECKPOINT_DIR", rung2, 1);
    ck_assert_int_eq(run("b.jsonl", out, sizeof out, "kfold=2"), 0);
    ck_assert_str_eq(strrchr(out, '{'), strrchr(whole, '{'));
}
END_TEST

/* Runs `train` with argv (NULL-ended) and its stderr on a file; returns the
 * exit status and the stderr read. */
static int run_stderr(char **argv, char *out, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600), saved = dup(2);
    ck_assert_int_ge(fd, 0);
    fflush(stderr);
    dup2(fd, 2);
    int argc = 0;
    while (argv[argc]) argc++;
    int status = cmd_train_main(argc, argv);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t got = pread(fd, out, n - 1, 0);
    out[got > 0 ? got : 0] = '\0';
    close(fd);
    return status;
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

/* Options whose value the run never reads trained without a word: dropout
 * and batchnorm on a linear model, momentum with sgd (plain SGD: momentum
 * is its own optimizer), val_ratio with kfold. Each is named once on
 * stderr, and the run goes on (a study's space may span such combinations);
 * the defaults and the combinations that use them say nothing. */
START_TEST(options_that_do_nothing_warn)
{
    char err[4096];
    char *inert[] = {"train", "--set", "data=synthetic-classification", "--set", "epochs=1",
                     "--set", "synthetic_samples=200", "--set", "hidden=", "--set",
                     "dropout=0.5", "--set", "batchnorm=true", "--set", "optimizer=sgd",
                     "--set", "momentum=0.5", "--set", "kfold=2", "--set", "val_ratio=0.3",
                     "--set", "evaluate_test=false", NULL};
    ck_assert_int_eq(run_stderr(inert, err, sizeof err), 0);
    static const char *const names[] = {"warning: dropout: has no effect",
                                        "warning: batchnorm: has no effect",
                                        "warning: momentum: has no effect",
                                        "warning: val_ratio: has no effect"};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(count(err, names[i]) == 1, "'%s' in:\n%s", names[i], err);
    ck_assert_msg(strstr(err, "not optimizer=sgd"), "%s", err);
    char *used[] = {"train", "--set", "data=synthetic-classification", "--set", "epochs=1",
                    "--set", "synthetic_samples=200", "--set", "hidden=8", "--set",
                    "dropout=0.5", "--set", "batchnorm=true", "--set", "optimizer=momentum",
                    "--set", "momentum=0.5", "--set", "val_ratio=0.3", "--set",
                    "evaluate_test=false", NULL};
    ck_assert_int_eq(run_stderr(used, err, sizeof err), 0);
    ck_assert_msg(!strstr(err, "warning"), "%s", err);
    char *defaults[] = {"train", "--set", "data=synthetic-classification", "--set", "epochs=1",
                        "--set", "synthetic_samples=200", "--set", "hidden=", "--set",
                        "optimizer=sgd", "--set", "kfold=2", "--set", "evaluate_test=false",
                        NULL};
    ck_assert_int_eq(run_stderr(defaults, err, sizeof err), 0);
    ck_assert_msg(!strstr(err, "warning"), "%s", err);
}
END_TEST

/* KESTREL_THREADS is threads' default (docs/protocol.md: "a --set wins"):
 * one the option refuses (a shell's KESTREL_THREADS=auto) failed every run
 * with "threads: not a number: 'auto'", --set threads=2 or not, naming an
 * option the user never gave. */
START_TEST(an_env_default_the_command_line_sets_is_not_read)
{
    char err[4096];
    char cfg[128];
    snprintf(cfg, sizeof cfg, "%s/threads.json", dir);
    FILE *f = fopen(cfg, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"threads\": 2}\n", f);
    fclose(f);
    setenv("KESTREL_THREADS", "auto", 1);
    char *by_set[] = {"train", "--set", "data=synthetic-classification", "--set", "epochs=1",
                      "--set", "synthetic_samples=200", "--set", "threads=2", NULL};
    ck_assert_int_eq(run_stderr(by_set, err, sizeof err), 0);
    char *by_config[] = {"train", "--set", "data=synthetic-classification", "--set", "epochs=1",
                         "--set", "synthetic_samples=200", "--config", cfg, NULL};
    ck_assert_int_eq(run_stderr(by_config, err, sizeof err), 0);
    char *unset[] = {"train", "--set", "data=synthetic-classification", "--set", "epochs=1",
                     "--set", "synthetic_samples=200", NULL};
    ck_assert_int_eq(run_stderr(unset, err, sizeof err), 2);
    unsetenv("KESTREL_THREADS");
    ck_assert_str_eq(err, "kestrel train: KESTREL_THREADS: the default of threads: not a number: "
                     "'auto' (set it right, unset it, or give --set threads=...)\n");
}
END_TEST

/* A CSV of 24 rows of x,y: 11 of class a, 11 of b and `rare` of c. */
/* docs/spec.md's example, copied into a trainer study, ran an option its
 * condition's value never reads: momentum when optimizer is sgd (plain SGD)
 * warned in every such trial. Each conditional parameter of the example
 * that is a trainer option trains, at both ends of its range and under
 * every value its condition lists, without a warning. */
START_TEST(spec_doc_example_conditions_are_read)
{
    const char *top = getenv("top_srcdir");
    char path[1024], err[4096], a[256], b[256];
    snprintf(path, sizeof path, "%s/docs/spec.md", top ? top : "..");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    static char text[1 << 17];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    char *begin = strstr(text, "```json\n"), *end = begin ? strstr(begin + 8, "```") : NULL;
    ck_assert_msg(begin && end, "no ```json example in %s", path);
    *end = '\0';
    json_error_t je;
    json_t *spec = json_loads(begin + 8, 0, &je);
    ck_assert_msg(spec != NULL, "%s: %s", path, je.text);
    const char *name, *parent;
    json_t *p, *values;
    int tried = 0;
    json_object_foreach(json_object_get(spec, "space"), name, p) {
        json_t *when = json_object_get(p, "when");
        if (!when || !train_config_find(name)) continue;
        json_object_foreach(when, parent, values) {
            size_t nv = json_is_array(values) ? json_array_size(values) : 1;
            for (size_t i = 0; i < nv; i++) {
                json_t *v = json_is_array(values) ? json_array_get(values, i) : values;
                static const char *const ends[] = {"low", "high"};
                for (int e = 0; e < 2; e++) {
                    snprintf(a, sizeof a, "%s=%s", parent, json_string_value(v));
                    snprintf(b, sizeof b, "%s=%.17g", name,
                             json_number_value(json_object_get(p, ends[e])));
                    char *argv[] = {"train", "--set", "data=synthetic-classification", "--set",
                                    "epochs=1", "--set", "synthetic_samples=200", "--set",
                                    "evaluate_test=false", "--set", a, "--set", b, NULL};
                    ck_assert_int_eq(run_stderr(argv, err, sizeof err), 0);
                    ck_assert_msg(!strstr(err, "warning"), "%s %s: %s", a, b, err);
                    tried++;
                }
            }
        }
    }
    json_decref(spec);
    ck_assert_int_gt(tried, 0);
}
END_TEST

static void write_csv(const char *path, int rare)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("x,y\n", f);
    for (int i = 0; i < 22 + rare; i++)
        fprintf(f, "%d.5,%s\n", i, i >= 22 ? "c" : i % 2 ? "b" : "a");
    fclose(f);
}

/* K-fold with fewer rows of a class than folds validates some folds
 * without that class, and said nothing (scikit-learn's StratifiedKFold
 * warns). It warns once on stderr, naming the class and its rows, and the
 * run still succeeds, stratified or not (the plain split said nothing even
 * once the stratified one warned); a stratified split whose classes all
 * have as many rows as folds says nothing. */
START_TEST(stratified_kfold_with_a_thin_class_warns)
{
    char err[4096], csv[128], data[160];
    snprintf(csv, sizeof csv, "%s/thin.csv", dir);
    snprintf(data, sizeof data, "data=csv:%s", csv);
    char *argv[] = {"train", "--set", data, "--set", "epochs=1", "--set", "hidden=4",
                    "--set", "test_ratio=0", "--set", "kfold=3", "--set", "stratify=true",
                    "--set", "evaluate_test=false", NULL};
    setenv("KESTREL_CACHE_DIR", "", 1);   /* no decoded copy outside the test's folder */
    write_csv(csv, 2);
    ck_assert_int_eq(run_stderr(argv, err, sizeof err), 0);
    ck_assert_msg(count(err, "warning: kfold: class 'c' has 2 rows to cut 3 stratified folds "
                        "from: at least 1 of the folds validated without it") == 1, "%s", err);
    argv[12] = "stratify=false";
    ck_assert_int_eq(run_stderr(argv, err, sizeof err), 0);
    ck_assert_msg(count(err, "warning: kfold: class 'c' has 2 rows to cut 3 folds from: at "
                        "least 1 of the folds validated without it") == 1, "%s", err);
    ck_assert_msg(count(err, "warning") == 1, "%s", err);
    argv[12] = "stratify=true";
    snprintf(csv, sizeof csv, "%s/three.csv", dir);
    snprintf(data, sizeof data, "data=csv:%s", csv);
    write_csv(csv, 3);
    ck_assert_int_eq(run_stderr(argv, err, sizeof err), 0);
    ck_assert_msg(!strstr(err, "warning"), "%s", err);
    unsetenv("KESTREL_CACHE_DIR");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cmd_train");
    TCase *tc = tcase_create("cmd_train");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, usage_errors);
    tcase_add_test(tc, help);
    tcase_add_test(tc, reports_on_fd);
    tcase_add_test(tc, diverging_run_fails);
    tcase_add_test(tc, hyperband_hand_off);
    tcase_add_test(tc, promotion_without_a_checkpoint_starts_afresh);
    tcase_add_test(tc, kfold_trial_of_a_study_keeps_no_checkpoint);
    tcase_add_test(tc, options_that_do_nothing_warn);
    tcase_add_test(tc, an_env_default_the_command_line_sets_is_not_read);
    tcase_add_test(tc, spec_doc_example_conditions_are_read);
    tcase_add_test(tc, stratified_kfold_with_a_thin_class_warns);
    suite_add_tcase(s, tc);
    return check_run(s);
}
