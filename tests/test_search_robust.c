/* test_search_robust: the search strategies under histories at the edges a
 * study can reach (docs/gp.md, "Robustness"): values near the double range
 * (1e308 next to -1e308, 1e-300), spaces with fewer points than trials, a
 * Hyperband study of 100,000 trials. Every suggestion must be a legal point
 * of the space, and the GP must not repeat a point while the space still
 * holds untried ones. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../search/bo.h"
#include "../search/gp.h"
#include "../search/hyperband.h"
#include "../search/median.h"
#include "../search/strategy.h"
#include "space_fixture.h"
#include "strategy_fixture.h"

/* ---- helpers ---- */

/* Every active value of p is legal for its parameter: finite, within the
 * bounds, on the int step, a choice index. */
static void assert_legal(const space *sp, const space_point *p, int trial)
{
    for (int i = 0; i < sp->n; i++) {
        const space_param *q = &sp->params[i];
        double x = p->x[i];
        if (!p->active[i] || q->kind == PARAM_FIXED) continue;
        int ok = isfinite(x);
        if (q->kind == PARAM_CATEGORICAL) ok = ok && x >= 0 && x < q->n_choices && x == floor(x);
        else ok = ok && x >= q->low && x <= q->high;
        if (q->kind == PARAM_INT) ok = ok && x == floor(x);
        ck_assert_msg(ok, "trial %d: %s = %.17g", trial, q->name, x);
    }
}

/* Index of the first of pts[0..n) equal to p, -1 for none. */
static int find_point(const space *sp, const strategy_obs *obs, int n, const space_point *p)
{
    for (int i = 0; i < n; i++)
        if (space_point_equal(sp, &obs[i].point, p)) return i;
    return -1;
}

/* ---- extreme values ---- */

START_TEST(gp_power_warp_keeps_extreme_values_finite)
{
    /* -1e308 to 1e308 is a range beyond the doubles; a shift of 1e-300 under
     * a spread of 1e300 a ratio beyond them: both were inf, then NaN in the
     * model. The warp is monotone, so the order must survive. */
    double cases[2][8] = {
        { 1e300, -1e300, 1e-300, 0.0, 1e308, -1e308, 3.0, -DBL_MAX },
        { 0.0, 1e-300, 1e-300, 1e-300, 1e-300, 2e-300, 1e300, DBL_MAX },
    };
    for (int c = 0; c < 2; c++) {
        double y[8], scratch[8];
        memcpy(y, cases[c], sizeof y);
        gp_power_warp(y, 8, 1, scratch);
        for (int i = 0; i < 8; i++) {
            ck_assert_msg(isfinite(y[i]), "case %d: value %g warped to %g", c, cases[c][i], y[i]);
            for (int j = 0; j < 8; j++)
                if (cases[c][i] < cases[c][j]) ck_assert_double_le(y[i], y[j]);
        }
    }
}
END_TEST

START_TEST(gp_set_data_refuses_targets_it_cannot_standardize)
{
    /* Squares of 1e300 overflow: the mean and standard deviation were NaN
     * and inf, and every prediction NaN, with no error said. */
    gp g;
    double X[4] = { 0.1, 0.4, 0.6, 0.9 }, y[4] = { 1e300, -1e300, 2e300, 5.0 };
    kerror err;
    ck_assert_int_eq(gp_init(&g, 1, NULL), KE_OK);
    ck_assert_int_eq(gp_set_data(&g, X, y, 4, &err), KE_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "standardize"));
    double ok[4] = { 1e100, -1e100, 2e100, 5.0 }, mu, var, x = 0.5;
    ck_assert_int_eq(gp_set_data(&g, X, ok, 4, &err), KE_OK);
    ck_assert_int_eq(gp_fit(&g, 20, 1, 3, &err), KE_OK);
    ck_assert_int_eq(gp_predict(&g, &x, 1, &mu, &var, &err), KE_OK);
    ck_assert(isfinite(mu) && isfinite(var));
    gp_free(&g);
}
END_TEST

static const double extreme[] = { 1e300, -1e300, 1e-300, 0.0, 1e308, -1e308, -DBL_MAX, DBL_MAX };

/* A GP study (options) on a space with a float, whose trial t has value
 * extreme[t % 8] scaled by the float's place in its range: no suggestion may
 * be illegal or repeat a trial (the float makes a repeat no accident). */
