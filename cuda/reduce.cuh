/* reduce: warp and block sums shared by the cuda/ kernels. Invariant: the
 * summation order depends only on blockDim and the data, never on timing
 * (no atomics), so every reduction is bitwise repeatable. Kernels that call
 * block_sum run REDUCE_THREADS threads per block, a multiple of 32. */
#ifndef KESTREL_CUDA_REDUCE_CUH
#define KESTREL_CUDA_REDUCE_CUH

#define REDUCE_THREADS 256

/* Butterfly sum: every lane ends with the same value (a + b == b + a). */
template <typename T>
__device__ inline T warp_sum(T v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Sum of v over the block, returned to every thread. All threads must call
 * it; consecutive calls are safe (the first barrier guards the scratch). */
template <typename T>
__device__ inline T block_sum(T v)
{
    __shared__ T part[32];
    __shared__ T total;
    v = warp_sum(v);
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) part[w] = v;
    __syncthreads();
    if (w == 0) {
        int nw = (blockDim.x + 31) >> 5;
        T x = lane < nw ? part[lane] : (T)0;
        x = warp_sum(x);
        if (lane == 0) total = x;
    }
    __syncthreads();
    return total;
}

#endif
