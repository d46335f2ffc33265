/* test_train_techniques: whole runs of the less-used training techniques
 * checked against what they promise: gradient accumulation of k batches is
 * one batch k times as large (plain SGD, no dropout or batch norm), a
 * teacher file that cannot be read is an error naming the teacher, and so is
 * a teacher whose CSV columns or classes are not the student's (and a
 * resume on such data); data too
 * small for its split is refused naming the option to change, and a
 * checkpoint that cannot be written before the first epoch; a first
 * epoch's divergence on huge unscaled inputs names the data, not lr. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../trainer/checkpoint.h"
#include "../trainer/split.h"
#include "../trainer/train.h"
#include "train_fixture.h"
#include "train_resume.h"

/* The final parameters of a run of c saved to dir/name (*n floats, the
 * caller frees them). */
static float *train_params(const char *name, size_t *n)
{
    char path[96];
    path_in_dir(path, sizeof path, name);
    train_config_set(&c, "checkpoint", path, NULL);
    ck_assert_msg(train_run(&c, NULL, NULL, NULL, &err) == KE_OK, "%s", err.msg);
    float *p, *o;
    size_t no;
    checkpoint_state st;
    load_state(path, &p, n, &o, &no, &st);
    free(o);
    return p;
}

/* Training rows: 1280 (10 batches of 128, 40 of 32) and 1216 (9.5 of 128:
 * the last accumulation group is 2 batches of 32, the last batch of 128 is
 * 64 rows); each with one thread and with two data-parallel threads. */
static const struct {
    const char *samples, *threads;
} accum_variants[] = {
    {"synthetic_samples=1422", "threads=1"},
    {"synthetic_samples=1351", "threads=1"},
    {"synthetic_samples=1422", "threads=2"},
};

/* PyTorch's loss / accumulation_steps: 4 accumulated batches of 32 step as
 * one batch of 128 (the loader's order depends on the seed and epoch, not on
 * the batch size, so both see the same rows in the same groups). */
START_TEST(accumulation_is_the_larger_batch)
{
    set(accum_variants[_i].samples);
    set(accum_variants[_i].threads);
    set("val_ratio=0.1");
    set("test_ratio=0");
    set("optimizer=sgd");
    set("lr=0.1");
    set("hidden=16");
    set("epochs=2");
    set("batch_size=128");
    size_t n1, n4;
    float *big = train_params("big.kck", &n1);
    set("batch_size=32");
    set("accumulate=4");
    float *acc = train_params("acc.kck", &n4);
    ck_assert_uint_eq(n1, n4);
    double worst = 0;
    for (size_t i = 0; i < n1; i++) {
        double d = fabs((double)big[i] - acc[i]) / (1e-3 + fabs((double)big[i]));
        if (d > worst) worst = d;
    }
    ck_assert_msg(worst < 1e-4, "largest relative difference %g", worst);
    /* and a batch of 32 without accumulation is another trajectory */
    set("accumulate=1");
    float *small = train_params("small.kck", &n4);
    double moved = 0;
    for (size_t i = 0; i < n1; i++) moved = fmax(moved, fabs((double)big[i] - small[i]));
    ck_assert_msg(moved > 1e-3, "batch 32 without accumulation moved only %g", moved);
    free(big);
    free(acc);
    free(small);
}
END_TEST

/* A teacher file that is no checkpoint, or a cut copy of one, names the
 * teacher option and the file (it named only the file, as a resume's would
 * be). */
START_TEST(bad_teacher_file_names_the_teacher)
{
    char good[96], bad[96], cut[96];
    path_in_dir(good, sizeof good, "teacher.kck");
    path_in_dir(bad, sizeof bad, "notes.txt");
    path_in_dir(cut, sizeof cut, "cut.kck");
    train_config tc = c;
    train_config_set(&tc, "epochs", "1", NULL);
    train_config_set(&tc, "checkpoint", good, NULL);
    ck_assert_int_eq(train_run(&tc, NULL, NULL, NULL, &err), KE_OK);
    FILE *f = fopen(bad, "w");
    ck_assert_ptr_nonnull(f);
    fputs("not a model\n", f);
    fclose(f);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "head -c 600 %s > %s", good, cut);
    ck_assert_int_eq(system(cmd), 0);
    const char *files[2][2] = {{bad, "not a Kestrel checkpoint"}, {cut, "truncated"}};
    for (int i = 0; i < 2; i++) {
        train_config_set(&c, "teacher", files[i][0], NULL);
        ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_INVALID);
        ck_assert_str_eq(err.path, "teacher");
        ck_assert_msg(strstr(err.msg, files[i][0]) && strstr(err.msg, files[i][1]), "%s", err.msg);
    }
}
END_TEST

