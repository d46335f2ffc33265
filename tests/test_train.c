/* test_train: whole training runs on small synthetic problems (seconds):
 * classification reaches high accuracy, regression loss falls, a resumed run
 * is bit-identical to an uninterrupted one, early stopping stops, divergence
 * fails, k-fold reports its spread, distillation runs from a saved teacher,
 * checkpoints reject corruption and foreign configs, and a small
 * Fashion-MNIST subset trains when the data set is installed. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check_main.h"
#include "../trainer/checkpoint.h"
#include "../trainer/dataset.h"
#include "../trainer/train.h"
#include "train_fixture.h"
#include "train_resume.h"

/* Report lines seen by the writer. */
typedef struct {
    int n;
    char lines[64][1024];
} lines;

static int collect(const char *line, void *ctx)
{
    lines *l = ctx;
    if (l->n < 64) snprintf(l->lines[l->n++], sizeof l->lines[0], "%s", line);
    return 0;
}

static double field(const char *line, const char *key)
{
    json_t *j = json_loads(line, 0, NULL);
    ck_assert_ptr_nonnull(j);
    json_t *v = json_object_get(j, key);
    ck_assert_msg(v != NULL, "no %s in %s", key, line);
    double x = json_number_value(v);
    json_decref(j);
    return x;
}

START_TEST(classification_learns)
{
    lines l = {0};
    train_result r;
    ck_assert_int_eq(train_run(&c, collect, &l, &r, &err), KE_OK);
    ck_assert_int_eq(l.n, 6);   /* five epochs and the final line */
    ck_assert_double_eq(field(l.lines[4], "step"), 5);
    ck_assert_double_eq(field(l.lines[0], "lr"), 0.01);
    ck_assert(field(l.lines[0], "samples_per_sec") > 0);
    ck_assert_double_eq(field(l.lines[5], "val_accuracy"), r.val_accuracy);
    ck_assert_double_eq(field(l.lines[5], "epochs"), 5);
    ck_assert(r.classification && r.has_test);
    ck_assert_msg(r.val_accuracy >= 0.95, "val_accuracy %g", r.val_accuracy);
    ck_assert(r.test_accuracy >= 0.9);
}
END_TEST

/* parallel=data splits each batch across two threads (no dropout here): the
 * same run as on one thread up to float reordering of the gradient sums. */
START_TEST(data_parallel_matches_one_thread)
{
    train_result one, two;
    ck_assert_int_eq(train_run(&c, NULL, NULL, &one, &err), KE_OK);
    set("threads=2");
    set("parallel=data");
    ck_assert_int_eq(train_run(&c, NULL, NULL, &two, &err), KE_OK);
    ck_assert_msg(fabs(two.val_loss - one.val_loss) <= 1e-4 * one.val_loss, "val_loss %.9g vs %.9g",
                  two.val_loss, one.val_loss);
    ck_assert_double_eq(two.val_accuracy, one.val_accuracy);
    ck_assert_double_eq(two.val_metrics.f1_macro, one.val_metrics.f1_macro);   /* the shards' outputs */
    /* batch norm: the shards share the batch's statistics */
    set("batchnorm=true");
    ck_assert_int_eq(train_run(&c, NULL, NULL, &two, &err), KE_OK);
    set("threads=1");
    ck_assert_int_eq(train_run(&c, NULL, NULL, &one, &err), KE_OK);
    ck_assert_msg(fabs(two.val_loss - one.val_loss) <= 1e-4 * one.val_loss, "bn val_loss %.9g vs %.9g",
                  two.val_loss, one.val_loss);
    ck_assert_double_eq(two.val_accuracy, one.val_accuracy);
}
END_TEST

/* stratify=true reaches the split: another validation part, another
 * val_loss, and the run still learns. */
START_TEST(stratified_run)
{
    train_result plain, strat;
    ck_assert_int_eq(train_run(&c, NULL, NULL, &plain, &err), KE_OK);
    set("stratify=true");
    ck_assert_int_eq(train_run(&c, NULL, NULL, &strat, &err), KE_OK);
    ck_assert(strat.val_loss != plain.val_loss);
    ck_assert_msg(strat.val_accuracy >= 0.95, "val_accuracy %g", strat.val_accuracy);
}
END_TEST

/* class_weight=balanced: on 3 classes of 70/20/10 % the weighted loss
 * trains (the train loss differs from the unweighted run, val_loss is the
 * unweighted loss of both); it is refused for regression, with a teacher
 * and with mse. */
START_TEST(class_weight_balanced)
{
    char csv[96], kv[128];
    path_in_dir(csv, sizeof csv, "imb.csv");
    FILE *f = fopen(csv, "w");
    fputs("a,b,y\n", f);
    for (int i = 0; i < 600; i++) {
        int y = i % 10 < 7 ? 0 : i % 10 < 9 ? 1 : 2;
        fprintf(f, "%g,%g,%d\n", y + 0.7 * sin(i * 1.3), y - 0.7 * cos(i * 0.7), y);
    }
    fclose(f);
    snprintf(kv, sizeof kv, "data=csv:%s", csv);
    set(kv);
    lines a = {0}, b = {0};
    train_result plain, weighted;
    ck_assert_int_eq(train_run(&c, collect, &a, &plain, &err), KE_OK);
    set("class_weight=balanced");
    ck_assert_msg(train_run(&c, collect, &b, &weighted, &err) == KE_OK, "%s", err.msg);
    ck_assert(field(a.lines[0], "train_loss") != field(b.lines[0], "train_loss"));
    ck_assert_msg(weighted.val_metrics.recall_macro >= 0.8, "recall_macro %g",
                  weighted.val_metrics.recall_macro);
    set("loss=mse");
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "class_weight");
    set("loss=auto");
    set("task=regression");
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "class_weight");
}
END_TEST

