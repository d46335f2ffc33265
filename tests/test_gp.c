/* test_gp: the Gaussian-process model (gp.c), the acquisition functions
 * (acq.c) and the "gp" strategy (bo.c) on hand-built spaces: interpolation and
 * prior reversion (neutral and pessimistic prior mean), the LML gradient
 * against finite differences, closed forms of EI/PI/UCB, log-EI in the
 * underflow range, jitter on singular kernels, the Box-Cox warp of
 * heavy-tailed values, and whole sequential and parallel studies against
 * random search: pending trials beside the incumbent, a 60,000-trial history
 * (the subset), and Branin seeds that settle on the wall (the trust region). */
#include <check.h>
#include <gsl/gsl_errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../search/acq.h"
#include "../search/bo.h"
#include "../search/gp.h"
#include "../search/random.h"
#include "../search/sobol.h"
#include "../src/testfn.h"
#include "space_fixture.h"
#include "strategy_fixture.h"

static void unit_square(space *s)
{
    memset(s, 0, sizeof *s);
    fx_float(s, "x", 0, 1, 0);
    fx_float(s, "y", 0, 1, 0);
}

/* ---- studies ---- */

static double bowl(const space_point *p)
{
    double a = p->x[0] - 0.3, b = p->x[1] - 0.7;
    return a * a + b * b;
}

static double bowl_failing_right(const space_point *p)
{
    return p->x[0] > 0.6 ? NAN : bowl(p);
}

/* A sequential study of budget trials; returns the best value, fills obs. */
static double run_study(const strategy_ops *ops, const space *sp, const char *options,
                        uint64_t seed, int budget, double (*f)(const space_point *),
                        strategy_obs *obs)
{
    strategy *st = fx_strategy(ops, sp, options, seed);
    double best = INFINITY;
    for (int t = 0; t < budget; t++) {
        strategy_history h = { obs, t, 0, NULL };
        strategy_suggestion sg;
        kerror err;
        int n = ops->suggest(st, &h, &sg, 1, &err);
        ck_assert_msg(n == 1, "suggest %d: %d %s", t, n, err.msg);
        double v = f(&sg.point);
        fx_record(&obs[t], t, &sg.point, v);
        if (!isnan(v) && v < best) best = v;
    }
    ops->destroy(st);
    return best;
}

/* ---- gp ---- */

#define N_TRAIN 8

static void train_1d(gp *g, double *x, double *y)
{
    for (int i = 0; i < N_TRAIN; i++) {
        x[i] = (i + 0.5) / N_TRAIN;
        y[i] = 3.0 + 2.0 * sin(6.0 * x[i]);
    }
    ck_assert_int_eq(gp_init(g, 1, NULL), 0);
    ck_assert_int_eq(gp_set_data(g, x, y, N_TRAIN, NULL), 0);
}

START_TEST(gp_interpolates_and_reverts_to_prior)
{
    gp g;
    double x[N_TRAIN], y[N_TRAIN], mu[N_TRAIN], var[N_TRAIN];
    train_1d(&g, x, y);
    g.theta[0] = log(0.2);
    g.theta[1] = 0.0;
    g.theta[2] = GP_LOG_NOISE_MIN;
    ck_assert_int_eq(gp_condition(&g, NULL), 0);
    ck_assert_int_eq(gp_predict(&g, x, N_TRAIN, mu, var, NULL), 0);
    double prior_var = g.y_std * g.y_std;
    for (int i = 0; i < N_TRAIN; i++) {
        ck_assert_double_eq_tol(mu[i], y[i], 1e-3);
        ck_assert_double_lt(var[i], 1e-4 * prior_var);
    }
    double far = 40.0, m, v;
    ck_assert_int_eq(gp_predict(&g, &far, 1, &m, &v, NULL), 0);
    ck_assert_double_eq_tol(m, g.y_mean, 1e-9);
    ck_assert_double_eq_tol(v, prior_var, 1e-9 * prior_var);
    /* A fitted model of the same smooth data still interpolates it. */
    ck_assert_int_eq(gp_fit(&g, 50, 2, 7, NULL), 0);
    ck_assert_int_eq(gp_predict(&g, x, N_TRAIN, mu, var, NULL), 0);
    for (int i = 0; i < N_TRAIN; i++) ck_assert_double_eq_tol(mu[i], y[i], 0.05);
    double mid = 0.5 / N_TRAIN + 0.5 / N_TRAIN / 2;
    ck_assert_int_eq(gp_predict(&g, &mid, 1, &m, &v, NULL), 0);
    ck_assert_double_eq_tol(m, 3.0 + 2.0 * sin(6.0 * mid), 0.1);
    gp_free(&g);
}
END_TEST

/* The analytic LML gradient against central differences, at a theta away
 * from every bound; with warp the 2D Kumaraswamy parameters are checked too. */
static void check_lml_gradient(int warp)
{
    enum { D = 3, N = 15, PMAX = 3 * D + 2 };
    gp g;
    double X[N * D], y[N];
    uint64_t st = 99;
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < D; k++) X[i * D + k] = strategy_rng_uniform(&st);
        y[i] = sin(3 * X[i * D]) + X[i * D + 1] * X[i * D + 2] + 0.1 * strategy_rng_uniform(&st);
    }
    ck_assert_int_eq(gp_init(&g, D, NULL), 0);
    g.warp_inputs = warp;
    int P = gp_nparams(&g);
    ck_assert_int_eq(P, warp ? PMAX : D + 2);
    ck_assert_int_eq(gp_set_data(&g, X, y, N, NULL), 0);
    double theta[PMAX] = { log(0.3), log(0.8), log(1.7), log(1.3), log(0.02),
                           0.4, -0.3, 0.7, -0.5, 0.2, 0.9 };
    double lml, grad[PMAX], prior_grad[PMAX] = { 0 };
    ck_assert_int_eq(gp_log_marginal(&g, theta, &lml, grad, NULL), 0);
    ck_assert(isfinite(lml));
    gp_log_prior(D, theta, prior_grad);
    for (int k = 0; k < P; k++) {
        double t[PMAX], hi, lo, h = 1e-5;
        memcpy(t, theta, sizeof t);
        t[k] = theta[k] + h;
        ck_assert_int_eq(gp_log_marginal(&g, t, &hi, NULL, NULL), 0);
        double phi = gp_log_prior(D, t, NULL);
        t[k] = theta[k] - h;
        ck_assert_int_eq(gp_log_marginal(&g, t, &lo, NULL, NULL), 0);
        double plo = gp_log_prior(D, t, NULL);
        double fd = (hi - lo) / (2 * h);
        ck_assert_msg(fabs(fd - grad[k]) <= 1e-5 * (1 + fabs(fd)),
                      "dLML/dtheta[%d]: analytic %.10g, numeric %.10g", k, grad[k], fd);
        ck_assert_double_eq_tol(prior_grad[k], (phi - plo) / (2 * h), 1e-6);
    }
    gp_free(&g);
}

