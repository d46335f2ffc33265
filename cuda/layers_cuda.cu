/* layers_cuda: dense (cuBLAS), fused bias + activation + dropout, and batch
 * norm kernels; see layers_cuda.h. Invariant: the kernels keep no state and
 * allocate nothing, and each reduction has one fixed order (one block per
 * column, a fixed shared-memory tree), so two runs give the same bits. */
#include "layers_cuda.h"

#include "reduce.cuh"

#define GELU_C 0.7978845608028654f   /* sqrt(2/pi) */
#define GELU_K 0.044715f

/* Same formulas as trainer/layers.c, including GELU's tanh through one expf. */
__device__ inline float tanh_exp(float u) { return 1.0f - 2.0f / (1.0f + expf(2.0f * u)); }

__device__ inline float act_value(float x, layers_act act, float slope)
{
    switch (act) {
    case LAYERS_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case LAYERS_ACT_LEAKY_RELU: return x > 0.0f ? x : slope * x;
    case LAYERS_ACT_TANH: return tanhf(x);
    case LAYERS_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case LAYERS_ACT_GELU: return 0.5f * x * (1.0f + tanh_exp(GELU_C * (x + GELU_K * x * x * x)));
    }
    return x;
}

__device__ inline float act_deriv(float x, layers_act act, float slope)
{
    switch (act) {
    case LAYERS_ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case LAYERS_ACT_LEAKY_RELU: return x > 0.0f ? 1.0f : slope;
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
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_C * (1.0f + 3.0f * GELU_K * x * x);
    }
    }
    return 1.0f;
}

void layers_cuda_dense_forward(cudev *d, float *out, const float *inp, const float *W,
                               int B, int k, int n)
{
    /* row-major out (B,n) is column-major out^T (n,B) = W (n,k) * inp^T (k,B) */
    cudev_gemm(d, 1, 0, n, B, k, 1.0f, W, k, inp, k, 0.0f, out, n);
}

/* db (n) (+)= column sums of dout (B,n): one block per column. */
__global__ void column_sums_kernel(float *db, const float *dout, int B, int n, int accumulate)
{
    int j = blockIdx.x;
    float s = 0.0f;
    for (int b = threadIdx.x; b < B; b += blockDim.x) s += dout[(size_t)b * n + j];
    s = block_sum(s);
    if (threadIdx.x == 0) db[j] = accumulate ? db[j] + s : s;
}

void layers_cuda_dense_backward(cudev *d, float *dinp, float *dW, float *db, const float *dout,
                                const float *inp, const float *W, int B, int k, int n,
                                int accumulate)
{
    /* column-major dW^T (k,n) = inp^T (k,B) * dout (B,n) */
    cudev_gemm(d, 0, 1, k, n, B, 1.0f, inp, k, dout, n, accumulate ? 1.0f : 0.0f, dW, k);
    if (db) column_sums_kernel<<<n, REDUCE_THREADS, 0, cudev_stream(d)>>>(db, dout, B, n, accumulate);
    /* column-major dinp^T (k,B) = W^T (k,n) * dout^T (n,B) */
    if (dinp) cudev_gemm(d, 0, 0, k, B, n, 1.0f, W, k, dout, n, 0.0f, dinp, k);
}

__global__ void act_forward_kernel(float *h, float *a, const float *bias, const float *mask,
                                   size_t N, int n, layers_act act, float slope)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x) {
        float x = bias ? a[i] + bias[i % n] : a[i];
        a[i] = x;
        float y = act_value(x, act, slope);
        h[i] = mask ? y * mask[i] : y;
    }
}

void layers_cuda_act_forward(cudev *d, float *h, float *a, const float *bias, const float *mask,
                             int B, int n, layers_act act, float slope)
{
    size_t N = (size_t)B * n;
    act_forward_kernel<<<cudev_blocks(N, 256), 256, 0, cudev_stream(d)>>>(h, a, bias, mask, N, n, act, slope);
}

__global__ void act_backward_kernel(float *da, const float *dh, const float *a, const float *mask,
                                    size_t N, layers_act act, float slope)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x) {
        float g = dh[i] * act_deriv(a[i], act, slope);
        da[i] = mask ? g * mask[i] : g;
    }
}

void layers_cuda_act_backward(cudev *d, float *da, const float *dh, const float *a,
                              const float *mask, int B, int n, layers_act act, float slope)
{
    size_t N = (size_t)B * n;
    act_backward_kernel<<<cudev_blocks(N, 256), 256, 0, cudev_stream(d)>>>(da, dh, a, mask, N, act, slope);
}

/* One block per column j: the statistics the normalisation uses. Training:
 * two-pass biased mean and variance (as trainer/layers.c column_stats), the
 * running statistics move by momentum with the unbiased variance; eval: the
 * running statistics. */