static void extreme_study(const char *options)
{
    enum { N = 30 };
    space sp;
    memset(&sp, 0, sizeof sp);
    fx_float(&sp, "lr", 1e-12, 1e12, 1);
    fx_int(&sp, "units", 1, 1000000, 1, 1);
    fx_cat(&sp, "opt", "a", "b", "c", NULL);
    fx_float(&sp, "x", -1e300, 1e300, 0);
    strategy_obs obs[N];
    strategy *st = fx_strategy(&gp_strategy, &sp, options, 1);
    for (int t = 0; t < N; t++) {
        strategy_history h = { obs, t, 0, NULL };
        strategy_suggestion sg;
        kerror err;
        int n = gp_strategy.suggest(st, &h, &sg, 1, &err);
        ck_assert_msg(n == 1, "%s: trial %d: %d %s", options, t, n, err.msg);
        assert_legal(&sp, &sg.point, t);
        int rep = find_point(&sp, obs, t, &sg.point);
        ck_assert_msg(rep < 0, "%s: trial %d repeats trial %d", options, t, rep);
        double share = 0.5 + sg.point.x[3] / 4e300;   /* in [0.25, 0.75] */
        fx_record(&obs[t], t, &sg.point, extreme[t % 8] * share);
    }
    gp_strategy.destroy(st);
    space_free(&sp);
}

START_TEST(bo_extreme_values_keep_the_model_finite)
{
    extreme_study(NULL);
    extreme_study("{\"transform\": \"none\"}");
}
END_TEST

/* The median pruner among curves of values near the double range: the
 * running average of -1e308 and -1e308 was a sum over n, -inf, and the
 * median of two averages of 1e308 their sum halved, inf, so a trial as good
 * as the others was stopped (-1e308 > -inf) and one worse than all never
 * was (1.5e308 > inf is false). n - 1 others: an even and an odd count. */
static void median_extreme_study(int n, int sign)
{
    enum { K = 3 };
    strategy_obs obs[8];
    int steps[8][K];
    double values[8][K];
    memset(obs, 0, sizeof obs);
    for (int i = 0; i < n; i++) {
        obs[i].number = i;
        obs[i].state = i < 3 ? TRIAL_COMPLETE : TRIAL_RUNNING;
        obs[i].resumed_from = obs[i].retry_of = -1;
        obs[i].steps = steps[i];
        obs[i].values = values[i];
        obs[i].n_steps = K;
        for (int j = 0; j < K; j++) {
            steps[i][j] = j + 1;
            values[i][j] = sign * (i == n - 1 && sign > 0 ? 1.5e308 : 1e308);
        }
    }
    pruner *p = NULL;
    kerror err;
    json_t *opt = json_pack("{s:i}", "min_trials", 3);
    ck_assert_int_eq(median_pruner.create(&p, opt, &err), KE_OK);
    json_decref(opt);
    for (int i = 0; i < n; i++) median_pruner.observe(p, &obs[i]);
    strategy_history h = { obs, n, 0, NULL };
    for (int step = 1; step <= K; step++) {
        int stop = median_pruner.should_stop(p, &h, n - 1, step, values[n - 1][step - 1]);
        /* -1e308 ties the others' median: it goes on; 1.5e308 is worse. */
        ck_assert_msg(stop == (sign > 0), "%d others, sign %d, step %d: stop %d", n - 1, sign,
                      step, stop);
    }
    median_pruner.destroy(p);
}

START_TEST(median_pruner_averages_extreme_values_without_overflow)
{
    for (int n = 5; n <= 6; n++) {
        median_extreme_study(n, -1);
        median_extreme_study(n, 1);
    }
}
END_TEST

/* The gp strategy on one float refuses each options text of refused, with
 * the path strategy.options.KEY and a message naming range, and takes each
 * of taken. */
static void gp_option_bounded(const char *key, const char *range, const char *const *refused,
                              const char *const *taken)
{
    space sp;
    memset(&sp, 0, sizeof sp);
    fx_float(&sp, "x", 0, 1, 0);
    char path[64];
    snprintf(path, sizeof path, "strategy.options.%s", key);
    for (; *refused; refused++) {
        strategy *st = NULL;
        kerror err;
        json_t *o = json_loads(*refused, 0, NULL);
        ck_assert_int_eq(gp_strategy.create(&st, &sp, o, 1, &err), KE_INVALID);
        json_decref(o);
        ck_assert_ptr_null(st);
        ck_assert_str_eq(err.path, path);
        ck_assert_msg(strstr(err.msg, range), "%s: %s", *refused, err.msg);
    }
    for (; *taken; taken++) gp_strategy.destroy(fx_strategy(&gp_strategy, &sp, *taken, 1));
    space_free(&sp);
}

