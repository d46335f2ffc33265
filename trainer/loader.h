/* loader: the training loop's batch source. Walks an index set of a dataset
 * in batches (per-epoch seeded shuffle, or in order for evaluation), gathers
 * rows into batch buffers, scales and augments them, either on a prefetch thread, so
 * batch k+1 is prepared while batch k trains (double buffering), or on the
 * caller's threads, each gathering the rows it will train on (loader_fill).
 * Invariant: every batch is a pure function of (seed, epoch, batch index):
 * neither thread timing nor the way the rows are split among fillers changes
 * a batch; all buffers are allocated once in loader_create, nothing per
 * batch. */
#ifndef KESTREL_TRAINER_LOADER_H
#define KESTREL_TRAINER_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "split.h"
#include "../common/kerror.h"

/* Augmentation, applied to training batches only (pass NULL for none).
 * Image ops need the dataset's image geometry (h, w, c > 0) and are skipped
 * for tabular data. Randomness is drawn from a stream per (seed, epoch,
 * batch, row in the batch), so the same sample gets different augmentation
 * in different epochs. */
typedef struct {
    size_t shift_px;    /* images: shift by a uniform dx, dy in
                           [-shift_px, shift_px], vacated pixels are 0
                           (black: shifts and flips act on the stored
                           pixels, before the scaler) */
    double flip_p;      /* images: probability of a horizontal
                           (left-right) flip */
    double noise_std;   /* additive N(0, noise_std^2) on every feature
                           (images and tabular) */
    int clamp01;        /* images: clamp noisy pixels to [0, 1]; set 0 when
                           the features are scaled (a scaler given to
                           loader_create) */
} loader_aug;

/* shift 0, flip 0, noise 0, clamp01 1: no augmentation. */
void loader_aug_init(loader_aug *a);

/* One batch, borrowed from the loader: valid until the next loader_next,
 * loader_epoch_begin or loader_free on the same loader. */
typedef struct {
    const float *x;         /* size x d, row-major */
    const int32_t *y;       /* classification: size labels; else NULL */
    const float *targets;   /* regression: size x t; else NULL */
    size_t size;            /* rows in this batch: batch_size, or fewer for
                               the last batch of an epoch */
    const size_t *rows;     /* size dataset row indices the batch holds
                               (without prefetch: once filled) */
    uint64_t epoch;
    size_t index;           /* batch number within the epoch, from 0 */
} loader_batch;

typedef struct loader loader;   /* opaque */

/* Creates a loader over rows idx[0..n) of ds with batches of batch_size
 * rows (n >= 1, batch_size >= 1; batch_size larger than n gives one batch).
 * shuffle 0 keeps idx order in every epoch (evaluation). aug may be NULL.
 * sc (NULL: none) scales each gathered row after shifts and flips and
 * before noise, so the dataset itself is only read (it may be a read-only
 * shared mapping); sc must outlive the loader.
 * prefetch 1 starts the prefetch thread; 0 starts none, and the caller fills
 * each batch with loader_fill. ds must outlive the loader and must not
 * change while it runs; idx is copied. *out owns everything; free with
 * loader_free. Errors: KE_INVALID, KE_NOMEM, KE_INTERNAL (thread). */
int loader_create(loader **out, const dataset *ds, const size_t *idx,
                  size_t n, size_t batch_size, uint64_t seed, int shuffle,
                  const loader_aug *aug, const split_scaler *sc, int prefetch, kerror *err);

/* Starts epoch `epoch`: its order is a function of (seed, epoch) only, so
 * epochs can be replayed or resumed in any order. Abandons what is left of
 * the current epoch, if anything, and starts prefetching batch 0. */
void loader_epoch_begin(loader *l, uint64_t epoch);

/* Fills *b with the next batch of the current epoch and returns 1; returns 0
 * when the epoch is exhausted or none was begun. With prefetch, blocks only
 * until the prefetch thread finishes that batch; without, b's buffers hold
 * nothing until loader_fill. */
int loader_next(loader *l, loader_batch *b);

/* Without prefetch: gathers and augments rows [lo, hi) of b, the batch the
 * last loader_next returned, into its buffers (hi is cut to b->size). Calls
 * on disjoint ranges may run concurrently, on any threads. With prefetch the
 * batch is already filled and this does nothing. */
void loader_fill(loader *l, const loader_batch *b, size_t lo, size_t hi);

/* Batches per epoch: ceil(n / batch_size). */
size_t loader_batches(const loader *l);

/* Stops and joins the prefetch thread, frees all buffers. NULL is fine. */
void loader_free(loader *l);

#endif
