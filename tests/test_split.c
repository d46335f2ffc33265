/* Tests for trainer/split.c: ratio splits and k-fold index sets (disjoint,
 * covering, seeded, official test set kept), and train-fitted scaling. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../trainer/rng.h"
#include "../trainer/split.h"

/* n rows, d features: feature j of row i ~ offset_j + spread_j * N(0, 1),
 * feature d-1 constant; labels i % 3. */
static void make(dataset *ds, size_t n, size_t d)
{
    kerror err;
    ck_assert_int_eq(dataset_alloc(ds, DATASET_CLASSIFICATION, n, d, 0, &err), KE_OK);
    ds->n_classes = 3;
    rng r;
    rng_seed(&r, 99);
    for (size_t i = 0; i < n; i++) {
        ds->y[i] = (int32_t)(i % 3);
        for (size_t j = 0; j < d; j++)
            ds->x[i * d + j] = j + 1 == d ? 5.0f : (float)(10.0 * j + (j + 1) * rng_normal(&r));
    }
}

/* Every row lands in at most one part; returns how many rows were seen. */
static size_t check_disjoint(const split *s, size_t n)
{
    char *seen = calloc(n, 1);
    const size_t *parts[3] = {s->train, s->val, s->test};
    size_t sizes[3] = {s->n_train, s->n_val, s->n_test}, total = 0;
    for (int p = 0; p < 3; p++) {
        for (size_t i = 0; i < sizes[p]; i++) {
            ck_assert_uint_lt(parts[p][i], n);
            ck_assert_int_eq(seen[parts[p][i]]++, 0);
            total++;
        }
    }
    free(seen);
    return total;
}

/* |rows of class c in idx[0, n) - n * share_c| <= 1 for every class. */
static void expect_shares(const dataset *ds, const size_t *idx, size_t n, const double *share, int C,
                          const char *what)
{
    for (int c = 0; c < C; c++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) k += ds->y[idx[i]] == c;
        ck_assert_msg(fabs((double)k - (double)n * share[c]) <= 1.0, "%s: class %d has %zu of %zu rows",
                      what, c, k, n);
    }
}

/* stratify (sklearn's stratify=y): on 1000 rows of classes 80/15/5 %, the
 * val, test and training parts, a max_train subset and every k-fold fold
 * hold each class in its share to within one row; without it, the 5 % class
 * strays further in some part (a seeded draw shows it). Every row still
 * lands once. */
START_TEST(stratified_parts)
{
    dataset ds;
    kerror err;
    ck_assert_int_eq(dataset_alloc(&ds, DATASET_CLASSIFICATION, 1000, 1, 0, &err), KE_OK);
    ds.n_classes = 3;
    for (size_t i = 0; i < 1000; i++) ds.y[i] = i % 20 == 0 ? 2 : i % 20 < 4 ? 1 : 0;
    double share[3] = {0.80, 0.15, 0.05};
    split_opts o;
    split_opts_init(&o);
    o.stratify = 1;
    o.val_ratio = 0.15;
    o.test_ratio = 0.2;
    split sp;
    ck_assert_int_eq(split_make(&ds, &o, &sp, &err), KE_OK);
    ck_assert_uint_eq(check_disjoint(&sp, 1000), 1000);
    expect_shares(&ds, sp.test, sp.n_test, share, 3, "test");
    expect_shares(&ds, sp.val, sp.n_val, share, 3, "val");
    expect_shares(&ds, sp.train, sp.n_train, share, 3, "train");
    split_free(&sp);
    o.max_train = 101;
    ck_assert_int_eq(split_make(&ds, &o, &sp, &err), KE_OK);
    ck_assert_uint_eq(sp.n_train, 101);
    expect_shares(&ds, sp.train, sp.n_train, share, 3, "max_train");
    split_free(&sp);
    o.max_train = 0;
    for (size_t f = 0; f < 7; f++) {
        ck_assert_int_eq(split_kfold(&ds, &o, 7, f, &sp, &err), KE_OK);
        expect_shares(&ds, sp.val, sp.n_val, share, 3, "fold");
        ck_assert_uint_eq(check_disjoint(&sp, 1000), 1000);
        split_free(&sp);
    }
    /* the plain split of the same seed misses a share by more than a row */
    o.stratify = 0;
    ck_assert_int_eq(split_make(&ds, &o, &sp, &err), KE_OK);
    int off = 0;
    const size_t *parts[3] = {sp.val, sp.test, sp.train};
    size_t sizes[3] = {sp.n_val, sp.n_test, sp.n_train};
    for (int p = 0; p < 3; p++)
        for (int c = 0; c < 3; c++) {
            size_t k = 0;
            for (size_t i = 0; i < sizes[p]; i++) k += ds.y[parts[p][i]] == c;
            off |= fabs((double)k - (double)sizes[p] * share[c]) > 1.0;
        }
    ck_assert(off);
    split_free(&sp);
    dataset_free(&ds);
}
END_TEST

