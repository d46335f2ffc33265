/* device: CUDA context, checked helpers and the one GEMM entry point; see
 * device.h. Invariant: every CUDA or cuBLAS status is looked at exactly once,
 * either returned as a kerror at once (set-up calls) or folded into the
 * context's sticky failure (work enqueued on the stream).
 *
 * cuBLAS is opened with dlopen when the first context is made, not linked:
 * linked, its ~600 MB of libraries are mapped and relocated by every kestrel
 * process at start-up (0.25 s and 220 MB of RSS measured), which every CPU
 * trial and every `kestrel fn` child would pay. libcudart (small) is linked. */
#include "device.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)
#define CUBLAS_SONAME "libcublas.so." STR(CUBLAS_VER_MAJOR)

/* The cuBLAS entry points this backend calls (the _v2 names are what the
 * cublas_v2.h macros expand to). */
static struct {
    decltype(&cublasCreate_v2) create;
    decltype(&cublasDestroy_v2) destroy;
    decltype(&cublasSetStream_v2) set_stream;
    decltype(&cublasSetWorkspace_v2) set_workspace;
    decltype(&cublasSetMathMode) set_math_mode;
    decltype(&cublasSgemm_v2) sgemm;
    /* written out: C++ sees cublasGemmEx overloaded */
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                              const void *, const void *, cudaDataType, int, const void *, cudaDataType,
                              int, const void *, void *, cudaDataType, int, cublasComputeType_t,
                              cublasGemmAlgo_t);
    decltype(&cublasGetStatusString) status_string;
    char error[256];   /* why loading failed, "" when it worked */
} blas;
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void *blas_sym(void *h, const char *name)
{
    void *f = dlsym(h, name);
    if (!f && !blas.error[0]) snprintf(blas.error, sizeof blas.error, "%s: no symbol %s", CUBLAS_SONAME, name);
    return f;
}

/* Found through the binary's run path, the loader's paths, then the CUDA
 * directory configure found. */
static void blas_load(void)
{
    void *h = dlopen(CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
#ifdef KESTREL_CUDA_LIBDIR
    if (!h) h = dlopen(KESTREL_CUDA_LIBDIR "/" CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
#endif
    if (!h) {
        snprintf(blas.error, sizeof blas.error, "cannot load %s: %s", CUBLAS_SONAME, dlerror());
        return;
    }
    blas.create = (decltype(blas.create))blas_sym(h, "cublasCreate_v2");
    blas.destroy = (decltype(blas.destroy))blas_sym(h, "cublasDestroy_v2");
    blas.set_stream = (decltype(blas.set_stream))blas_sym(h, "cublasSetStream_v2");
    blas.set_workspace = (decltype(blas.set_workspace))blas_sym(h, "cublasSetWorkspace_v2");
    blas.set_math_mode = (decltype(blas.set_math_mode))blas_sym(h, "cublasSetMathMode");
    blas.sgemm = (decltype(blas.sgemm))blas_sym(h, "cublasSgemm_v2");
    blas.gemm_ex = (decltype(blas.gemm_ex))blas_sym(h, "cublasGemmEx");
    blas.status_string = (decltype(blas.status_string))blas_sym(h, "cublasGetStatusString");
}

/* cuBLAS asks for a user workspace when calls are captured into graphs;
 * 32 MiB is its recommendation for Hopper. */
#define BLAS_WORKSPACE (32u << 20)

struct cudev {
    cudev_precision precision;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws;
    void *half[2];     /* two 16-bit GEMM operands, half_cap elements each */
    size_t half_cap;
    int fail_code;     /* KE_OK or the first failure's code */
    char fail_what[160];
};

void cudev_fail(cudev *d, int code, const char *what)
{
    if (d->fail_code) return;
    d->fail_code = code;
    snprintf(d->fail_what, sizeof d->fail_what, "%s", what);
}

cudaError_t cudev_note(cudev *d, cudaError_t e, const char *what)
{
    if (e != cudaSuccess) {
        char buf[160];
        snprintf(buf, sizeof buf, "%s: %s", what, cudaGetErrorString(e));
        cudev_fail(d, e == cudaErrorMemoryAllocation ? KE_NOMEM : KE_INTERNAL, buf);
    }
    return e;
}

cudaStream_t cudev_stream(const cudev *d) { return d->stream; }
cudev_precision cudev_get_precision(const cudev *d) { return d->precision; }

static void blas_note(cudev *d, cublasStatus_t s, const char *what)
{
    if (s == CUBLAS_STATUS_SUCCESS) return;
    char buf[160];
    snprintf(buf, sizeof buf, "%s: %s", what, blas.status_string(s));
    cudev_fail(d, s == CUBLAS_STATUS_ALLOC_FAILED ? KE_NOMEM : KE_INTERNAL, buf);
}

int cudev_first_usable(const int *major, int count)
{
    for (int i = 0; i < count; i++)
        if (major[i] >= 8) return i;
    return -1;
}

#define MAX_VISIBLE 64   /* devices looked at; more is not a machine this targets */

/* Compute capability majors of the visible devices (-1: unreadable) into
 * major[MAX_VISIBLE]; the device count, or -1 with the reason in why. */
static int visible_majors(int *major, char *why, size_t n)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        /* cudaErrorNoDevice, cudaErrorInsufficientDriver, no driver at all */
        if (why) snprintf(why, n, "%s", cudaGetErrorString(e));
        cudaGetLastError();
        return -1;
    }
    if (count > MAX_VISIBLE) count = MAX_VISIBLE;
    for (int i = 0; i < count; i++)
        if (cudaDeviceGetAttribute(&major[i], cudaDevAttrComputeCapabilityMajor, i) != cudaSuccess)
            major[i] = -1;
    cudaGetLastError();
    return count;
}