/* A CSV at dir/name: header, then rows of a, b (a separates the classes)
 * and the label, spelled no/yes or 0/1, with the columns as ordered. */
static void write_csv(const char *name, int b_first, int words, char *path, size_t n)
{
    path_in_dir(path, n, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, b_first ? "b,a,label\n" : "a,b,label\n");
    for (int i = 0; i < 300; i++) {
        double a = (i % 2 ? 1.0 : -1.0) * (0.5 + (i % 7) / 7.0), b = ((i * 37) % 100) / 10.0;
        const char *label = words ? (a > 0 ? "yes" : "no") : (a > 0 ? "1" : "0");
        if (b_first) fprintf(f, "%g,%g,%s\n", b, a, label);
        else fprintf(f, "%g,%g,%s\n", a, b, label);
    }
    fclose(f);
}

/* The teacher reads the student's rows as its own inputs and its outputs as
 * the student's classes: a teacher trained on the columns in another order,
 * or on other class labels, taught nonsense without a word. */
START_TEST(teacher_of_other_columns_or_classes_refused)
{
    char t[96], same[96], swapped[96], words[96], data[128];
    path_in_dir(t, sizeof t, "teacher.kck");
    write_csv("t.csv", 0, 0, same, sizeof same);
    write_csv("swapped.csv", 1, 0, swapped, sizeof swapped);
    write_csv("words.csv", 0, 1, words, sizeof words);
    set("cache_dir=");
    snprintf(data, sizeof data, "data=csv:%s", same);
    set(data);
    train_config tc = c;
    train_config_set(&tc, "checkpoint", t, NULL);
    ck_assert_msg(train_run(&tc, NULL, NULL, NULL, &err) == KE_OK, "%s", err.msg);
    train_config_set(&c, "teacher", t, NULL);
    ck_assert_msg(train_run(&c, NULL, NULL, NULL, &err) == KE_OK, "%s", err.msg);
    snprintf(data, sizeof data, "data=csv:%s", swapped);
    set(data);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_CONFLICT);
    ck_assert_str_eq(err.path, "teacher");
    ck_assert_msg(strstr(err.msg, "feature 1 is column 'a'; this run's is 'b'"), "%s", err.msg);
    snprintf(data, sizeof data, "data=csv:%s", words);
    set(data);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_CONFLICT);
    ck_assert_str_eq(err.path, "teacher");
    ck_assert_msg(strstr(err.msg, "class 0 is '0'; this run's is 'no'"), "%s", err.msg);
}
END_TEST

/* path (under the fixture's folder) = a CSV of 40 rows whose column
 * 'color' holds the categories a and b; out gets its path. */
static void write_colors(const char *name, const char *a, const char *b, char *out, size_t n)
{
    path_in_dir(out, n, name);
    FILE *f = fopen(out, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "x,color,label\n");
    for (int i = 0; i < 40; i++) fprintf(f, "%d,%s,%d\n", i % 5, i % 2 ? a : b, i % 2);
    fclose(f);
}

/* A one-hot column of as many categories but other ones has the same
 * width and names: a teacher trained on colors blue and red distilled
 * into a run whose color is green or red without a word, reading each
 * row's green as blue; a resume on the file rewritten so alike. Refused,
 * naming both sets of categories. */
