/* test_rankset: the order-statistic multiset against a sorted array, over
 * random adds and removes with many equal keys: size, rank (elements below
 * x) and every k-th smallest agree after each change, a remove of a key
 * not held changes nothing, and a freed set is empty again. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../common/kerror.h"
#include "../common/rankset.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void expect_same(const rankset *s, const double *ref, int n)
{
    ck_assert_int_eq(rankset_size(s), n);
    for (int k = 0; k < n; k++) ck_assert(rankset_kth(s, k) == ref[k]);
    for (int v = -2; v <= 42; v++) {
        double x = v * 0.5;
        int below = 0;
        while (below < n && ref[below] < x) below++;
        ck_assert_int_eq(rankset_rank(s, x), below);
    }
}

START_TEST(matches_a_sorted_array)
{
    rankset s = {0};
    double ref[600];
    int n = 0;
    uint64_t rng = 12345;
    for (int step = 0; step < 3000; step++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        double x = (double)((rng >> 33) % 41) * 0.5;   /* 41 keys: many ties */
        int add = n == 0 || (n < 600 && (rng >> 20) % 3 != 0);
        if (add) {
            ck_assert_int_eq(rankset_add(&s, x), KE_OK);
            ref[n++] = x;
            qsort(ref, n, sizeof *ref, cmp);
        } else {
            int held = 0;
            for (int i = 0; i < n && !held; i++)
                if (ref[i] == x) {
                    memmove(&ref[i], &ref[i + 1], (size_t)(n - i - 1) * sizeof *ref);
                    n--;
                    held = 1;
                }
            ck_assert_int_eq(rankset_remove(&s, x), held);
        }
        if (step % 50 == 0 || n < 5) expect_same(&s, ref, n);
    }
    expect_same(&s, ref, n);
    rankset_free(&s);
    ck_assert_int_eq(rankset_size(&s), 0);
    ck_assert_int_eq(rankset_remove(&s, 1.0), 0);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("rankset");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, matches_a_sorted_array);
    suite_add_tcase(su, tc);
    return check_run(su);
}
