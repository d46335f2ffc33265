/* gemm: the dense layers' matrix products; see gemm.h. The own kernels
 * compute C (M,N) = A (M,K) * Bm (K,N) in tiles of 6 rows x 64 columns held
 * in 24 AVX-512 registers: per step p, 4 vector loads of Bm's row p and 6
 * broadcasts of A's column p feed 24 FMAs. A is read as scalars at any
 * stride, so dout^T and W need no copy; Bm must run along C's columns: the
 * gradients read inp and W where they lie, and the forward computes out^T =
 * W inp^T after transposing the batch, where OpenBLAS packs both operands
 * on every call (for the bench MLP's first layer on a 64-row shard: 50k
 * floats copied instead of 250k).
 * Invariant: every C element is summed in p order from p = 0 (or from C
 * when accumulating), whatever the tiling. */
#include "gemm.h"

#include <cblas.h>

/* OpenBLAS's own shutdown (it runs it before a fork): not in its header,
 * and absent from its serial build, hence weak. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

#define PANEL 64   /* columns of a tile: 4 vectors of 16 floats */
#define TILE_M 6   /* rows of a tile: 6 x 4 accumulators + 4 loads fit 32 registers */
#define BLOCK_K 128 /* steps per pass over a tile: a packed 128 x 64 panel is 32 KB, in L1 */

/* With fewer rows or outputs than this, the forward's two transpositions
 * cost more than they save. */
#define FORWARD_MIN 16

/* Floats of B rows of width k transposed into panels of PANEL rows. */
static size_t pack_floats(int B, int k)
{
    return (size_t)((B + PANEL - 1) / PANEL) * PANEL * (size_t)k;
}

size_t gemm_forward_scratch(int B, int k, int n) { return pack_floats(B, k) + (size_t)B * n; }

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define OWN_KERNELS 1

/* Operand layout of one product: A (i,p) at a[i*ars + p*aps]; Bm (p,j) at
 * b[(j / PANEL) * bps + p * ldb + j % PANEL]; C (i,j) at c[i*ldc + j]. */
typedef struct {
    const float *a;
    size_t ars, aps;
    const float *b;
    size_t bps, ldb;
    float *c;
    size_t ldc;
} operands;

/* One tile: mr rows (<= TILE_M) by nv vectors (<= 4), the last vector's
 * columns masked by lm; K steps; C loaded first when load_c, else zeros.
 * Always inlined with constant mr and nv, so the loops unroll into registers. */