START_TEST(gp_lml_gradient_matches_finite_differences)
{
    check_lml_gradient(0);
}
END_TEST

START_TEST(gp_warped_lml_gradient_matches_finite_differences)
{
    check_lml_gradient(1);
}
END_TEST

/* An input whose effect is all near 0 (y = x^0.2) is stationary after the
 * warp x^a with a < 1: the fit finds that warp and a better likelihood than
 * the unwarped model, and predicts better between the points near 0. */
START_TEST(gp_input_warp_learns_a_steep_start)
{
    enum { N = 12 };
    double X[N], y[N], lml[2], err_mid[2];
    for (int i = 0; i < N; i++) {
        X[i] = pow((double)i / (N - 1), 2.0);
        y[i] = pow(X[i], 0.2);
    }
    for (int warp = 0; warp <= 1; warp++) {
        gp g;
        ck_assert_int_eq(gp_init(&g, 1, NULL), 0);
        g.warp_inputs = warp;
        ck_assert_int_eq(gp_set_data(&g, X, y, N, NULL), 0);
        ck_assert_int_eq(gp_fit(&g, 100, 4, 11, NULL), 0);
        ck_assert_int_eq(gp_log_marginal(&g, g.theta, &lml[warp], NULL, NULL), 0);
        lml[warp] += gp_log_prior(1, g.theta, NULL);
        if (warp) ck_assert_msg(g.theta[3] < -0.3, "log a %g", g.theta[3]);
        double xm = 0.5 * (X[1] + X[2]), mu, var;
        ck_assert_int_eq(gp_condition(&g, NULL), 0);
        ck_assert_int_eq(gp_predict(&g, &xm, 1, &mu, &var, NULL), 0);
        err_mid[warp] = fabs(mu - pow(xm, 0.2));
        gp_free(&g);
    }
    ck_assert_msg(lml[1] > lml[0], "LML warped %g, plain %g", lml[1], lml[0]);
    ck_assert_msg(err_mid[1] < err_mid[0], "error near 0: warped %g, plain %g", err_mid[1],
                  err_mid[0]);
}
END_TEST

START_TEST(gp_cholesky_escalates_jitter_on_duplicates)
{
    /* Kernel of points {a, a, a, b} without noise: rank 2, singular. */
    enum { N = 4 };
    double kab = 0.6, A[N * N], L[N * N], jitter = -1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            A[i * N + j] = i == j ? 1.0 : (i == 3 || j == 3) ? kab : 1.0;
    ck_assert_int_eq(gp_cholesky(A, L, N, &jitter, NULL), 0);
    ck_assert_double_gt(jitter, 0.0);
    ck_assert_double_le(jitter, 1e-2);
    for (int i = 0; i < N; i++)
        for (int j = 0; j <= i; j++) {
            double s = 0;
            for (int k = 0; k <= j; k++) s += L[i * N + k] * L[j * N + k];
            ck_assert_double_eq_tol(s, A[i * N + j] + (i == j ? jitter : 0), 1e-12);
        }
    /* The model itself conditions on duplicated inputs and still predicts. */
    gp g;
    double x[5] = { 0.2, 0.2, 0.2, 0.7, 0.7 }, y[5] = { 1, 1, 1, 2, 2 }, mu, var;
    ck_assert_int_eq(gp_init(&g, 1, NULL), 0);
    ck_assert_int_eq(gp_set_data(&g, x, y, 5, NULL), 0);
    g.theta[2] = GP_LOG_NOISE_MIN;
    ck_assert_int_eq(gp_condition(&g, NULL), 0);
    ck_assert_int_eq(gp_predict(&g, x, 1, &mu, &var, NULL), 0);
    ck_assert_double_eq_tol(mu, 1.0, 1e-3);
    gp_free(&g);
}
END_TEST

START_TEST(gp_power_warp_logs_heavy_tails_only)
{
    enum { N = 30 };
    double y[N], z[N], scratch[N];
    /* Right-skewed (a few huge values, as Goldstein-Price or Rosenbrock give):
     * lambda 0, z = log(1 + (y - min) / (median - min)). */
    for (int i = 0; i < N; i++) y[i] = z[i] = exp(8.0 * i / (N - 1));
    ck_assert_double_eq(gp_power_warp(z, N, 0, scratch), 0.0);
    double s = y[N / 2] - y[0];
    for (int i = 0; i < N; i++) ck_assert_double_eq_tol(z[i], log1p((y[i] - y[0]) / s), 1e-12);
    /* Left-skewed (a few deep minima, as Hartmann gives): lambda 1, affine. */
    for (int i = 0; i < N; i++) y[i] = z[i] = -exp(8.0 * i / (N - 1));
    ck_assert_double_eq(gp_power_warp(z, N, 0, scratch), 1.0);
    double slope = (z[1] - z[0]) / (y[1] - y[0]);
    ck_assert_double_gt(slope, 0.0);
    for (int i = 2; i < N; i++)
        ck_assert_double_eq_tol(z[i] - z[0], slope * (y[i] - y[0]), 1e-9 * (1 + fabs(z[i])));
    /* Constant values, and too few, are left alone. */
    for (int i = 0; i < N; i++) z[i] = 2.5;
    ck_assert_double_eq(gp_power_warp(z, N, 0, scratch), 1.0);
    for (int i = 0; i < N; i++) ck_assert_double_eq(z[i], 2.5);
    double two[2] = { 1.0, 1e9 };
    ck_assert_double_eq(gp_power_warp(two, 2, 0, scratch), 1.0);
    ck_assert_double_eq(two[1], 1e9);
}
END_TEST

