/* dp: data-parallel batches for the CPU trainer. A batch's rows are cut into
 * one contiguous shard per thread; each thread runs forward, loss and the
 * output gradients of its shard on its own replica of the model
 * (mlp_replica: shared weights, own activations) with single-threaded
 * products (trainer/gemm.c); then each thread takes a share of every layer's
 * units, sums their weight gradients over all shards into the primary
 * model's and, at a step, updates them. It is the trainer's `parallel=data`
 * (and `auto`): concurrent single-threaded GEMM streams beat one
 * two-threaded OpenBLAS call at these matrix sizes (figures in
 * bench/README.md).
 * Invariant: shard bounds, dropout streams (mlp_rng_fork) and the summation
 * order depend only on B and the thread count, so a run is reproducible for a
 * given seed and thread count.
 *
 * Typical step (the caller holds the primary model and the optimizer):
 *   dp_rows(p, B, fill, ctx);              per batch: each thread gathers its rows
 *   dp_train_batch(p, x, &target, B, accumulate, &loss, err);
 *   dp_step(p, &optim, k, lr);             after k batches: sum and update
 *
 * The caller must have set OpenBLAS to one thread. */
#ifndef KESTREL_DP_H
#define KESTREL_DP_H

#include "../common/kerror.h"
#include "mlp.h"
#include "optim.h"

typedef struct dp dp;

/* Starts n_threads - 1 worker threads (the caller's thread is the first) and
 * one replica of primary per worker. primary must outlive p. With batch
 * norm the shards share each layer's batch statistics (sums over all
 * shards' rows, then each shard normalizes its own) and the first shard with
 * rows moves the running statistics. Errors: KE_INVALID (n_threads < 2),
 * KE_NOMEM, KE_IO (a thread could not start). */
int dp_create(dp **out, mlp *primary, int n_threads, kerror *err);
void dp_free(dp *p);   /* joins the workers; NULL allowed */

/* Forward, loss and backward of the B rows of x (B >= 1) split across the
 * threads. The weight gradients (accumulate as in mlp_backward) reach the
 * primary's arena at the next call on p, which knows whether an update
 * follows (dp_step then does both in one pass), so x and t must stay as
 * they are until that call. *loss gets the batch's mean loss. Errors as
 * mlp_forward. */
int dp_train_batch(dp *p, const float *x, const mlp_target *t, int B, int accumulate,
                   float *loss, kerror *err);

/* fn(ctx, thread, lo, hi) on every thread at once, each on the rows [lo,
 * hi) of a batch of B that dp_train_batch and dp_eval_batch give that thread
 * (none for an empty shard), so a thread can gather the rows it will work on
 * (and, with thread, 0 .. n_threads - 1, use a model of its own on them). */
typedef void (*dp_rows_fn)(void *ctx, int thread, size_t lo, size_t hi);
void dp_rows(dp *p, int B, dp_rows_fn fn, void *ctx);

/* Completes the primary's gradient arena (the last batch's weight
 * gradients, summed over the shards in a fixed order) and divides it by k
 * (the batches accumulated, >= 1), each thread on its share of the units. */
void dp_reduce(dp *p, int k);

/* dp_reduce, then one update of the primary's parameters by o (created for
 * them) at rate lr: optim_begin on the caller's thread, optim_apply on every
 * thread's units. The same bits as dp_reduce followed by optim_step. */
void dp_step(dp *p, optim *o, int k, float lr);

/* Evaluation forward of B rows split across the threads, as mlp_eval_batch:
 * *loss the mean loss; *n_correct the rows whose argmax logit is their label
 * when t->labels is set (with either loss), else 0; logits (B, n_out) the
 * outputs. Any of the three may be NULL. */
int dp_eval_batch(dp *p, const float *x, const mlp_target *t, int B, float *loss,
                  int *n_correct, float *logits, kerror *err);

#endif