START_TEST(teacher_or_resume_of_other_categories_refused)
{
    char t[96], first[96], other[96], data[128];
    path_in_dir(t, sizeof t, "teacher.kck");
    write_colors("first.csv", "blue", "red", first, sizeof first);
    write_colors("other.csv", "green", "red", other, sizeof other);
    set("cache_dir=");
    set("categorical=color");
    snprintf(data, sizeof data, "data=csv:%s", first);
    set(data);
    train_config tc = c;
    train_config_set(&tc, "checkpoint", t, NULL);
    set("budget=2");
    ck_assert_msg(train_run(&tc, NULL, NULL, NULL, &err) == KE_OK, "%s", err.msg);
    train_config sc = c;
    train_config_set(&sc, "teacher", t, NULL);
    ck_assert_msg(train_run(&sc, NULL, NULL, NULL, &err) == KE_OK, "%s", err.msg);
    snprintf(data, sizeof data, "data=csv:%s", other);
    train_config_set(&sc, "data", data + 5, NULL);
    ck_assert_int_eq(train_run(&sc, NULL, NULL, NULL, &err), KE_CONFLICT);
    ck_assert_str_eq(err.path, "teacher");
    ck_assert_msg(!strcmp(err.msg, "the teacher one-hot encodes column 'color' as 'blue', 'red'; "
                          "this run's data as 'green', 'red' (the categories must be the same)"),
                  "%s", err.msg);
    write_colors("first.csv", "green", "red", first, sizeof first);
    set("budget=0");
    train_config_set(&c, "resume", t, NULL);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_CONFLICT);
    ck_assert_str_eq(err.path, "resume");
    ck_assert_msg(strstr(err.msg, "the checkpoint one-hot encodes column 'color' as 'blue', "
                         "'red'; this run's data as 'green', 'red'"), "%s", err.msg);
}
END_TEST

/* A resume reads the checkpoint's weights against the data as it is now:
 * a CSV rewritten under the same name with its columns in another order,
 * or other class labels, resumed without a word, the first layer reading
 * each column as another's (the config, data path included, was the
 * same). Refused as for a teacher, naming resume. */
START_TEST(resume_on_other_columns_or_classes_refused)
{
    char ck[96], csv[96], data[128];
    path_in_dir(ck, sizeof ck, "run.kck");
    write_csv("d.csv", 0, 0, csv, sizeof csv);
    set("cache_dir=");
    snprintf(data, sizeof data, "data=csv:%s", csv);
    set(data);
    train_config_set(&c, "checkpoint", ck, NULL);
    set("budget=2");
    ck_assert_msg(train_run(&c, NULL, NULL, NULL, &err) == KE_OK, "%s", err.msg);
    set("budget=0");
    train_config_set(&c, "resume", ck, NULL);
    write_csv("d.csv", 1, 0, csv, sizeof csv);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_CONFLICT);
    ck_assert_str_eq(err.path, "resume");
    ck_assert_msg(strstr(err.msg, "the checkpoint's feature 1 is column 'a'; this run's is 'b'"),
                  "%s", err.msg);
    write_csv("d.csv", 0, 1, csv, sizeof csv);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_CONFLICT);
    ck_assert_str_eq(err.path, "resume");
    ck_assert_msg(strstr(err.msg, "the checkpoint's class 0 is '0'; this run's is 'no'"), "%s",
                  err.msg);
    /* the file as it was resumes */
    write_csv("d.csv", 0, 0, csv, sizeof csv);
    ck_assert_msg(train_run(&c, NULL, NULL, NULL, &err) == KE_OK, "%s", err.msg);
}
END_TEST

/* Data too small for the split: with 10 rows and the default test_ratio
 * and val_ratio the validation part is floor(0.1 x 9) = 0 rows, refused as
 * "val_ratio: the validation part is empty" with nothing on how to mend
 * it; kfold=20 on those rows was refused under "folds", no option of the
 * trainer. Each names its option, the rows and what would do. */
START_TEST(too_few_rows_for_the_split_name_the_option)
{
    set("synthetic_samples=10");
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "val_ratio");
    ck_assert_msg(strstr(err.msg, "0.1 of the 9 rows left after the test part is no row: raise "
                         "val_ratio to at least 0.112"), "%s", err.msg);
    set("val_ratio=0.112");
    ck_assert_msg(train_run(&c, NULL, NULL, NULL, &err) == KE_OK, "%s", err.msg);
    set("kfold=20");
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "kfold");
    ck_assert_msg(strstr(err.msg, "the 9 rows left after the test part cannot make 20 folds"),
                  "%s", err.msg);
    set("kfold=9");
    ck_assert_msg(train_run(&c, NULL, NULL, NULL, &err) == KE_OK, "%s", err.msg);
    /* no val_ratio holds out a row of 1 (at most 0.9) */
    set("kfold=0");
    set("synthetic_samples=10");
    set("test_ratio=0.9");
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "val_ratio");
    ck_assert_msg(strstr(err.msg, "the 1 row left after the test part is too few to hold out a "
                         "validation row: lower test_ratio or add rows"), "%s", err.msg);
}
END_TEST

