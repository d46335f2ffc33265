/* gp: a Gaussian-process regression model for Bayesian optimization: Matern-5/2
 * kernel with one length scale per input (ARD), signal variance, learned noise
 * variance and zero mean on standardized targets; hyperparameters fitted by
 * maximizing the log marginal likelihood plus a log-normal length-scale prior.
 * Invariant: after a successful gp_condition/gp_fit, L and alpha describe the
 * current data and theta (L L^T = K + jitter*I, alpha = (L L^T)^-1 y). */
#ifndef KESTREL_GP_H
#define KESTREL_GP_H

#include <stdint.h>

#include "../common/kerror.h"

/* Hyperparameter vector theta, length d+2 (all logs, so the fit is unconstrained
 * up to clamping): theta[0..d-1] = log length scales (unit-cube units),
 * theta[d] = log signal variance, theta[d+1] = log noise variance, both in
 * units of the standardized targets. */
#define GP_LOG_LS_MIN (-6.907755278982137)     /* log 1e-3 */
#define GP_LOG_LS_MAX (4.605170185988092)      /* log 1e2 */
#define GP_LOG_SIG_MIN (-4.605170185988092)    /* log 1e-2 */
#define GP_LOG_SIG_MAX (4.605170185988092)     /* log 1e2 */
#define GP_LOG_NOISE_MIN (-13.815510557964274) /* log 1e-6 */
#define GP_LOG_NOISE_MAX 0.0                   /* log 1 */
/* With warp_inputs, theta has 2d more entries: theta[d+2+k] = log a_k and
 * theta[2d+2+k] = log b_k of the Kumaraswamy CDF 1 - (1 - x^a)^b applied to
 * input k before the kernel (Snoek et al. 2014), both in
 * [-GP_LOG_WARP_MAX, GP_LOG_WARP_MAX] (0 and 0: the identity). */
#define GP_LOG_WARP_MAX 1.5

typedef struct {
    int d;              /* input dimension */
    int n, cap;         /* observations held; rows allocated */
    double *X;          /* (cap, d) row-major inputs, nominally in [0,1]^d */
    double *y;          /* (cap) targets, standardized: (value - y_mean) / y_std */
    double y_mean, y_std;  /* y_mean: the prior mean, see prior_sd */
    double prior_sd;    /* the prior mean lies this many standard deviations
                         * above the targets' mean (0 after gp_init) */
    int warp_inputs;    /* 1: fit a Kumaraswamy warp per input (0 after gp_init) */
    double noise_rate;  /* rate of the exponential prior on the noise variance
                         * (standardized units); 0: none (0 after gp_init) */
    double *theta;      /* (gp_nparams), see above */
    int fitted;         /* theta is a fitted optimum: the next gp_fit warm-starts */
    double jitter;      /* added to K's diagonal by the last factorization */
    /* One arena (owned, see gp_reserve) sliced into the buffers below. */
    double *arena;
    double *K;          /* (cap*cap) kernel workspace, layout in gp.c */
    double *L;          /* (n, n) row-major, lower triangle = Cholesky factor */
    double *Kinv;       /* (n, n) inverse, for the LML gradient */
    double *Xw;         /* (n, d) X as the kernel sees it (warped) under the
                         * theta of the last factorization */
    double *dwa, *dwb;  /* (n, d) d Xw / d log a, d log b there */
    double *alpha;      /* (n) */
    double *cross;      /* (n, m_cap) cross-kernels for gp_predict, owned */
    long cross_cap;     /* doubles allocated in cross */
} gp;

/* Prepares an empty model of input dimension d >= 1 with default theta
 * (length scales 0.5, signal 1, noise 1e-3). On success the caller owns g and releases it with gp_free. */
int gp_init(gp *g, int d, kerror *err);
void gp_free(gp *g);
/* Length of theta: d + 2, plus 2d with warp_inputs. */
int gp_nparams(const gp *g);

/* Largest target magnitude gp_set_data promises to standardize (it squares
 * them); larger ones may be refused. */
#define GP_TARGET_MAX 1e150

/* Replaces the data with n rows of X (n, d) and targets y (n), copied; the
 * targets are standardized with their own standard deviation sd, around
 * y_mean = their mean + prior_sd * sd: the zero-mean GP then reverts to
 * y_mean away from the data. A pessimistic prior mean (prior_sd > 0, De Ath,
 * Fieldsend & Everson 2020, "What do you mean? The role of the mean function
 * in Bayesian optimisation") makes unexplored walls and corners look worse
 * than the average, not average with a large variance.
 * Keeps theta (the warm start). Call gp_fit or gp_condition before predicting.
 * Fails (KE_INVALID, g left empty) when a target is not finite or the
 * targets are too large to standardize (|y| above GP_TARGET_MAX may be). */
