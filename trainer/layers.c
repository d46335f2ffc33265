/* layers: dense, activation (+ bias + dropout mask, fused) and batch-norm
 * forward/backward kernels; see layers.h. Invariant: the kernels keep no
 * state and allocate nothing, so they are safe on any arena slice. */
#include "layers.h"
#include "gemm.h"
#include "vec.h"

#include <math.h>
#include <string.h>

void layers_dense_forward(float *out, const float *inp, const float *W, int B, int k, int n,
                          float *scratch)
{
    gemm_forward(out, inp, W, B, k, n, scratch);
}

void layers_dense_grad_params(float *dW, float *db, const float *dout, int ldo,
                              const float *inp, int B, int k, int n, int accumulate)
{
    gemm_grad_w(dW, dout, ldo, inp, B, k, n, accumulate);
    if (db) {
        if (!accumulate) memset(db, 0, (size_t)n * sizeof *db);
        for (int b = 0; b < B; b++) vec_add_into(db, dout + (size_t)b * ldo, (size_t)n);
    }
}

void layers_dense_grad_input(float *dinp, const float *dout, const float *W, int B, int k, int n)
{
    gemm_grad_x(dinp, dout, W, B, k, n);
}

void layers_dense_backward(float *dinp, float *dW, float *db, const float *dout,
                           const float *inp, const float *W, int B, int k, int n,
                           int accumulate)
{
    layers_dense_grad_params(dW, db, dout, n, inp, B, k, n, accumulate);
    if (dinp) layers_dense_grad_input(dinp, dout, W, B, k, n);
}

#define GELU_C 0.7978845608028654f   /* sqrt(2/pi) */
#define GELU_K 0.044715f

/* tanh through one expf: glibc's tanhf (expm1f) dominated GELU's cost. The
 * absolute error stays near float epsilon, which is all GELU's 0.5x(1+t)
 * can see; LAYERS_ACT_TANH keeps tanhf for its relative accuracy near 0. */
static inline float tanh_exp(float u)
{
    return 1.0f - 2.0f / (1.0f + expf(2.0f * u));
}

/* The smooth activations; the ReLU family runs in relu_forward/relu_backward. */
static inline float act_value(float x, layers_act act)
{
    switch (act) {
    case LAYERS_ACT_TANH: return tanhf(x);
    case LAYERS_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case LAYERS_ACT_GELU: return 0.5f * x * (1.0f + tanh_exp(GELU_C * (x + GELU_K * x * x * x)));
    default: break;
    }
    return x;
}

/* d act / dx at x, from the pre-activation so dropout scaling cannot leak in. */
static inline float act_deriv(float x, layers_act act)
{
    switch (act) {
    case LAYERS_ACT_TANH: {
        float t = tanhf(x);
        return 1.0f - t * t;
    }
    case LAYERS_ACT_SIGMOID: {
        float s = 1.0f / (1.0f + expf(-x));
        return s * (1.0f - s);
    }
    case LAYERS_ACT_GELU: {
        float t = tanh_exp(GELU_C * (x + GELU_K * x * x * x));
        return 0.5f * (1.0f + t)
             + 0.5f * x * (1.0f - t * t) * GELU_C * (1.0f + 3.0f * GELU_K * x * x);
    }
    default: break;
    }
    return 1.0f;
}

/* Always inlined with a constant act, so each case below compiles to its own
 * branch-free loop instead of switching per element. */
static inline __attribute__((always_inline)) void
act_forward_loop(float *h, float *a, const float *bias, const float *mask,
                 int B, int n, layers_act act)
{
    for (int b = 0; b < B; b++) {
        float *ar = a + (size_t)b * n, *hr = h + (size_t)b * n;
        const float *mr = mask ? mask + (size_t)b * n : NULL;
        for (int j = 0; j < n; j++) {
            float x = bias ? ar[j] + bias[j] : ar[j];
            ar[j] = x;
            float y = act_value(x, act);
            hr[j] = mr ? y * mr[j] : y;
        }
    }
}

static inline __attribute__((always_inline)) void
act_backward_loop(float *da, const float *dh, const float *a, const float *mask,
                  size_t N, layers_act act)
{
    for (size_t i = 0; i < N; i++) {
        float g = dh[i] * act_deriv(a[i], act);
        da[i] = mask ? g * mask[i] : g;
    }
}