/* loss=bce (a sigmoid per class against one-hot rows) learns the
 * classification as cross-entropy does. */
START_TEST(bce_classification_learns)
{
    set("loss=bce");
    train_result r;
    ck_assert_int_eq(train_run(&c, NULL, NULL, &r, &err), KE_OK);
    ck_assert_msg(r.val_accuracy >= 0.95, "val_accuracy %g", r.val_accuracy);
}
END_TEST

/* loss=huber trains a regression: its val_loss (the Huber loss) falls and
 * the final line has the regression figures. */
START_TEST(huber_regression_learns)
{
    set("data=synthetic-regression");
    set("loss=huber");
    set("huber_delta=0.5");
    lines l = {0};
    train_result r;
    ck_assert_int_eq(train_run(&c, collect, &l, &r, &err), KE_OK);
    ck_assert(field(l.lines[4], "val_loss") < 0.8 * field(l.lines[0], "val_loss"));
    ck_assert(field(l.lines[5], "val_rmse") > 0 && field(l.lines[5], "val_r2") > 0);
    ck_assert_ptr_null(strstr(l.lines[5], "f1_macro"));
}
END_TEST

/* one_cycle and cosine_restarts drive a run: the reported rate of the
 * last epoch is the schedule's at the run's last step. */
START_TEST(one_cycle_and_restarts_run)
{
    set("schedule=one_cycle");
    lines l = {0};
    train_result r;
    ck_assert_int_eq(train_run(&c, collect, &l, &r, &err), KE_OK);
    ck_assert_double_eq_tol(field(l.lines[4], "lr"), 0.01 / 25 / 1e4, 1e-15);
    ck_assert_msg(r.val_accuracy >= 0.9, "val_accuracy %g", r.val_accuracy);
    set("schedule=cosine_restarts");
    set("restart_period=2");
    set("min_lr=0.001");
    l.n = 0;
    ck_assert_int_eq(train_run(&c, collect, &l, &r, &err), KE_OK);
    /* epoch 2 ends one step before the restart, epoch 5 half a period after */
    ck_assert(field(l.lines[1], "lr") < 0.0011);
    ck_assert(field(l.lines[2], "lr") < 0.01 && field(l.lines[2], "lr") > 0.0055);
}
END_TEST

START_TEST(regression_loss_falls)
{
    set("data=synthetic-regression");
    set("lr=0.003");
    set("schedule=cosine");
    set("warmup_steps=10");
    set("optimizer=adamw");
    set("weight_decay=0.01");
    lines l = {0};
    train_result r;
    ck_assert_int_eq(train_run(&c, collect, &l, &r, &err), KE_OK);
    ck_assert(!r.classification);
    ck_assert(strstr(l.lines[0], "val_accuracy") == NULL);
    double first = field(l.lines[0], "val_loss"), last = field(l.lines[4], "val_loss");
    ck_assert_msg(last < 0.8 * first, "val_loss %g -> %g", first, last);
    ck_assert(field(l.lines[4], "train_loss") < field(l.lines[0], "train_loss"));
}
END_TEST

/* A per-step warm-up over most of the run (schedule.h: factor (step + 1) /
 * warmup_steps): each epoch reports its first step's rate as lr_first and its
 * last step's as lr, so a reader sees the rate climb within the epoch, and
 * stop at lr once the warm-up is over. */
START_TEST(warmup_rate_per_step)
{
    set("warmup_steps=100");
    lines l = {0};
    ck_assert_int_eq(train_run(&c, collect, &l, NULL, &err), KE_OK);
    double unit = 0.01 / 100;   /* the rate one warm-up step adds */
    long per_epoch = lround(field(l.lines[0], "lr") / unit);
    ck_assert(per_epoch > 1 && 3 * per_epoch < 100 && 5 * per_epoch >= 100);
    for (int e = 0; e < 5; e++) {
        long first_step = e * per_epoch, last_step = (e + 1) * per_epoch - 1;
        double first = field(l.lines[e], "lr_first"), last = field(l.lines[e], "lr");
        ck_assert_msg(fabs(first - unit * (double)(first_step < 100 ? first_step + 1 : 100)) < 1e-12,
                      "epoch %d lr_first %.17g", e + 1, first);
        ck_assert_msg(fabs(last - unit * (double)(last_step < 100 ? last_step + 1 : 100)) < 1e-12,
                      "epoch %d lr %.17g", e + 1, last);
    }
}
END_TEST

/* A warm-up longer than the run (5 epochs of per_epoch steps) is refused
 * before the first epoch, naming the field: it was taken, and the whole run
 * trained below lr. A Hyperband budget stops a run early but its schedule
 * spans the epochs, so a warm-up past the budget's steps is still the run's.
 * Under cosine a warm-up of the whole run reaches lr at its last step (the
 * schedule's progress was 1 throughout, so every step ran at min_lr). */