START_TEST(gp_power_warp_fits_its_shift)
{
    enum { N = 30 };
    double y[N], z[N], w[N], scratch[N];
    /* The heavy tail of gp_power_warp_logs_heavy_tails_only: the profile
     * likelihood (lambda 0) is -164.8 with the median's shift and -151.3 with
     * the lower quartile's, so fit_shift takes the quartile, and the values
     * near the minimum spread further: the second-lowest is 6 times further
     * from the lowest, relative to the whole range, than with the median's. */
    for (int i = 0; i < N; i++) y[i] = z[i] = w[i] = exp(8.0 * i / (N - 1));
    ck_assert_double_eq(gp_power_warp(z, N, 1, scratch), 0.0);
    double s = y[N / 4] - y[0];
    for (int i = 0; i < N; i++) ck_assert_double_eq_tol(z[i], log1p((y[i] - y[0]) / s), 1e-12);
    ck_assert_double_eq(gp_power_warp(w, N, 0, scratch), 0.0);
    double near_q = (z[1] - z[0]) / (z[N - 1] - z[0]), near_m = (w[1] - w[0]) / (w[N - 1] - w[0]);
    ck_assert_double_gt(near_q, 3.0 * near_m);
    /* Left-skewed values: lambda 1, affine, whatever the shift. */
    for (int i = 0; i < N; i++) y[i] = z[i] = -exp(8.0 * i / (N - 1));
    ck_assert_double_eq(gp_power_warp(z, N, 1, scratch), 1.0);
    double slope = (z[1] - z[0]) / (y[1] - y[0]);
    for (int i = 2; i < N; i++)
        ck_assert_double_eq_tol(z[i] - z[0], slope * (y[i] - y[0]), 1e-9 * (1 + fabs(z[i])));
    /* Fewer than 16 values: the median's shift. */
    for (int i = 0; i < 15; i++) y[i] = z[i] = w[i] = exp(8.0 * i / 14);
    gp_power_warp(z, 15, 1, scratch);
    gp_power_warp(w, 15, 0, scratch);
    for (int i = 0; i < 15; i++) ck_assert_double_eq(z[i], w[i]);
    /* Ties at the minimum (lower quartile = minimum): the median's shift. */
    for (int i = 0; i < N; i++) y[i] = z[i] = w[i] = i < N / 3 ? 0.0 : exp(8.0 * i / (N - 1));
    gp_power_warp(z, N, 1, scratch);
    gp_power_warp(w, N, 0, scratch);
    for (int i = 0; i < N; i++) ck_assert_double_eq(z[i], w[i]);
}
END_TEST

START_TEST(gp_noise_prior_keeps_signal)
{
    /* Values with no structure a smooth model can see (uniform draws): the
     * maximum likelihood explains all of it as noise (variance at its bound
     * 1, a flat mean, and EI then chases the variance into the corners of
     * the box); the exponential prior on the noise makes the fit pay for
     * that and keep a signal through the points instead. */
    enum { N = 12 };
    double x[N], y[N], noise[2];
    uint64_t st = 7;
    for (int i = 0; i < N; i++) {
        x[i] = strategy_rng_uniform(&st);
        y[i] = strategy_rng_uniform(&st);
    }
    for (int with = 0; with < 2; with++) {
        gp g;
        ck_assert_int_eq(gp_init(&g, 1, NULL), 0);
        g.noise_rate = with ? 20.0 : 0.0;
        ck_assert_int_eq(gp_set_data(&g, x, y, N, NULL), 0);
        ck_assert_int_eq(gp_fit(&g, 50, 2, 1, NULL), 0);
        noise[with] = exp(g.theta[2]);
        gp_free(&g);
    }
    ck_assert_msg(noise[0] > 0.9, "no prior: noise %g", noise[0]);
    ck_assert_msg(noise[1] < 0.1, "prior: noise %g", noise[1]);
}
END_TEST

/* ---- acquisition ---- */

START_TEST(gp_prior_mean_is_pessimistic)
{
    /* With prior_sd 1 the model still interpolates the data but reverts, far
     * from it, to the values' mean plus one standard deviation. */
    gp g;
    double x[N_TRAIN], y[N_TRAIN], mu[N_TRAIN], var[N_TRAIN];
    train_1d(&g, x, y);
    double mean = 0.0, ss = 0.0;
    for (int i = 0; i < N_TRAIN; i++) mean += y[i] / N_TRAIN;
    for (int i = 0; i < N_TRAIN; i++) ss += (y[i] - mean) * (y[i] - mean) / N_TRAIN;
    ck_assert_double_eq_tol(g.y_mean, mean, 1e-12);
    g.prior_sd = 1.0;
    ck_assert_int_eq(gp_set_data(&g, x, y, N_TRAIN, NULL), 0);
    ck_assert_double_eq_tol(g.y_mean, mean + sqrt(ss), 1e-12);
    g.theta[0] = log(0.2);
    g.theta[1] = 0.0;
    g.theta[2] = GP_LOG_NOISE_MIN;
    ck_assert_int_eq(gp_condition(&g, NULL), 0);
    ck_assert_int_eq(gp_predict(&g, x, N_TRAIN, mu, var, NULL), 0);
    for (int i = 0; i < N_TRAIN; i++) ck_assert_double_eq_tol(mu[i], y[i], 1e-3);
    double far = 40.0, m, v;
    ck_assert_int_eq(gp_predict(&g, &far, 1, &m, &v, NULL), 0);
    ck_assert_double_eq_tol(m, mean + sqrt(ss), 1e-9);
    /* Constant values have no scale to be pessimistic in. */
    for (int i = 0; i < N_TRAIN; i++) y[i] = 2.0;
    ck_assert_int_eq(gp_set_data(&g, x, y, N_TRAIN, NULL), 0);
    ck_assert_double_eq_tol(g.y_mean, 2.0, 1e-12);
    gp_free(&g);
}
END_TEST