/* ReLU and leaky ReLU, the usual activations, run 4 floats at a time (one
 * SSE register on x86-64) in vec.h's vector extensions: as scalar code they
 * compile to a data-dependent branch per float that mispredicts on half of
 * them, and cost more than the GEMMs they sit between. The select is a bit
 * mask; the scalar tail gives the same values. */

/* x > 0 ? x : slope x, lane-wise (slope 0: ReLU). */
static inline vec_f vrelu(vec_f x, float slope)
{
    vec_i pos = x > (vec_f){0};
    return (vec_f)(((vec_i)x & pos) | ((vec_i)(x * slope) & ~pos));
}

/* x > 0 ? g : slope g, lane-wise. */
static inline vec_f vrelu_grad(vec_f g, vec_f x, float slope)
{
    vec_i pos = x > (vec_f){0};
    return (vec_f)(((vec_i)g & pos) | ((vec_i)(g * slope) & ~pos));
}

static void relu_forward(float *h, float *a, const float *bias, const float *mask, int B, int n,
                         float slope)
{
    for (int b = 0; b < B; b++) {
        float *ar = a + (size_t)b * n, *hr = h + (size_t)b * n;
        const float *mr = mask ? mask + (size_t)b * n : NULL;
        int j = 0;
        for (; j + VEC_W <= n; j += VEC_W) {
            vec_f x = vec_load(ar + j);
            if (bias) {
                x += vec_load(bias + j);
                vec_store(ar + j, x);
            }
            vec_f y = vrelu(x, slope);
            vec_store(hr + j, mr ? y * vec_load(mr + j) : y);
        }
        for (; j < n; j++) {
            float x = bias ? ar[j] + bias[j] : ar[j];
            ar[j] = x;
            float y = x > 0.0f ? x : slope * x;
            hr[j] = mr ? y * mr[j] : y;
        }
    }
}

static void relu_backward(float *da, const float *dh, const float *a, const float *mask,
                          size_t N, float slope)
{
    size_t i = 0;
    for (; i + VEC_W <= N; i += VEC_W) {
        vec_f g = vrelu_grad(vec_load(dh + i), vec_load(a + i), slope);
        vec_store(da + i, mask ? g * vec_load(mask + i) : g);
    }
    for (; i < N; i++) {
        float g = a[i] > 0.0f ? dh[i] : slope * dh[i];
        da[i] = mask ? g * mask[i] : g;
    }
}

void layers_act_forward(float *h, float *a, const float *bias, const float *mask,
                        int B, int n, layers_act act, float slope)
{
    switch (act) {
    case LAYERS_ACT_RELU: relu_forward(h, a, bias, mask, B, n, 0.0f); break;
    case LAYERS_ACT_LEAKY_RELU: relu_forward(h, a, bias, mask, B, n, slope); break;
    case LAYERS_ACT_TANH: act_forward_loop(h, a, bias, mask, B, n, LAYERS_ACT_TANH); break;
    case LAYERS_ACT_SIGMOID: act_forward_loop(h, a, bias, mask, B, n, LAYERS_ACT_SIGMOID); break;
    case LAYERS_ACT_GELU: act_forward_loop(h, a, bias, mask, B, n, LAYERS_ACT_GELU); break;
    }
}

void layers_act_backward(float *da, const float *dh, const float *a, const float *mask,
                         int B, int n, layers_act act, float slope)
{
    size_t N = (size_t)B * n;
    switch (act) {
    case LAYERS_ACT_RELU: relu_backward(da, dh, a, mask, N, 0.0f); break;
    case LAYERS_ACT_LEAKY_RELU: relu_backward(da, dh, a, mask, N, slope); break;
    case LAYERS_ACT_TANH: act_backward_loop(da, dh, a, mask, N, LAYERS_ACT_TANH); break;
    case LAYERS_ACT_SIGMOID: act_backward_loop(da, dh, a, mask, N, LAYERS_ACT_SIGMOID); break;
    case LAYERS_ACT_GELU: act_backward_loop(da, dh, a, mask, N, LAYERS_ACT_GELU); break;
    }
}

/* Column means and biased variances of the whole batch z (B,n) is part of
 * (sync), two passes (mean, then centred squares) so a large mean costs no
 * precision; row-wise so the inner loop is contiguous. */