__attribute__((target("avx512f"), always_inline)) static inline void
tile(const int mr, const int nv, int K, const float *a, size_t ars, size_t aps, const float *b,
     size_t ldb, float *c, size_t ldc, int load_c, __mmask16 lm)
{
    __m512 acc[TILE_M][4];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            acc[i][v] = load_c ? _mm512_maskz_loadu_ps(v == nv - 1 ? lm : 0xFFFF,
                                                       c + i * ldc + 16 * v)
                               : _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int p = 0; p < K; p++) {
        const float *bp = b + p * ldb, *ap = a + p * aps;
        __m512 bv[4];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            bv[v] = _mm512_maskz_loadu_ps(v == nv - 1 ? lm : 0xFFFF, bp + 16 * v);
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            __m512 ai = _mm512_set1_ps(ap[i * ars]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            _mm512_mask_storeu_ps(c + i * ldc + 16 * v, v == nv - 1 ? lm : 0xFFFF, acc[i][v]);
}

#define TILE_CASE(MR, NV)                                                                     \
    case MR * 8 + NV:                                                                          \
        tile(MR, NV, K, a, ars, aps, b, ldb, c, ldc, load_c, lm);                              \
        break;
#define TILE_ROW(MR) TILE_CASE(MR, 1) TILE_CASE(MR, 2) TILE_CASE(MR, 3) TILE_CASE(MR, 4)

__attribute__((target("avx512f"))) static void
any_tile(int mr, int nv, int K, const float *a, size_t ars, size_t aps, const float *b, size_t ldb,
         float *c, size_t ldc, int load_c, __mmask16 lm)
{
    if (mr == TILE_M && nv == 4 && lm == 0xFFFF) {
        /* the common whole tile, with a constant mask: plain loads and stores */
        tile(TILE_M, 4, K, a, ars, aps, b, ldb, c, ldc, load_c, 0xFFFF);
        return;
    }
    switch (mr * 8 + nv) {
        TILE_ROW(1) TILE_ROW(2) TILE_ROW(3) TILE_ROW(4) TILE_ROW(5) TILE_ROW(6)
    }
}

/* C (M,N) = A * Bm, plus C when accumulate. Panels of Bm outermost, so a
 * BLOCK_K x PANEL block of Bm stays in L1 while every row tile passes. */
__attribute__((target("avx512f"))) static void
own_gemm(int M, int N, int K, const operands *o, int accumulate)
{
    for (int j0 = 0; j0 < N; j0 += PANEL) {
        int nr = N - j0 < PANEL ? N - j0 : PANEL, nv = (nr + 15) / 16;
        __mmask16 lm = nr % 16 ? (__mmask16)((1u << (nr % 16)) - 1) : (__mmask16)0xFFFF;
        const float *bpanel = o->b + (size_t)(j0 / PANEL) * o->bps;
        for (int p0 = 0; p0 < K; p0 += BLOCK_K) {
            int kb = K - p0 < BLOCK_K ? K - p0 : BLOCK_K;
            for (int i0 = 0; i0 < M; i0 += TILE_M) {
                int mr = M - i0 < TILE_M ? M - i0 : TILE_M;
                any_tile(mr, nv, kb, o->a + (size_t)i0 * o->ars + (size_t)p0 * o->aps, o->ars,
                         o->aps, bpanel + (size_t)p0 * o->ldb, o->ldb,
                         o->c + (size_t)i0 * o->ldc + (size_t)j0, o->ldc, accumulate || p0 > 0, lm);
            }
        }
    }
}

/* dst row c*ldd holds column c of the 16 x 16 block at src (row stride lds):
 * 32-bit, 64-bit and two 128-bit interleaving stages. */
__attribute__((target("avx512f"))) static void transpose16(const float *src, size_t lds, float *dst,
                                                          size_t ldd)
{
    __m512 r[16], t[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + (size_t)i * lds);
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* r[4g + q] now holds columns q, q+4, q+8, q+12 of rows 4g..4g+3 */
#pragma GCC unroll 4
    for (int i = 0; i < 16; i += 4)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m512d x = _mm512_castps_pd(t[i + h]), y = _mm512_castps_pd(t[i + h + 2]);
            r[i + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(x, y));
            r[i + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(x, y));
        }
    /* t[m], m < 8 (rows 0-7) and t[m + 8] (rows 8-15): columns m and m + 8 */
#pragma GCC unroll 2
    for (int g = 0; g < 16; g += 8)
#pragma GCC unroll 4
        for (int q = 0; q < 4; q++) {
            t[g + q] = _mm512_shuffle_f32x4(r[g + q], r[g + q + 4], 0x88);
            t[g + q + 4] = _mm512_shuffle_f32x4(r[g + q], r[g + q + 4], 0xdd);
        }
#pragma GCC unroll 8
    for (int m = 0; m < 8; m++) {
        _mm512_storeu_ps(dst + (size_t)m * ldd, _mm512_shuffle_f32x4(t[m], t[m + 8], 0x88));
        _mm512_storeu_ps(dst + (size_t)(m + 8) * ldd, _mm512_shuffle_f32x4(t[m], t[m + 8], 0xdd));
    }
}

/* dst (cols,rows) = src (rows,cols)^T: whole 16 x 16 blocks by registers,
 * the edges by scalars. */
