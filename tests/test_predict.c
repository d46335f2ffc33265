/* test_predict: a trained model put to use (trainer/predict.h). On
 * Fashion-MNIST (a small training subset): evaluating a run's checkpoint on
 * the official test images gives the run's test_loss and test_accuracy bit
 * for bit (with early stopping: the best epoch's), and predictions agree with
 * that accuracy. On CSV files: features-only and labelled files give the
 * same predictions, a regression model's evaluate loss is the mean squared
 * error of its predictions, and files that do not fit the model are
 * refused. A model file names the training file's columns and classes: a
 * file's columns are taken by name and its labels mapped onto the model's
 * classes (a label training never saw is refused); a version 4 file, which
 * names neither, still takes columns by position. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../trainer/predict.h"
#include "check_main.h"
#include "train_fixture.h"

static void in_dir(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

/* Trains c into dir/name and opens the model. */
static predictor *train_and_open(const char *name, train_result *r)
{
    char path[128], kv[160];
    in_dir(path, sizeof path, name);
    snprintf(kv, sizeof kv, "checkpoint=%s", path);
    set(kv);
    ck_assert_msg(train_run(&c, NULL, NULL, r, &err) == KE_OK, "%s", err.msg);
    predictor *p;
    ck_assert_msg(predict_open(&p, path, &err) == KE_OK, "%s", err.msg);
    return p;
}

typedef struct {
    const dataset *ds;
    size_t first, rows, right;
    double worst_sum;   /* largest |sum of probabilities - 1| */
    int n_out;
    float *out;         /* (rows, n_out) when set */
} seen;

static int see(size_t row, const float *out, void *ctx)
{
    seen *s = ctx;
    ck_assert_uint_eq(row, s->rows);
    int k = 0;
    double sum = 0;
    for (int j = 0; j < s->n_out; j++) {
        sum += out[j];
        if (out[j] > out[k]) k = j;
    }
    if (s->ds->y) s->right += k == s->ds->y[s->first + row];
    if (fabs(sum - 1) > s->worst_sum) s->worst_sum = fabs(sum - 1);
    if (s->out) memcpy(s->out + row * (size_t)s->n_out, out, (size_t)s->n_out * sizeof(float));
    s->rows++;
    return 0;
}

START_TEST(fashion_mnist_model_scores_its_test_set)
{
    train_config_defaults(&c);
    set("max_train=2000");
    set("epochs=3");
    set("hidden=32");
    set("cache_dir=");
    /* patience 1 with min_delta 10: stops after epoch 2, ends on epoch 1 */
    set("early_stopping_patience=1");
    set("min_delta=10");
    train_result r;
    predictor *p = train_and_open("f.kck", &r);
    ck_assert(r.stopped_early && r.best_epoch == 1 && r.epochs == 2);
    dataset ds;
    size_t first;
    int labeled;
    ck_assert_msg(predict_load(p, "fashion-mnist", NULL, &ds, &first, &labeled, &err) == KE_OK, "%s",
                  err.msg);
    ck_assert(labeled && ds.n - first == 10000);
    predict_eval e;
    ck_assert_int_eq(predict_evaluate(p, &ds, first, &e, &err), KE_OK);
    ck_assert_uint_eq(e.rows, 10000);
    ck_assert_msg(memcmp(&e.loss, &r.test_loss, sizeof(double)) == 0, "loss %.17g vs %.17g", e.loss,
                  r.test_loss);
    ck_assert(memcmp(&e.accuracy, &r.test_accuracy, sizeof(double)) == 0);
    ck_assert(memcmp(&e.m, &r.test_metrics, sizeof e.m) == 0);   /* F1, top-5, ... */
    ck_assert(memcmp(e.confusion, r.test_confusion, 100 * sizeof(long)) == 0);
    seen s = {.ds = &ds, .first = first, .n_out = predict_n_out(p)};
    ck_assert_int_eq(predict_run(p, &ds, first, see, &s, &err), KE_OK);
    ck_assert_uint_eq(s.rows, 10000);
    ck_assert_msg(s.worst_sum < 1e-5, "probabilities sum off by %g", s.worst_sum);
    ck_assert_double_eq((double)s.right / 10000, e.accuracy);
    dataset_free(&ds);
    predict_close(p);
}
END_TEST