static void column_stats(float *mean, float *var, const float *z, int B, int n,
                         const layers_bn_sync *sync)
{
    float rows = (float)(sync ? sync->rows : B);
    memset(mean, 0, (size_t)n * sizeof *mean);
    memset(var, 0, (size_t)n * sizeof *var);
    for (int b = 0; b < B; b++) {
        const float *zr = z + (size_t)b * n;
        for (int j = 0; j < n; j++) mean[j] += zr[j];
    }
    if (sync) sync->sum(sync->ctx, mean, n);
    for (int j = 0; j < n; j++) mean[j] /= rows;
    for (int b = 0; b < B; b++) {
        const float *zr = z + (size_t)b * n;
        for (int j = 0; j < n; j++) {
            float d = zr[j] - mean[j];
            var[j] += d * d;
        }
    }
    if (sync) sync->sum(sync->ctx, var, n);
    for (int j = 0; j < n; j++) var[j] /= rows;
}

void layers_bn_forward(float *y, float *xhat, float *mean, float *invstd,
                       float *run_mean, float *run_var, const float *z,
                       const float *gamma, const float *beta, int B, int n,
                       float momentum, float eps, int training, const layers_bn_sync *sync)
{
    if (training) {
        column_stats(mean, invstd, z, B, n, sync);   /* invstd holds var for now */
        /* running var gets the unbiased estimate. A batch of 1 row (the
         * last of an epoch, n % batch_size == 1) has none: it leaves the
         * running statistics alone, as they would otherwise take a
         * variance of 0 just before the evaluation reads them (PyTorch
         * refuses such a batch) */
        int rows = sync ? sync->rows : B;
        float unbias = rows > 1 ? (float)rows / (float)(rows - 1) : 1.0f;
        int update = (!sync || sync->update_running) && rows > 1;
        for (int j = 0; j < n; j++) {
            if (update) {
                run_mean[j] = (1.0f - momentum) * run_mean[j] + momentum * mean[j];
                run_var[j] = (1.0f - momentum) * run_var[j] + momentum * invstd[j] * unbias;
            }
            invstd[j] = 1.0f / sqrtf(invstd[j] + eps);
        }
    } else {
        for (int j = 0; j < n; j++) {
            mean[j] = run_mean[j];
            invstd[j] = 1.0f / sqrtf(run_var[j] + eps);
        }
    }
    for (int b = 0; b < B; b++) {
        const float *zr = z + (size_t)b * n;
        float *xr = xhat + (size_t)b * n, *yr = y + (size_t)b * n;
        for (int j = 0; j < n; j++) {
            float xh = (zr[j] - mean[j]) * invstd[j];
            xr[j] = xh;
            yr[j] = gamma[j] * xh + beta[j];
        }
    }
}

void layers_bn_backward(float *dz, float *dgamma, float *dbeta, const float *dy,
                        const float *xhat, const float *gamma, const float *invstd,
                        float *work, int B, int n, int accumulate, const layers_bn_sync *sync)
{
    /* Per column: sum_b dy and sum_b dy*xhat give both the parameter
     * gradients and, times gamma, the two reductions dz needs. */
    float *sdy = work, *sdyx = work + n;
    memset(work, 0, 2 * (size_t)n * sizeof *work);
    for (int b = 0; b < B; b++) {
        const float *dr = dy + (size_t)b * n, *xr = xhat + (size_t)b * n;
        for (int j = 0; j < n; j++) {
            sdy[j] += dr[j];
            sdyx[j] += dr[j] * xr[j];
        }
    }
    if (sync) sync->sum(sync->ctx, work, 2 * n);
    for (int j = 0; dgamma && j < n; j++) {
        dbeta[j] = accumulate ? dbeta[j] + sdy[j] : sdy[j];
        dgamma[j] = accumulate ? dgamma[j] + sdyx[j] : sdyx[j];
    }
    /* dz = gamma invstd / B * (B dy - sdy - xhat sdyx), B the whole batch */
    float fB = (float)(sync ? sync->rows : B), inv_B = 1.0f / fB;
    for (int b = 0; b < B; b++) {
        const float *dr = dy + (size_t)b * n, *xr = xhat + (size_t)b * n;
        float *zr = dz + (size_t)b * n;
        for (int j = 0; j < n; j++)
            zr[j] = gamma[j] * invstd[j] * inv_B * (fB * dr[j] - sdy[j] - xr[j] * sdyx[j]);
    }
}