START_TEST(acq_closed_forms)
{
    /* EI = (best-xi-mu) Phi(z) + sigma phi(z), values from erf in Python. */
    ck_assert_double_eq_tol(acq_ei(0, 1, 0, 0), 0.3989422804014327, 1e-15);
    ck_assert_double_eq_tol(acq_ei(1, 2, 0, 0), 0.39559311480261217, 1e-15);
    ck_assert_double_eq_tol(acq_ei(0, 1, 1, 0.5), 0.6977965574013061, 1e-15);
    ck_assert_double_eq_tol(acq_ei(0.3, 0.2, -0.1, 0.05), 0.0008469176723633568, 1e-15);
    ck_assert_double_eq(acq_ei(0.5, 0, 1, 0), 0.5);
    ck_assert_double_eq(acq_ei(1.5, 0, 1, 0), 0.0);
    ck_assert_double_eq_tol(acq_pi(1, 2, 0, 0), 0.3085375387259869, 1e-15);
    ck_assert_double_eq_tol(acq_pi(0, 1, 1, 0.5), 0.6914624612740131, 1e-15);
    ck_assert_double_eq_tol(acq_pi(0.3, 0.2, -0.1, 0.05), 0.012224472655044727, 1e-15);
    ck_assert_double_eq_tol(exp(acq_log_pi(1, 2, 0, 0)), 0.3085375387259869, 1e-15);
    ck_assert_double_eq(acq_ucb(1, 2, 2), 3.0);
    ck_assert_double_eq(acq_ucb(-1, 0.5, 0), 1.0);
    acq_params p = { ACQ_UCB, 0, 0, 2 };
    ck_assert_double_eq(acq_score(&p, 1, 2), 3.0);
}
END_TEST

START_TEST(acq_log_ei_stable)
{
    /* Where EI is representable, log-EI is its log, across every branch. */
    for (double z = -30; z <= 5; z += 0.125) {
        double ei = acq_ei(-z * 0.7, 0.7, 0, 0);
        ck_assert_msg(fabs(acq_log_ei(-z * 0.7, 0.7, 0, 0) - log(ei)) <= 1e-9 * fabs(log(ei)) + 1e-12,
                      "z=%g: log-EI %.15g, log EI %.15g", z, acq_log_ei(-z * 0.7, 0.7, 0, 0), log(ei));
    }
    /* Where EI underflows, log-EI stays finite, increasing, and matches the
     * tail asymptote log phi(z) - 2 log|z| + log sigma. */
    double prev = -INFINITY;
    for (double z = -1e4; z <= -40; z *= 0.9) {
        ck_assert_double_eq(acq_ei(-z, 1, 0, 0), 0.0);
        double l = acq_log_ei(-z, 1, 0, 0);
        ck_assert(isfinite(l));
        ck_assert_double_gt(l, prev);
        prev = l;
    }
    double z = -1e4, asym = -0.5 * z * z - 0.5 * log(2 * M_PI) - 2 * log(-z) + log(3.0);
    ck_assert_double_eq_tol(acq_log_ei(-z * 3, 3, 0, 0), asym, 1e-9 * fabs(asym));
    /* Continuity across the branch points. */
    ck_assert_double_eq_tol(acq_log_ei(1 - 1e-12, 1, 0, 0), acq_log_ei(1 + 1e-12, 1, 0, 0), 1e-9);
    ck_assert_double_eq_tol(acq_log_ei(14 - 1e-12, 1, 0, 0), acq_log_ei(14 + 1e-12, 1, 0, 0), 1e-9);
    ck_assert(isfinite(acq_log_pi(1e3, 1, 0, 0)));
    ck_assert_double_eq(acq_log_ei(1, 0, 0, 0), -INFINITY);
}
END_TEST

/* ---- strategy ---- */

START_TEST(bo_beats_random_on_bowl)
{
    enum { BUDGET = 24 };
    space sp;
    strategy_obs a[BUDGET], b[BUDGET], r[BUDGET];
    unit_square(&sp);
    double best_gp = run_study(&gp_strategy, &sp, NULL, 42, BUDGET, bowl, a);
    double best_rand = run_study(&random_strategy, &sp, NULL, 42, BUDGET, bowl, r);
    ck_assert_msg(best_gp < 1e-3, "gp best %g", best_gp);
    ck_assert_msg(best_gp < best_rand, "gp %g, random %g", best_gp, best_rand);
    /* The design phase is the seeded Sobol sequence, point k for trial k. */
    double u[2];
    space_point p;
    for (int k = 0; k < 5; k++) {
        ck_assert_int_eq(sobol_unit(42, k, 2, u, NULL), 0);
        space_unit_to_point(&sp, u, &p);
        ck_assert(space_point_equal(&sp, &p, &a[k].point));
    }
    /* Same seed, same calls: the same study. */
    run_study(&gp_strategy, &sp, NULL, 42, BUDGET, bowl, b);
    for (int t = 0; t < BUDGET; t++) ck_assert(space_point_equal(&sp, &a[t].point, &b[t].point));
    space_free(&sp);
}
END_TEST

static double goldstein_price(const space_point *p)
{
    return testfn_find("goldstein_price")->f(p->x);
}

/* Goldstein-Price spans 3 to 1e6 over its box: unwarped, the few huge values
 * squash the rest to one standardized level and the model cannot rank them. */
START_TEST(bo_power_transform_tames_heavy_tail)
{
    enum { BUDGET = 24 };
    space sp;
    strategy_obs obs[BUDGET];
    memset(&sp, 0, sizeof sp);
    fx_float(&sp, "x1", -2, 2, 0);
    fx_float(&sp, "x2", -2, 2, 0);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        double warped = run_study(&gp_strategy, &sp, NULL, seed, BUDGET, goldstein_price, obs);
        double plain = run_study(&gp_strategy, &sp, "{\"transform\": \"none\"}", seed, BUDGET,
                                 goldstein_price, obs);
        ck_assert_msg(warped < plain, "seed %d: power %g, none %g", (int)seed, warped, plain);
    }
    space_free(&sp);
}
END_TEST

