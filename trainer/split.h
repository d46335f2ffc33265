/* split: train/validation/test index sets over a dataset (seeded shuffle,
 * ratios or k-fold) and feature scaling fitted on the training part only.
 * Invariant: the three index sets of a split are disjoint row indices of one
 * dataset; the data itself is never copied, only indexed. When the dataset
 * has an official test set (test_begin < n) that set is the test part and
 * validation is taken from the training rows. */
#ifndef KESTREL_TRAINER_SPLIT_H
#define KESTREL_TRAINER_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "../common/kerror.h"

typedef struct {
    double val_ratio;   /* share of the training pool (all rows minus test)
                           held out for validation, in [0, 1) */
    double test_ratio;  /* share of all rows held out for test, in [0, 1);
                           ignored when the dataset has an official test set */
    uint64_t seed;      /* shuffle seed */
    size_t max_train;   /* keep at most this many training rows (a seeded
                           subset, for cheap trials); 0: all */
    int stratify;       /* classification: every part (and fold, and the
                           max_train subset) holds each class in its share
                           of the rows, to within one row (sklearn's
                           stratify=y); ignored for regression */
} split_opts;

/* Index sets into one dataset's rows. One allocation holds all three arrays;
 * the split owns it and split_free releases it. Each array is in shuffled
 * order except the official test set, which stays in file order. */
typedef struct {
    size_t *train; size_t n_train;
    size_t *val;   size_t n_val;
    size_t *test;  size_t n_test;
    /* k-fold of a classification, stratified or not: a class with rows
     * among those the folds are cut from, but fewer than k (so some folds
     * validate without it; scikit-learn's StratifiedKFold warns), the least populated
     * one, and its rows; thin_rows 0 when there is none */
    size_t thin_class, thin_rows;
    size_t *block_;   /* private */
} split;

/* Fills o with val_ratio 0.1, test_ratio 0.1, seed 1, max_train 0, no
 * stratification. */
void split_opts_init(split_opts *o);

/* Splits ds's rows by o: test first (the official set, or test_ratio of a
 * shuffled permutation), then val_ratio of the remaining pool, the rest is
 * training (at most max_train). Part sizes are rounded down for val and
 * test, so the training part always keeps at least one row. Errors:
 * KE_INVALID (ratios out of range, empty dataset), KE_NOMEM. On failure *out is empty and safe to split_free. */
int split_make(const dataset *ds, const split_opts *o, split *out,
               kerror *err);

/* k-fold cross-validation: the test part is chosen as in split_make (same
 * opts, same test rows), the remaining pool is shuffled and cut into k folds
 * whose sizes differ by at most one; fold `fold` (0-based) is the validation
 * part, the other k-1 folds the training part (val_ratio is ignored). With
 * max_train the folds are cut from the pool's first floor(max_train * k /
 * (k - 1)) rows (at least k), so no training part exceeds max_train and the
 * validation part shrinks with it. Over fold = 0..k-1 the validation parts
 * partition the pool (with max_train, that subset of it). Errors: KE_INVALID (k < 2, fold >= k, fewer rows than k). */
int split_kfold(const dataset *ds, const split_opts *o, size_t k,
                size_t fold, split *out, kerror *err);

void split_free(split *s);

typedef enum {
    SPLIT_SCALE_NONE = 0,
    SPLIT_SCALE_STANDARD,   /* (x - mean) / std, population std (ddof 0) */
    SPLIT_SCALE_MINMAX      /* (x - min) / (max - min), train rows in [0, 1] */
} split_scaling;

/* A feature's spread (std, or max - min) below this is treated as constant:
 * the feature is only shifted (scale 1), so rows outside the training part
 * cannot blow up by dividing by ~0. */
#define SPLIT_SPREAD_FLOOR 1e-6

/* x' = (x - shift[j]) * scale[j] per feature j. Owns shift and scale
 * (one block); free with split_scaler_free. */
typedef struct {
    split_scaling kind;
    size_t d;
    float *shift;   /* d */
    float *scale;   /* d */
} split_scaler;

/* Parses "none", "standard", "minmax". Errors: KE_INVALID. */
int split_scaling_parse(const char *name, split_scaling *out, kerror *err);

/* An unfitted scaler of kind `kind` over d features (shift and scale to
 * be filled by the caller: a fit read back from a cache). Errors:
 * KE_NOMEM. */
int split_scaler_alloc(split_scaler *s, split_scaling kind, size_t d, kerror *err);

/* Fits a scaler of kind `kind` on rows idx[0..n) of ds (n >= 1; for
 * SPLIT_SCALE_NONE the scaler is the identity). Statistics are accumulated
 * in double. Errors: KE_INVALID (n == 0; path "scaling": a feature whose
 * training rows lie further than float's range from its shift, so that
 * x - shift would overflow, named by its column), KE_NOMEM; on failure *s
 * is empty. */
int split_scaler_fit(split_scaler *s, split_scaling kind, const dataset *ds,
                     const size_t *idx, size_t n, kerror *err);

/* dst = src scaled by s (d features each; dst and src may be the same row).
 * The dataset is never scaled in place: it is a read-only mapping shared by
 * every trial on the machine, so the loader scales each row as it gathers
 * it. Scaled images are no longer in [0, 1]; the loader's image noise clamp
 * then does not apply (see loader.h). */
void split_scaler_row(const split_scaler *s, float *dst, const float *src);

void split_scaler_free(split_scaler *s);

#endif