START_TEST(ratios)
{
    dataset ds;
    make(&ds, 1000, 3);
    split_opts o;
    split_opts_init(&o);
    o.val_ratio = 0.2;
    o.test_ratio = 0.1;
    o.seed = 5;
    split a, b, c;
    kerror err;
    ck_assert_int_eq(split_make(&ds, &o, &a, &err), KE_OK);
    ck_assert_uint_eq(a.n_test, 100);
    ck_assert_uint_eq(a.n_val, 180);
    ck_assert_uint_eq(a.n_train, 720);
    ck_assert_uint_eq(check_disjoint(&a, ds.n), 1000);
    ck_assert_int_eq(split_make(&ds, &o, &b, &err), KE_OK);
    ck_assert_int_eq(memcmp(a.train, b.train, a.n_train * sizeof(size_t)), 0);
    ck_assert_int_eq(memcmp(a.test, b.test, a.n_test * sizeof(size_t)), 0);
    o.seed = 6;
    ck_assert_int_eq(split_make(&ds, &o, &c, &err), KE_OK);
    ck_assert_int_ne(memcmp(a.train, c.train, a.n_train * sizeof(size_t)), 0);
    split_free(&c);
    /* max_train takes a prefix of the same shuffled training part */
    o.seed = 5;
    o.max_train = 50;
    ck_assert_int_eq(split_make(&ds, &o, &c, &err), KE_OK);
    ck_assert_uint_eq(c.n_train, 50);
    ck_assert_int_eq(memcmp(a.train, c.train, 50 * sizeof(size_t)), 0);
    ck_assert_int_eq(memcmp(a.val, c.val, a.n_val * sizeof(size_t)), 0);
    split_free(&a);
    split_free(&b);
    split_free(&c);
    dataset_free(&ds);
}
END_TEST

START_TEST(official_test_set)
{
    dataset ds;
    make(&ds, 500, 2);
    ds.test_begin = 400;
    split_opts o;
    split_opts_init(&o);
    o.val_ratio = 0.25;
    o.test_ratio = 0.5;   /* ignored: the official set is the test part */
    split s;
    kerror err;
    ck_assert_int_eq(split_make(&ds, &o, &s, &err), KE_OK);
    ck_assert_uint_eq(s.n_test, 100);
    for (size_t i = 0; i < s.n_test; i++) ck_assert_uint_eq(s.test[i], 400 + i);
    ck_assert_uint_eq(s.n_val, 100);
    ck_assert_uint_eq(s.n_train, 300);
    for (size_t i = 0; i < s.n_val; i++) ck_assert_uint_lt(s.val[i], 400);
    ck_assert_uint_eq(check_disjoint(&s, ds.n), 500);
    split_free(&s);
    dataset_free(&ds);
}
END_TEST

