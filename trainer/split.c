/* split: index sets (ratio and k-fold) and train-fitted feature scaling; see
 * split.h. Each split is one block of n row indices laid out as
 * [val | train | unused pool rows | test], every dataset row at most once.
 * Invariant: the test rows depend only on (dataset, test_ratio, seed,
 * stratify), so split_make and every split_kfold fold agree on them. */
#include "split.h"
#include "rng.h"
#include "vec.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void split_opts_init(split_opts *o)
{
    o->val_ratio = 0.1;
    o->test_ratio = 0.1;
    o->seed = 1;
    o->max_train = 0;
    o->stratify = 0;
}

void split_free(split *s)
{
    if (!s) return;
    free(s->block_);
    memset(s, 0, sizeof *s);
}

typedef struct {
    double key;
    size_t pos, row;
} dealt;

static int by_key(const void *a, const void *b)
{
    const dealt *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Reorders the shuffled rows perm[0, m) so that every run of consecutive
 * rows holds each class in proportion: the j-th row (0-based, in shuffled
 * order) of a class of n_c rows gets the key (j + 0.5) / n_c, and rows are
 * sorted by key (ties in shuffled order). A cut after any row then leaves
 * each class within one row of its share on either side. */
static int stratify(const dataset *ds, size_t *perm, size_t m)
{
    size_t C = ds->n_classes, *count = calloc(C ? C : 1, sizeof *count), *seen = calloc(C ? C : 1, sizeof *seen);
    dealt *d = malloc((m ? m : 1) * sizeof *d);
    if (!count || !seen || !d) {
        free(count);
        free(seen);
        free(d);
        return KE_NOMEM;
    }
    for (size_t i = 0; i < m; i++) count[ds->y[perm[i]]]++;
    for (size_t i = 0; i < m; i++) {
        size_t c = (size_t)ds->y[perm[i]];
        d[i] = (dealt){((double)seen[c]++ + 0.5) / (double)count[c], i, perm[i]};
    }
    qsort(d, m, sizeof *d, by_key);
    for (size_t i = 0; i < m; i++) perm[i] = d[i].row;
    free(count);
    free(seen);
    free(d);
    return KE_OK;
}

/* Fills perm (n rows) with the shuffled pool followed by the test rows and
 * sets *pool to the pool size: the official test set in file order when the
 * dataset has one, else the last floor(test_ratio * n) of a shuffle (with
 * stratify, of the stratified order of the shuffle). */
static int arrange(const dataset *ds, const split_opts *o, size_t *perm, size_t *pool, kerror *err)
{
    rng r;
    rng_seed(&r, o->seed);
    for (size_t i = 0; i < ds->n; i++)
        perm[i] = i;
    int official = ds->test_begin < ds->n;
    size_t m = official ? ds->test_begin : ds->n;
    rng_shuffle(&r, perm, m);
    if (o->stratify && ds->task == DATASET_CLASSIFICATION && stratify(ds, perm, m))
        return kerror_set(err, KE_NOMEM, NULL, "split: cannot stratify %zu rows", m);
    *pool = official ? m : ds->n - (size_t)floor(o->test_ratio * (double)ds->n);
    return KE_OK;
}

static int check_opts(const dataset *ds, const split_opts *o, kerror *err)
{
    if (!(o->val_ratio >= 0 && o->val_ratio < 1))
        return kerror_set(err, KE_INVALID, "val_ratio", "must be in [0, 1), got %g", o->val_ratio);
    if (!(o->test_ratio >= 0 && o->test_ratio < 1))
        return kerror_set(err, KE_INVALID, "test_ratio", "must be in [0, 1), got %g",
                          o->test_ratio);
    if (ds->n == 0)
        return kerror_set(err, KE_INVALID, NULL, "cannot split an empty dataset");
    return KE_OK;
}

/* Points out's arrays into its block: val first, then train (capped by
 * max_train), test from pool on. Training is never empty: pool >= 1 since
 * test_ratio < 1 rounds down, and val (floor(val_ratio * pool), or one of
 * k >= 2 folds) is always smaller than pool. */
static void finish(split *out, size_t n_val, size_t pool, size_t n, size_t max_train)
{
    size_t *b = out->block_;
    out->val = b;
    out->n_val = n_val;
    out->train = b + n_val;
    out->n_train = pool - n_val;
    if (max_train && out->n_train > max_train)
        out->n_train = max_train;
    out->test = b + pool;
    out->n_test = n - pool;
    assert(out->n_train > 0);
}

int split_make(const dataset *ds, const split_opts *o, split *out, kerror *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_opts(ds, o, err);
    if (rc != KE_OK) return rc;
    if (!(out->block_ = malloc(ds->n * sizeof(size_t))))
        return kerror_set(err, KE_NOMEM, NULL, "split: cannot allocate %zu indices", ds->n);
    size_t pool;
    if ((rc = arrange(ds, o, out->block_, &pool, err))) {
        split_free(out);
        return rc;
    }
    size_t n_val = (size_t)floor(o->val_ratio * (double)pool);
    finish(out, n_val, pool, ds->n, o->max_train);
    return KE_OK;
}

/* The least populated class of rows[0, n) when it has fewer than k rows
 * (out->thin_class and thin_rows; left 0 otherwise). Errors: KE_NOMEM. */
static int find_thin_class(const dataset *ds, const size_t *rows, size_t n, size_t k, split *out)
{
    size_t C = ds->n_classes, *count = calloc(C ? C : 1, sizeof *count);
    if (!count) return KE_NOMEM;
    for (size_t i = 0; i < n; i++) count[ds->y[rows[i]]]++;
    for (size_t c = 0; c < C; c++)
        if (count[c] && count[c] < k && (!out->thin_rows || count[c] < out->thin_rows)) {
            out->thin_class = c;
            out->thin_rows = count[c];
        }
    free(count);
    return KE_OK;
}

int split_kfold(const dataset *ds, const split_opts *o, size_t k,
                size_t fold, split *out, kerror *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_opts(ds, o, err);
    if (rc != KE_OK) return rc;
    if (k < 2 || fold >= k)
        return kerror_set(err, KE_INVALID, "kfold", "need k >= 2 and fold < k (k=%zu fold=%zu)",
                          k, fold);
    size_t *perm = malloc(ds->n * sizeof *perm);
    if (!perm || !(out->block_ = malloc(ds->n * sizeof(size_t)))) {
        free(perm);
        return kerror_set(err, KE_NOMEM, NULL, "split: cannot allocate %zu indices", ds->n);
    }
    size_t pool = 0;
    rc = arrange(ds, o, perm, &pool, err);
    if (!rc && pool < k)
        rc = kerror_set(err, KE_INVALID, "kfold", "the %zu row%s left after the test part cannot "
                        "make %zu folds", pool, pool == 1 ? "" : "s", k);
    if (rc) {
        free(perm);
        split_free(out);
        return rc;
    }
    /* max_train: the folds are cut from the pool's first floor(max_train * k
     * / (k - 1)) rows (a seeded subset, stratified like any run of perm), so
     * a fold's k - 1 others hold at most max_train rows and its validation
     * part is its share of the subset, not a k-th of the whole pool. */
    size_t used = pool;
    if (o->max_train && o->max_train < pool && o->max_train * k / (k - 1) < pool)
        used = o->max_train * k / (k - 1);
    if (used < k) used = k;
    /* Fold f covers perm[begin, begin + size): the first used % k folds get
     * one extra row. Move it to the front so val and train are contiguous. */
    size_t base = used / k, rem = used % k;
    size_t begin = fold * base + (fold < rem ? fold : rem);
    size_t size = base + (fold < rem);
    size_t *b = out->block_;
    memcpy(b, perm + begin, size * sizeof *b);
    memcpy(b + size, perm, begin * sizeof *b);
    memcpy(b + begin + size, perm + begin + size, (ds->n - begin - size) * sizeof *b);
    free(perm);
    finish(out, size, pool, ds->n, used - size);
    /* the fold's val and train parts are the used rows, in another order;
     * stratified or not, a class of fewer rows than folds misses some */
    if (ds->task == DATASET_CLASSIFICATION &&
        find_thin_class(ds, b, used, k, out)) {
        split_free(out);
        return kerror_set(err, KE_NOMEM, NULL, "split: cannot count the classes of %zu rows",
                          used);
    }
    return KE_OK;
}

int split_scaling_parse(const char *name, split_scaling *out, kerror *err)
{
    static const char *const names[] = {"none", "standard", "minmax"};
    for (int i = 0; i < 3; i++) {
        if (name && !strcmp(name, names[i])) {
            *out = (split_scaling)i;
            return KE_OK;
        }
    }
    return kerror_set(err, KE_INVALID, "scaling",
                      "unknown scaling '%s' (expected none, standard or minmax)",
                      name ? name : "");
}

typedef double vec_d __attribute__((vector_size(32)));
#define VD_W 4

/* acc[j] += f(row[j]) for j < d, f(v) = v, or (v - mean[j])^2 when mean is
 * given; VD_W features at a time. Each feature still sums its rows in row
 * order, so the result has the bits of the scalar loop. */
static void sum_row(double *acc, const float *row, const double *mean, size_t d)
{
    size_t j = 0;
    for (; j + VD_W <= d; j += VD_W) {
        vec_d v = __builtin_convertvector(vec_load(row + j), vec_d), a;
        memcpy(&a, acc + j, sizeof a);
        if (mean) {
            vec_d m;
            memcpy(&m, mean + j, sizeof m);
            v -= m;
            v *= v;
        }
        a += v;
        memcpy(acc + j, &a, sizeof a);
    }
    for (; j < d; j++) {
        double u = mean ? row[j] - mean[j] : row[j];
        acc[j] += mean ? u * u : u;
    }
}

/* Per-feature shift and spread over the rows: mean and population std
 * (two passes, in double, to avoid cancellation), or min and max - min. */
static void fit_stats(split_scaling kind, const dataset *ds, const size_t *idx, size_t n,
                      double *shift, double *spread)
{
    size_t d = ds->d;
    if (kind == SPLIT_SCALE_STANDARD) {
        memset(shift, 0, d * sizeof *shift);
        memset(spread, 0, d * sizeof *spread);
        for (size_t i = 0; i < n; i++) sum_row(shift, ds->x + idx[i] * d, NULL, d);
        for (size_t j = 0; j < d; j++) shift[j] /= (double)n;
        for (size_t i = 0; i < n; i++) sum_row(spread, ds->x + idx[i] * d, shift, d);
        for (size_t j = 0; j < d; j++) spread[j] = sqrt(spread[j] / (double)n);
        return;
    }
    for (size_t j = 0; j < d; j++) shift[j] = spread[j] = ds->x[idx[0] * d + j];
    for (size_t i = 0; i < n; i++) {
        const float *row = ds->x + idx[i] * d;
        for (size_t j = 0; j < d; j++) {
            if (row[j] < shift[j])
                shift[j] = row[j];
            else if (row[j] > spread[j])
                spread[j] = row[j];   /* the max, for now */
        }
    }
    for (size_t j = 0; j < d; j++) spread[j] -= shift[j];
}

/* The least and greatest of feature j over rows idx[0, n). */
static void column_range(const dataset *ds, const size_t *idx, size_t n, size_t j, double *lo,
                         double *hi)
{
    *lo = *hi = ds->x[idx[0] * ds->d + j];
    for (size_t i = 1; i < n; i++) {
        double v = ds->x[idx[i] * ds->d + j];
        *lo = v < *lo ? v : *lo;
        *hi = v > *hi ? v : *hi;
    }
}

/* split_scaler_row computes x - shift in float: a column whose training
 * rows lie further than FLT_MAX from its shift (values near +-3.4e38) would
 * scale to inf, and the first epoch's loss would be nan, blamed on lr. It
 * is refused here instead, naming it. The scaler's arithmetic is left as it
 * is, so every run this lets through keeps its bits (and the CUDA twin's).
 * Standard: max |x - mean| <= std * sqrt(n), a bound that clears any usual
 * column without a further pass over the rows. */
static int check_reach(split_scaling kind, const dataset *ds, const size_t *idx, size_t n,
                       const double *shift, const double *spread, kerror *err)
{
    for (size_t j = 0; j < ds->d; j++) {
        double s = (float)shift[j], lo, hi;
        double bound = kind == SPLIT_SCALE_MINMAX
                           ? spread[j] : spread[j] * sqrt((double)n) + fabs(shift[j] - s);
        if (bound <= FLT_MAX) continue;
        column_range(ds, idx, n, j, &lo, &hi);
        if (hi - s <= FLT_MAX && s - lo <= FLT_MAX) continue;
        char what[160];
        int minmax = kind == SPLIT_SCALE_MINMAX;
        return kerror_set(err, KE_INVALID, "scaling", "%s spans %g to %g on the training rows: "
                          "scaling=%s's x - %s would overflow float (beyond %.2g): rescale the "
                          "column (divide it by a power of ten) or clip its outliers",
                          dataset_feature_text(ds, j, what, sizeof what), lo, hi,
                          minmax ? "minmax" : "standard", minmax ? "min" : "mean", (double)FLT_MAX);
    }
    return KE_OK;
}

int split_scaler_alloc(split_scaler *s, split_scaling kind, size_t d, kerror *err)
{
    memset(s, 0, sizeof *s);
    float *block = malloc(2 * (d ? d : 1) * sizeof *block);
    if (!block) return kerror_set(err, KE_NOMEM, NULL, "scaler: cannot allocate %zu features", d);
    s->kind = kind;
    s->d = d;
    s->shift = block;
    s->scale = block + d;
    return KE_OK;
}

int split_scaler_fit(split_scaler *s, split_scaling kind, const dataset *ds,
                     const size_t *idx, size_t n, kerror *err)
{
    memset(s, 0, sizeof *s);
    if (n == 0)
        return kerror_set(err, KE_INVALID, NULL, "cannot fit a scaler on 0 rows");
    size_t d = ds->d;
    double *stats = malloc(2 * d * sizeof *stats);
    if (!stats || split_scaler_alloc(s, kind, d, err) != KE_OK) {
        free(stats);
        return kerror_set(err, KE_NOMEM, NULL, "scaler: cannot allocate %zu features", d);
    }
    int rc = KE_OK;
    if (kind != SPLIT_SCALE_NONE) {
        fit_stats(kind, ds, idx, n, stats, stats + d);
        rc = check_reach(kind, ds, idx, n, stats, stats + d, err);
    }
    for (size_t j = 0; j < d; j++) {
        double spread = stats[d + j];
        s->shift[j] = kind == SPLIT_SCALE_NONE ? 0.0f : (float)stats[j];
        s->scale[j] = kind == SPLIT_SCALE_NONE || spread < SPLIT_SPREAD_FLOOR
                          ? 1.0f : (float)(1.0 / spread);
    }
    free(stats);
    if (rc) split_scaler_free(s);
    return rc;
}

void split_scaler_row(const split_scaler *s, float *dst, const float *src)
{
    if (s->kind == SPLIT_SCALE_NONE) {
        if (dst != src) memcpy(dst, src, s->d * sizeof *dst);
        return;
    }
    size_t j = 0;
    for (; j + VEC_W <= s->d; j += VEC_W)
        vec_store(dst + j, (vec_load(src + j) - vec_load(s->shift + j)) * vec_load(s->scale + j));
    for (; j < s->d; j++) dst[j] = (src[j] - s->shift[j]) * s->scale[j];
}

void split_scaler_free(split_scaler *s)
{
    if (!s) return;
    free(s->shift);
    memset(s, 0, sizeof *s);
}
