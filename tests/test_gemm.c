/* test_gemm: the dense layers' three products (trainer/gemm.c) against a
 * double-precision reference, on both paths: OpenBLAS set to one thread
 * (the own AVX-512 kernels where the CPU has them) and to two (cblas), at
 * shapes that cut every tile, panel, K block and 16 x 16 transposition
 * block; the forward stays inside its scratch; the own path is reproducible
 * bit for bit. */
#include <cblas.h>
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../trainer/gemm.h"

#define CANARY 12345.0f
#define TOL 2e-5   /* relative to the sum of |terms| of the element */

static float *filled(size_t n, uint64_t seed)
{
    float *x = malloc(n * sizeof *x);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
    }
    return x;
}

/* got[i*ld + j] = sum_p a(i,p) b(p,j) within TOL, where a(i,p) =
 * a[i*ars + p*aps] and b(p,j) = b[p*brs + j*bcs]; init (or NULL for zero)
 * is what C held before an accumulating product. */
static void expect_product(const char *what, const float *got, int M, int N, int K,
                           const float *a, size_t ars, size_t aps, const float *b, size_t brs,
                           size_t bcs, const float *init)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double sum = init ? init[(size_t)i * N + j] : 0.0, mag = fabs(sum);
            for (int p = 0; p < K; p++) {
                double t = (double)a[i * ars + p * aps] * b[p * brs + j * bcs];
                sum += t;
                mag += fabs(t);
            }
            double g = got[(size_t)i * N + j];
            if (fabs(g - sum) > TOL * (mag + 1e-30))
                ck_abort_msg("%s %dx%dx%d: element (%d,%d) is %.9g, expected %.9g", what, M, N,
                             K, i, j, g, sum);
        }
}

/* All three products at (B, k, n) on the current thread setting. */
static void check_shape(int B, int k, int n)
{
    float *x = filled((size_t)B * k, 1), *W = filled((size_t)n * k, 2);
    float *dout = filled((size_t)B * n, 3), *dW0 = filled((size_t)n * k, 4);
    float *out = malloc((size_t)B * n * sizeof *out), *dW = malloc((size_t)n * k * sizeof *dW);
    float *dx = malloc((size_t)B * k * sizeof *dx);
    size_t ns = gemm_forward_scratch(B, k, n);
    float *scratch = malloc((ns + 1) * sizeof *scratch);
    scratch[ns] = CANARY;

    gemm_forward(out, x, W, B, k, n, scratch);
    expect_product("forward", out, B, n, k, x, (size_t)k, 1, W, 1, (size_t)k, NULL);
    ck_assert_float_eq(scratch[ns], CANARY);
    /* left transposed, within the smaller scratch it documents */
    size_t nt = gemm_forward_scratch(B, k, 0);
    scratch[nt] = CANARY;
    gemm_forward_t(out, x, W, B, k, n, scratch);
    expect_product("forward_t", out, n, B, k, W, (size_t)k, 1, x, 1, (size_t)k, NULL);
    ck_assert_float_eq(scratch[nt], CANARY);

    gemm_grad_w(dW, dout, n, x, B, k, n, 0);
    expect_product("grad_w", dW, n, k, B, dout, 1, (size_t)n, x, (size_t)k, 1, NULL);
    memcpy(dW, dW0, (size_t)n * k * sizeof *dW);
    gemm_grad_w(dW, dout, n, x, B, k, n, 1);
    expect_product("grad_w accumulate", dW, n, k, B, dout, 1, (size_t)n, x, (size_t)k, 1, dW0);
    /* the rows of a share of the units: dout's columns [r0, n) */
    int r0 = n / 3;
    gemm_grad_w(dW + (size_t)r0 * k, dout + r0, n, x, B, k, n - r0, 0);
    expect_product("grad_w rows", dW + (size_t)r0 * k, n - r0, k, B, dout + r0, 1, (size_t)n, x,
                   (size_t)k, 1, NULL);

    gemm_grad_x(dx, dout, W, B, k, n);
    expect_product("grad_x", dx, B, k, n, dout, (size_t)n, 1, W, (size_t)k, 1, NULL);
    free(x), free(W), free(dout), free(dW0), free(out), free(dW), free(dx), free(scratch);
}