/* Counts the report lines of a run (ctx: an int). */
static int count_lines(const char *line, void *ctx)
{
    (void)line;
    ++*(int *)ctx;
    return 0;
}

/* A checkpoint that cannot be written (its folder missing, or a folder
 * itself) failed at its first save: with checkpoint_every=0 that was the
 * run's end, the whole run trained for nothing ('cannot create a temporary
 * file', 'rename failed: Is a directory'). It fails before the first epoch,
 * and leaves nothing behind. */
START_TEST(unwritable_checkpoint_fails_before_training)
{
    char path[128];
    path_in_dir(path, sizeof path, "no/such/folder/model.kck");
    train_config_set(&c, "checkpoint", path, NULL);
    set("checkpoint_every=0");
    int lines = 0;
    ck_assert_int_eq(train_run(&c, count_lines, &lines, NULL, &err), KE_IO);
    ck_assert_int_eq(lines, 0);
    ck_assert_msg(strstr(err.msg, "cannot create a file in its folder: No such file or directory"),
                  "%s", err.msg);
    ck_assert_str_eq(err.path, path);
    train_config_set(&c, "checkpoint", dir, NULL);
    ck_assert_int_eq(train_run(&c, count_lines, &lines, NULL, &err), KE_INVALID);
    ck_assert_int_eq(lines, 0);
    ck_assert_str_eq(err.path, "checkpoint");
    ck_assert_msg(strstr(err.msg, "is a directory: name a file in it"), "%s", err.msg);
    /* the check leaves no file beside a checkpoint that can be written */
    path_in_dir(path, sizeof path, "model.kck");
    train_config_set(&c, "checkpoint", path, NULL);
    set("epochs=1");
    ck_assert_msg(train_run(&c, count_lines, &lines, NULL, &err) == KE_OK, "%s", err.msg);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "test \"$(ls %s)\" = model.kck", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Unscaled features near float's limits (scaling=none, a column of -3e38,
 * 3e38 and 1) overflow the first layer's sums, and the run failed 'lr:
 * training diverged: the train loss is -nan at epoch 1', sending the user to
 * the learning rate. A first epoch's divergence on unscaled inputs that large
 * names the data, under scaling; one on small inputs (lr=1e30) still names
 * lr. */
START_TEST(unscaled_huge_features_name_the_data)
{
    char path[96], data[128];
    path_in_dir(path, sizeof path, "huge.csv");
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "b,a,label\n");
    static const char *const huge[] = {"-3e38", "3e38", "1"};
    for (int i = 0; i < 50; i++) fprintf(f, "%d,%s,%d\n", i % 7, huge[i % 3], i % 2);
    fclose(f);
    set("cache_dir=");
    set("scaling=none");
    snprintf(data, sizeof data, "data=csv:%s", path);
    set(data);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "scaling");
    ck_assert_msg(strstr(err.msg, "training diverged: the train loss is ") &&
                  strstr(err.msg, " at epoch 1; the features are unscaled (scaling=none) and "
                         "reach 3e+38 in column 'a': a likelier cause than lr (scale them: "
                         "scaling=standard, or rescale the column)"), "%s", err.msg);
    set("data=synthetic-classification");
    set("lr=1e30");
    set("optimizer=sgd");
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "lr");
    ck_assert_msg(!strstr(err.msg, "unscaled"), "%s", err.msg);
}
END_TEST

/* Writes to path a CSV of 60 rows of 2 classes whose column 'a' the
 * training rows hold in [0, 1] but one row at 3e38, put where the run's
 * seeded split (c's data_seed) puts its first validation row, or with
 * test its first test row; returns that row's index. */
