/* test_schedule: every schedule against its closed form at several steps,
 * warm-up on top of a schedule, and the range checks. 10 steps per epoch and
 * 100 steps in all unless a test says otherwise. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../trainer/schedule.h"

#define TOL 1e-12

static schedule base(schedule_kind kind)
{
    schedule s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.lr = 0.1;
    s.gamma = 0.5;
    s.step_size = 3;
    s.steps_per_epoch = 10;
    s.total_steps = 100;
    ck_assert_int_eq(schedule_check(&s, NULL), KE_OK);
    return s;
}

START_TEST(constant)
{
    schedule s = base(SCHEDULE_CONSTANT);
    ck_assert_double_eq_tol(schedule_lr(&s, 0), 0.1, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 99), 0.1, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 1000), 0.1, TOL);
}
END_TEST

START_TEST(step)
{
    schedule s = base(SCHEDULE_STEP);   /* epochs 0-2: lr, 3-5: lr/2, 6-8: lr/4 */
    ck_assert_double_eq_tol(schedule_lr(&s, 29), 0.1, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 30), 0.05, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 59), 0.05, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 60), 0.025, TOL);
}
END_TEST

START_TEST(multistep)
{
    schedule s = base(SCHEDULE_MULTISTEP);
    s.n_milestones = 2;
    s.milestones[0] = 2;
    s.milestones[1] = 5;
    ck_assert_double_eq_tol(schedule_lr(&s, 19), 0.1, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 20), 0.05, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 49), 0.05, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 50), 0.025, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 99), 0.025, TOL);
}
END_TEST

START_TEST(exponential)
{
    schedule s = base(SCHEDULE_EXPONENTIAL);   /* lr 0.5^epoch, constant in an epoch */
    ck_assert_double_eq_tol(schedule_lr(&s, 9), 0.1, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 10), 0.05, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 45), 0.1 * pow(0.5, 4), TOL);
}
END_TEST

START_TEST(inverse_time)
{
    schedule s = base(SCHEDULE_INVERSE_TIME);
    s.decay = 0.5;
    ck_assert_double_eq_tol(schedule_lr(&s, 5), 0.1, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 10), 0.1 / 1.5, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 40), 0.1 / 3.0, TOL);
}
END_TEST

START_TEST(linear)
{
    schedule s = base(SCHEDULE_LINEAR);
    s.min_lr = 0.01;
    ck_assert_double_eq_tol(schedule_lr(&s, 0), 0.1, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 50), 0.055, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 25), 0.1 - 0.09 * 0.25, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 100), 0.01, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 500), 0.01, TOL);   /* clamped after the run */
}
END_TEST

START_TEST(cosine)
{
    schedule s = base(SCHEDULE_COSINE);
    s.min_lr = 0.02;
    ck_assert_double_eq_tol(schedule_lr(&s, 0), 0.1, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 50), 0.06, TOL);   /* cos(pi/2) = 0 */
    ck_assert_double_eq_tol(schedule_lr(&s, 25), 0.02 + 0.04 * (1 + cos(M_PI / 4)), TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 100), 0.02, TOL);
}
END_TEST

START_TEST(warmup_constant)
{
    schedule s = base(SCHEDULE_CONSTANT);
    s.warmup_steps = 4;   /* factors 1/4, 2/4, 3/4, 1 */
    ck_assert_double_eq_tol(schedule_lr(&s, 0), 0.025, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 2), 0.075, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 3), 0.1, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 4), 0.1, TOL);
    /* factor 0.2 + 0.8 (step+1)/4: step i has the rate torch's
     * LinearLR(opt, 0.2, total_iters=4) gives step i + 1 (torch 0.02, 0.04,
     * 0.06 at steps 0, 1, 2; here 0.04, 0.06, 0.08) */
    s.warmup_start = 0.2;
    ck_assert_double_eq_tol(schedule_lr(&s, 0), 0.1 * 0.4, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 1), 0.1 * 0.6, TOL);
}
END_TEST