START_TEST(bo_ucb_and_pi_converge)
{
    enum { BUDGET = 24 };
    space sp;
    strategy_obs obs[BUDGET];
    unit_square(&sp);
    double ucb = run_study(&gp_strategy, &sp, "{\"acquisition\": \"ucb\", \"ucb_beta\": 1.0}",
                           3, BUDGET, bowl, obs);
    double pi = run_study(&gp_strategy, &sp, "{\"acquisition\": \"pi\", \"xi\": 0.01}",
                          3, BUDGET, bowl, obs);
    double warped = run_study(&gp_strategy, &sp, "{\"input_warp\": true}", 3, BUDGET, bowl, obs);
    ck_assert_msg(ucb < 1e-2 && pi < 1e-2 && warped < 1e-2, "ucb %g, pi %g, input_warp %g", ucb,
                  pi, warped);
    space_free(&sp);
}
END_TEST

START_TEST(bo_avoids_failed_region)
{
    enum { BUDGET = 30, N_INIT = 6 };
    space sp;
    strategy_obs obs[BUDGET];
    unit_square(&sp);
    double best = run_study(&gp_strategy, &sp, "{\"n_initial\": 6}", 5, BUDGET,
                            bowl_failing_right, obs);
    int failed = 0;
    for (int t = N_INIT; t < BUDGET; t++) failed += obs[t].state == TRIAL_FAILED;
    /* Random search would put about 40% of them (~10) there. */
    ck_assert_msg(failed <= 5, "%d model suggestions fell in the failing region", failed);
    ck_assert_double_lt(best, 1e-2);
    space_free(&sp);
}
END_TEST

/* min_d2: least squared distance between two suggestions of the batch. */
static void check_parallel_batch(const char *options, double min_d2)
{
    enum { DONE = 12, RUNNING = 3, BATCH = 5 };
    space sp;
    strategy_obs obs[DONE + RUNNING];
    strategy_suggestion out[BATCH];
    unit_square(&sp);
    run_study(&random_strategy, &sp, NULL, 11, DONE + RUNNING, bowl, obs);
    for (int i = DONE; i < DONE + RUNNING; i++) {
        obs[i].state = TRIAL_RUNNING;
        obs[i].has_value = 0;
    }
    strategy *st = fx_strategy(&gp_strategy, &sp, options, 8);
    strategy_history h = { obs, DONE + RUNNING, 0, NULL };
    kerror err;
    ck_assert_int_eq(gp_strategy.suggest(st, &h, out, BATCH, &err), BATCH);
    for (int i = 0; i < BATCH; i++) {
        for (int j = 0; j < DONE + RUNNING; j++)
            ck_assert(!space_point_equal(&sp, &out[i].point, &obs[j].point));
        for (int j = 0; j < i; j++) {
            double dx = out[i].point.x[0] - out[j].point.x[0];
            double dy = out[i].point.x[1] - out[j].point.x[1];
            ck_assert_msg(dx * dx + dy * dy > min_d2, "%s: suggestions %d (%g,%g) and %d (%g,%g) coincide",
                          options, i, out[i].point.x[0], out[i].point.x[1], j, out[j].point.x[0], out[j].point.x[1]);
        }
    }
    gp_strategy.destroy(st);
    space_free(&sp);
}

START_TEST(bo_batch_with_pending_is_distinct)
{
    /* The pessimistic liar spreads the batch at least 0.1 apart (an
     * optimistic lie at the best value gets within 0.07 here); the believer
     * may cluster near the predicted optimum (it trusts the mean) but never
     * repeats a point. */
    check_parallel_batch("{\"parallel\": \"constant_liar\", \"n_initial\": 5}", 1e-2);
    check_parallel_batch("{\"parallel\": \"kriging_believer\", \"n_initial\": 5}", 0.0);
}
END_TEST

/* Distance from (x, y) to the bowl's optimum (0.3, 0.7). */
static double off_optimum(const space_point *p)
{
    return sqrt(bowl(p));
}

/* A study whose 12 trials have found the bowl's optimum, with one trial
 * RUNNING right beside the incumbent. The next suggestion's distance
 * to the optimum, with options. */
static double next_beside_pending(const char *options)
{
    enum { DONE = 12 };
    space sp;
    strategy_obs obs[DONE + 1];
    strategy_suggestion out;
    unit_square(&sp);
    char opt[200];
    snprintf(opt, sizeof opt, "{\"n_initial\": 5%s%s}", options ? ", " : "", options ? options : "");
    run_study(&gp_strategy, &sp, opt, 4, DONE, bowl, obs);
    int ib = 0;
    for (int i = 1; i < DONE; i++)
        if (obs[i].value < obs[ib].value) ib = i;
    ck_assert_double_lt(off_optimum(&obs[ib].point), 0.01);
    space_point p = obs[ib].point;
    p.x[0] += 0.03;
    fx_record(&obs[DONE], DONE, &p, 0.0);
    obs[DONE].state = TRIAL_RUNNING;
    obs[DONE].has_value = 0;
    strategy *st = fx_strategy(&gp_strategy, &sp, opt, 4);
    strategy_history h = { obs, DONE + 1, 0, NULL };
    kerror err;
    ck_assert_int_eq(gp_strategy.suggest(st, &h, &out, 1, &err), 1);
    gp_strategy.destroy(st);
    space_free(&sp);
    return off_optimum(&out.point);
}

START_TEST(bo_pending_beside_incumbent_keeps_it)
{
    /* The default (kriging believer) fills the pending trial in with the
     * model's mean, which is low there: the incumbent's neighbourhood stays
     * attractive. The pessimistic constant liar (the default before) makes
     * it look like the worst point of the study and sends the next trial
     * away from the optimum. */
    double kb = next_beside_pending(NULL), cl = next_beside_pending("\"parallel\": \"constant_liar\"");
    ck_assert_msg(kb < 0.01, "believer: next suggestion %g from the optimum", kb);
    ck_assert_msg(cl > 0.1, "constant liar: next suggestion %g from the optimum", cl);
}
END_TEST