/* prior_mean had no upper bound: 1e300 standard deviations above the
 * values' mean was taken, the standardized values were all near -1e300 and
 * the model flat, so the study drew points as at random without a word.
 * It is refused beyond 10 (docs/gp.md), by the path of the option. */
START_TEST(gp_prior_mean_is_bounded)
{
    const char *refused[] = { "{\"prior_mean\": 1e300}", "{\"prior_mean\": 10.5}",
                              "{\"prior_mean\": -1}", NULL };
    const char *taken[] = { "{\"prior_mean\": 10}", "{\"prior_mean\": 0}", NULL };
    gp_option_bounded("prior_mean", "[0, 10]", refused, taken);
}
END_TEST

/* ucb_beta and xi took any finite number >= 0: xi 1e300 standard
 * deviations below the best value made every candidate's improvement
 * -1e300 (EI zero everywhere, its log -inf or NaN) and ucb_beta 1e300 drowned
 * the mean in the deviation, so the suggestions were arbitrary without a
 * word. They are refused beyond 10 and 100 (docs/gp.md), by their paths. */
START_TEST(gp_ucb_beta_and_xi_are_bounded)
{
    const char *xi_refused[] = { "{\"xi\": 1e300}", "{\"xi\": 10.5}", "{\"xi\": -0.1}",
                                 "{\"acquisition\": \"pi\", \"xi\": 11}", NULL };
    const char *xi_taken[] = { "{\"xi\": 10}", "{\"xi\": 0}", "{\"xi\": 0.01}", NULL };
    gp_option_bounded("xi", "[0, 10]", xi_refused, xi_taken);
    const char *beta_refused[] = { "{\"acquisition\": \"ucb\", \"ucb_beta\": 1e300}",
                                   "{\"ucb_beta\": 100.5}", "{\"ucb_beta\": -1}", NULL };
    const char *beta_taken[] = { "{\"acquisition\": \"ucb\", \"ucb_beta\": 100}",
                                 "{\"ucb_beta\": 0}", NULL };
    gp_option_bounded("ucb_beta", "[0, 100]", beta_refused, beta_taken);
}
END_TEST

/* subset takes 0 or [20, 1000000]: 5 was refused as "must be 0 (every
 * trial) or at least 20", with no word of the upper bound, and 1000001 as
 * "must be an integer in [0, 1000000]", a range 5 is in. Both refusals now
 * give the one rule. */
START_TEST(gp_subset_refusals_name_its_whole_range)
{
    const char *refused[] = { "{\"subset\": 5}", "{\"subset\": 1000001}", "{\"subset\": -1}",
                              "{\"subset\": 20.5}", NULL };
    const char *taken[] = { "{\"subset\": 0}", "{\"subset\": 20}", "{\"subset\": 1000000}", NULL };
    gp_option_bounded("subset", "must be 0 (every trial) or an integer in [20, 1000000]", refused,
                      taken);
}
END_TEST

/* Distinct points among obs[0..n). */
static int distinct(const space *sp, const strategy_obs *obs, int n)
{
    int d = 0;
    for (int i = 0; i < n; i++) d += find_point(sp, obs, i, &obs[i].point) < 0;
    return d;
}

/* ---- finite spaces ---- */

/* A GP study of trials trials, batch suggestions per call, on sp with
 * n_points points, value = the first parameter: no suggestion, of the
 * design or of the model, repeats a trial or a member of its batch while an
 * untried point is left. */
static void finite_study(const space *sp, int n_points, int trials, int batch, const char *options,
                         uint64_t seed)
{
    strategy_obs obs[64];
    strategy *st = fx_strategy(&gp_strategy, sp, options, seed);
    for (int t = 0; t < trials; t += batch) {
        strategy_history h = { obs, t, 0, NULL };
        strategy_suggestion sg[16];
        kerror err;
        ck_assert_int_eq(gp_strategy.suggest(st, &h, sg, batch, &err), batch);
        for (int i = 0; i < batch; i++) {
            assert_legal(sp, &sg[i].point, t + i);
            if (distinct(sp, obs, t + i) < n_points)
                ck_assert_msg(find_point(sp, obs, t + i, &sg[i].point) < 0,
                              "trial %d repeats trial %d with %d of %d points tried", t + i,
                              find_point(sp, obs, t + i, &sg[i].point), distinct(sp, obs, t + i),
                              n_points);
            fx_record(&obs[t + i], t + i, &sg[i].point, sg[i].point.x[0]);
        }
    }
    ck_assert_int_eq(distinct(sp, obs, trials), n_points);
    gp_strategy.destroy(st);
}