__attribute__((target("avx512f"))) static void transpose(float *dst, size_t ldd, const float *src,
                                                        size_t lds, int rows, int cols)
{
    int r16 = rows / 16 * 16, c16 = cols / 16 * 16;
    for (int i = 0; i < r16; i += 16)
        for (int j = 0; j < c16; j += 16)
            transpose16(src + (size_t)i * lds + j, lds, dst + (size_t)j * ldd + i, ldd);
    for (int i = 0; i < rows; i++)
        for (int j = i < r16 ? c16 : 0; j < cols; j++)
            dst[(size_t)j * ldd + i] = src[(size_t)i * lds + j];
}

/* The forward as out^T (n,B) = W (n,k) * inp^T (k,B): W is read by
 * broadcasts where it lies, and only the batch is transposed, into panels
 * of PANEL rows (inp^T (p, b) at panels[(b / PANEL) * PANEL * k + p * PANEL
 * + b % PANEL]). */
__attribute__((target("avx512f"))) static void own_forward_t(float *outT, const float *inp,
                                                            const float *W, int B, int k, int n,
                                                            float *panels)
{
    for (int b0 = 0; b0 < B; b0 += PANEL)
        transpose(panels + (size_t)b0 * k, PANEL, inp + (size_t)b0 * k, (size_t)k,
                  B - b0 < PANEL ? B - b0 : PANEL, k);
    operands o = {W, (size_t)k, 1, panels, (size_t)PANEL * k, PANEL, outT, (size_t)B};
    own_gemm(n, B, k, &o, 0);
}
#else
#define OWN_KERNELS 0
#endif

int gemm_own_kernels(void)
{
#if OWN_KERNELS
    return __builtin_cpu_supports("avx512f") && openblas_get_num_threads() == 1;
#else
    return 0;
#endif
}

void gemm_forward(float *out, const float *inp, const float *W, int B, int k, int n, float *scratch)
{
#if OWN_KERNELS
    if (B >= FORWARD_MIN && n >= FORWARD_MIN && gemm_own_kernels()) {
        float *outT = scratch + pack_floats(B, k);
        own_forward_t(outT, inp, W, B, k, n, scratch);
        transpose(out, (size_t)n, outT, (size_t)B, n, B);
        return;
    }
#endif
    (void)scratch;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, n, k, 1.0f, inp, k, W, k, 0.0f, out, n);
}

void gemm_forward_t(float *outT, const float *inp, const float *W, int B, int k, int n,
                    float *scratch)
{
#if OWN_KERNELS
    if (gemm_own_kernels()) {
        own_forward_t(outT, inp, W, B, k, n, scratch);
        return;
    }
#endif
    (void)scratch;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, B, k, 1.0f, W, k, inp, k, 0.0f, outT, B);
}

void gemm_transpose(float *dst, size_t ldd, const float *src, size_t lds, int rows, int cols)
{
#if OWN_KERNELS
    if (__builtin_cpu_supports("avx512f")) {
        transpose(dst, ldd, src, lds, rows, cols);
        return;
    }
#endif
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) dst[(size_t)j * ldd + i] = src[(size_t)i * lds + j];
}

void gemm_grad_w(float *dW, const float *dout, int ldo, const float *inp, int B, int k, int n,
                 int accumulate)
{
#if OWN_KERNELS
    if (gemm_own_kernels()) {
        operands o = {dout, 1, (size_t)ldo, inp, PANEL, (size_t)k, dW, (size_t)k};
        own_gemm(n, k, B, &o, accumulate);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, k, B, 1.0f, dout, ldo, inp, k,
                accumulate ? 1.0f : 0.0f, dW, k);
}

void gemm_grad_x(float *dinp, const float *dout, const float *W, int B, int k, int n)
{
#if OWN_KERNELS
    if (gemm_own_kernels()) {
        operands o = {dout, (size_t)n, 1, W, PANEL, (size_t)k, dinp, (size_t)k};
        own_gemm(B, k, n, &o, 0);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, k, n, 1.0f, dout, n, W, k, 0.0f, dinp,
                k);
}

void gemm_blas_threads(int n)
{
    if (openblas_get_num_threads() != n) openblas_set_num_threads(n);
}

void gemm_blas_quiet(void)
{
    gemm_blas_threads(1);
    if (blas_thread_shutdown_) blas_thread_shutdown_();
}