START_TEST(bo_long_study_fits_a_subset)
{
    /* 60,000 trials: the full model's kernel buffers alone would need
     * 3 x 60000^2 doubles (86 GB), so without the subset this suggestion
     * fails for memory; with it the model has 200 rows, half of them around
     * the incumbent, and the suggestion stays at the optimum. */
    enum { N = 60000 };
    space sp;
    unit_square(&sp);
    strategy_obs *obs = malloc(N * sizeof *obs);
    ck_assert_ptr_nonnull(obs);
    uint64_t rng = 21;
    for (int i = 0; i < N; i++) {
        double u[2] = { strategy_rng_uniform(&rng), strategy_rng_uniform(&rng) };
        space_point p;
        space_unit_to_point(&sp, u, &p);
        fx_record(&obs[i], i, &p, bowl(&p));
    }
    strategy *st = fx_strategy(&gp_strategy, &sp, NULL, 6);
    strategy_history h = { obs, N, 0, NULL };
    strategy_suggestion out;
    kerror err;
    ck_assert_msg(gp_strategy.suggest(st, &h, &out, 1, &err) == 1, "suggest: %s", err.msg);
    ck_assert_double_lt(off_optimum(&out.point), 0.01);
    for (int i = 0; i < N; i++) ck_assert(!space_point_equal(&sp, &out.point, &obs[i].point));
    gp_strategy.destroy(st);
    free(obs);
    space_free(&sp);
}
END_TEST

/* Regret of 50 trials of Branin under the gp strategy with options and seed. */
static double branin_regret(const char *options, uint64_t seed)
{
    const testfn *fn = testfn_find("branin");
    space sp;
    memset(&sp, 0, sizeof sp);
    fx_float(&sp, "x1", fn->low[0], fn->high[0], 0);
    fx_float(&sp, "x2", fn->low[1], fn->high[1], 0);
    strategy_obs obs[50];
    strategy *st = fx_strategy(&gp_strategy, &sp, options, seed);
    double best = INFINITY;
    for (int t = 0; t < 50; t++) {
        strategy_history h = { obs, t, 0, NULL };
        strategy_suggestion sg;
        kerror err;
        ck_assert_int_eq(gp_strategy.suggest(st, &h, &sg, 1, &err), 1);
        double v = fn->f(sg.point.x);
        fx_record(&obs[t], t, &sg.point, v);
        if (v < best) best = v;
    }
    gp_strategy.destroy(st);
    space_free(&sp);
    return best - fn->minimum;
}

START_TEST(bo_trust_region_leaves_the_wall)
{
    /* Seed 4 of Branin: the global model settles on the wall x1 = 10 at
     * (10, 3.0), f = 1.94, and re-measures it (its length scales make the
     * inside look worse), while the optimum (9.42, 2.47) is 0.04 of the box
     * away. The local model takes over when a suggestion re-measures a point
     * on the wall, and finds it. (With the pessimistic prior mean this seed
     * does not fall into the trap, so the test uses the neutral one; the
     * wall redraw, bo_irrelevant_input_leaves_the_wall, gets it out alone,
     * so it is off, and so is the warp's fitted shift, with which this seed
     * misses the wall.) */
    double tr = branin_regret("{\"prior_mean\": 0, \"wall_redraw\": false, "
                              "\"warp_shift\": false}", 4),
           off = branin_regret("{\"prior_mean\": 0, \"trust_region\": false, "
                               "\"wall_redraw\": false, \"warp_shift\": false}", 4);
    ck_assert_msg(tr < 0.01, "trust region: regret %g", tr);
    ck_assert_msg(off > 1.0, "without it: regret %g (the trap this test needs)", off);
    /* Seed 12 with the default, pessimistic prior mean: a local model with
     * that mean too saw the unexplored inside as worse and stayed on the
     * wall (regret 1.55); with its neutral mean it gets out. */
    double dflt = branin_regret(NULL, 12);
    ck_assert_msg(dflt < 0.01, "default options, seed 12: regret %g", dflt);
    /* Seed 21: the local model re-measured the wall line x1 = 10 (regret
     * 1.5) until its candidates were kept 0.01 inside the walls. */
    double inside = branin_regret(NULL, 21);
    ck_assert_msg(inside < 0.01, "default options, seed 21: regret %g", inside);
}
END_TEST

/* x1 of the suggestion after 12 trials of y = (x0 - 0.3)^2 all made at the
 * wall x1 = 0 (the model sees no effect of x1: its length scale is the
 * prior's, about 6 in 2 inputs), with options. */
static double x1_after_wall_trials(const char *options)
{
    space sp;
    unit_square(&sp);
    strategy_obs obs[12];
    for (int i = 0; i < 12; i++) {
        double u[2] = { i / 11.0, 0.0 };
        space_point p;
        space_unit_to_point(&sp, u, &p);
        fx_record(&obs[i], i, &p, (u[0] - 0.3) * (u[0] - 0.3));
    }
    strategy *st = fx_strategy(&gp_strategy, &sp, options, 3);
    strategy_history h = { obs, 12, 0, NULL };
    strategy_suggestion out;
    kerror err;
    ck_assert_msg(gp_strategy.suggest(st, &h, &out, 1, &err) == 1, "suggest: %s", err.msg);
    double u[2];
    space_point_to_unit(&sp, &out.point, u);
    ck_assert_double_lt(fabs(u[0] - 0.3), 0.1);
    gp_strategy.destroy(st);
    space_free(&sp);
    return u[1];
}

START_TEST(bo_irrelevant_input_leaves_the_wall)
{
    /* The acquisition is nearly flat along x1, and the optimizer's clamping
     * leaves x1 on a wall (here the far one, where the variance is largest),
     * so the model never sees x1 vary near the incumbent and never learns
     * whether it matters (Rosenbrock-4's seed 22 spent 36 trials on the wall
     * x4 = -5 so). With the redraw x1 is drawn anew inside the range, and x0
     * still goes to the optimum. */
    double off = x1_after_wall_trials("{\"wall_redraw\": false}");
    double on = x1_after_wall_trials(NULL);
    ck_assert_msg(off == 0.0 || off == 1.0, "without the redraw x1 = %g (the trap this test needs)",
                  off);
    ck_assert_msg(on > 0.0 && on < 1.0, "with it x1 = %g", on);
}
END_TEST

