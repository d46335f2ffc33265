/* test_predict: a trained model put to use (trainer/predict.h). On
 * Fashion-MNIST (a small training subset): evaluating a run's checkpoint on
 * the official test images gives the run's test_loss and test_accuracy bit
 * for bit (with early stopping: the best epoch's), and predictions agree with
 * that accuracy. On CSV files: features-only and labelled files give the
 * same predictions, a regression model's evaluate loss is the mean squared
 * error of its predictions, and files that do not fit the model are
 * refused. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    char train[96], plain[96], src[128];
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

    /* two of the three classes: they cannot be numbered as in training */
    FILE *f = fopen(plain, "w");
    fputs("x0,x1,y\n-1,-1,lo\n0,0,mid\n", f);
    fclose(f);
    snprintf(src, sizeof src, "csv:%s", plain);
    size_t first;
    int labeled;
    ck_assert_int_eq(predict_load(p, src, NULL, &a, &first, &labeled, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "data");
    f = fopen(plain, "w");
    fputs("x0,x1,x2,y\n1,2,3,lo\n", f);
    fclose(f);
    ck_assert_int_eq(predict_load(p, src, NULL, &a, &first, &labeled, &err), KE_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "takes 2 features"));
    ck_assert_int_eq(predict_load(p, "synthetic-classification", NULL, &a, &first, &labeled, &err),
                     KE_INVALID);
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
    if (access(DATASET_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) == 0)
        tcase_add_test(tc, fashion_mnist_model_scores_its_test_set);
    else
        fprintf(stderr, "test_predict: %s not installed, Fashion-MNIST test not run\n",
                DATASET_FASHION_MNIST_DIR);
    suite_add_tcase(s, tc);
    return check_run(s);
}