START_TEST(warmup_longer_than_the_run_is_refused)
{
    set("warmup_steps=100000");
    lines l = {0};
    ck_assert_int_eq(train_run(&c, collect, &l, NULL, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "warmup_steps");
    ck_assert_msg(strstr(err.msg, "100000 exceeds the run's ") &&
                  strstr(err.msg, "optimizer steps (5 epochs of ") &&
                  strstr(err.msg, "the rate would never reach lr"), "%s", err.msg);
    ck_assert_int_eq(l.n, 0);
    long total = strtol(err.msg + strlen("100000 exceeds the run's "), NULL, 10);
    char kv[64];
    snprintf(kv, sizeof kv, "warmup_steps=%ld", total + 1);
    set(kv);
    ck_assert_int_eq(train_run(&c, collect, &l, NULL, &err), KE_INVALID);
    snprintf(kv, sizeof kv, "warmup_steps=%ld", total);
    set(kv);
    set("schedule=cosine");
    set("budget=2");
    ck_assert_int_eq(train_run(&c, collect, &l, NULL, &err), KE_OK);
    set("budget=0");
    l.n = 0;
    ck_assert_int_eq(train_run(&c, collect, &l, NULL, &err), KE_OK);
    ck_assert_double_eq_tol(field(l.lines[4], "lr"), 0.01, 1e-12);
}
END_TEST

/* Optimizers with and without state (plain SGD has none, which once made
 * its checkpoints fail their checksum), and a data-parallel run on 3 threads
 * (uneven shards of the 32-row batches; no batch norm there). */
static const char *const resume_variants[] = {"optimizer=adam", "optimizer=sgd",
                                              "optimizer=momentum", "threads=3"};

START_TEST(resume_is_bit_identical)
{
    /* and optimizer moments, and batch norm's running statistics */
    set(resume_variants[_i]);
    set(strcmp(resume_variants[_i], "threads=3") ? "batchnorm=true" : "parallel=data");
    set_stateful_run();
    train_result resumed;
    expect_exact_resume("2", &resumed);
    ck_assert_int_eq(resumed.epochs, 4);
}
END_TEST

/* The reported rate of each of 5 epochs under c. */
static void rates(double *lr)
{
    lines l = {0};
    ck_assert_int_eq(train_run(&c, collect, &l, NULL, &err), KE_OK);
    for (int i = 0; i < 5; i++) lr[i] = field(l.lines[i], "lr");
}

/* Reduce on plateau (Keras's ReduceLROnPlateau) with min_delta 10: no gain
 * after epoch 1, so with patience 1 every later epoch cuts the rate by the
 * factor (the report shows the rate the epoch trained with); a cooldown of 1
 * skips every other cut; min_lr is the floor. Resuming is exact. */
START_TEST(reduce_on_plateau)
{
    set("min_delta=10");
    set("plateau_patience=1");
    set("plateau_factor=0.5");
    double lr[5];
    rates(lr);
    double want[5] = {0.01, 0.01, 0.005, 0.0025, 0.00125};
    for (int i = 0; i < 5; i++) ck_assert_double_eq_tol(lr[i], want[i], 1e-12);
    set("plateau_cooldown=1");
    rates(lr);
    double cool[5] = {0.01, 0.01, 0.005, 0.005, 0.0025};
    for (int i = 0; i < 5; i++) ck_assert_double_eq_tol(lr[i], cool[i], 1e-12);
    set("plateau_cooldown=0");
    set("min_lr=0.004");
    rates(lr);
    double floor[5] = {0.01, 0.01, 0.005, 0.004, 0.004};
    for (int i = 0; i < 5; i++) ck_assert_double_eq_tol(lr[i], floor[i], 1e-12);
    set("min_lr=0");
    set("dropout=0.1");
    train_result resumed;
    expect_exact_resume("2", &resumed);
}
END_TEST

/* min_lr is the floor of the plateau's cuts, not of the schedule: a step
 * decay (0.1, 0.1, 0.01, 0.01, 0.001) cut once after epoch 2 trains at
 * 0.005 (0.01 x 0.1, floored), then, where the schedule alone falls to
 * 0.001, at 0.001. The floor raised epoch 5 to 0.005, five times the rate
 * the schedule gives without any plateau. */
START_TEST(plateau_never_raises_the_schedule)
{
    set("lr=0.1");
    set("schedule=step");
    set("step_size=2");
    set("gamma=0.1");
    set("min_lr=0.005");
    set("min_delta=10");
    set("plateau_patience=1");
    double lr[5];
    rates(lr);
    double want[5] = {0.1, 0.1, 0.005, 0.005, 0.001};
    for (int i = 0; i < 5; i++)
        ck_assert_msg(fabs(lr[i] - want[i]) <= 1e-12, "epoch %d: lr %g, not %g", i + 1, lr[i],
                      want[i]);
}
END_TEST

START_TEST(resume_rejects_other_config)
{
    char a[96];
    path_in_dir(a, sizeof a, "a.kck");
    set("budget=1");
    train_config_set(&c, "checkpoint", a, NULL);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_OK);
    set("lr=0.02");
    train_config_set(&c, "resume", a, NULL);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_CONFLICT);
    ck_assert_str_eq(err.path, "lr");
    /* how the steps are launched does not change the run: a resume may differ */
    set("lr=0.01");
    set("budget=2");
    set("cuda_graphs=off");
    ck_assert_msg(train_run(&c, NULL, NULL, NULL, &err) == KE_OK, "%s: %s", err.path, err.msg);
    ck_assert_int_ne(train_config_set(&c, "cuda_graphs", "sometimes", &err), KE_OK);
    ck_assert_str_eq(err.path, "cuda_graphs");
}
END_TEST

/* A study's trial saves only at its end and skips the test pass
 * (checkpoint_every=0, evaluate_test=false); its checkpoint (kestrel best
 * --export-model's file) resumed with kestrel train's defaults was refused
 * ('checkpoint_every: is 1 here but 0 in the checkpoint'), though neither
 * option changes what trains: the resumed run ends on the bits of the
 * straight one. */