/* The index cudev_first_usable picks, or -1 with the reason in why. */
static int pick_device(int *usable, char *why, size_t n)
{
    int major[MAX_VISIBLE];
    int count = visible_majors(major, why, n);
    *usable = 0;
    if (count < 0) return -1;
    int major_seen = 0;
    for (int i = 0; i < count; i++) {
        if (major[i] >= 8) ++*usable;
        else if (major[i] >= 0) major_seen = major[i];
    }
    int dev = cudev_first_usable(major, count);
    if (dev < 0 && why) {
        if (count) snprintf(why, n, "%d device(s) of compute capability %d.x; this build needs 8.0 or newer",
                            count, major_seen);
        else snprintf(why, n, "no CUDA device");
    }
    return dev;
}

int cudev_count(char *why, size_t n)
{
    int usable;
    pick_device(&usable, why, n);
    return usable;
}

static int setup_error(cudaError_t e, const char *what, kerror *err)
{
    int code = e == cudaErrorMemoryAllocation ? KE_NOMEM : KE_INTERNAL;
    return kerror_set(err, code, "device", "%s: %s", what, cudaGetErrorString(e));
}

int cudev_create(cudev **out, cudev_precision precision, kerror *err)
{
    *out = NULL;
    char why[256];
    int usable, dev = pick_device(&usable, why, sizeof why);
    if (dev < 0) return kerror_set(err, KE_INVALID, "device", "no usable CUDA device: %s", why);
    cudaError_t e = cudaSetDevice(dev);
    if (e != cudaSuccess) return setup_error(e, "cudaSetDevice", err);
    /* Sleep on the driver, not spin, while the GPU works: several trials
     * share a GPU and few CPU cores, and the host runs up to two steps
     * ahead, so the wake-up latency hides behind queued work. Refused
     * once the device's context is active (a second context in this
     * process), which keeps the flags already set. */
    cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync);
    cudaGetLastError();
    pthread_once(&blas_once, blas_load);
    if (blas.error[0]) return kerror_set(err, KE_INVALID, "device", "%s", blas.error);
    cudev *d = (cudev *)calloc(1, sizeof *d);
    if (!d) return kerror_set(err, KE_NOMEM, NULL, "cudev: out of memory");
    d->precision = precision;
    e = cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        free(d);
        return setup_error(e, "cudaStreamCreate", err);
    }
    int rc = KE_OK;
    cublasStatus_t s = blas.create(&d->blas);
    if (s != CUBLAS_STATUS_SUCCESS) {
        d->blas = NULL;
        rc = kerror_set(err, KE_INTERNAL, "device", "cublasCreate: %s", blas.status_string(s));
    }
    if (!rc) rc = cudev_alloc(d, &d->blas_ws, BLAS_WORKSPACE, "cuBLAS workspace", err);
    if (!rc) {
        /* fp32 must stay IEEE fp32 (no TF32) so it matches the CPU trainer */
        blas_note(d, blas.set_stream(d->blas, d->stream), "cublasSetStream");
        blas_note(d, blas.set_workspace(d->blas, d->blas_ws, BLAS_WORKSPACE), "cublasSetWorkspace");
        blas_note(d, blas.set_math_mode(d->blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
        rc = cudev_check(d, err);
    }
    if (rc) {
        cudev_free(d);
        return rc;
    }
    *out = d;
    return KE_OK;
}

void cudev_free(cudev *d)
{
    if (!d) return;
    if (d->stream) cudaStreamSynchronize(d->stream);
    if (d->blas) blas.destroy(d->blas);
    cudev_release(d->blas_ws);
    cudev_release(d->half[0]);
    cudev_release(d->half[1]);
    if (d->stream) cudaStreamDestroy(d->stream);
    cudaGetLastError();
    free(d);
}

int cudev_reserve(cudev *d, size_t n, kerror *err)
{
    if (d->precision == CUDEV_FP32 || n <= d->half_cap) return KE_OK;
    cudaStreamSynchronize(d->stream);
    for (int i = 0; i < 2; i++) {
        cudev_release(d->half[i]);
        d->half[i] = NULL;
    }
    d->half_cap = 0;
    int rc = cudev_alloc(d, &d->half[0], n * 2, "16-bit GEMM scratch", err);
    if (!rc) rc = cudev_alloc(d, &d->half[1], n * 2, "16-bit GEMM scratch", err);
    if (!rc) d->half_cap = n;
    return rc;
}

int cudev_alloc(cudev *d, void **p, size_t bytes, const char *what, kerror *err)
{
    *p = NULL;
    if (bytes == 0) return KE_OK;
    cudaError_t e = cudaMalloc(p, bytes);
    if (e != cudaSuccess) {
        *p = NULL;
        cudaGetLastError();
        return kerror_set(err, e == cudaErrorMemoryAllocation ? KE_NOMEM : KE_INTERNAL, "device",
                          "cannot allocate %zu bytes of GPU memory for %s: %s", bytes, what,
                          cudaGetErrorString(e));
    }
    e = cudaMemsetAsync(*p, 0, bytes, d->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(d->stream);
    if (e != cudaSuccess) {
        cudaFree(*p);
        *p = NULL;
        return setup_error(e, what, err);
    }
    return KE_OK;
}

void cudev_release(void *p)
{
    if (p) cudaFree(p);
}

int cudev_host_alloc(void **p, size_t bytes, const char *what, kerror *err)
{
    cudaError_t e = cudaMallocHost(p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        *p = NULL;
        cudaGetLastError();
        return kerror_set(err, KE_NOMEM, "device", "cannot allocate %zu bytes of pinned memory for %s: %s",
                          bytes, what, cudaGetErrorString(e));
    }
    memset(*p, 0, bytes);
    return KE_OK;
}

void cudev_host_release(void *p)
{
    if (p) cudaFreeHost(p);
}

static int copy(cudev *d, void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                const char *what, kerror *err)
{
    if (bytes == 0) return KE_OK;
    cudev_note(d, cudaMemcpyAsync(dst, src, bytes, kind, d->stream), what);
    return cudev_sync(d, err);
}

int cudev_upload(cudev *d, void *dst, const void *src, size_t bytes, kerror *err)
{
    return copy(d, dst, src, bytes, cudaMemcpyHostToDevice, "upload", err);
}

int cudev_download(cudev *d, void *dst, const void *src, size_t bytes, kerror *err)
{
    return copy(d, dst, src, bytes, cudaMemcpyDeviceToHost, "download", err);
}

int cudev_check(cudev *d, kerror *err)
{
    cudev_note(d, cudaGetLastError(), "kernel launch");
    if (!d->fail_code) return KE_OK;
    int code = d->fail_code;
    d->fail_code = KE_OK;
    return kerror_set(err, code, "device", "%s", d->fail_what);
}

int cudev_sync(cudev *d, kerror *err)
{
    cudev_note(d, cudaStreamSynchronize(d->stream), "cudaStreamSynchronize");
    return cudev_check(d, err);
}

__device__ inline void store_rounded(__nv_bfloat16 *p, float v) { *p = __float2bfloat16(v); }
__device__ inline void store_rounded(__half *p, float v) { *p = __float2half(v); }

/* dst (n) = src rounded to T, round to nearest even. */
template <typename T>
__global__ void round_kernel(T *dst, const float *src, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        store_rounded(dst + i, src[i]);
}

template <typename T>
static void round_into(cudev *d, void *dst, const float *src, size_t n)
{
    round_kernel<T><<<cudev_blocks(n, 256), 256, 0, d->stream>>>((T *)dst, src, n);
}

void cudev_gemm(cudev *d, int trans_a, int trans_b, int m, int n, int k, float alpha,
                const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (d->precision == CUDEV_FP32) {
        blas_note(d, blas.sgemm(d->blas, ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc),
                  "cublasSgemm");
        return;
    }
    size_t na = (size_t)m * k, nb = (size_t)k * n;
    if (na > d->half_cap || nb > d->half_cap) {
        cudev_fail(d, KE_INTERNAL, "cudev_gemm: operand larger than the reserved 16-bit scratch");
        return;
    }
    cudaDataType_t t = d->precision == CUDEV_BF16 ? CUDA_R_16BF : CUDA_R_16F;
    if (d->precision == CUDEV_BF16) {
        round_into<__nv_bfloat16>(d, d->half[0], A, na);
        round_into<__nv_bfloat16>(d, d->half[1], B, nb);
    } else {
        round_into<__half>(d, d->half[0], A, na);
        round_into<__half>(d, d->half[1], B, nb);
    }
    blas_note(d, blas.gemm_ex(d->blas, ta, tb, m, n, k, &alpha, d->half[0], t, lda, d->half[1], t, ldb,
                              &beta, C, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
              "cublasGemmEx");
}