int gp_set_data(gp *g, const double *X, const double *y, int n, kerror *err);

/* Scales y (n) in place by a power of two, exactly (ranks, ratios and the
 * standardized values are kept), so that none exceeds 2^256 in magnitude,
 * well below GP_TARGET_MAX; leaves values already below it alone. */
void gp_scale_targets(double *y, int n);

/* Adds one row with target y in original units, standardized with the current
 * y_mean/y_std (used for pending points, so the lies do not move the scale).
 * Call gp_condition before predicting. */
int gp_append(gp *g, const double *x, double y, kerror *err);

/* Maximizes LML + log prior over theta with BFGS (GSL vector_bfgs2, analytic
 * gradient), at most max_iter iterations per start, from the previous optimum
 * (or the default) plus n_random seeded random starts; keeps the best and
 * conditions on it. Needs n >= 1. */
int gp_fit(gp *g, int max_iter, int n_random, uint64_t seed, kerror *err);

/* Factorizes K(theta) + noise I for the current data and solves for alpha. */
int gp_condition(gp *g, kerror *err);

/* Posterior of the latent function at m points Xs (m, d): mean mu (m) and
 * variance var (m), in original target units. Grows g's cross buffer. */
int gp_predict(gp *g, const double *Xs, int m, double *mu, double *var, kerror *err);

/* Log marginal likelihood of the standardized data under theta (gp_nparams),
 * and its gradient (gp_nparams) with respect to theta when grad is non-NULL (Rasmussen &
 * Williams 2006, eqs. 2.30 and 5.9). Overwrites the factorization. */
int gp_log_marginal(gp *g, const double *theta, double *lml, double *grad, kerror *err);

/* Log density (up to a constant) of the length-scale prior at theta (d+2) and
 * its gradient (added into grad when non-NULL): log l_i ~ N(sqrt2 + log(d)/2, 3),
 * the dimension-scaled prior of Hvarfner, Hellsten & Nardi 2024 ("Vanilla
 * Bayesian optimization performs great in high dimensions", ICML). */
double gp_log_prior(int d, const double *theta, double *grad);

/* Box-Cox power transform (Box & Cox 1964) of the targets y (n), in place,
 * for objectives with heavy tails (a few huge values would otherwise squash
 * every other value to the same standardized level). With lo = min y and
 * a shift s, each value becomes
 *   t = log(1 + (y - lo) / s),  z = (exp(lambda t) - 1) / lambda  (t at 0),
 * lambda in [0, 1] maximizing the profile likelihood
 *   -n/2 log var(z) + (lambda - 1) sum t - n log s
 * over the grid 0, 0.05, .., 1. s = median y - lo (max y - lo when that is
 * 0); with fit_shift and n >= 16, s is the median's or the lower quartile's
 * (y[n/4] - lo in sorted order), whichever the same likelihood prefers: a smaller shift
 * puts the logarithm's bend nearer the minimum, so the values near it keep
 * more of the standardized range. lambda = 1 is affine (no change for the GP,
 * which standardizes; every s ties and the median's is kept); lambda = 0 is
 * logarithmic above lo + s and nearly linear below. Monotone, so the order
 * and the argmin are kept. Any finite values give finite results, 1e308
 * beside -1e308 (the values are scaled by a power of two first when their
 * differences would overflow) or a shift of 1e-300 under a spread of 1e300.
 * scratch holds n doubles. Returns lambda (1 and y untouched when all values
 * are equal or n < 3). */
double gp_power_warp(double *y, int n, int fit_shift, double *scratch);

/* Cholesky of the symmetric positive semi-definite A (n, n) row-major, of which
 * only the diagonal and upper triangle are read, into L (n, n): on success L's
 * lower triangle holds the factor of A + jitter*I (upper triangle unspecified).
 * Tries jitter 0, then 1e-10 .. 1e-2 times the mean diagonal, because
 * duplicated inputs with tiny noise make K numerically singular. Fails with
 * KE_INTERNAL when even the largest jitter does not help (NaN in A).
 * Turns GSL's abort-on-error handler off process-wide (every factorization
 * of the model passes here), so GSL failures come back as return codes. */
int gp_cholesky(const double *A, double *L, int n, double *jitter, kerror *err);

#endif