/* Max-norm distance (unit cube) from the incumbent of 10 random trials of
 * the bowl to the GP's next suggestion, for a study of max_trials (0:
 * unknown), with options. */
static double next_from_incumbent(const char *options, int max_trials)
{
    enum { DONE = 10 };
    space sp;
    strategy_obs obs[DONE];
    strategy_suggestion out;
    unit_square(&sp);
    run_study(&random_strategy, &sp, NULL, 11, DONE, bowl, obs);
    int ib = 0;
    for (int i = 1; i < DONE; i++)
        if (obs[i].value < obs[ib].value) ib = i;
    strategy *st = fx_strategy(&gp_strategy, &sp, options, 5);
    strategy_history h = { obs, DONE, max_trials, NULL };
    kerror err;
    ck_assert_msg(gp_strategy.suggest(st, &h, &out, 1, &err) == 1, "suggest: %s", err.msg);
    double u[2], v[2];
    space_point_to_unit(&sp, &out.point, u);
    space_point_to_unit(&sp, &obs[ib].point, v);
    gp_strategy.destroy(st);
    space_free(&sp);
    return fmax(fabs(u[0] - v[0]), fabs(u[1] - v[1]));
}

START_TEST(bo_exploits_at_the_end_of_the_budget)
{
    /* The model sees the bowl's optimum away from the best random trial and
     * goes there; in the last fifth of the study's budget (trial 10 of 12)
     * it refines the incumbent instead, in the box of half-width 0.05
     * around it. A study of unknown length, one with most of its budget
     * left, and "exploit_last": 0 are not in that phase. */
    double unknown = next_from_incumbent(NULL, 0), early = next_from_incumbent(NULL, 100),
           off = next_from_incumbent("{\"exploit_last\": 0}", 12),
           late = next_from_incumbent(NULL, 12);
    ck_assert_msg(unknown > 0.05, "unknown length: %g from the incumbent (the trap this test needs)",
                  unknown);
    ck_assert_msg(early > 0.05, "trial 10 of 100: %g from the incumbent", early);
    ck_assert_msg(off > 0.05, "exploit_last 0: %g from the incumbent", off);
    ck_assert_msg(late <= 0.05 + 1e-9, "trial 10 of 12: %g from the incumbent", late);
}
END_TEST

/* A categorical optimizer choice; "lr" only exists for choice 0; an int. */
static double mixed_objective(const space_point *p)
{
    double base = p->x[0] == 0 ? pow(log10(p->x[1]) + 2.0, 2) : 1.0;
    return base + 0.1 * fabs(p->x[2] - 3);
}

START_TEST(bo_mixed_conditional_space)
{
    enum { BUDGET = 20 };
    static const double two[2] = { 0, 1 };
    space sp;
    memset(&sp, 0, sizeof sp);
    fx_cat_num(&sp, "opt", 2, two);
    fx_when(&sp, fx_float(&sp, "lr", 1e-4, 1, 1), "opt", 1, 0);
    fx_int(&sp, "layers", 1, 6, 1, 0);
    fx_fixed(&sp, "seed", NULL, 3);
    int opt = 0, lr = 1;
    strategy_obs obs[BUDGET];
    double best = run_study(&gp_strategy, &sp, NULL, 17, BUDGET, mixed_objective, obs);
    ck_assert_msg(best < 0.05, "best %g", best);
    for (int t = 0; t < BUDGET; t++) {
        const space_point *p = &obs[t].point;
        ck_assert_int_eq(p->active[lr], p->x[opt] == 0);
        ck_assert(p->x[2] >= 1 && p->x[2] <= 6 && p->x[2] == floor(p->x[2]));
        for (int j = 0; j < t; j++) ck_assert(!space_point_equal(&sp, p, &obs[j].point));
    }
    space_free(&sp);
}
END_TEST

START_TEST(bo_zero_dims_gives_the_single_point)
{
    space sp;
    memset(&sp, 0, sizeof sp);
    fx_fixed(&sp, "c", NULL, 1.5);
    strategy *st = fx_strategy(&gp_strategy, &sp, NULL, 1);
    strategy_suggestion out[3];
    strategy_history h = { NULL, 0, 0, NULL };
    ck_assert_int_eq(gp_strategy.suggest(st, &h, out, 3, NULL), 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(out[i].resume_from, -1);
        ck_assert(space_point_equal(&sp, &out[i].point, &out[0].point));
    }
    ck_assert_int_eq(gp_strategy.done(st, &h), 0);
    gp_strategy.destroy(st);
    space_free(&sp);
}
END_TEST

/* The initial design's point k is sobol_unit's point k, as it always was,
 * for every k of a long design asked one to four at a time, a batch asked
 * again (the scheduler dropped it) and a strategy made afresh mid-design (a
 * restart); and it costs one Sobol draw a point: each point walked the
 * sequence from its start, so a design of n_initial points cost
 * n_initial^2 / 2 draws (2,000 points: 2 million). */
START_TEST(bo_design_costs_a_draw_a_point)
{
    enum { N = 2000 };
    space sp;
    memset(&sp, 0, sizeof sp);
    fx_float(&sp, "x", 0, 1, 0);
    fx_float(&sp, "y", -5, 5, 0);
    fx_float(&sp, "z", 1e-4, 1, 1);
    static strategy_obs obs[2 * N + 8];
    const char *opt = "{\"n_initial\": 5000}";
    strategy *st = fx_strategy(&gp_strategy, &sp, opt, 11);
    strategy_suggestion out[4];
    kerror err;
    int k = 0, asks = 0;
    for (int restart = 0; restart < 2; restart++) {
        while (k < N * (restart + 1)) {
            int n = 1 + asks++ % 4;
            strategy_history h = { obs, k, 0, NULL };
            ck_assert_int_eq(gp_strategy.suggest(st, &h, out, n, &err), n);
            if (asks % 7 == 0)   /* dropped: the same batch again */
                ck_assert_int_eq(gp_strategy.suggest(st, &h, out, n, &err), n);
            for (int i = 0; i < n; i++) {
                space_point want = fx_sobol_point(&sp, 11, k + i);
                ck_assert_msg(space_point_equal(&sp, &out[i].point, &want), "point %d", k + i);
                fx_record(&obs[k + i], k + i, &out[i].point, (double)(k + i));
            }
            k += n;
        }
        /* each point drawn once, a dropped batch's again, and after a
         * restart the walk to the first one (k - N draws) */
        ck_assert_int_le(bo_design_draws(st), k + N * 4 / 7 + 4);
        gp_strategy.destroy(st);
        st = fx_strategy(&gp_strategy, &sp, opt, 11);
        strategy_history h = { obs, k, 0, NULL };
        ck_assert_int_eq(gp_strategy.suggest(st, &h, out, 1, &err), 1);
        ck_assert_int_le(bo_design_draws(st), k + 1);
    }
    gp_strategy.destroy(st);
    space_free(&sp);
}
END_TEST

