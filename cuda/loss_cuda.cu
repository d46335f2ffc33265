/* loss_cuda: softmax, cross-entropy (+ label smoothing), MSE, distillation
 * and the per-pass sums; see loss_cuda.h. Invariant: log-probabilities come
 * from the max-shifted log-sum-exp, never from log(p). */
#include "loss_cuda.h"

#include <math.h>

#include "reduce.cuh"

#define ROWS_PER_BLOCK 8   /* one warp per row, 256 threads */

__device__ inline float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* The row this warp handles, or -1 past the batch (the whole warp leaves). */
__device__ inline int warp_row(int B)
{
    int r = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5);
    return r < B ? r : -1;
}

static unsigned row_blocks(int B) { return (unsigned)((B + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK); }

/* max and log sum exp((z - max) / T) of one row, on every lane. */
__device__ inline void row_lse(const float *z, int C, float T, float *mx_out, float *lse_out)
{
    int lane = threadIdx.x & 31;
    float mx = -INFINITY;
    for (int c = lane; c < C; c += 32) mx = fmaxf(mx, z[c]);
    mx = warp_max(mx);
    float s = 0.0f;
    for (int c = lane; c < C; c += 32) s += expf((z[c] - mx) / T);
    *mx_out = mx;
    *lse_out = logf(warp_sum(s));
}

__global__ void softmax_kernel(float *probs, const float *logits, int B, int C, float T)
{
    int r = warp_row(B);
    if (r < 0) return;
    const float *z = logits + (size_t)r * C;
    float *p = probs + (size_t)r * C;
    float mx, lse;
    row_lse(z, C, T, &mx, &lse);
    for (int c = threadIdx.x & 31; c < C; c += 32) p[c] = expf((z[c] - mx) / T - lse);
}

void loss_cuda_softmax(cudev *d, float *probs, const float *logits, int B, int C, float T)
{
    softmax_kernel<<<row_blocks(B), 32 * ROWS_PER_BLOCK, 0, cudev_stream(d)>>>(probs, logits, B, C, T);
}

/* Cross-entropy with smoothing, plus (when pt is non-NULL) the distillation
 * term; the CPU's xent_row and loss_distill in one pass per row. */
__global__ void xent_kernel(float *row_loss, float *dlogits, const float *logits, const int *labels,
                            const float *pt_all, int B, int C, float eps, float T, float alpha,
                            const float *gscale)
{
    int r = warp_row(B);
    if (r < 0) return;
    int lane = threadIdx.x & 31;
    const float *z = logits + (size_t)r * C;
    const float *pt = pt_all ? pt_all + (size_t)r * C : NULL;
    float *g = dlogits ? dlogits + (size_t)r * C : NULL;
    float S = gscale ? *gscale : 1.0f;
    float mx, lse, mxT = 0.0f, lseT = 0.0f;
    row_lse(z, C, 1.0f, &mx, &lse);
    if (pt) row_lse(z, C, T, &mxT, &lseT);
    float off = eps / (float)C, on = 1.0f - eps + off;
    float ghard = (pt ? 1.0f - alpha : 1.0f) / (float)B * S, gsoft = alpha * T / (float)B * S;
    int label = labels[r];
    float hard = 0.0f, kl = 0.0f;
    for (int c = lane; c < C; c += 32) {
        float q = c == label ? on : off;
        float logp = (z[c] - mx) - lse;
        if (q != 0.0f) hard -= q * logp;
        float gc = ghard * (expf(logp) - q);
        if (pt) {
            float logq = (z[c] - mxT) / T - lseT;   /* log softmax(z/T)_c */
            if (pt[c] > 0.0f) kl += pt[c] * (logf(pt[c]) - logq);
            gc += gsoft * (expf(logq) - pt[c]);
        }
        if (g) g[c] = gc;
    }
    hard = warp_sum(hard);
    kl = warp_sum(kl);
    /* T^2 keeps the soft gradient's scale independent of T (Hinton et al. 2015, sec. 2) */
    if (lane == 0) row_loss[r] = pt ? alpha * T * T * kl + (1.0f - alpha) * hard : hard;
}

void loss_cuda_softmax_xent(cudev *d, float *row_loss, float *dlogits, const float *logits,
                            const int *labels, int B, int C, float eps, const float *gscale)
{
    xent_kernel<<<row_blocks(B), 32 * ROWS_PER_BLOCK, 0, cudev_stream(d)>>>(
        row_loss, dlogits, logits, labels, NULL, B, C, eps, 1.0f, 0.0f, gscale);
}

void loss_cuda_distill(cudev *d, float *row_loss, float *dlogits, const float *logits,
                       const float *teacher_probs, const int *labels, int B, int C, float T,
                       float alpha, float eps, const float *gscale)
{
    xent_kernel<<<row_blocks(B), 32 * ROWS_PER_BLOCK, 0, cudev_stream(d)>>>(
        row_loss, dlogits, logits, labels, teacher_probs, B, C, eps, T, alpha, gscale);
}

enum { ELEM_MSE, ELEM_HUBER, ELEM_BCE };

/* Element-wise losses on targets, the CPU's loss_mse, loss_huber (delta)
 * and loss_bce: row loss = mean of the row's element losses. */
__global__ void mse_kernel(float *row_loss, float *dlogits, const float *out, const float *targets,
                           int B, int C, int mode, float delta, const float *gscale)
{
    int r = warp_row(B);
    if (r < 0) return;
    size_t base = (size_t)r * C;
    float g = (mode == ELEM_MSE ? 2.0f : 1.0f) / ((float)B * (float)C) * (gscale ? *gscale : 1.0f);
    float s = 0.0f;
    for (int c = threadIdx.x & 31; c < C; c += 32) {
        float z = out[base + c], y = targets[base + c], dv = z - y, a = fabsf(dv);
        if (mode == ELEM_HUBER) {
            s += a <= delta ? 0.5f * dv * dv : delta * (a - 0.5f * delta);
            dv = fminf(fmaxf(dv, -delta), delta);
        } else if (mode == ELEM_BCE) {
            s += fmaxf(z, 0.0f) - z * y + log1pf(expf(-fabsf(z)));
            dv = 1.0f / (1.0f + expf(-z)) - y;
        } else {
            s += dv * dv;
        }
        if (dlogits) dlogits[base + c] = g * dv;
    }
    s = warp_sum(s);
    if ((threadIdx.x & 31) == 0) row_loss[r] = s / (float)C;
}

void loss_cuda_mse(cudev *d, float *row_loss, float *dlogits, const float *out,
                   const float *targets, int B, int C, const float *gscale)
{
    mse_kernel<<<row_blocks(B), 32 * ROWS_PER_BLOCK, 0, cudev_stream(d)>>>(row_loss, dlogits, out,
                                                                           targets, B, C, ELEM_MSE, 0.0f, gscale);
}

void loss_cuda_huber(cudev *d, float *row_loss, float *dlogits, const float *out,
                     const float *targets, int B, int C, float delta, const float *gscale)
{
    mse_kernel<<<row_blocks(B), 32 * ROWS_PER_BLOCK, 0, cudev_stream(d)>>>(row_loss, dlogits, out,
                                                                           targets, B, C, ELEM_HUBER, delta, gscale);
}

void loss_cuda_bce(cudev *d, float *row_loss, float *dlogits, const float *logits,
                   const float *targets, int B, int C, const float *gscale)
{
    mse_kernel<<<row_blocks(B), 32 * ROWS_PER_BLOCK, 0, cudev_stream(d)>>>(row_loss, dlogits, logits,
                                                                           targets, B, C, ELEM_BCE, 0.0f, gscale);
}

/* Evaluation (train 0): acc[0] += row-loss sum, acc[1] += correct rows
 * (with labels). Training: acc[0] += sum and acc[1] += B, unless found_inf
 * is given and the sum is not finite: then *found_inf = 1. */
__global__ void accumulate_kernel(double *acc, const float *row_loss, const float *logits,
                                  const int *labels, int B, int C, int train, int *found_inf)
{
    double s = 0.0, correct = 0.0;
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        s += row_loss[b];
        if (labels) {
            const float *row = logits + (size_t)b * C;
            int best = 0;
            for (int j = 1; j < C; j++) if (row[j] > row[best]) best = j;
            correct += best == labels[b];
        }
    }
    s = block_sum(s);
    correct = block_sum(correct);
    if (threadIdx.x != 0) return;
    if (train && found_inf && !isfinite(s)) {
        *found_inf = 1;
        return;
    }
    acc[0] += s;
    if (train) acc[1] += B;
    else if (labels) acc[1] += correct;
}

void loss_cuda_accumulate(cudev *d, double *acc, const float *row_loss, const float *logits,
                          const int *labels, int B, int C)
{
    accumulate_kernel<<<1, REDUCE_THREADS, 0, cudev_stream(d)>>>(acc, row_loss, logits, labels, B, C, 0, NULL);
}

void loss_cuda_accumulate_train(cudev *d, double *acc, const float *row_loss, int B, int *found_inf)
{
    accumulate_kernel<<<1, REDUCE_THREADS, 0, cudev_stream(d)>>>(acc, row_loss, NULL, NULL, B, 0, 1, found_inf);
}