/* gemm_transpose between strided rows, leaving the destination's padding. */
static void check_transpose(int rows, int cols)
{
    size_t lds = (size_t)cols + 3, ldd = (size_t)rows + 5;
    float *src = filled((size_t)rows * lds, 9), *dst = malloc((size_t)cols * ldd * sizeof *dst);
    for (size_t i = 0; i < (size_t)cols * ldd; i++) dst[i] = CANARY;
    gemm_transpose(dst, ldd, src, lds, rows, cols);
    for (int j = 0; j < cols; j++)
        for (size_t i = 0; i < ldd; i++)
            ck_assert_float_eq(dst[(size_t)j * ldd + i],
                               (int)i < rows ? src[i * lds + (size_t)j] : CANARY);
    free(src), free(dst);
}

static const int shapes[][3] = {
    /* B, k, n: the bench MLP's layers on a 64-row shard and a whole batch */
    {64, 784, 256}, {64, 256, 128}, {64, 128, 10}, {128, 784, 256},
    /* partial tiles (rows mod 6), panels (mod 64), K blocks (mod 128) and
     * transposition blocks (mod 16) */
    {37, 53, 29}, {16, 16, 16}, {130, 129, 65}, {17, 300, 70}, {65, 17, 33},
    /* below the forward's own-kernel threshold, and degenerate widths */
    {5, 7, 3}, {1, 20, 1}, {64, 1, 64},
};

static void check_all_shapes(void)
{
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        check_shape(shapes[i][0], shapes[i][1], shapes[i][2]);
        check_transpose(shapes[i][0], shapes[i][1]);
    }
}

static int cpu_has_avx512f(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    return __builtin_cpu_supports("avx512f") != 0;
#else
    return 0;
#endif
}

START_TEST(one_thread_path)
{
    openblas_set_num_threads(1);
    ck_assert_int_eq(gemm_own_kernels(), cpu_has_avx512f());
    if (!gemm_own_kernels())
        fprintf(stderr, "test_gemm: no AVX-512F here, one thread runs cblas\n");
    check_all_shapes();
}
END_TEST

START_TEST(two_thread_path)
{
    openblas_set_num_threads(2);
    ck_assert_int_eq(gemm_own_kernels(), 0);
    check_all_shapes();
}
END_TEST

/* The same inputs give the same bits, whatever the scratch held before. */
START_TEST(reproducible)
{
    openblas_set_num_threads(1);
    int B = 70, k = 300, n = 90;
    float *x = filled((size_t)B * k, 5), *W = filled((size_t)n * k, 6);
    float *dout = filled((size_t)B * n, 7);
    size_t ns = gemm_forward_scratch(B, k, n);
    float *s1 = filled(ns, 8), *s2 = filled(ns, 9);
    float *o1 = malloc((size_t)B * n * sizeof *o1), *o2 = malloc((size_t)B * n * sizeof *o2);
    float *g1 = malloc((size_t)n * k * sizeof *g1), *g2 = malloc((size_t)n * k * sizeof *g2);
    gemm_forward(o1, x, W, B, k, n, s1);
    gemm_forward(o2, x, W, B, k, n, s2);
    ck_assert_mem_eq(o1, o2, (size_t)B * n * sizeof *o1);
    gemm_grad_w(g1, dout, n, x, B, k, n, 0);
    gemm_grad_w(g2, dout, n, x, B, k, n, 0);
    ck_assert_mem_eq(g1, g2, (size_t)n * k * sizeof *g1);
    free(x), free(W), free(dout), free(s1), free(s2), free(o1), free(o2), free(g1), free(g2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, one_thread_path);
    tcase_add_test(tc, two_thread_path);
    tcase_add_test(tc, reproducible);
    suite_add_tcase(s, tc);
    return check_run(s);
}
