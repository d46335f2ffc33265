/* test_backoff: the waiting list of `kestrel serve`'s studies after a
 * transient storage error: the first try 1 s after the error, then waits
 * doubling to a minute, studies that failed together staggered, the last
 * try on the give-up bound and none past it, and entries found and removed
 * by name. */
#include <check.h>
#include <math.h>

#include "check_main.h"
#include "../src/backoff.h"

START_TEST(waits_double_up_to_a_minute_then_give_up)
{
    backoff_list l = {.give_up_s = 600};
    ck_assert_int_eq(backoff_add(&l, "a", 1, "disk full", 100), KE_OK);
    backoff_entry *e = backoff_find(&l, "a");
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_null(backoff_due(&l, 100.9));
    ck_assert_ptr_eq(backoff_due(&l, 101), e);
    /* tries at 101, 103, 107, 115, 131, 163, 223, 283, ... */
    double now = 101, want[] = {2, 4, 8, 16, 32, 60, 60};
    for (int k = 0; k < 7; k++) {
        ck_assert_int_eq(backoff_again(&l, e, "still full", now), 1);
        ck_assert(fabs(backoff_wait(e, now) - want[k]) < 1e-9);
        now = e->due;
    }
    ck_assert_str_eq(e->why, "still full");
    while (backoff_again(&l, e, "still full", now)) {
        ck_assert(e->due <= e->first + l.give_up_s);
        now = e->due;
    }
    ck_assert(now == e->first + l.give_up_s);   /* the last try is on the bound */
    backoff_remove(&l, e);
    ck_assert_int_eq(l.n, 0);
    ck_assert_ptr_null(backoff_find(&l, "a"));
}
END_TEST

START_TEST(studies_that_failed_together_are_staggered)
{
    backoff_list l = {.give_up_s = 600};
    const char *names[] = {"s0", "s1", "s2"};
    for (int i = 0; i < 3; i++) ck_assert_int_eq(backoff_add(&l, names[i], i + 1, "io", 0), KE_OK);
    ck_assert_int_eq(l.n, 3);
    for (int i = 0; i < 3; i++) {
        backoff_entry *e = backoff_find(&l, names[i]);
        ck_assert_int_eq(e->id, i + 1);
        ck_assert(fabs(e->due - (1 + 0.25 * i)) < 1e-9);
    }
    ck_assert_str_eq(backoff_due(&l, 1.0)->name, "s0");
    backoff_remove(&l, backoff_find(&l, "s1"));
    ck_assert_ptr_null(backoff_find(&l, "s1"));
    ck_assert_int_eq(l.n, 2);
    backoff_free(&l);
    ck_assert_int_eq(l.n, 0);
    ck_assert_ptr_null(l.head);
}
END_TEST

/* The reasons stored meanwhile: the wait's, then the give-up's, which
 * replaces the last error (its FAILED's state_reason). */
START_TEST(reasons_of_a_wait_and_a_give_up)
{
    backoff_list l = {.give_up_s = 5};
    ck_assert_int_eq(backoff_add(&l, "a", 1, "disk full", 10), KE_OK);
    backoff_entry *e = backoff_find(&l, "a");
    char buf[KERROR_MSG_MAX + 64];
    backoff_waiting_reason(e, 10, buf, sizeof buf);
    ck_assert_str_eq(buf, "a storage error; resuming in 1 s: disk full");
    ck_assert_int_eq(backoff_again(&l, e, "still full", 11), 1);
    /* a wait of 4 s would pass the 5 s bound: the last try is at 15, not
     * none (it gave up at 13, 3 s into the 5) */
    ck_assert_int_eq(backoff_again(&l, e, "full again", 13), 1);
    ck_assert(e->due == 15);
    ck_assert_int_eq(backoff_again(&l, e, "full again", 15), 0);
    ck_assert_int_eq(e->given_up, 0);
    backoff_give_up(e, "full again", 1, 15);
    ck_assert_int_eq(e->given_up, 1);
    ck_assert_str_eq(e->why, "storage errors for 5 s (given up): full again");
    backoff_give_up(e, "malformed", 0, 15);
    ck_assert_str_eq(e->why, "cannot resume after a storage error: malformed");
    backoff_free(&l);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("backoff");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, waits_double_up_to_a_minute_then_give_up);
    tcase_add_test(tc, studies_that_failed_together_are_staggered);
    tcase_add_test(tc, reasons_of_a_wait_and_a_give_up);
    suite_add_tcase(su, tc);
    return check_run(su);
}