START_TEST(resume_may_save_and_test_otherwise)
{
    char a[96], b[96], r[96];
    path_in_dir(a, sizeof a, "straight.kck");
    path_in_dir(b, sizeof b, "trial.kck");
    path_in_dir(r, sizeof r, "resumed.kck");
    set("dropout=0.2");
    set("epochs=4");
    train_config s = c;
    train_config_set(&s, "checkpoint", a, NULL);
    ck_assert_int_eq(train_run(&s, NULL, NULL, NULL, &err), KE_OK);
    train_config t = c;
    train_config_set(&t, "checkpoint", b, NULL);
    train_config_set(&t, "budget", "2", NULL);
    train_config_set(&t, "checkpoint_every", "0", NULL);
    train_config_set(&t, "evaluate_test", "false", NULL);
    ck_assert_int_eq(train_run(&t, NULL, NULL, NULL, &err), KE_OK);
    train_config_set(&c, "resume", b, NULL);
    train_config_set(&c, "checkpoint", r, NULL);
    train_result res;
    ck_assert_msg(train_run(&c, NULL, NULL, &res, &err) == KE_OK, "%s: %s", err.path, err.msg);
    ck_assert_int_eq(res.epochs, 4);
    ck_assert(res.has_test);
    checkpoint_state st;
    expect_same_state(a, r, &st);
}
END_TEST

START_TEST(checkpoint_rejects_corruption)
{
    char a[96];
    path_in_dir(a, sizeof a, "a.kck");
    set("budget=1");
    train_config_set(&c, "checkpoint", a, NULL);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_OK);
    FILE *f = fopen(a, "r+b");
    ck_assert_int_eq(fseek(f, -20, SEEK_END), 0);
    int ch = fgetc(f);
    fseek(f, -20, SEEK_END);
    fputc(ch ^ 0x40, f);
    fclose(f);
    checkpoint *ck;
    ck_assert_int_eq(checkpoint_read(&ck, a, &err), KE_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "checksum"));
    ck_assert_int_eq(truncate(a, 100), 0);
    ck_assert_int_eq(checkpoint_read(&ck, a, &err), KE_INVALID);
    ck_assert_msg(strstr(err.msg, "truncated"), "%s", err.msg);
    path_in_dir(a, sizeof a, "missing.kck");
    ck_assert_int_eq(checkpoint_read(&ck, a, &err), KE_IO);
}
END_TEST

/* Writes the current-version checkpoint src as an older version's file
 * dst: the header cut to hsize bytes, the last `drop` bytes before the CRC
 * (parts that version lacks) removed, the CRC recomputed. */
static void write_older(const char *src, const char *dst, uint32_t version, size_t hsize,
                        size_t drop)
{
    FILE *f = fopen(src, "rb");
    static unsigned char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert(len > CHECKPOINT_HEADER_SIZE + drop + 4 && len < sizeof buf);
    memcpy(buf + 8, &version, 4);
    size_t body = len - CHECKPOINT_HEADER_SIZE - drop - 4;
    memmove(buf + hsize, buf + CHECKPOINT_HEADER_SIZE, body);
    uint32_t crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), buf, (uInt)(hsize + body));
    memcpy(buf + hsize + body, &crc, 4);
    f = fopen(dst, "wb");
    ck_assert_uint_eq(fwrite(buf, 1, hsize + body + 4, f), hsize + body + 4);
    fclose(f);
}

/* Files of older versions made from a current one by hand: version 1 (an
 * older Kestrel's: 144-byte header, no best weights, no scaler) and version
 * 3 (232-byte header, no categories): still read and resumed. */
static const struct {
    uint32_t version;
    size_t hsize, drop;   /* header bytes; bytes of parts that version lacks */
    int scaler;
} older[] = {{1, 144, 2 * 8 * sizeof(float), 0},   /* 8 features; no best weights */
             {3, 232, 0, 1}};                      /* no categories to drop */

START_TEST(checkpoint_reads_older_versions)
{
    char a[96], old[96];
    path_in_dir(a, sizeof a, "now.kck");
    path_in_dir(old, sizeof old, "old.kck");
    set("budget=1");
    train_config_set(&c, "checkpoint", a, NULL);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_OK);
    write_older(a, old, older[_i].version, older[_i].hsize, older[_i].drop);
    checkpoint *k;
    ck_assert_msg(checkpoint_read(&k, old, &err) == KE_OK, "%s", err.msg);
    ck_assert_ptr_null(checkpoint_best(k));
    split_scaler sc;
    ck_assert_int_eq(checkpoint_scaler(k, &sc, &err), older[_i].scaler ? KE_OK : KE_CONFLICT);
    split_scaler_free(&sc);
    onehot cats;
    ck_assert_int_eq(checkpoint_categories(k, &cats, &err), KE_OK);
    ck_assert_uint_eq(cats.n, 0);
    ck_assert_int_eq(checkpoint_get_state(k)->epoch, 1);
    checkpoint_free(k);
    set("budget=2");
    train_config_set(&c, "resume", old, NULL);
    train_result r;
    ck_assert_int_eq(train_run(&c, NULL, NULL, &r, &err), KE_OK);
    ck_assert_int_eq(r.epochs, 2);
}
END_TEST

/* categorical columns: a resumed run encodes the file as the first did
 * (bit-identical ends), and the model file keeps the categories. */
START_TEST(categorical_resume_is_bit_identical)
{
    char csv[96], kv[128];
    path_in_dir(csv, sizeof csv, "cat.csv");
    FILE *f = fopen(csv, "w");
    fputs("a,shade,y\n", f);
    static const char *const shades[] = {"dark", "light", "mid"};
    for (int i = 0; i < 600; i++)
        fprintf(f, "%g,%s,%d\n", sin(i * 1.3), shades[i % 3], (i % 3 + (sin(i * 1.3) > 0)) % 3);
    fclose(f);
    snprintf(kv, sizeof kv, "data=csv:%s", csv);
    set(kv);
    set("categorical=shade");
    set("epochs=4");
    train_result resumed;
    expect_exact_resume("2", &resumed);
    char r[96];
    path_in_dir(r, sizeof r, "resumed.kck");
    checkpoint *k;
    ck_assert_int_eq(checkpoint_read(&k, r, &err), KE_OK);
    onehot cats;
    ck_assert_int_eq(checkpoint_categories(k, &cats, &err), KE_OK);
    ck_assert(cats.n == 1 && !strcmp(cats.cols[0].name, "shade") && cats.cols[0].k == 3);
    ck_assert_str_eq(cats.cols[0].values[1], "light");
    onehot_free(&cats);
    checkpoint_free(k);
    set("categorical=auto");   /* the option shapes the model: resume refuses a change */
    train_config_set(&c, "resume", r, NULL);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_CONFLICT);
    ck_assert_str_eq(err.path, "categorical");
}
END_TEST

