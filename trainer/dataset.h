/* dataset: one dataset in memory for the trainer: n samples of d float32
 * features (row-major n x d) with int32 class labels or float32 regression
 * targets, loaded from IDX files (MNIST format, gzip or plain), CSV, or a
 * seeded synthetic generator, optionally through a decoded binary cache that
 * later loads mmap instead of decoding again (dscache.h).
 * Invariant: x, y and targets all live in one block the dataset owns (a malloc
 * or a cache file mapping) and are released only by dataset_free. */
#ifndef KESTREL_TRAINER_DATASET_H
#define KESTREL_TRAINER_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "../common/kerror.h"
#include "dsnames.h"
#include "onehot.h"

typedef enum {
    DATASET_CLASSIFICATION = 0,
    DATASET_REGRESSION = 1,
    DATASET_AUTO = 2,    /* a CSV load option only: regression when every
                            label is a number and some have a fraction, or
                            when more than half the rows (and over 100) would
                            each be a class of their own; else classification.
                            A loaded dataset's task is never AUTO. */
    DATASET_UNLABELED = 3 /* a CSV load option only: every column is a
                            feature (rows to predict); the dataset is then
                            classification with n_classes 0, labels 0 */
} dataset_task;

typedef struct {
    size_t n;            /* samples */
    size_t d;            /* features per sample */
    dataset_task task;
    size_t n_classes;    /* classification: labels in [0, n_classes); else 0 */
    size_t t;            /* regression: targets per sample (>= 1); else 0 */
    size_t h, w, c;      /* image geometry with h*w*c == d, features in HWC
                            order (row, column, channel); all 0 for tabular */
    size_t test_begin;   /* rows [0, test_begin) come from the source's
                            training files, [test_begin, n) are its official
                            test set; test_begin == n when it has none */
    float *x;            /* n x d, row-major */
    int32_t *y;          /* classification: n labels; NULL for regression */
    float *targets;      /* regression: n x t, row-major; NULL otherwise */
    int mapped;          /* 1 when the arrays point into a cache file mapped
                            read-only and shared (one copy in the page
                            cache for every process): never write them */
    uint64_t cache_key;  /* mapped: the cache file's key (dscache.h's side
                            files use it); 0 otherwise */
    void *block_;        /* private to dataset.c and dscache.c: the malloc
                            block or the mapping base */
    size_t block_len_;   /* private: mapping length (0 for malloc) */
    onehot categories;   /* a CSV with categorical columns: the categories
                            its one-hot features stand for (owned; empty
                            otherwise) */
    dsnames names;       /* a CSV: its feature and label columns' names and
                            its class labels (owned; the cache keeps them,
                            so a mapped dataset has them too; empty for
                            other sources) */
} dataset;

/* Load options. Strings are borrowed: they need to live only during the
 * call. Start from dataset_opts_init. */
typedef struct {
    const char *source;        /* "fashion-mnist", "mnist", "csv:PATH",
                                  "synthetic-classification",
                                  "synthetic-regression" */
    const char *dir;           /* IDX directory holding
                                  {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz];
                                  NULL: DATASET_FASHION_MNIST_DIR for
                                  "fashion-mnist"; required for "mnist" */
    const char *label_column;  /* CSV: name of the label column; NULL: last */
    dataset_task csv_task;     /* CSV: how to read the label column
                                  (DATASET_AUTO: decide from its values) */
    const char *categorical;   /* CSV: the columns to one-hot encode, as
                                  csv_load takes them; NULL: none */
    size_t synth_n;            /* synthetic: samples (default 2000) */
    size_t synth_d;            /* synthetic: features (default 16) */
    size_t synth_classes;      /* synthetic classification (default 4) */
    size_t synth_targets;      /* synthetic regression: t (default 1) */
    double synth_noise;        /* synthetic regression: target noise std
                                  (default 0.1) */
    uint64_t seed;             /* synthetic: generator seed (default 1) */
    const char *cache_dir;     /* decoded-dataset cache directory (created if
                                  missing); NULL: no cache. Synthetic data is
                                  never cached (regenerating is cheaper). A
                                  cache that cannot be written is skipped:
                                  the load still succeeds, mapped stays 0. */
} dataset_opts;

#define DATASET_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Fills o with the defaults above (source "fashion-mnist", no cache). */
void dataset_opts_init(dataset_opts *o);

/* Loads the dataset o names into *ds (overwritten; free with dataset_free).
 * IDX sources load train and t10k files into one dataset, train rows first
 * (test_begin = number of training images). On failure *ds is empty and safe
 * to dataset_free. Errors: KE_INVALID (bad option or malformed file, message
 * names the file), KE_IO, KE_NOMEM. */
int dataset_load(const dataset_opts *o, dataset *ds, kerror *err);

/* Loads an IDX image file (idx3-ubyte, magic 0x00000803, n x rows x cols
 * bytes) and its label file (idx1-ubyte, magic 0x00000801), gzip or plain
 * (detected from the first bytes). Pixels become x = byte / 255 in [0, 1];
 * n_classes = max label + 1; h = rows, w = cols, c = 1. test_images and
 * test_labels may both be NULL; otherwise their rows follow the training
 * rows and test_begin marks the boundary. cache_dir may be NULL. A largest
 * label with an empty class just below it and fewer than 1/100 of the
 * median class's rows (one stray 42 among 0..9: a corrupt byte) is refused,
 * KE_INVALID naming the labels file, the label and its first index. */
int dataset_load_idx(const char *images, const char *labels,
                     const char *test_images, const char *test_labels,
                     const char *cache_dir, dataset *ds, kerror *err);

/* Seeded synthetic data from o's synth_* fields and seed.
 * Classification: synth_classes Gaussian blobs (unit std) in synth_d dims
 * around centers far enough apart for an MLP to reach high accuracy.
 * Regression: x ~ U(-1, 1)^d; each of the synth_targets targets is a fixed
 * (seed-drawn) sum of sines of linear projections of x plus N(0, noise^2).
 * Same options, same bytes. */
int dataset_synthetic(const dataset_opts *o, dataset_task task,
                      dataset *ds, kerror *err);

/* Allocates zeroed arrays for a dataset of n rows of d features with, for
 * classification, n labels (t ignored) or, for regression, n x t targets,
 * in one block, and sets n, d, task, t; the caller fills the data,
 * n_classes and geometry. test_begin is set to n. Handy for small datasets
 * built by hand (tests). Errors: KE_INVALID (n, d or t == 0, overflow),
 * KE_NOMEM. */
int dataset_alloc(dataset *ds, dataset_task task, size_t n, size_t d,
                  size_t t, kerror *err);

/* Width of the model's output layer: n_classes or t. */
size_t dataset_out_dim(const dataset *ds);

/* Writes into out (n bytes) what a message calls feature j (0-based,
 * < d): "column 'NAME'", the CSV column it comes from (a categorical
 * column's one-hot features all name it), or "feature J+1" when ds has no
 * names (IDX, synthetic). Returns out. */
const char *dataset_feature_text(const dataset *ds, size_t j, char *out, size_t n);

/* Frees (or unmaps) the data and zeroes *ds. NULL and zeroed datasets are
 * fine. */
void dataset_free(dataset *ds);

#endif