/* A CSV of n rows: x0, x1 and a label: class "lo"/"mid"/"hi" by x0 + x1
 * (classes), or the target 2 x0 - x1 + 0.5 (regression); label 0: none. */
static void write_csv(const char *path, int n, int label, int regression)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(label ? "x0,x1,y\n" : "x0,x1\n", f);
    for (int i = 0; i < n; i++) {
        double a = (i * 37 % 101) / 50.0 - 1, b = (i * 59 % 97) / 48.0 - 1;
        fprintf(f, "%.6f,%.6f", a, b);
        if (label && regression) fprintf(f, ",%.6f", 2 * a - b + 0.5);
        if (label && !regression) fprintf(f, ",%s", a + b < -0.5 ? "lo" : a + b < 0.5 ? "mid" : "hi");
        fputc('\n', f);
    }
    fclose(f);
}

/* Trains a small net on csv file `name` (written with write_csv) into
 * model file `model` and opens it. */
static predictor *train_on_csv(const char *name, int regression, const char *model)
{
    char path[96], kv[128];
    in_dir(path, sizeof path, name);
    write_csv(path, regression ? 400 : 600, 1, regression);
    snprintf(kv, sizeof kv, "data=csv:%s", path);
    set(kv);
    set(regression ? "task=regression" : "task=auto");
    set("hidden=16");
    set(regression ? "epochs=5" : "epochs=30");
    set("lr=0.01");
    train_result r;
    return train_and_open(model, &r);
}

static float *predictions(predictor *p, const char *source, size_t *rows, dataset *ds)
{
    size_t first;
    int labeled;
    ck_assert_msg(predict_load(p, source, NULL, ds, &first, &labeled, &err) == KE_OK, "%s", err.msg);
    seen s = {.ds = ds, .n_out = predict_n_out(p)};
    s.out = malloc(ds->n * (size_t)s.n_out * sizeof(float));
    ck_assert_int_eq(predict_run(p, ds, first, see, &s, &err), KE_OK);
    *rows = s.rows;
    return s.out;
}

/* Scores the 600 rows of the labelled file and of the same rows without
 * labels (plain): the same bits. *a and *b are the loaded rows; the labelled
 * file's (600, 3) outputs are returned. */
static float *same_either_way(predictor *p, const char *labelled, const char *plain, dataset *a,
                              dataset *b)
{
    char src[128];
    size_t na, nb;
    snprintf(src, sizeof src, "csv:%s", labelled);
    float *pa = predictions(p, src, &na, a);
    snprintf(src, sizeof src, "csv:%s", plain);
    float *pb = predictions(p, src, &nb, b);
    ck_assert(na == 600 && nb == 600);
    ck_assert(memcmp(pa, pb, 600 * 3 * sizeof(float)) == 0);
    free(pb);
    return pa;
}

START_TEST(csv_features_alone_or_labelled)
{
    char train[96], plain[96];
    predictor *p = train_on_csv("train.csv", 0, "c.kck");
    in_dir(train, sizeof train, "train.csv");
    in_dir(plain, sizeof plain, "plain.csv");
    write_csv(plain, 600, 0, 0);
    ck_assert_int_eq(predict_n_out(p), 3);
    ck_assert(!predict_regression(p));
    dataset a, b;
    float *pa = same_either_way(p, train, plain, &a, &b);
    predict_eval e;
    ck_assert_int_eq(predict_evaluate(p, &a, 0, &e, &err), KE_OK);
    ck_assert_msg(e.accuracy > 0.9, "accuracy %g", e.accuracy);
    ck_assert_int_eq(predict_evaluate(p, &b, 0, &e, &err), KE_INVALID);
    free(pa);
    dataset_free(&a);
    dataset_free(&b);
    size_t first;
    int labeled;
    ck_assert_int_eq(predict_load(p, "synthetic-classification", NULL, &a, &first, &labeled, &err),
                     KE_INVALID);
    predict_close(p);
}
END_TEST