static void expect_rejected(const space *sp, const char *options, const char *path)
{
    strategy *st = NULL;
    kerror err;
    json_t *o = json_loads(options, 0, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(gp_strategy.create(&st, sp, o, 1, &err), KE_INVALID);
    ck_assert_str_eq(err.path, path);
    ck_assert_ptr_null(st);
    json_decref(o);
}

START_TEST(bo_options_rejected_with_paths)
{
    space sp;
    unit_square(&sp);
    expect_rejected(&sp, "{\"bogus\": 1}", "strategy.options.bogus");
    expect_rejected(&sp, "{\"n_initial\": 0}", "strategy.options.n_initial");
    expect_rejected(&sp, "{\"n_initial\": 2.5}", "strategy.options.n_initial");
    expect_rejected(&sp, "{\"acquisition\": \"qei\"}", "strategy.options.acquisition");
    expect_rejected(&sp, "{\"acquisition\": 1}", "strategy.options.acquisition");
    expect_rejected(&sp, "{\"ucb_beta\": -1}", "strategy.options.ucb_beta");
    expect_rejected(&sp, "{\"xi\": \"big\"}", "strategy.options.xi");
    expect_rejected(&sp, "{\"candidates\": 5}", "strategy.options.candidates");
    expect_rejected(&sp, "{\"parallel\": \"random\"}", "strategy.options.parallel");
    expect_rejected(&sp, "{\"transform\": \"log\"}", "strategy.options.transform");
    expect_rejected(&sp, "{\"subset\": 5}", "strategy.options.subset");
    expect_rejected(&sp, "{\"subset\": -1}", "strategy.options.subset");
    expect_rejected(&sp, "{\"trust_region\": 1}", "strategy.options.trust_region");
    expect_rejected(&sp, "{\"prior_mean\": -1}", "strategy.options.prior_mean");
    expect_rejected(&sp, "{\"input_warp\": 1}", "strategy.options.input_warp");
    expect_rejected(&sp, "{\"noise_prior\": 1}", "strategy.options.noise_prior");
    expect_rejected(&sp, "{\"wall_redraw\": 1}", "strategy.options.wall_redraw");
    expect_rejected(&sp, "{\"warp_shift\": 1}", "strategy.options.warp_shift");
    expect_rejected(&sp, "{\"exploit_last\": 1.5}", "strategy.options.exploit_last");
    expect_rejected(&sp, "{\"exploit_last\": -0.1}", "strategy.options.exploit_last");
    strategy *st = fx_strategy(&gp_strategy, &sp,
                        "{\"n_initial\": 3, \"acquisition\": \"ucb\", \"ucb_beta\": 1, "
                        "\"xi\": 0.1, \"candidates\": 100, \"parallel\": \"kriging_believer\", "
                        "\"transform\": \"none\", \"subset\": 0}", 1);
    gp_strategy.destroy(st);
    st = fx_strategy(&gp_strategy, &sp, "{\"parallel\": \"constant_liar_min\", \"subset\": 20, \"trust_region\": false, "
                   "\"prior_mean\": 0}", 1);
    gp_strategy.destroy(st);
    space_free(&sp);
}
END_TEST

static Suite *gp_suite(void)
{
    Suite *s = suite_create("gp");
    TCase *model = tcase_create("model");
    tcase_add_test(model, gp_interpolates_and_reverts_to_prior);
    tcase_add_test(model, gp_lml_gradient_matches_finite_differences);
    tcase_add_test(model, gp_warped_lml_gradient_matches_finite_differences);
    tcase_add_test(model, gp_input_warp_learns_a_steep_start);
    tcase_add_test(model, gp_cholesky_escalates_jitter_on_duplicates);
    tcase_add_test(model, gp_power_warp_logs_heavy_tails_only);
    tcase_add_test(model, gp_power_warp_fits_its_shift);
    tcase_add_test(model, gp_prior_mean_is_pessimistic);
    tcase_add_test(model, gp_noise_prior_keeps_signal);
    suite_add_tcase(s, model);
    TCase *acq = tcase_create("acquisition");
    tcase_add_test(acq, acq_closed_forms);
    tcase_add_test(acq, acq_log_ei_stable);
    suite_add_tcase(s, acq);
    TCase *bo = tcase_create("strategy");
    tcase_set_timeout(bo, 60);
    tcase_add_test(bo, bo_beats_random_on_bowl);
    tcase_add_test(bo, bo_power_transform_tames_heavy_tail);
    tcase_add_test(bo, bo_ucb_and_pi_converge);
    tcase_add_test(bo, bo_avoids_failed_region);
    tcase_add_test(bo, bo_batch_with_pending_is_distinct);
    tcase_add_test(bo, bo_pending_beside_incumbent_keeps_it);
    tcase_add_test(bo, bo_long_study_fits_a_subset);
    tcase_add_test(bo, bo_trust_region_leaves_the_wall);
    tcase_add_test(bo, bo_irrelevant_input_leaves_the_wall);
    tcase_add_test(bo, bo_exploits_at_the_end_of_the_budget);
    tcase_add_test(bo, bo_mixed_conditional_space);
    tcase_add_test(bo, bo_zero_dims_gives_the_single_point);
    tcase_add_test(bo, bo_design_costs_a_draw_a_point);
    tcase_add_test(bo, bo_options_rejected_with_paths);
    suite_add_tcase(s, bo);
    return s;
}

int main(void)
{
    return check_run(gp_suite());
}