START_TEST(bo_tries_every_point_of_a_small_space)
{
    space sp;
    memset(&sp, 0, sizeof sp);
    fx_cat(&sp, "a", "x", "y", NULL);
    fx_cat(&sp, "b", "p", "q", "r", NULL);
    finite_study(&sp, 6, 20, 1, "{\"n_initial\": 4}", 2);
    for (uint64_t seed = 1; seed <= 4; seed++)      /* the design alone covers it */
        finite_study(&sp, 6, 6, 1, "{\"n_initial\": 6}", seed);
    space_free(&sp);
    memset(&sp, 0, sizeof sp);
    fx_int(&sp, "k", 0, 9, 1, 0);
    finite_study(&sp, 10, 16, 8, "{\"n_initial\": 4}", 2);
    space_free(&sp);
    memset(&sp, 0, sizeof sp);
    fx_int(&sp, "k", 0, 1, 1, 0);
    finite_study(&sp, 2, 12, 1, "{\"n_initial\": 4}", 2);
    space_free(&sp);
}
END_TEST

/* ---- retries ---- */

START_TEST(bo_leaves_out_a_retried_trial)
{
    /* Trial 6 was interrupted (a stop, a dead runner: FAILED, not its
     * configuration's fault) and trial 7, its retry, completed at the same
     * point with the best value. The retry stands for the configuration: the
     * suggestion is the one made without trial 6, of a history where trial 7
     * is the same configuration's first run (so both count 7 fresh trials,
     * the suggestion's seed). The model held trial 6 as the worst value
     * beside its retry's result, and suggested elsewhere. */
    space sp;
    memset(&sp, 0, sizeof sp);
    fx_float(&sp, "x", 0, 1, 0);
    fx_float(&sp, "y", 0, 1, 0);
    static const double at[8][2] = { { 0.9, 0.1 }, { 0.1, 0.9 }, { 0.5, 0.5 }, { 0.8, 0.8 },
                                     { 0.2, 0.2 }, { 0.6, 0.3 }, { 0.3, 0.7 }, { 0.3, 0.7 } };
    strategy_obs with[8], without[7];
    for (int i = 0; i < 8; i++) {
        space_point p;
        space_unit_to_point(&sp, at[i], &p);
        double dx = at[i][0] - 0.3, dy = at[i][1] - 0.7;
        fx_record(&with[i], i, &p, i == 6 ? NAN : dx * dx + dy * dy);
    }
    with[7].retry_of = 6;
    memcpy(without, with, 6 * sizeof *with);
    without[6] = with[7];
    without[6].retry_of = -1;
    strategy_history h_with = { with, 8, 0, NULL }, h_without = { without, 7, 0, NULL };
    const char *options = "{\"n_initial\": 4}";
    strategy *a = fx_strategy(&gp_strategy, &sp, options, 5);
    strategy *b = fx_strategy(&gp_strategy, &sp, options, 5);
    strategy_suggestion sa, sb;
    kerror err;
    ck_assert_msg(gp_strategy.suggest(a, &h_with, &sa, 1, &err) == 1, "%s", err.msg);
    ck_assert_msg(gp_strategy.suggest(b, &h_without, &sb, 1, &err) == 1, "%s", err.msg);
    ck_assert_msg(space_point_equal(&sp, &sa.point, &sb.point), "(%g, %g) against (%g, %g)",
                  sa.point.x[0], sa.point.x[1], sb.point.x[0], sb.point.x[1]);
    gp_strategy.destroy(a);
    gp_strategy.destroy(b);
    space_free(&sp);
}
END_TEST

/* ---- long studies ---- */

/* A fresh or promoted trial of a Hyperband history, ended COMPLETE. */
static void hb_trial(strategy_obs *o, int number, const space *sp, double x, int budget,
                     int resumed_from, double value)
{
    double u[1] = { x };
    space_point p;
    space_unit_to_point(sp, u, &p);
    fx_record(o, number, &p, value);
    o->budget = budget;
    o->resumed_from = resumed_from;
}