__global__ void bn_stats_kernel(float *mean, float *invstd, float *run_mean, float *run_var,
                                const float *z, int B, int n, float momentum, float eps, int training)
{
    int j = blockIdx.x;
    if (!training) {
        if (threadIdx.x == 0) {
            mean[j] = run_mean[j];
            invstd[j] = 1.0f / sqrtf(run_var[j] + eps);
        }
        return;
    }
    float s = 0.0f;
    for (int b = threadIdx.x; b < B; b += blockDim.x) s += z[(size_t)b * n + j];
    float mu = block_sum(s) / (float)B;
    float v = 0.0f;
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        float dz = z[(size_t)b * n + j] - mu;
        v += dz * dz;
    }
    float var = block_sum(v) / (float)B;
    if (threadIdx.x == 0) {
        mean[j] = mu;
        if (B > 1) {   /* a batch of 1 has no variance: as trainer/layers.c */
            run_mean[j] = (1.0f - momentum) * run_mean[j] + momentum * mu;
            run_var[j] = (1.0f - momentum) * run_var[j] + momentum * var * (float)B / (float)(B - 1);
        }
        invstd[j] = 1.0f / sqrtf(var + eps);
    }
}

__global__ void bn_apply_kernel(float *y, float *xhat, const float *z, const float *mean,
                                const float *invstd, const float *gamma, const float *beta,
                                size_t N, int n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x) {
        int j = (int)(i % n);
        float xh = (z[i] - mean[j]) * invstd[j];
        xhat[i] = xh;
        y[i] = gamma[j] * xh + beta[j];
    }
}

void layers_cuda_bn_forward(cudev *d, float *y, float *xhat, float *mean, float *invstd,
                            float *run_mean, float *run_var, const float *z,
                            const float *gamma, const float *beta, int B, int n,
                            float momentum, float eps, int training)
{
    cudaStream_t st = cudev_stream(d);
    bn_stats_kernel<<<n, REDUCE_THREADS, 0, st>>>(mean, invstd, run_mean, run_var, z, B, n, momentum,
                                                  eps, training);
    size_t N = (size_t)B * n;
    bn_apply_kernel<<<cudev_blocks(N, 256), 256, 0, st>>>(y, xhat, z, mean, invstd, gamma, beta, N, n);
}

/* One block per column: sdy = sum_b dy, sdyx = sum_b dy xhat, which are
 * dbeta and dgamma and, times gamma, the reductions dz needs. */
__global__ void bn_backward_sums_kernel(float *dgamma, float *dbeta, float *work, const float *dy,
                                        const float *xhat, int B, int n, int accumulate)
{
    int j = blockIdx.x;
    float s = 0.0f, sx = 0.0f;
    for (int b = threadIdx.x; b < B; b += blockDim.x) {
        size_t i = (size_t)b * n + j;
        s += dy[i];
        sx += dy[i] * xhat[i];
    }
    s = block_sum(s);
    sx = block_sum(sx);
    if (threadIdx.x == 0) {
        work[j] = s;
        work[n + j] = sx;
        dbeta[j] = accumulate ? dbeta[j] + s : s;
        dgamma[j] = accumulate ? dgamma[j] + sx : sx;
    }
}

/* dz = gamma invstd / B * (B dy - sdy - xhat sdyx) */
__global__ void bn_backward_dz_kernel(float *dz, const float *dy, const float *xhat, const float *gamma,
                                      const float *invstd, const float *work, size_t N, int n, int B)
{
    float fB = (float)B, inv_B = 1.0f / fB;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x) {
        int j = (int)(i % n);
        dz[i] = gamma[j] * invstd[j] * inv_B * (fB * dy[i] - work[j] - xhat[i] * work[n + j]);
    }
}

void layers_cuda_bn_backward(cudev *d, float *dz, float *dgamma, float *dbeta, const float *dy,
                             const float *xhat, const float *gamma, const float *invstd,
                             float *work, int B, int n, int accumulate)
{
    cudaStream_t st = cudev_stream(d);
    bn_backward_sums_kernel<<<n, REDUCE_THREADS, 0, st>>>(dgamma, dbeta, work, dy, xhat, B, n, accumulate);
    size_t N = (size_t)B * n;
    bn_backward_dz_kernel<<<cudev_blocks(N, 256), 256, 0, st>>>(dz, dy, xhat, gamma, invstd, work, N, n, B);
}

/* splitmix64's output function (Steele et al. 2014). */
__device__ inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#define GOLDEN 0x9e3779b97f4a7c15ULL

__global__ void dropout_mask_kernel(float *mask, size_t N, float p, const uint64_t *seed, unsigned stream)
{
    uint64_t key = mix64(*seed + GOLDEN * (stream + 1ULL));
    float keep = 1.0f / (1.0f - p);
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x) {
        float u = (float)(mix64(key + GOLDEN * (i + 1)) >> 40) * 0x1.0p-24f;   /* [0,1), 24 bits */
        mask[i] = u < p ? 0.0f : keep;
    }
}

void layers_cuda_dropout_mask(cudev *d, float *mask, size_t N, float p, const uint64_t *seed,
                              unsigned stream)
{
    dropout_mask_kernel<<<cudev_blocks(N, 256), 256, 0, cudev_stream(d)>>>(mask, N, p, seed, stream);
}