/* Writes text to dir/name; src gets "csv:" and its path. */
static void csv_text(char *src, size_t n, const char *name, const char *text)
{
    char path[96];
    in_dir(path, sizeof path, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    snprintf(src, n, "csv:%s", path);
}

/* The (rows, 3) outputs of the model for csv text written to dir/name. */
static float *score_text(predictor *p, const char *name, const char *text, size_t *rows)
{
    char src[128];
    dataset ds;
    csv_text(src, sizeof src, name, text);
    float *out = predictions(p, src, rows, &ds);
    dataset_free(&ds);
    return out;
}

/* Four rows of x0, x1 in the training file's order, the same rows with the
 * columns swapped, and among other columns. */
#define ROWS_X0_X1 "x0,x1\n-0.9,-0.2\n0.1,0.7\n0.9,-0.4\n0.5,-0.6\n"
#define ROWS_X1_X0 "x1,x0\n-0.2,-0.9\n0.7,0.1\n-0.4,0.9\n-0.6,0.5\n"
#define ROWS_MORE "id,x1,note,x0\n1,-0.2,a,-0.9\n2,0.7,b,0.1\n3,-0.4,c,0.9\n4,-0.6,d,0.5\n"

/* Columns are matched by name to the training file's header: swapped or
 * among others they score as in training order; a renamed one is refused
 * naming the column the model needs (it was scored silently by position). */
START_TEST(csv_columns_by_name)
{
    predictor *p = train_on_csv("train.csv", 0, "c.kck");
    size_t n1, n2, n3;
    float *want = score_text(p, "a.csv", ROWS_X0_X1, &n1);
    float *swapped = score_text(p, "b.csv", ROWS_X1_X0, &n2);
    float *more = score_text(p, "c.csv", ROWS_MORE, &n3);
    ck_assert(n1 == 4 && n2 == 4 && n3 == 4);
    ck_assert_msg(memcmp(want, swapped, 4 * 3 * sizeof(float)) == 0, "swapped columns score otherwise");
    ck_assert_msg(memcmp(want, more, 4 * 3 * sizeof(float)) == 0, "extra columns score otherwise");
    free(want);
    free(swapped);
    free(more);
    char src[128];
    dataset ds;
    size_t first;
    int labeled;
    csv_text(src, sizeof src, "d.csv", "x,x1\n0.5,0.5\n");
    ck_assert_int_eq(predict_load(p, src, NULL, &ds, &first, &labeled, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "data");
    ck_assert_msg(strstr(err.msg, "d.csv: no column 'x0'"), "%s", err.msg);
    predict_close(p);
}
END_TEST

/* Labels are mapped onto the model's classes ("hi", "lo", "mid"): a file
 * with two of the three evaluates, and a label training never saw is
 * refused naming its line (it was numbered by sorted position, "maybe" as
 * a training class). */
START_TEST(csv_labels_map_to_the_models_classes)
{
    predictor *p = train_on_csv("train.csv", 0, "c.kck");
    char src[128];
    dataset ds;
    size_t first;
    int labeled;
    csv_text(src, sizeof src, "two.csv", "x0,x1,y\n-1,-1,lo\n0,0,mid\n0.1,0.1,mid\n");
    ck_assert_msg(predict_load(p, src, NULL, &ds, &first, &labeled, &err) == KE_OK, "%s", err.msg);
    ck_assert(labeled && ds.n_classes == 3);
    ck_assert(ds.y[0] == 1 && ds.y[1] == 2 && ds.y[2] == 2);
    predict_eval e;
    ck_assert_int_eq(predict_evaluate(p, &ds, 0, &e, &err), KE_OK);
    ck_assert_uint_eq(e.rows, 3);
    dataset_free(&ds);
    csv_text(src, sizeof src, "new.csv", "x0,x1,y\n-1,-1,lo\n0.5,0.5,maybe\n0.9,0.9,hi\n");
    ck_assert_int_eq(predict_load(p, src, NULL, &ds, &first, &labeled, &err), KE_INVALID);
    ck_assert_msg(strstr(err.msg, "new.csv:3: column 3 ('y'): label 'maybe' was not in the training "
                         "data (the model knows 3 classes: 'hi', 'lo', 'mid')"), "%s", err.msg);
    predict_close(p);
}
END_TEST

/* The training labels, to print a prediction as one: the CSV's (sorted as
 * its classes are numbered), none for Fashion-MNIST's class numbers, and
 * no classes for a regression model. */
START_TEST(class_labels)
{
    predictor *p = train_on_csv("train.csv", 0, "c.kck");
    const char *const *labels;
    ck_assert_int_eq(predict_class_labels(p, &labels, &err), KE_OK);
    ck_assert(labels && !strcmp(labels[0], "hi") && !strcmp(labels[1], "lo") && !strcmp(labels[2], "mid"));
    predict_close(p);
    p = train_on_csv("reg.csv", 1, "r.kck");
    ck_assert_int_eq(predict_class_labels(p, &labels, &err), KE_CONFLICT);
    ck_assert_str_eq(err.path, "labels");
    predict_close(p);
    train_config_defaults(&c);
    set("data=synthetic-classification");
    set("epochs=1");
    train_result r;
    p = train_and_open("s.kck", &r);
    ck_assert_int_eq(predict_class_labels(p, &labels, &err), KE_OK);
    ck_assert_ptr_null(labels);
    predict_close(p);
}
END_TEST

/* Rewrites model file path as version 4 wrote it (docs/model.md): the
 * 240-byte header ends before columns_len, and the column names go. */
static void as_version_4(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static unsigned char b[1 << 20];
    size_t len = fread(b, 1, sizeof b, f);
    fclose(f);
    uint32_t version = 4;
    uint64_t columns_len;
    ck_assert(len > 248 && len < sizeof b && b[8] == 5);
    memcpy(&columns_len, b + 240, 8);
    memcpy(b + 8, &version, 4);
    memmove(b + 240, b + 248, len - 248 - columns_len - 4);   /* drops the CRC too */
    len -= 8 + columns_len;
    uint32_t crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), b, (uInt)(len - 4));
    memcpy(b + len - 4, &crc, 4);
    f = fopen(path, "wb");
    ck_assert(f && fwrite(b, 1, len, f) == len && fclose(f) == 0);
}

