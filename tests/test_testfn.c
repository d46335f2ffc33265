/* test_testfn: every test function reaches its published minimum at its
 * published minimizers, and no point of its domain goes below it. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check_main.h"
#include "../src/testfn.h"

typedef struct {
    const char *name;
    double x[TESTFN_MAX_DIM];
    double rel_tol;           /* 0: absolute 1e-6 */
} minimizer;

/* Minimizers as published by Surjanovic & Bingham (ssurjano), the camel
 * ones to more digits so the 1e-6 check is about f, not rounding of x. */
static const minimizer minimizers[] = {
    { "branin", { -M_PI, 12.275 }, 0 },
    { "branin", { M_PI, 2.275 }, 0 },
    { "branin", { 9.42477796076938, 2.475 }, 0 },
    { "hartmann3", { 0.114614, 0.555649, 0.852547 }, 1e-4 },
    { "hartmann6", { 0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573 }, 1e-4 },
    { "goldstein_price", { 0, -1 }, 0 },
    { "six_hump_camel", { 0.0898420136830, -0.712656403270 }, 0 },
    { "six_hump_camel", { -0.0898420136830, 0.712656403270 }, 0 },
    { "rosenbrock4", { 1, 1, 1, 1 }, 0 },
    { "ackley5", { 0, 0, 0, 0, 0 }, 0 },
    { "levy4", { 1, 1, 1, 1 }, 0 },
};

#define N_MINIMIZERS ((int)(sizeof minimizers / sizeof minimizers[0]))

START_TEST(test_minimum_at_minimizer)
{
    const minimizer *m = &minimizers[_i];
    const testfn *fn = testfn_find(m->name);
    ck_assert_ptr_nonnull(fn);
    double v = fn->f(m->x);
    double tol = m->rel_tol > 0 ? m->rel_tol * fabs(fn->minimum) : 1e-6;
    ck_assert_msg(fabs(v - fn->minimum) <= tol, "%s: f = %.15g, minimum %.15g",
                  m->name, v, fn->minimum);
    for (int j = 0; j < fn->dim; j++) {
        ck_assert(m->x[j] >= fn->low[j]);
        ck_assert(m->x[j] <= fn->high[j]);
    }
}
END_TEST

static double uniform(uint64_t *state)
{
    /* splitmix64 (Steele et al. 2014), top 53 bits to [0,1) */
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

START_TEST(test_never_below_minimum)
{
    uint64_t state = 12345;
    int n = 0;
    for (const testfn *const *it = testfn_all(); *it; it++, n++) {
        const testfn *fn = *it;
        ck_assert(fn->dim >= 1 && fn->dim <= TESTFN_MAX_DIM);
        for (int k = 0; k < 20000; k++) {
            double x[TESTFN_MAX_DIM];
            for (int j = 0; j < fn->dim; j++)
                x[j] = fn->low[j] + uniform(&state) * (fn->high[j] - fn->low[j]);
            double v = fn->f(x);
            ck_assert_msg(isfinite(v) && v >= fn->minimum - 1e-9,
                          "%s below its minimum: %.15g", fn->name, v);
        }
    }
    ck_assert_int_eq(n, 8);
}
END_TEST

START_TEST(test_find)
{
    for (const testfn *const *it = testfn_all(); *it; it++)
        ck_assert_ptr_eq(testfn_find((*it)->name), *it);
    ck_assert_ptr_null(testfn_find("no_such_function"));
    ck_assert_ptr_null(testfn_find(""));
    ck_assert_int_eq(testfn_find("hartmann6")->dim, 6);
    ck_assert_int_eq(testfn_find("ackley5")->dim, 5);
    ck_assert_int_eq(testfn_find("levy4")->dim, 4);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("testfn");
    TCase *tc = tcase_create("core");
    /* CPU-bound loops that wait on nothing: their time grows with the
     * machine's load (CI is a loaded 2-core box), so no deadline. */
    tcase_set_timeout(tc, 0);
    tcase_add_loop_test(tc, test_minimum_at_minimizer, 0, N_MINIMIZERS);
    tcase_add_test(tc, test_never_below_minimum);
    tcase_add_test(tc, test_find);
    suite_add_tcase(s, tc);
    return check_run(s);
}