START_TEST(bad_options)
{
    dataset ds;
    make(&ds, 10, 2);
    split_opts o;
    split_opts_init(&o);
    split s;
    kerror err;
    o.val_ratio = 1.0;
    ck_assert_int_eq(split_make(&ds, &o, &s, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "val_ratio");
    o.val_ratio = 0.1;
    o.test_ratio = -0.1;
    ck_assert_int_eq(split_make(&ds, &o, &s, &err), KE_INVALID);
    o.test_ratio = NAN;
    ck_assert_int_eq(split_make(&ds, &o, &s, &err), KE_INVALID);
    o.test_ratio = 0.5;
    o.val_ratio = 0.99;   /* 5 pool rows, 4 for validation, 1 left */
    ck_assert_int_eq(split_make(&ds, &o, &s, &err), KE_OK);
    ck_assert_uint_eq(s.n_train, 1);
    split_free(&s);
    dataset tiny;
    make(&tiny, 1, 2);
    o.test_ratio = 0;
    o.val_ratio = 0.99;   /* floor(0.99) = 0 val rows: fine */
    ck_assert_int_eq(split_make(&tiny, &o, &s, &err), KE_OK);
    split_free(&s);
    ck_assert_int_eq(split_kfold(&tiny, &o, 2, 0, &s, &err), KE_INVALID);
    ck_assert_ptr_null(s.train);
    ck_assert_int_eq(split_kfold(&ds, &o, 1, 0, &s, &err), KE_INVALID);
    ck_assert_int_eq(split_kfold(&ds, &o, 3, 3, &s, &err), KE_INVALID);
    dataset_free(&tiny);
    dataset_free(&ds);
}
END_TEST

/* The k-fold tests' data: 1003 rows of 2 classes, a tenth for test. */
static void kfold_data(dataset *ds, split_opts *o)
{
    make(ds, 1003, 2);
    split_opts_init(o);
    o->test_ratio = 0.1;
    o->seed = 11;
}

/* k-fold under max_train: the folds are cut from a seeded subset of the
 * pool, max_train * k / (k - 1) rows, so each fold trains on at most
 * max_train rows and validates on its share of the subset. The validation
 * fold was a k-th of the whole pool (180 rows here beside 100 trained on,
 * 12,000 beside 1,000 on Fashion-MNIST with k = 5): a cheap trial spent its
 * time validating, and no option made the fold smaller. */
START_TEST(kfold_bounded_by_max_train)
{
    dataset ds;
    split_opts o;
    kfold_data(&ds, &o);
    o.max_train = 100;
    split ref;
    kerror err;
    ck_assert_int_eq(split_make(&ds, &o, &ref, &err), KE_OK);
    size_t k = 5, used = 100 * 5 / 4;
    int *val_count = calloc(ds.n, sizeof *val_count);
    for (size_t f = 0; f < k; f++) {
        split s;
        ck_assert_int_eq(split_kfold(&ds, &o, k, f, &s, &err), KE_OK);
        ck_assert_uint_eq(s.n_val, used / k);
        ck_assert_uint_eq(s.n_train, used - used / k);
        ck_assert_uint_eq(check_disjoint(&s, ds.n), used + ref.n_test);
        ck_assert_int_eq(memcmp(s.test, ref.test, s.n_test * sizeof(size_t)), 0);
        for (size_t i = 0; i < s.n_val; i++) val_count[s.val[i]]++;
        split_free(&s);
    }
    /* the folds partition the subset: used rows once each */
    size_t once = 0;
    for (size_t i = 0; i < ds.n; i++) {
        ck_assert_int_le(val_count[i], 1);
        once += (size_t)val_count[i];
    }
    ck_assert_uint_eq(once, used);
    /* a training part never over max_train, rounding included */
    o.max_train = 401;   /* 601 rows: folds of 201, 200, 200 */
    for (size_t f = 0; f < 3; f++) {
        split s;
        ck_assert_int_eq(split_kfold(&ds, &o, 3, f, &s, &err), KE_OK);
        ck_assert_uint_le(s.n_train, o.max_train);
        ck_assert_uint_ge(s.n_train + 1, o.max_train);
        split_free(&s);
    }
    /* max_train at or above the folds' training size changes nothing */
    o.max_train = 1000000;
    split s;
    ck_assert_int_eq(split_kfold(&ds, &o, k, 0, &s, &err), KE_OK);
    ck_assert_uint_eq(s.n_train + s.n_val, ds.n - ref.n_test);
    split_free(&s);
    free(val_count);
    split_free(&ref);
    dataset_free(&ds);
}
END_TEST

START_TEST(kfold_partition)
{
    dataset ds;
    split_opts o;
    kfold_data(&ds, &o);
    split ref;
    kerror err;
    ck_assert_int_eq(split_make(&ds, &o, &ref, &err), KE_OK);
    size_t pool = ds.n - ref.n_test, k = 7;
    int *val_count = calloc(ds.n, sizeof *val_count);
    for (size_t f = 0; f < k; f++) {
        split s;
        ck_assert_int_eq(split_kfold(&ds, &o, k, f, &s, &err), KE_OK);
        ck_assert_uint_eq(check_disjoint(&s, ds.n), ds.n);
        ck_assert_uint_eq(s.n_test, ref.n_test);
        ck_assert_int_eq(memcmp(s.test, ref.test, s.n_test * sizeof(size_t)), 0);
        ck_assert(s.n_val == pool / k || s.n_val == pool / k + 1);
        ck_assert_uint_eq(s.n_train + s.n_val, pool);
        for (size_t i = 0; i < s.n_val; i++) val_count[s.val[i]]++;
        split_free(&s);
    }
    /* validation folds partition the pool: pool rows once, test rows never */
    char *is_test = calloc(ds.n, 1);
    for (size_t i = 0; i < ref.n_test; i++) is_test[ref.test[i]] = 1;
    for (size_t i = 0; i < ds.n; i++) ck_assert_int_eq(val_count[i], is_test[i] ? 0 : 1);
    free(is_test);
    free(val_count);
    split_free(&ref);
    dataset_free(&ds);
}
END_TEST

/* Mean and population std of feature j over rows idx. */
static void stats(const dataset *ds, const size_t *idx, size_t n, size_t j, double *mean,
                  double *sd)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) s += ds->x[idx[i] * ds->d + j];
    *mean = s / n;
    for (size_t i = 0; i < n; i++) {
        double u = ds->x[idx[i] * ds->d + j] - *mean;
        s2 += u * u;
    }
    *sd = sqrt(s2 / n);
}

