/* mlp_cuda: the CUDA twin of trainer/mlp.h, same names with _cuda. A
 * device model is made from a host one (mlp_create stays the one place that
 * validates configs, lays out the tensor table and initialises weights), so
 * both share layout and starting point; parameters, gradients and
 * activations live in three device arenas allocated at mlp_cuda_create, cut
 * by the host model's tensor table. Every array argument is device memory
 * and every call only enqueues work on the context's stream.
 * Invariant: nothing is allocated after mlp_cuda_create, and the device
 * parameter arena has exactly the host layout (n_state floats, running
 * statistics last), so upload/download are single copies and checkpoints
 * are the CPU format.
 *
 * Differences from mlp.h, all for staying on the device: losses are left
 * per row (mlp_cuda_row_loss) instead of returned; evaluation adds into
 * device sums; dropout seeds come from device memory (mlp_cuda_draw_seed
 * advances the host-side RNG that the checkpoint stores). */
#ifndef KESTREL_MLP_CUDA_H
#define KESTREL_MLP_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "../trainer/mlp.h"

typedef struct mlp_cuda mlp_cuda;

/* A device copy of host (config, layout, parameters, dropout RNG), with
 * activations for the host's max_batch. On success *out is owned by the
 * caller (mlp_cuda_free). Errors: KE_NOMEM (GPU memory), KE_INTERNAL. */
int mlp_cuda_create(mlp_cuda **out, cudev *d, mlp *host, kerror *err);
void mlp_cuda_free(mlp_cuda *m);   /* NULL allowed */

/* Parameters (n_state floats) and dropout RNG: host -> device, and back. */
int mlp_cuda_upload(mlp_cuda *m, mlp *host, kerror *err);
int mlp_cuda_download(mlp_cuda *m, mlp *host, kerror *err);

const mlp_config *mlp_cuda_get_config(const mlp_cuda *m);
size_t mlp_cuda_n_params(const mlp_cuda *m);
size_t mlp_cuda_n_state(const mlp_cuda *m);
float *mlp_cuda_params(mlp_cuda *m);   /* device, n_state floats */
float *mlp_cuda_grads(mlp_cuda *m);    /* device, n_params floats */

void mlp_cuda_rng_get(const mlp_cuda *m, uint64_t state[MLP_RNG_WORDS]);
void mlp_cuda_rng_set(mlp_cuda *m, const uint64_t state[MLP_RNG_WORDS]);
/* The next dropout seed, drawn from the model's RNG (one draw per training
 * forward, as the mask of that forward). */
uint64_t mlp_cuda_draw_seed(mlp_cuda *m);

/* x (B,n_in) -> logits (B,n_out), as mlp_forward; with training and dropout,
 * seed points to the device copy of this forward's mlp_cuda_draw_seed value.
 * Errors: KE_INVALID (B outside [1, max_batch], dropout without seed). */
int mlp_cuda_forward(mlp_cuda *m, const float *x, int B, int training, const uint64_t *seed,
                     kerror *err);
const float *mlp_cuda_logits(const mlp_cuda *m);   /* (B,n_out) */

/* The configured loss of the last forward (t holds device pointers): row
 * losses into mlp_cuda_row_loss, the gradient of the mean loss times
 * *gscale (NULL: 1) into the model's dlogits for mlp_cuda_backward. */
void mlp_cuda_loss_forward_backward(mlp_cuda *m, const mlp_target *t, int B, const float *gscale);
const float *mlp_cuda_row_loss(const mlp_cuda *m);   /* (B) */

/* As mlp_backward: accumulate=0 overwrites the gradient arena, 1 adds. */
void mlp_cuda_backward(mlp_cuda *m, const float *x, int B, int accumulate);
void mlp_cuda_grads_zero(mlp_cuda *m);

/* Evaluation forward and loss; acc[0] += sum of row losses, and when t has
 * labels (classification, with either loss) acc[1] += rows whose argmax is
 * the label (acc: 2 device doubles). Errors as mlp_cuda_forward. */
int mlp_cuda_eval_batch(mlp_cuda *m, const float *x, const mlp_target *t, int B, double *acc,
                        kerror *err);

/* probs (B,C) = softmax(logits / T) row-wise; for teacher probabilities. */
void mlp_cuda_softmax(cudev *d, float *probs, const float *logits, int B, int C, float T);

#ifdef __cplusplus
}
#endif

#endif
