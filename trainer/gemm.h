/* gemm: the dense layers' three matrix products (forward, weight gradient,
 * input gradient). When a product runs on one thread (OpenBLAS set to one
 * thread: parallel=data, or threads=1) on a CPU with AVX-512F, it runs this
 * module's own kernels, which copy less than OpenBLAS's packing of both
 * operands on every call; otherwise it calls cblas_sgemm.
 * Invariant: a product's summation order depends only on its shapes, never
 * on timing or alignment, so results are reproducible run to run.
 * All arrays are row-major; B is the batch, k the input width, n the output.
 * It also sets OpenBLAS's thread count for the process (gemm_blas_*). */
#ifndef KESTREL_GEMM_H
#define KESTREL_GEMM_H

#include <stddef.h>

/* Floats of the scratch gemm_forward needs for up to B rows of a layer
 * (n,k). */
size_t gemm_forward_scratch(int B, int k, int n);

/* out (B,n) = inp (B,k) * W^T, W (n,k). scratch: gemm_forward_scratch(B, k,
 * n) floats (or more) the call may overwrite. */
void gemm_forward(float *out, const float *inp, const float *W, int B, int k, int n,
                  float *scratch);

/* outT (n,B) = W (n,k) * inp (B,k)^T: the forward's product left
 * transposed, for callers that place its columns themselves. scratch:
 * gemm_forward_scratch(B, k, 0) floats. */
void gemm_forward_t(float *outT, const float *inp, const float *W, int B, int k, int n,
                    float *scratch);

/* dst (cols,rows) = src (rows,cols)^T; rows lds and ldd floats apart. */
void gemm_transpose(float *dst, size_t ldd, const float *src, size_t lds, int rows, int cols);

/* dW (n,k) = dout^T (n,B) * inp (B,k), added to dW when accumulate is set;
 * dout's rows are ldo >= n floats apart (n columns of a wider dout). */
void gemm_grad_w(float *dW, const float *dout, int ldo, const float *inp, int B, int k, int n,
                 int accumulate);

/* dinp (B,k) = dout (B,n) * W (n,k). */
void gemm_grad_x(float *dinp, const float *dout, const float *W, int B, int k, int n);

/* 1 when the next call on this thread would run the own kernels: AVX-512F
 * present and OpenBLAS set to one thread. */
int gemm_own_kernels(void);

/* Sets OpenBLAS's thread count to n. Once its pool has been ended,
 * Debian's OpenBLAS (0.3.21) starts it again (a thread per core, each
 * spinning 0.1 s of CPU) at every openblas_set_num_threads, so a count
 * already n is left as it is. */
void gemm_blas_threads(int n);

/* One OpenBLAS thread and its pool ended, for a process whose products are
 * small or its own (gemm_blas_threads starts the pool again for more). The
 * pool OpenBLAS starts when it loads has a thread per core, each spinning
 * 0.1 s of CPU before it sleeps. */
void gemm_blas_quiet(void);

#endif