START_TEST(warmup_cosine)
{
    /* The cosine runs over the 80 steps after a 20-step warm-up. */
    schedule s = base(SCHEDULE_COSINE);
    s.warmup_steps = 20;
    ck_assert_double_eq_tol(schedule_lr(&s, 9), 0.1 * 10.0 / 20.0, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 20), 0.1, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 60), 0.05, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 100), 0.0, TOL);
}
END_TEST

START_TEST(warmup_step)
{
    /* Per-epoch schedules keep counting epochs from step 0 under warm-up. */
    schedule s = base(SCHEDULE_STEP);
    s.step_size = 1;
    s.warmup_steps = 15;
    ck_assert_double_eq_tol(schedule_lr(&s, 12), 0.05 * 13.0 / 15.0, TOL);
    ck_assert_double_eq_tol(schedule_lr(&s, 15), 0.05, TOL);
}
END_TEST

START_TEST(check_rejects)
{
    kerror err;
    schedule s = base(SCHEDULE_MULTISTEP);
    s.n_milestones = 2;
    s.milestones[0] = 5;
    s.milestones[1] = 5;
    ck_assert_int_eq(schedule_check(&s, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "milestones");
    s = base(SCHEDULE_CONSTANT);
    s.lr = 0;
    ck_assert_int_eq(schedule_check(&s, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "lr");
    s = base(SCHEDULE_CONSTANT);
    s.warmup_start = 1.5;
    ck_assert_int_eq(schedule_check(&s, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "warmup_start");
    s = base(SCHEDULE_CONSTANT);
    s.steps_per_epoch = 0;
    ck_assert_int_eq(schedule_check(&s, &err), KE_INVALID);
    /* a warm-up longer than the run's 100 steps never reaches lr (it was
     * taken, and the whole run trained below its rate); one of the run's
     * length reaches it at the last step */
    s = base(SCHEDULE_COSINE);
    s.warmup_steps = 101;
    ck_assert_int_eq(schedule_check(&s, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "warmup_steps");
    ck_assert_str_eq(err.msg, "101 exceeds the run's 100 optimizer steps (10 epochs of 10): "
                              "the rate would never reach lr");
    s.warmup_steps = 100;
    ck_assert_int_eq(schedule_check(&s, NULL), KE_OK);
    ck_assert_double_eq_tol(schedule_lr(&s, 99), 0.1, TOL);
    /* one_cycle's ends of pct_start, inside the option's [0, 1], were
     * refused as 'out of range for one_cycle', no range or value said */
    s = base(SCHEDULE_CONSTANT);
    s.kind = SCHEDULE_ONE_CYCLE;
    s.div_factor = 25;
    s.final_div_factor = 1e4;
    s.pct_start = 1;
    ck_assert_int_eq(schedule_check(&s, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "pct_start");
    ck_assert_str_eq(err.msg, "one_cycle needs it in (0, 1), got 1");
    s.pct_start = 0;
    ck_assert_int_eq(schedule_check(&s, &err), KE_INVALID);
    ck_assert_str_eq(err.msg, "one_cycle needs it in (0, 1), got 0");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("schedule");
    TCase *tc = tcase_create("formulas");
    tcase_add_test(tc, constant);
    tcase_add_test(tc, step);
    tcase_add_test(tc, multistep);
    tcase_add_test(tc, exponential);
    tcase_add_test(tc, inverse_time);
    tcase_add_test(tc, linear);
    tcase_add_test(tc, cosine);
    suite_add_tcase(s, tc);
    TCase *w = tcase_create("warmup");
    tcase_add_test(w, warmup_constant);
    tcase_add_test(w, warmup_cosine);
    tcase_add_test(w, warmup_step);
    tcase_add_test(w, check_rejects);
    suite_add_tcase(s, w);
    return check_run(s);
}
