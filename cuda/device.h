/* device: the CUDA backend's context (one stream, one cuBLAS handle, the
 * 16-bit GEMM scratch) and the checked helpers every cuda/ module uses at its
 * edges: device probe, allocation, copies, synchronisation. Kernels never
 * stop the process: the first CUDA or cuBLAS failure is kept in the context
 * (sticky) and surfaces as a kerror at the next cudev_sync / cudev_check.
 * Invariant: all work of one context is ordered on its one stream, so a
 * buffer written by one call is complete for the next, and a whole training
 * step can be captured into a CUDA graph.
 *
 * Usable from C: the API below is plain C; the stream and handle accessors
 * exist only for CUDA translation units (nvcc). */
#ifndef KESTREL_CUDA_DEVICE_H
#define KESTREL_CUDA_DEVICE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "../common/kerror.h"

/* GEMM input precision; the values are CONFIG_PRECISION_*. Accumulation,
 * outputs and master weights are fp32 in every mode. */
typedef enum { CUDEV_FP32, CUDEV_BF16, CUDEV_FP16 } cudev_precision;

typedef struct cudev cudev;

/* Usable devices (compute capability >= 8.0, what this build carries code
 * for); 0 with the reason in why (may be NULL) when there is no device, no
 * driver or a driver too old for this runtime. Never fails, never exits,
 * creates no context. */
int cudev_count(char *why, size_t n);

/* The device a context uses, given each visible device's compute
 * capability major (major[i] < 0: unreadable): the first index with
 * major >= 8, or -1. */
int cudev_first_usable(const int *major, int count);

/* Context on the first usable visible device (CUDA_VISIBLE_DEVICES order,
 * chosen by cudev_first_usable, so an older card listed first is passed
 * over rather than failing at the first kernel); its threads block (rather
 * than spin) while waiting for the GPU. On success *out is owned by the
 * caller (cudev_free). Errors: KE_INVALID (no usable device), KE_NOMEM,
 * KE_INTERNAL. */
int cudev_create(cudev **out, cudev_precision precision, kerror *err);
void cudev_free(cudev *d);   /* NULL allowed; waits for the stream first */
cudev_precision cudev_get_precision(const cudev *d);

/* Grows the 16-bit scratch to hold two GEMM operands of n elements each.
 * Call before capturing graphs: the scratch may move. */
int cudev_reserve(cudev *d, size_t n, kerror *err);

/* Zeroed device memory, owned by the caller (cudev_release). KE_NOMEM names
 * what and the size. */
int cudev_alloc(cudev *d, void **p, size_t bytes, const char *what, kerror *err);
void cudev_release(void *p);   /* NULL allowed */

/* Page-locked host memory for staging copies, owned by the caller
 * (cudev_host_release). */
int cudev_host_alloc(void **p, size_t bytes, const char *what, kerror *err);
void cudev_host_release(void *p);

/* Synchronous copies (they wait for all earlier work on the stream). */
int cudev_upload(cudev *d, void *dst, const void *src, size_t bytes, kerror *err);
int cudev_download(cudev *d, void *dst, const void *src, size_t bytes, kerror *err);

/* Waits for the stream, then reports the first failure since the last
 * check (KE_INTERNAL, or KE_NOMEM for out-of-memory) and clears it. */
int cudev_sync(cudev *d, kerror *err);
/* The same without waiting: reports failures already known. */
int cudev_check(cudev *d, kerror *err);

/* Records a failure (keeps the first one); for cuda/ modules. */
void cudev_fail(cudev *d, int code, const char *what);

/* Column-major C (m,n) = alpha op(A) op(B) + beta C with op(A) (m,k),
 * op(B) (k,n), tight leading dimensions (lda = rows of A as stored, ...).
 * fp32: cublasSgemm; bf16/fp16: A and B are rounded into the scratch and
 * cublasGemmEx multiplies them with fp32 accumulation into fp32 C. */
void cudev_gemm(cudev *d, int trans_a, int trans_b, int m, int n, int k, float alpha,
                const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

#ifdef __cplusplus
}
#endif

#ifdef __CUDACC__
#include <cuda_runtime.h>
cudaStream_t cudev_stream(const cudev *d);
/* Records err (when not cudaSuccess) as a failure of what; returns err. */
cudaError_t cudev_note(cudev *d, cudaError_t e, const char *what);
/* Blocks for a grid-stride kernel over n elements. */
static inline unsigned cudev_blocks(size_t n, unsigned threads)
{
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}
#endif

#endif