/* Scales rows idx[0..n) of ds in place, row by row, as the loader does
 * when it gathers them. */
static void scale_rows(const split_scaler *sc, dataset *ds, const size_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float *row = ds->x + idx[i] * ds->d;
        split_scaler_row(sc, row, row);
    }
}

START_TEST(standardize_on_train)
{
    dataset ds;
    make(&ds, 2000, 4);
    split_opts o;
    split_opts_init(&o);
    split s;
    split_scaler sc;
    kerror err;
    ck_assert_int_eq(split_make(&ds, &o, &s, &err), KE_OK);
    /* far-off values outside the training part must not move the fit */
    for (size_t i = 0; i < s.n_test; i++) ds.x[s.test[i] * ds.d] = 1e6f;
    double m0, sd0;
    stats(&ds, s.train, s.n_train, 1, &m0, &sd0);
    ck_assert_int_eq(split_scaler_fit(&sc, SPLIT_SCALE_STANDARD, &ds, s.train, s.n_train, &err),
                     KE_OK);
    ck_assert_double_eq_tol(sc.shift[1], m0, 1e-4);
    ck_assert_double_eq_tol(1.0 / sc.scale[1], sd0, 1e-4);
    scale_rows(&sc, &ds, s.train, s.n_train);
    scale_rows(&sc, &ds, s.val, s.n_val);
    scale_rows(&sc, &ds, s.test, s.n_test);
    for (size_t j = 0; j < 3; j++) {
        double m, sd;
        stats(&ds, s.train, s.n_train, j, &m, &sd);
        ck_assert_double_eq_tol(m, 0.0, 1e-4);
        ck_assert_double_eq_tol(sd, 1.0, 1e-4);
        stats(&ds, s.val, s.n_val, j, &m, &sd);
        ck_assert_double_lt(fabs(m), 0.5);   /* same distribution, different rows */
    }
    /* the constant feature is only centred, not blown up */
    ck_assert_float_eq(sc.scale[3], 1.0f);
    for (size_t i = 0; i < ds.n; i++) ck_assert_float_eq(ds.x[i * ds.d + 3], 0.0f);
    ck_assert_float_gt(ds.x[s.test[0] * ds.d], 1e4f);
    split_scaler_free(&sc);
    split_free(&s);
    dataset_free(&ds);
}
END_TEST

START_TEST(minmax_and_none)
{
    dataset ds;
    make(&ds, 300, 3);
    split_opts o;
    split_opts_init(&o);
    split s;
    split_scaler sc;
    kerror err;
    split_scaling kind;
    ck_assert_int_eq(split_make(&ds, &o, &s, &err), KE_OK);
    ck_assert_int_eq(split_scaling_parse("minmax", &kind, &err), KE_OK);
    ck_assert_int_eq(kind, SPLIT_SCALE_MINMAX);
    ck_assert_int_eq(split_scaling_parse("zscore", &kind, &err), KE_INVALID);
    ck_assert_int_eq(split_scaler_fit(&sc, SPLIT_SCALE_MINMAX, &ds, s.train, s.n_train, &err),
                     KE_OK);
    scale_rows(&sc, &ds, s.train, s.n_train);
    for (size_t j = 0; j < 2; j++) {
        float lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < s.n_train; i++) {
            float v = ds.x[s.train[i] * ds.d + j];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        ck_assert_float_eq_tol(lo, 0.0f, 1e-6f);
        ck_assert_float_eq_tol(hi, 1.0f, 1e-6f);
    }
    split_scaler_free(&sc);
    float before = ds.x[7];
    ck_assert_int_eq(split_scaler_fit(&sc, SPLIT_SCALE_NONE, &ds, s.train, s.n_train, &err), KE_OK);
    scale_rows(&sc, &ds, s.train, s.n_train);
    ck_assert_float_eq(ds.x[7], before);
    split_scaler_free(&sc);
    ck_assert_int_eq(split_scaler_fit(&sc, SPLIT_SCALE_STANDARD, &ds, s.train, 0, &err),
                     KE_INVALID);
    split_free(&s);
    dataset_free(&ds);
}
END_TEST

