/* test_monotime: common/monotime's clocks: monotime_s() and monotime_ns()
 * read one clock, and monotime_cpu_s() counts the process's CPU time, not
 * the time that passes (it stands still while the process sleeps, and it
 * grows while the process works). */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <time.h>

#include "check_main.h"
#include "../common/monotime.h"

START_TEST(seconds_and_nanoseconds_read_one_clock)
{
    double s0 = monotime_s();
    long long ns = monotime_ns();
    double s1 = monotime_s();
    ck_assert(s0 <= s1);
    /* 1 us of slack: the double's rounding of a reading */
    ck_assert(ns * 1e-9 >= s0 - 1e-6);
    ck_assert(ns * 1e-9 <= s1 + 1e-6);
}
END_TEST

/* A process that sleeps uses next to no CPU time: a clock that counted the
 * time passing (the monotonic one) would advance by the whole sleep. */
START_TEST(cpu_time_stands_still_while_the_process_sleeps)
{
    double c0 = monotime_cpu_s(), t0 = monotime_s();
    struct timespec left = {0, 200000000};
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {}
    double c1 = monotime_cpu_s(), t1 = monotime_s();
    ck_assert(t1 - t0 >= 0.2);
    ck_assert(c1 >= c0);
    ck_assert_msg(c1 - c0 < 0.1, "%.3f s of CPU time over a 0.2 s sleep", c1 - c0);
}
END_TEST

/* A single-threaded process at work: its CPU time grows, and never faster
 * than the time passing. */
START_TEST(cpu_time_grows_while_the_process_works)
{
    double c0 = monotime_cpu_s(), t0 = monotime_s(), c = c0;
    volatile double sink = 0;
    while (c - c0 < 0.05) {
        ck_assert_msg(monotime_s() - t0 < 60, "no CPU time counted after 60 s of work");   /* a hang guard */
        for (int i = 0; i < 100000; i++) sink += i;
        double next = monotime_cpu_s();
        ck_assert(next >= c);
        c = next;
    }
    ck_assert(c - c0 <= monotime_s() - t0 + 1e-3);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("monotime");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, seconds_and_nanoseconds_read_one_clock);
    tcase_add_test(tc, cpu_time_stands_still_while_the_process_sleeps);
    tcase_add_test(tc, cpu_time_grows_while_the_process_works);
    suite_add_tcase(su, tc);
    return check_run(su);
}