START_TEST(early_stopping_stops)
{
    /* With min_delta 10 no epoch after the first counts as a gain. */
    set("early_stopping_patience=2");
    set("min_delta=10");
    set("epochs=20");
    lines l = {0};
    train_result r;
    ck_assert_int_eq(train_run(&c, collect, &l, &r, &err), KE_OK);
    ck_assert_int_eq(r.epochs, 3);
    ck_assert(r.stopped_early);
    ck_assert_int_eq(l.n, 4);
    ck_assert_double_eq(field(l.lines[3], "best_val_loss"), field(l.lines[0], "val_loss"));
    ck_assert_double_eq(field(l.lines[3], "best_epoch"), 1);
    ck_assert_double_eq(field(l.lines[3], "stopped_early"), 1);
    ck_assert_double_eq(field(l.lines[3], "epochs"), 3);
}
END_TEST

/* restore_best (the default with patience): the run ends on epoch 1's
 * weights, so its final val_* and test_* are those of the same run cut at
 * epoch 1 (patience does not change the trajectory); restore_best=false
 * ends on epoch 3's. Without patience nothing stops: stopped_early 0. */
START_TEST(early_stopping_restores_best)
{
    set("epochs=20");
    set("dropout=0.2");
    char ck[96];
    path_in_dir(ck, sizeof ck, "es.kck");
    train_config one = c;
    train_config_set(&one, "budget", "1", NULL);
    lines l1 = {0};
    train_result cut, best, last;
    ck_assert_int_eq(train_run(&one, collect, &l1, &cut, &err), KE_OK);
    ck_assert_double_eq(field(l1.lines[1], "stopped_early"), 0);
    ck_assert_double_eq(field(l1.lines[1], "best_epoch"), 1);

    set("early_stopping_patience=2");
    set("min_delta=10");
    train_config_set(&c, "checkpoint", ck, NULL);
    lines l = {0};
    ck_assert_int_eq(train_run(&c, collect, &l, &best, &err), KE_OK);
    ck_assert(best.stopped_early && best.epochs == 3 && best.best_epoch == 1);
    ck_assert(memcmp(&best.val_loss, &cut.val_loss, sizeof(double)) == 0);
    ck_assert(memcmp(&best.val_accuracy, &cut.val_accuracy, sizeof(double)) == 0);
    ck_assert(memcmp(&best.test_loss, &cut.test_loss, sizeof(double)) == 0);
    ck_assert(memcmp(&best.test_accuracy, &cut.test_accuracy, sizeof(double)) == 0);
    ck_assert_double_eq(field(l.lines[3], "val_loss"), field(l.lines[0], "val_loss"));
    ck_assert_double_eq(field(l.lines[3], "val_f1_macro"), field(l.lines[0], "val_f1_macro"));
    ck_assert(memcmp(&best.test_metrics, &cut.test_metrics, sizeof best.test_metrics) == 0);
    /* the file keeps both: epoch 3's weights to resume, epoch 1's to use */
    checkpoint *k;
    ck_assert_int_eq(checkpoint_read(&k, ck, &err), KE_OK);
    ck_assert_ptr_nonnull(checkpoint_best(k));
    ck_assert_int_eq(checkpoint_get_state(k)->best_epoch, 1);
    ck_assert(checkpoint_get_state(k)->best_val_loss == cut.val_loss);
    checkpoint_free(k);

    set("restore_best=false");
    train_config_set(&c, "checkpoint", "", NULL);
    ck_assert_int_eq(train_run(&c, collect, &l, &last, &err), KE_OK);
    ck_assert(last.stopped_early && last.best_epoch == 1);
    ck_assert_double_eq_tol(last.val_loss, field(l.lines[6], "val_loss"), 1e-9 * last.val_loss);
    ck_assert(last.val_loss != best.val_loss);
}
END_TEST

/* A run stopped early and resumed from a checkpoint taken before the stop
 * ends exactly as the uninterrupted run: training continues from the last
 * epoch's weights, and the best epoch's come back from the file. */
START_TEST(early_stopping_resume_is_bit_identical)
{
    set("epochs=20");
    set("early_stopping_patience=2");
    set("min_delta=10");
    set("dropout=0.2");
    train_result resumed;
    expect_exact_resume("2", &resumed);
    ck_assert(resumed.stopped_early && resumed.epochs == 3 && resumed.best_epoch == 1);
}
END_TEST

/* A resumed run with nothing left to train (it stopped early, or is at its
 * budget already: a Hyperband promotion of a trial that stopped early) still
 * writes its own checkpoint, the same state as the one it resumed from: a
 * promotion of it, or an export of its model, reads that file. */
