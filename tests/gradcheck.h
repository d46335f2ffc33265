/* gradcheck: central-difference gradient checking and small random fills
 * shared by the trainer's kernel and model tests (test_layers, test_loss,
 * test_mlp). Header-only: each test program is its own executable. */
#ifndef KESTREL_TESTS_GRADCHECK_H
#define KESTREL_TESTS_GRADCHECK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* A scalar objective of some float array the checker perturbs in place. */
typedef double (*gc_fn)(void *ctx);

typedef struct {
    double worst;     /* max over i of |analytic - numeric| / (atol + rtol max(|a|,|n|)) */
    size_t at;        /* the i where it happened */
    double analytic, numeric;
} gc_result;

/* Compares g[i] with (f(x + h e_i) - f(x - h e_i)) / 2h for every i < n;
 * x is restored afterwards. The check passes when result.worst <= 1. */
static inline gc_result gc_check(gc_fn f, void *ctx, float *x, const float *g, size_t n,
                                 float h, double atol, double rtol)
{
    gc_result r = { 0.0, 0, 0.0, 0.0 };
    for (size_t i = 0; i < n; i++) {
        float x0 = x[i];
        x[i] = x0 + h;
        double fp = f(ctx);
        x[i] = x0 - h;
        double fm = f(ctx);
        x[i] = x0;
        /* the step actually taken, after float rounding of x0 +- h */
        double num = (fp - fm) / ((double)(x0 + h) - (double)(x0 - h));
        double a = g[i];
        double ratio = fabs(a - num) / (atol + rtol * fmax(fabs(a), fabs(num)));
        if (ratio > r.worst) {
            r.worst = ratio;
            r.at = i;
            r.analytic = a;
            r.numeric = num;
        }
    }
    return r;
}

/* A tiny fixed-seed generator so fills do not depend on libc's rand(). */
static inline double gc_uniform(uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*state >> 11) * 0x1.0p-53;
}

/* x[i] uniform in [lo, hi). */
static inline void gc_fill(float *x, size_t n, float lo, float hi, uint64_t *state)
{
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)gc_uniform(state);
}

/* sum_i w[i] y[i] in double: a random projection turns a vector output into a
 * scalar whose gradient with respect to y is w. */
static inline double gc_dot(const float *w, const float *y, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)w[i] * y[i];
    return s;
}

#endif
