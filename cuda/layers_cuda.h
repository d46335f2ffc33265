/* layers_cuda: the CUDA twins of trainer/layers.h, same names with _cuda,
 * same arguments plus the context first; every pointer is device memory and
 * every call only enqueues work on the context's stream. Dense layers go
 * through cudev_gemm (cuBLAS, fp32 or 16-bit inputs); bias + activation +
 * dropout mask are one fused element-wise kernel, as on the CPU. Column
 * reductions (bias gradient, batch-norm statistics) use one block per column
 * and a fixed reduction tree, so results are bitwise repeatable.
 * Invariant (as layers.h): a kernel writes only its named outputs, and a
 * backward with accumulate=0 overwrites its parameter gradients, 1 adds.
 * Row-major arrays: B rows, k inputs, n outputs. */
#ifndef KESTREL_LAYERS_CUDA_H
#define KESTREL_LAYERS_CUDA_H

#include <stdint.h>

#include "device.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "../trainer/layers.h"

/* out (B,n) = inp (B,k) * W^T, W (n,k). */
void layers_cuda_dense_forward(cudev *d, float *out, const float *inp, const float *W,
                               int B, int k, int n);

/* dW (n,k) = dout^T inp; db (n) = column sums of dout (skipped when NULL);
 * dinp (B,k) = dout W (skipped when NULL). */
void layers_cuda_dense_backward(cudev *d, float *dinp, float *dW, float *db, const float *dout,
                                const float *inp, const float *W, int B, int k, int n,
                                int accumulate);

/* a (B,n) += bias (may be NULL), then h = act(a) * mask (mask NULL: none). */
void layers_cuda_act_forward(cudev *d, float *h, float *a, const float *bias, const float *mask,
                             int B, int n, layers_act act, float slope);

/* da (B,n) = dh * mask * act'(a); da may alias dh. */
void layers_cuda_act_backward(cudev *d, float *da, const float *dh, const float *a,
                              const float *mask, int B, int n, layers_act act, float slope);

/* Batch norm forward, Ioffe & Szegedy 2015; semantics of layers_bn_forward. */
void layers_cuda_bn_forward(cudev *d, float *y, float *xhat, float *mean, float *invstd,
                            float *run_mean, float *run_var, const float *z,
                            const float *gamma, const float *beta, int B, int n,
                            float momentum, float eps, int training);

/* Batch norm backward; semantics of layers_bn_backward. work is (2n). */
void layers_cuda_bn_backward(cudev *d, float *dz, float *dgamma, float *dbeta, const float *dy,
                             const float *xhat, const float *gamma, const float *invstd,
                             float *work, int B, int n, int accumulate);

/* Inverted dropout mask (N): 0 with probability p, else 1/(1-p). Draws are
 * a counter-based hash (splitmix64) of (*seed, stream, index): *seed is read
 * on the device when the kernel runs, so a captured graph takes a new seed
 * per launch. The CPU trainer's masks come from another generator: the two
 * backends agree in distribution, not in bits. */
void layers_cuda_dropout_mask(cudev *d, float *mask, size_t N, float p, const uint64_t *seed,
                              unsigned stream);

#ifdef __cplusplus
}
#endif

#endif