static size_t outlier_csv(const char *path, int test)
{
    dataset shape;
    ck_assert_int_eq(dataset_alloc(&shape, DATASET_CLASSIFICATION, 60, 1, 0, &err), KE_OK);
    split_opts o;
    split_opts_init(&o);
    o.seed = (uint64_t)c.data_seed;
    split sp;
    ck_assert_int_eq(split_make(&shape, &o, &sp, &err), KE_OK);
    ck_assert_uint_gt(test ? sp.n_test : sp.n_val, 0);
    size_t at = test ? sp.test[0] : sp.val[0];
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "b,a,label\n");
    for (size_t i = 0; i < 60; i++)
        fprintf(f, "%zu,%s,%zu\n", i % 7, i == at ? "3e38" : i % 2 ? "1" : "0", i % 2);
    fclose(f);
    split_free(&sp);
    dataset_free(&shape);
    return at;
}

/* A validation row far outside the training rows' range (3e38 in a column
 * the training rows hold in [0, 1]) scales to 3e38 under minmax and makes
 * the validation loss nan: the run failed 'lr: training diverged: the
 * validation loss is -nan at epoch 1' (and hung before that in the AUC).
 * It names the scaled value and its column, under scaling. */
START_TEST(an_outlier_validation_row_names_the_data)
{
    char path[96], data[128];
    set("cache_dir=");
    set("scaling=minmax");
    path_in_dir(path, sizeof path, "outlier.csv");
    outlier_csv(path, 0);
    snprintf(data, sizeof data, "data=csv:%s", path);
    set(data);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "scaling");
    ck_assert_msg(strstr(err.msg, "training diverged: the validation loss is ") &&
                  strstr(err.msg, " at epoch 1; the validation rows' features reach 3e+38 once "
                         "scaled (scaling=minmax, fitted on the training rows) in column 'a': "
                         "a likelier cause than lr (an outlier beyond the training rows' range? "
                         "clip or remove it)"), "%s", err.msg);
}
END_TEST

/* The same row in the test part, which no epoch sees, made only the test
 * pass's loss nan, after training: the final line, whose JSON cannot hold
 * a nan, left test_loss out and the run succeeded (exit 0, test_accuracy
 * of nan outputs). It is refused, naming the row and its column; without
 * the test pass (evaluate_test=false) the run trains. */
START_TEST(an_outlier_test_row_is_refused)
{
    char path[96], data[128], row[64];
    set("cache_dir=");
    set("scaling=minmax");
    set("epochs=1");
    path_in_dir(path, sizeof path, "outlier.csv");
    snprintf(row, sizeof row, "row %zu's outputs are not finite (", outlier_csv(path, 1) + 1);
    snprintf(data, sizeof data, "data=csv:%s", path);
    set(data);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "data");
    ck_assert_msg(!strncmp(err.msg, "the test loss is ", 17) && strstr(err.msg, row) &&
                  strstr(err.msg, "); its features reach 3e+38 once scaled (scaling=minmax, "
                         "fitted on the training rows) in column 'a': an outlier beyond the "
                         "training rows' range? clip or remove it (or leave the test part out: "
                         "evaluate_test=false)"), "%s", err.msg);
    set("evaluate_test=false");
    train_result r;
    ck_assert_int_eq(train_run(&c, NULL, NULL, &r, &err), KE_OK);
    ck_assert_int_eq(r.has_test, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train_techniques");
    TCase *tc = tcase_create("train_techniques");
    tcase_add_checked_fixture(tc, train_setup, train_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, accumulation_is_the_larger_batch, 0,
                        (int)(sizeof accum_variants / sizeof accum_variants[0]));
    tcase_add_test(tc, bad_teacher_file_names_the_teacher);
    tcase_add_test(tc, teacher_of_other_columns_or_classes_refused);
    tcase_add_test(tc, resume_on_other_columns_or_classes_refused);
    tcase_add_test(tc, teacher_or_resume_of_other_categories_refused);
    tcase_add_test(tc, too_few_rows_for_the_split_name_the_option);
    tcase_add_test(tc, unwritable_checkpoint_fails_before_training);
    tcase_add_test(tc, unscaled_huge_features_name_the_data);
    tcase_add_test(tc, an_outlier_validation_row_names_the_data);
    tcase_add_test(tc, an_outlier_test_row_is_refused);
    suite_add_tcase(s, tc);
    return check_run(s);
}