/* A version 4 model file loads and behaves as before version 5: columns by
 * position, whatever the header calls them; labels numbered by sorted
 * position (a file must hold every class); no labels to print. */
START_TEST(version_4_model_takes_columns_by_position)
{
    char path[96], src[128];
    predict_close(train_on_csv("train.csv", 0, "c.kck"));
    in_dir(path, sizeof path, "c.kck");
    as_version_4(path);
    predictor *p;
    ck_assert_msg(predict_open(&p, path, &err) == KE_OK, "%s", err.msg);
    size_t n1, n2;
    float *a = score_text(p, "a.csv", ROWS_X0_X1, &n1);
    float *b = score_text(p, "b.csv", "u,v\n-0.9,-0.2\n0.1,0.7\n0.9,-0.4\n0.5,-0.6\n", &n2);
    ck_assert(n1 == 4 && n2 == 4 && memcmp(a, b, 4 * 3 * sizeof(float)) == 0);
    free(b);
    dataset ds;
    size_t first;
    int labeled;
    csv_text(src, sizeof src, "two.csv", "x0,x1,y\n-1,-1,lo\n0,0,mid\n");
    ck_assert_int_eq(predict_load(p, src, NULL, &ds, &first, &labeled, &err), KE_INVALID);
    ck_assert_msg(strstr(err.msg, "the labels make 2 classes, the model has 3"), "%s", err.msg);
    csv_text(src, sizeof src, "wide.csv", "x0,x1,x2,y\n1,2,3,lo\n");
    ck_assert_int_eq(predict_load(p, src, NULL, &ds, &first, &labeled, &err), KE_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "takes 2 features"));
    const char *const *labels;
    ck_assert_int_eq(predict_class_labels(p, &labels, &err), KE_CONFLICT);
    /* a file it cannot open says why: it said "cannot open" alone */
    char nosuch[128];
    in_dir(nosuch, sizeof nosuch, "nosuch.csv");
    snprintf(src, sizeof src, "csv:%s", nosuch);
    ck_assert_int_eq(predict_load(p, src, NULL, &ds, &first, &labeled, &err), KE_IO);
    ck_assert_msg(strstr(err.msg, "nosuch.csv: cannot open: No such file or directory"), "%s",
                  err.msg);
    /* Rows only scored (kestrel predict) read no labels, as with a newer
     * model: a label column of rows still to label (empty cells), or of
     * fewer classes than the model's, was refused ("missing label", "the
     * labels make 1 classes"). The same rows, the same scores. */
    static const char *const unread[] = {
        "x0,x1,y\n-0.9,-0.2,\n0.1,0.7,\n0.9,-0.4,\n0.5,-0.6,\n",
        "x0,x1,y\n-0.9,-0.2,lo\n0.1,0.7,lo\n0.9,-0.4,lo\n0.5,-0.6,lo\n"};
    for (int i = 0; i < 2; i++) {
        csv_text(src, sizeof src, "unread.csv", unread[i]);
        ck_assert_msg(predict_load(p, src, NULL, &ds, &first, NULL, &err) == KE_OK, "%s: %s",
                      unread[i], err.msg);
        seen sc = {.ds = &ds, .n_out = predict_n_out(p)};
        sc.out = malloc(ds.n * (size_t)sc.n_out * sizeof(float));
        ck_assert_int_eq(predict_run(p, &ds, first, see, &sc, &err), KE_OK);
        ck_assert(sc.rows == 4 && memcmp(sc.out, a, 4 * 3 * sizeof(float)) == 0);
        free(sc.out);
        dataset_free(&ds);
    }
    free(a);
    predict_close(p);
}
END_TEST