/* A feature whose (x - shift) float cannot hold: a column of -3e38, 3e38
 * and 1 under minmax (max - min = 6e38), one mostly at -3e38 with some
 * 3e38 under standard (3e38 - mean ~ 5e38) overflowed to inf in
 * split_scaler_row, and the run failed 'lr: training diverged: the train
 * loss is -nan at epoch 1', blaming lr. The fit now refuses the column,
 * under 'scaling', naming it; a column within float's reach after its
 * shift (+-3e38 in equal shares: mean ~ 0) is kept and scales finite. */
static void huge_column(dataset *ds, const float *values, size_t k, int named)
{
    kerror err;
    ck_assert_int_eq(dataset_alloc(ds, DATASET_CLASSIFICATION, 60, 2, 0, &err), KE_OK);
    ds->n_classes = 2;
    for (size_t i = 0; i < ds->n; i++) {
        ds->y[i] = (int32_t)(i % 2);
        ds->x[i * 2] = (float)i;
        ds->x[i * 2 + 1] = values[i % k];
    }
    const char *names[] = {"a", "b"};
    if (named) ck_assert_int_eq(dsnames_set_columns(&ds->names, names, 2, "label", &err), KE_OK);
}

/* Fits a `kind` scaler on the training rows of huge_column's data into
 * *ds, *s and *sc (the caller frees them); returns split_scaler_fit's code. */
static int fit_huge(split_scaling kind, const float *values, size_t k, int named, dataset *ds,
                    split *s, split_scaler *sc, kerror *err)
{
    huge_column(ds, values, k, named);
    split_opts o;
    split_opts_init(&o);
    ck_assert_int_eq(split_make(ds, &o, s, err), KE_OK);
    return split_scaler_fit(sc, kind, ds, s->train, s->n_train, err);
}

static void expect_refused(split_scaling kind, const float *values, size_t k, int named,
                           const char *want)
{
    dataset ds;
    split s;
    split_scaler sc;
    kerror err;
    ck_assert_int_eq(fit_huge(kind, values, k, named, &ds, &s, &sc, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "scaling");
    ck_assert_msg(strstr(err.msg, want), "%s", err.msg);
    split_scaler_free(&sc);
    split_free(&s);
    dataset_free(&ds);
}

START_TEST(overflowing_columns_are_refused)
{
    const float mixed[] = {-3e38f, 3e38f, 1.0f}, lopsided[] = {-3e38f, -3e38f, -3e38f, 3e38f},
                even[] = {-3e38f, 3e38f};
    expect_refused(SPLIT_SCALE_MINMAX, mixed, 3, 1,
                   "column 'b' spans -3e+38 to 3e+38 on the training rows: scaling=minmax's "
                   "x - min would overflow float (beyond 3.4e+38)");
    expect_refused(SPLIT_SCALE_STANDARD, lopsided, 4, 1,
                   "column 'b' spans -3e+38 to 3e+38 on the training rows: scaling=standard's "
                   "x - mean would overflow float");
    expect_refused(SPLIT_SCALE_MINMAX, mixed, 3, 0, "feature 2 spans -3e+38 to 3e+38");
    dataset ds;
    split s;
    split_scaler sc;
    kerror err;
    ck_assert_int_eq(fit_huge(SPLIT_SCALE_STANDARD, even, 2, 1, &ds, &s, &sc, &err), KE_OK);
    scale_rows(&sc, &ds, s.train, s.n_train);
    for (size_t i = 0; i < s.n_train; i++) ck_assert(isfinite(ds.x[s.train[i] * 2 + 1]));
    split_scaler_free(&sc);
    split_free(&s);
    dataset_free(&ds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("split");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, ratios);
    tcase_add_test(tc, official_test_set);
    tcase_add_test(tc, bad_options);
    tcase_add_test(tc, kfold_partition);
    tcase_add_test(tc, kfold_bounded_by_max_train);
    tcase_add_test(tc, stratified_parts);
    tcase_add_test(tc, standardize_on_train);
    tcase_add_test(tc, minmax_and_none);
    tcase_add_test(tc, overflowing_columns_are_refused);
    suite_add_tcase(s, tc);
    return check_run(s);
}