START_TEST(resume_with_nothing_left_still_saves)
{
    set("epochs=20");
    set("early_stopping_patience=2");
    set("min_delta=10");
    char a[96], r[96];
    path_in_dir(a, sizeof a, "stopped.kck");
    path_in_dir(r, sizeof r, "promoted.kck");
    train_config_set(&c, "checkpoint", a, NULL);
    train_result first, again;
    ck_assert_int_eq(train_run(&c, NULL, NULL, &first, &err), KE_OK);
    ck_assert(first.stopped_early && first.epochs == 3);
    train_config_set(&c, "resume", a, NULL);
    train_config_set(&c, "checkpoint", r, NULL);
    set("budget=9");
    ck_assert_int_eq(train_run(&c, NULL, NULL, &again, &err), KE_OK);
    ck_assert(again.epochs == 3 && memcmp(&first.val_loss, &again.val_loss, sizeof(double)) == 0);
    checkpoint_state s1;
    expect_same_state(a, r, &s1);
    /* at its budget already: resumed with the budget it was cut at */
    ck_assert_int_eq(unlink(r), 0);
    set("early_stopping_patience=0");
    set("budget=2");
    train_config_set(&c, "resume", "", NULL);
    train_config_set(&c, "checkpoint", a, NULL);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_OK);
    train_config_set(&c, "resume", a, NULL);
    train_config_set(&c, "checkpoint", r, NULL);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_OK);
    ck_assert_int_eq(access(r, F_OK), 0);
}
END_TEST

START_TEST(divergence_fails)
{
    set("lr=1e30");
    set("optimizer=sgd");
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "lr");
    ck_assert_ptr_nonnull(strstr(err.msg, "diverged"));
}
END_TEST

START_TEST(kfold_reports_spread)
{
    set("kfold=3");
    set("epochs=3");
    lines l = {0};
    train_result r;
    ck_assert_int_eq(train_run(&c, collect, &l, &r, &err), KE_OK);
    ck_assert_int_eq(l.n, 4);   /* one line per fold, then the final one */
    double sum = 0, sq = 0;
    for (int f = 0; f < 3; f++) {
        ck_assert_double_eq(field(l.lines[f], "step"), f);
        double a = field(l.lines[f], "fold_val_accuracy");
        sum += a;
        sq += a * a;
    }
    double mean = sum / 3, sd = sqrt(fmax(0, sq / 3 - mean * mean));
    ck_assert_double_eq_tol(field(l.lines[3], "cv_val_accuracy_mean"), mean, 1e-9);
    ck_assert_double_eq_tol(field(l.lines[3], "cv_val_accuracy_std"), sd, 1e-6);
    ck_assert_double_eq_tol(r.cv_val_accuracy_mean, mean, 1e-9);
    ck_assert(r.cv_val_accuracy_mean >= 0.9);
    ck_assert(strstr(l.lines[3], "cv_val_loss_std") != NULL);
}
END_TEST

/* With early stopping each fold stops on its own, and the final line's
 * "epochs" was the last fold's (14 where the folds ran 8, 18 and 14): a
 * reader took it for every fold's. Each fold line says how many it ran
 * (fold_epochs), and the final "epochs" is the most a fold ran. */
START_TEST(kfold_reports_each_folds_epochs)
{
    static const char *const opts[] = {"synthetic_samples=300", "synthetic_features=2",
        "synthetic_classes=10", "hidden=128", "batch_size=64", "lr=0.05", "epochs=60", "kfold=3",
        "early_stopping_patience=2", "evaluate_test=false"};
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) set(opts[i]);
    lines l = {0};
    train_result r;
    ck_assert_int_eq(train_run(&c, collect, &l, &r, &err), KE_OK);
    ck_assert_int_eq(l.n, 4);
    int e[3], most = 0;
    for (int f = 0; f < 3; f++) {
        e[f] = (int)field(l.lines[f], "fold_epochs");
        ck_assert(e[f] >= 1 && e[f] <= 60);
        if (e[f] > most) most = e[f];
    }
    /* the case the test is about: the folds stopped at other epochs, the
     * last one not the longest */
    ck_assert_msg(e[2] < most, "folds ran %d, %d, %d epochs", e[0], e[1], e[2]);
    ck_assert_int_eq((int)field(l.lines[3], "epochs"), most);
    ck_assert_int_eq(r.epochs, most);
}
END_TEST

START_TEST(distillation_from_teacher)
{
    char t[96];
    path_in_dir(t, sizeof t, "teacher.kck");
    train_config tc = c;
    train_config_set(&tc, "hidden", "64,32", NULL);
    train_config_set(&tc, "checkpoint", t, NULL);
    ck_assert_int_eq(train_run(&tc, NULL, NULL, NULL, &err), KE_OK);
    set("hidden=8");
    train_config_set(&c, "teacher", t, NULL);
    set("distill_temperature=3");
    set("distill_alpha=0.7");
    train_result r;
    ck_assert_int_eq(train_run(&c, NULL, NULL, &r, &err), KE_OK);
    ck_assert_msg(r.val_accuracy >= 0.9, "student val_accuracy %g", r.val_accuracy);
    /* parallel=data: each thread runs a replica of the teacher on its rows */
    train_result r2;
    set("threads=2");
    ck_assert_int_eq(train_run(&c, NULL, NULL, &r2, &err), KE_OK);
    ck_assert_msg(fabs(r2.val_loss - r.val_loss) <= 1e-4 * r.val_loss, "val_loss %.9g vs %.9g",
                  r2.val_loss, r.val_loss);
    set("threads=1");
    /* A teacher trained on other scaled inputs is refused, naming both. */
    set("scaling=none");
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_CONFLICT);
    ck_assert_str_eq(err.path, "teacher");
    ck_assert_ptr_nonnull(strstr(err.msg, "scaling=standard, this run uses none"));
    set("scaling=standard");
    /* A teacher for another input width or other classes cannot be used,
     * said in the data's terms (it said "model has N parameters, the
     * checkpoint M"). */
    train_config same = c;
    set("synthetic_features=9");
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_CONFLICT);
    ck_assert_str_eq(err.path, "teacher");
    ck_assert_msg(strstr(err.msg, "this run's data has 9 inputs"), "%s", err.msg);
    c = same;
    char classes[32];
    snprintf(classes, sizeof classes, "synthetic_classes=%d", c.synthetic_classes + 1);
    set(classes);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_CONFLICT);
    ck_assert_msg(strstr(err.msg, "classes; this run's data has"), "%s", err.msg);
    c = same;
    /* A teacher trained with mse or huber regressed one-hot rows: its
     * outputs are no logits, and the student took softmax(z / T) of them
     * without a word. It is refused, naming the teacher's loss. */
    static const char *const losses[] = {"loss=mse", "loss=huber"};
    for (int i = 0; i < 2; i++) {
        tc = c;
        train_config_set(&tc, "teacher", "", NULL);
        train_config_set_kv(&tc, losses[i], NULL);
        train_config_set(&tc, "checkpoint", t, NULL);
        ck_assert_int_eq(train_run(&tc, NULL, NULL, NULL, &err), KE_OK);
        ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_CONFLICT);
        ck_assert_str_eq(err.path, "teacher");
        ck_assert_msg(strstr(err.msg, losses[i]) && strstr(err.msg, "no logits"), "%s", err.msg);
    }
    /* A bce teacher's outputs are one sigmoid logit per class: their
     * softmax weighs each class by its odds, not its probability, and the
     * student learned that distribution without a word. Refused alike. */
    tc = c;
    train_config_set(&tc, "teacher", "", NULL);
    train_config_set_kv(&tc, "loss=bce", NULL);
    train_config_set(&tc, "checkpoint", t, NULL);
    ck_assert_int_eq(train_run(&tc, NULL, NULL, NULL, &err), KE_OK);
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_CONFLICT);
    ck_assert_str_eq(err.path, "teacher");
    ck_assert_msg(strstr(err.msg, "loss=bce") && strstr(err.msg, "not its class probabilities") &&
                  strstr(err.msg, "needs loss=cross_entropy or auto"), "%s", err.msg);
}
END_TEST