/* A version 4 model trained with label_column takes that column by name;
 * a file that calls it otherwise was refused at "label_column", an option
 * the user of predict or evaluate never set. The error is the data's and
 * names the model and the column it wants. */
START_TEST(version_4_model_names_its_label_column)
{
    char path[96], src[128];
    set("label_column=y");
    predict_close(train_on_csv("train.csv", 0, "n.kck"));
    in_dir(path, sizeof path, "n.kck");
    as_version_4(path);
    predictor *p;
    ck_assert_msg(predict_open(&p, path, &err) == KE_OK, "%s", err.msg);
    dataset ds;
    size_t first;
    int labeled;
    csv_text(src, sizeof src, "t.csv", "x0,x1,t\n-1,-1,lo\n0,0,mid\n1,1,hi\n");
    for (int score_only = 0; score_only < 2; score_only++) {
        ck_assert_int_eq(predict_load(p, src, NULL, &ds, &first, score_only ? NULL : &labeled,
                                      &err), KE_INVALID);
        ck_assert_str_eq(err.path, "data");
        ck_assert_msg(strstr(err.msg, "no column named 'y'") && strstr(err.msg, "n.kck") &&
                      strstr(err.msg, "trained with label_column=y"), "%s", err.msg);
    }
    predict_close(p);
}
END_TEST

/* Regression: evaluate's loss is the mean squared error of the predictions
 * against the targets (the reference formula, computed here in double). */
START_TEST(csv_regression_loss_is_mse_of_predictions)
{
    char train[96], src[128];
    predictor *p = train_on_csv("reg.csv", 1, "r.kck");
    in_dir(train, sizeof train, "reg.csv");
    ck_assert(predict_regression(p) && predict_n_out(p) == 1);
    dataset ds;
    size_t n;
    snprintf(src, sizeof src, "csv:%s", train);
    float *out = predictions(p, src, &n, &ds);
    double se = 0;
    for (size_t i = 0; i < n; i++) se += (out[i] - ds.targets[i]) * (double)(out[i] - ds.targets[i]);
    predict_eval e;
    ck_assert_int_eq(predict_evaluate(p, &ds, 0, &e, &err), KE_OK);
    ck_assert_uint_eq(e.rows, 400);
    ck_assert_msg(fabs(e.loss - se / n) <= 1e-6 * (se / n) + 1e-9, "loss %.9g, mse %.9g", e.loss, se / n);
    free(out);
    dataset_free(&ds);
    predict_close(p);
}
END_TEST