START_TEST(hyperband_long_study_is_planned_in_linear_time)
{
    /* max_resource 2, eta 2, rounds 0: each round is bracket 0 (two
     * configurations at budget 1, the better promoted to 2) and bracket 1
     * (two at 2), five trials. 100,000 trials have ended 40,000 brackets;
     * a plan that walked every bracket over every trial (6e9 slot reads a
     * call) took minutes, so a study running for hours spent each fill
     * while a rung ran in it; grouped by bracket, a call reads each once. */
    enum { ROUNDS = 20000, N = 5 * ROUNDS + 2 };
    space sp;
    memset(&sp, 0, sizeof sp);
    fx_float(&sp, "x", 0, 1, 0);
    strategy_obs *obs = malloc(N * sizeof *obs);
    ck_assert_ptr_nonnull(obs);
    int n = 0;
    for (int r = 0; r < ROUNDS; r++) {
        hb_trial(&obs[n], n, &sp, 0.1, 1, -1, 2.0);
        hb_trial(&obs[n + 1], n + 1, &sp, 0.2, 1, -1, 1.0);
        hb_trial(&obs[n + 2], n + 2, &sp, 0.2, 2, n + 1, 0.5);
        hb_trial(&obs[n + 3], n + 3, &sp, 0.3, 2, -1, 0.7);
        hb_trial(&obs[n + 4], n + 4, &sp, 0.4, 2, -1, 0.8);
        n += 5;
    }
    strategy *st = fx_strategy(&hyperband_strategy, &sp,
                               "{\"max_resource\": 2, \"eta\": 2, \"rounds\": 0}", 3);
    strategy_suggestion out[4];
    kerror err;
    /* every bracket ended: the next round's bracket 0 starts its two */
    strategy_history h = { obs, n, 0, NULL };
    ck_assert(!hyperband_strategy.done(st, &h));
    ck_assert_int_eq(hyperband_strategy.suggest(st, &h, out, 4, &err), 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(out[i].budget, 1);
        ck_assert_int_eq(out[i].resume_from, -1);
    }
    /* one of them running: the rung waits */
    hb_trial(&obs[n], n, &sp, 0.5, 1, -1, 1.5);
    hb_trial(&obs[n + 1], n + 1, &sp, 0.6, 1, -1, 3.0);
    obs[n + 1].state = TRIAL_RUNNING;
    obs[n + 1].has_value = 0;
    h.n_obs = n + 2;
    ck_assert_int_eq(hyperband_strategy.suggest(st, &h, out, 4, &err), 0);
    /* both ended: the better, the first, is promoted */
    obs[n + 1].state = TRIAL_COMPLETE;
    obs[n + 1].has_value = 1;
    ck_assert_int_eq(hyperband_strategy.suggest(st, &h, out, 4, &err), 1);
    ck_assert_int_eq(out[0].budget, 2);
    ck_assert_int_eq(out[0].resume_from, n);
    hyperband_strategy.destroy(st);
    /* with rounds = ROUNDS the same history has run every bracket */
    char options[96];
    snprintf(options, sizeof options, "{\"max_resource\": 2, \"eta\": 2, \"rounds\": %d}", ROUNDS);
    st = fx_strategy(&hyperband_strategy, &sp, options, 3);
    h.n_obs = n;
    ck_assert(hyperband_strategy.done(st, &h));
    ck_assert_int_eq(hyperband_strategy.suggest(st, &h, out, 4, &err), 0);
    hyperband_strategy.destroy(st);
    free(obs);
    space_free(&sp);
}
END_TEST

static Suite *robust_suite(void)
{
    Suite *s = suite_create("search_robust");
    TCase *values = tcase_create("values");
    tcase_set_timeout(values, 60);
    tcase_add_test(values, gp_power_warp_keeps_extreme_values_finite);
    tcase_add_test(values, gp_set_data_refuses_targets_it_cannot_standardize);
    tcase_add_test(values, bo_extreme_values_keep_the_model_finite);
    tcase_add_test(values, median_pruner_averages_extreme_values_without_overflow);
    tcase_add_test(values, gp_prior_mean_is_bounded);
    tcase_add_test(values, gp_ucb_beta_and_xi_are_bounded);
    tcase_add_test(values, gp_subset_refusals_name_its_whole_range);
    suite_add_tcase(s, values);
    TCase *spaces = tcase_create("spaces");
    tcase_set_timeout(spaces, 60);
    tcase_add_test(spaces, bo_tries_every_point_of_a_small_space);
    tcase_add_test(spaces, bo_leaves_out_a_retried_trial);
    suite_add_tcase(s, spaces);
    /* a hang detector, not a speed test: the call takes milliseconds, the
     * quadratic plan took minutes */
    TCase *longer = tcase_create("long");
    tcase_set_timeout(longer, 10);
    tcase_add_test(longer, hyperband_long_study_is_planned_in_linear_time);
    suite_add_tcase(s, longer);
    return s;
}

int main(void)
{
    return check_run(robust_suite());
}