START_TEST(cuda_device_without_cuda)
{
#ifndef HAVE_CUDA
    set("device=cuda");
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "device");
    ck_assert_str_eq(err.msg, "not built with CUDA");
#endif
}
END_TEST

/* Report lines, and after each one whether the checkpoint file existed. */
typedef struct {
    lines l;
    const char *ck;
    int saved[64];
} ck_watch;

static int watch(const char *line, void *ctx)
{
    ck_watch *w = ctx;
    if (w->l.n < 64) w->saved[w->l.n] = access(w->ck, F_OK) == 0;
    return collect(line, &w->l);
}

/* checkpoint_every=0 saves once, at the run's end (what a study's trials
 * do), the same state as saving every epoch; every=2 of 5 epochs saves at
 * 2, 4 and the end. */
START_TEST(checkpoint_every_and_at_the_end)
{
    char every[96], end[96], two[96];
    path_in_dir(every, sizeof every, "every.kck");
    path_in_dir(end, sizeof end, "end.kck");
    path_in_dir(two, sizeof two, "two.kck");
    train_config a = c;
    train_config_set(&a, "checkpoint", every, NULL);
    ck_assert_int_eq(train_run(&a, NULL, NULL, NULL, &err), KE_OK);
    ck_watch w = {.ck = end};
    train_config b = c;
    train_config_set(&b, "checkpoint", end, NULL);
    train_config_set(&b, "checkpoint_every", "0", NULL);
    ck_assert_int_eq(train_run(&b, watch, &w, NULL, &err), KE_OK);
    ck_assert_int_eq(w.l.n, 6);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(w.saved[i], 0);
    ck_assert_int_eq(w.saved[4], 1);
    checkpoint_state s1;
    expect_same_state(every, end, &s1);
    ck_assert_int_eq(s1.epoch, 5);
    ck_watch w2 = {.ck = two};
    train_config t = c;
    train_config_set(&t, "checkpoint", two, NULL);
    train_config_set(&t, "checkpoint_every", "2", NULL);
    ck_assert_int_eq(train_run(&t, watch, &w2, NULL, &err), KE_OK);
    ck_assert(!w2.saved[0] && w2.saved[1] && w2.saved[4]);
}
END_TEST

/* Shifts and flips on data without image geometry are refused, not
 * skipped without a word; noise works on any data. */
START_TEST(image_augmentation_needs_images)
{
    set("augment_shift=2");
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "augment_shift");
    set("augment_shift=0");
    set("augment_flip=0.5");
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "augment_flip");
    set("augment_flip=0");
    set("augment_noise=0.1");
    set("epochs=1");
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_OK);
}
END_TEST

/* evaluate_test=false skips the test pass and its metrics and changes
 * nothing else. */
START_TEST(test_pass_optional)
{
    lines with = {0}, without = {0};
    train_result r1, r2;
    ck_assert_int_eq(train_run(&c, collect, &with, &r1, &err), KE_OK);
    set("evaluate_test=false");
    ck_assert_int_eq(train_run(&c, collect, &without, &r2, &err), KE_OK);
    ck_assert(r1.has_test && !r2.has_test);
    ck_assert(memcmp(&r1.val_loss, &r2.val_loss, sizeof(double)) == 0);
    ck_assert_ptr_nonnull(strstr(with.lines[5], "\"test_accuracy\""));
    ck_assert_ptr_null(strstr(without.lines[5], "\"test_"));
    ck_assert_double_eq(field(with.lines[4], "train_loss"), field(without.lines[4], "train_loss"));
}
END_TEST

/* A cached dataset's fitted scaler is kept beside it (a side file) and read
 * back by later runs with the same split: same bits; a corrupt side file is
 * refitted, and another split gets its own. */