/* A CSV of n rows: x0, a category "shade" and (label) a class of
 * x0 + shift(shade): the class is learnable only from both. */
static void write_shades(const char *path, int n, int label, const char *odd)
{
    static const char *const shades[] = {"dark", "light", "mid"};
    static const double shift[] = {-1, 1, 0};
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(label ? "x0,shade,y\n" : "x0,shade\n", f);
    for (int i = 0; i < n; i++) {
        double a = (i * 37 % 101) / 50.0 - 1, v = a + shift[i % 3];
        fprintf(f, "%.6f,%s", a, odd && i == n - 1 ? odd : shades[i % 3]);
        if (label) fprintf(f, ",%s", v < -0.5 ? "lo" : v < 0.5 ? "mid" : "hi");
        fputc('\n', f);
    }
    fclose(f);
}

/* categorical: trained on one-hot categories, the model file keeps them;
 * predict and evaluate encode their rows the same way (features alone or
 * labelled give the same outputs, evaluate's accuracy is predict's argmax
 * rate, the trainer's rows score as it scored them), and a category
 * training never saw is refused naming its column. */
START_TEST(csv_categorical_columns)
{
    char train[96], plain[96], src[128];
    in_dir(train, sizeof train, "shades.csv");
    in_dir(plain, sizeof plain, "shades-plain.csv");
    write_shades(train, 600, 1, NULL);
    write_shades(plain, 600, 0, NULL);
    snprintf(src, sizeof src, "data=csv:%s", train);
    set(src);
    set("categorical=auto");
    set("hidden=16");
    set("epochs=30");
    set("lr=0.01");
    train_result r;
    predictor *p = train_and_open("shades.kck", &r);
    ck_assert_msg(r.test_accuracy > 0.9, "test accuracy %g", r.test_accuracy);
    dataset a, b;
    float *pa = same_either_way(p, train, plain, &a, &b);
    ck_assert_uint_eq(a.d, 4);   /* x0 and three shades */
    size_t na = a.n;
    predict_eval e;
    ck_assert_int_eq(predict_evaluate(p, &a, 0, &e, &err), KE_OK);
    size_t right = 0;
    for (size_t i = 0; i < na; i++) {
        int k = 0;
        for (int j = 1; j < 3; j++)
            if (pa[i * 3 + j] > pa[i * 3 + k]) k = j;
        right += k == a.y[i];
    }
    ck_assert_msg(e.accuracy == (double)right / 600 && e.accuracy > 0.9, "accuracy %g, argmax %zu",
                  e.accuracy, right);
    free(pa);
    dataset_free(&a);
    dataset_free(&b);

    write_shades(plain, 10, 0, "pale");
    snprintf(src, sizeof src, "csv:%s", plain);
    size_t first;
    int labeled;
    ck_assert_int_eq(predict_load(p, src, NULL, &a, &first, &labeled, &err), KE_INVALID);
    ck_assert_msg(strstr(err.msg, ":11: column 2 ('shade'): category 'pale' was not in the training "
                         "data"), "%s", err.msg);
    predict_close(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("predict");
    TCase *tc = tcase_create("predict");
    tcase_add_checked_fixture(tc, train_setup, train_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, csv_features_alone_or_labelled);
    tcase_add_test(tc, csv_regression_loss_is_mse_of_predictions);
    tcase_add_test(tc, csv_categorical_columns);
    tcase_add_test(tc, csv_columns_by_name);
    tcase_add_test(tc, csv_labels_map_to_the_models_classes);
    tcase_add_test(tc, class_labels);
    tcase_add_test(tc, version_4_model_takes_columns_by_position);
    tcase_add_test(tc, version_4_model_names_its_label_column);
    if (access(DATASET_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) == 0)
        tcase_add_test(tc, fashion_mnist_model_scores_its_test_set);
    else
        fprintf(stderr, "test_predict: %s not installed, Fashion-MNIST test not run\n",
                DATASET_FASHION_MNIST_DIR);
    suite_add_tcase(s, tc);
    return check_run(s);
}