START_TEST(scaler_fit_cached)
{
    char csv[96], cache[96], cmd[256];
    path_in_dir(csv, sizeof csv, "data.csv");
    path_in_dir(cache, sizeof cache, "cache");
    FILE *f = fopen(csv, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "a,b,c,label\n");
    for (int i = 0; i < 300; i++)
        fprintf(f, "%d,%g,%g,%d\n", i % 17, 0.5 * (i % 23), 100.0 + (i * 7) % 31, i % 3);
    fclose(f);
    char kv[160];
    snprintf(kv, sizeof kv, "data=csv:%s", csv);
    set(kv);
    set("epochs=2");
    set("dropout=0.1");
    train_result plain, first, second, healed, other;
    ck_assert_int_eq(train_run(&c, NULL, NULL, &plain, &err), KE_OK);
    snprintf(kv, sizeof kv, "cache_dir=%s", cache);
    set(kv);
    ck_assert_int_eq(train_run(&c, NULL, NULL, &first, &err), KE_OK);
    snprintf(cmd, sizeof cmd, "ls %s/*.side | wc -l | grep -qx 1", cache);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(train_run(&c, NULL, NULL, &second, &err), KE_OK);
    /* corrupt the stored scale of the first feature: a checksum miss */
    snprintf(cmd, sizeof cmd, "f=$(ls %s/*.side); printf '\\377' | dd of=$f bs=1 seek=$(( $(stat -c %%s $f) - 4 )) conv=notrunc 2>/dev/null", cache);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(train_run(&c, NULL, NULL, &healed, &err), KE_OK);
    ck_assert(memcmp(&plain.val_loss, &first.val_loss, sizeof(double)) == 0);
    ck_assert(memcmp(&plain.val_loss, &second.val_loss, sizeof(double)) == 0);
    ck_assert(memcmp(&plain.val_loss, &healed.val_loss, sizeof(double)) == 0);
    set("max_train=100");
    ck_assert_int_eq(train_run(&c, NULL, NULL, &other, &err), KE_OK);
    snprintf(cmd, sizeof cmd, "ls %s/*.side | wc -l | grep -qx 2", cache);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* A CSV with a continuous target under the default task=auto trains a
 * regression (mse, no accuracy), not a classifier with a class per value. */
START_TEST(csv_continuous_target_is_regression)
{
    char csv[96], kv[160];
    path_in_dir(csv, sizeof csv, "reg.csv");
    FILE *f = fopen(csv, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "a,b,y\n");
    for (int i = 0; i < 400; i++) {
        double a = (i % 20) / 10.0, b = (i % 13) / 6.5;
        fprintf(f, "%g,%g,%.4f\n", a, b, 2 * a - b + 0.25);
    }
    fclose(f);
    snprintf(kv, sizeof kv, "data=csv:%s", csv);
    set(kv);
    set("epochs=20");
    lines l = {0};
    train_result r;
    ck_assert_msg(train_run(&c, collect, &l, &r, &err) == KE_OK, "%s", err.msg);
    ck_assert(!r.classification);
    ck_assert_ptr_null(strstr(l.lines[l.n - 1], "accuracy"));
    ck_assert_msg(r.val_loss < 0.1, "val_loss %g", r.val_loss);
}
END_TEST

START_TEST(fashion_mnist_subset)
{
    train_config_defaults(&c);
    set("max_train=3000");
    set("epochs=2");
    set("hidden=64");
    train_result r;
    ck_assert_msg(train_run(&c, NULL, NULL, &r, &err) == KE_OK, "%s", err.msg);
    ck_assert_msg(r.val_accuracy >= 0.75, "val_accuracy %g", r.val_accuracy);
    ck_assert(r.has_test);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_add_checked_fixture(tc, train_setup, train_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, classification_learns);
    tcase_add_test(tc, data_parallel_matches_one_thread);
    tcase_add_test(tc, regression_loss_falls);
    tcase_add_test(tc, one_cycle_and_restarts_run);
    tcase_add_test(tc, huber_regression_learns);
    tcase_add_test(tc, stratified_run);
    tcase_add_test(tc, class_weight_balanced);
    tcase_add_test(tc, reduce_on_plateau);
    tcase_add_test(tc, plateau_never_raises_the_schedule);
    tcase_add_test(tc, warmup_rate_per_step);
    tcase_add_test(tc, warmup_longer_than_the_run_is_refused);
    tcase_add_test(tc, bce_classification_learns);
    tcase_add_loop_test(tc, resume_is_bit_identical, 0,
                        (int)(sizeof resume_variants / sizeof resume_variants[0]));
    tcase_add_test(tc, resume_rejects_other_config);
    tcase_add_test(tc, resume_may_save_and_test_otherwise);
    tcase_add_test(tc, checkpoint_rejects_corruption);
    tcase_add_loop_test(tc, checkpoint_reads_older_versions, 0, sizeof older / sizeof older[0]);
    tcase_add_test(tc, categorical_resume_is_bit_identical);
    tcase_add_test(tc, early_stopping_stops);
    tcase_add_test(tc, early_stopping_restores_best);
    tcase_add_test(tc, early_stopping_resume_is_bit_identical);
    tcase_add_test(tc, resume_with_nothing_left_still_saves);
    tcase_add_test(tc, divergence_fails);
    tcase_add_test(tc, kfold_reports_spread);
    tcase_add_test(tc, kfold_reports_each_folds_epochs);
    tcase_add_test(tc, distillation_from_teacher);
    tcase_add_test(tc, cuda_device_without_cuda);
    tcase_add_test(tc, checkpoint_every_and_at_the_end);
    tcase_add_test(tc, test_pass_optional);
    tcase_add_test(tc, image_augmentation_needs_images);
    tcase_add_test(tc, scaler_fit_cached);
    tcase_add_test(tc, csv_continuous_target_is_regression);
    if (access(DATASET_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) == 0)
        tcase_add_test(tc, fashion_mnist_subset);
    else
        fprintf(stderr, "test_train: %s not installed, Fashion-MNIST subset test not run\n",
                DATASET_FASHION_MNIST_DIR);
    suite_add_tcase(s, tc);
    return check_run(s);
}
