/* gp: Gaussian-process regression (Matern-5/2 ARD kernel, learned noise,
 * optional Kumaraswamy input warping) for the "gp" strategy; see gp.h. All
 * per-data buffers live in one arena sized by the row capacity, so refits and
 * pending-point updates allocate nothing until the data outgrow it.
 * Invariant: Xw, L and alpha match (X, y, theta) after gp_condition. */
#include "gp.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cblas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_rng.h>

#define SQRT5 2.23606797749979
#define LOG_2PI 1.8378770664093453
#define DEFAULT_LOG_LS (-0.6931471805599453)   /* log 0.5 */
#define DEFAULT_LOG_NOISE (-6.907755278982137) /* log 1e-3 */
#define PRIOR_SD 1.7320508075688772            /* sqrt 3 */
#define BOUND_PENALTY 10.0  /* slope of the quadratic wall outside the bounds */
#define WARP_GRID 20        /* lambda steps of 1/WARP_GRID in gp_power_warp */
/* Fewest values from which gp_power_warp fits its shift: the lower quartile
 * is then the 5th-lowest value or above. With fewer the likelihood of a
 * second parameter is noise (BOHB's inner GP, 8 points of a parabola, took
 * the quartile and sent its last bracket 0.2 from the optimum). */
#define WARP_SHIFT_MIN_N 16
#define KUMA_PRIOR_SD 0.75  /* log a, log b ~ N(0, KUMA_PRIOR_SD^2): near identity */

int gp_init(gp *g, int d, kerror *err)
{
    memset(g, 0, sizeof *g);
    if (d < 1) return kerror_set(err, KE_INVALID, NULL, "gp: dimension %d < 1", d);
    g->d = d;
    g->theta = calloc((size_t)(3 * d + 2), sizeof *g->theta);
    if (!g->theta) return kerror_set(err, KE_NOMEM, NULL, "gp: out of memory");
    for (int i = 0; i < d; i++) g->theta[i] = DEFAULT_LOG_LS;
    g->theta[d + 1] = DEFAULT_LOG_NOISE;
    g->y_std = 1.0;
    return KE_OK;
}

void gp_free(gp *g)
{
    free(g->theta);
    free(g->arena);
    free(g->cross);
    memset(g, 0, sizeof *g);
}

int gp_nparams(const gp *g)
{
    return g->d + 2 + (g->warp_inputs ? 2 * g->d : 0);
}

/* Kumaraswamy CDF w = 1 - (1 - x^a)^b of x in [0, 1] (Snoek, Swersky, Zemel &
 * Adams 2014, "Input warping for Bayesian optimization of non-stationary
 * functions"); with da, db non-NULL also dw/dlog a and dw/dlog b. */
static double kumaraswamy(double x, double a, double b, double *da, double *db)
{
    double p = x > 0.0 ? pow(x, a) : 0.0, q = 1.0 - p;
    if (!(x > 0.0) || !(q > 0.0)) {
        if (da) *da = *db = 0.0;
        return x > 0.0 ? 1.0 : 0.0;
    }
    double qb = pow(q, b);
    if (da) {
        *da = a * b * (qb / q) * p * log(x);
        *db = -b * qb * log(q);
    }
    return 1.0 - qb;
}

/* out (n, d) = the inputs X (n, d) as the kernel sees them under theta:
 * warped per coordinate when warp_inputs, else a copy; da, db (n, d), when
 * non-NULL, get the warp's derivatives for the LML gradient. */
static void warp_inputs(const gp *g, const double *theta, const double *X, int n,
                        double *out, double *da, double *db)
{
    int d = g->d;
    if (!g->warp_inputs) {
        memcpy(out, X, (size_t)n * d * sizeof *out);
        return;
    }
    double a[d], b[d];
    for (int k = 0; k < d; k++) {
        a[k] = exp(theta[d + 2 + k]);
        b[k] = exp(theta[2 * d + 2 + k]);
    }
    for (size_t i = 0; i < (size_t)n * d; i++) {
        int k = (int)(i % (size_t)d);
        out[i] = kumaraswamy(X[i], a[k], b[k], da ? da + i : NULL, db ? db + i : NULL);
    }
}

/* Grows the arena to hold at least need rows, keeping X and y. Factorization
 * buffers are not kept: their stride is n, and the caller reconditions. */
static int reserve(gp *g, int need, kerror *err)
{
    if (need <= g->cap) return KE_OK;
    int cap = g->cap * 2 > need ? g->cap * 2 : need;
    if (cap < 16) cap = 16;
    size_t c = (size_t)cap, d = (size_t)g->d;
    double *a = malloc((4 * c * d + 2 * c + 3 * c * c) * sizeof *a);
    if (!a) return kerror_set(err, KE_NOMEM, NULL, "gp: out of memory for %d rows", cap);
    double *X = a, *y = X + c * d, *alpha = y + c, *K = alpha + c, *L = K + c * c, *Kinv = L + c * c;
    if (g->n) {
        memcpy(X, g->X, (size_t)g->n * d * sizeof *X);
        memcpy(y, g->y, (size_t)g->n * sizeof *y);
    }
    free(g->arena);
    g->arena = a;
    g->X = X; g->y = y; g->alpha = alpha; g->K = K; g->L = L; g->Kinv = Kinv;
    g->Xw = Kinv + c * c;
    g->dwa = g->Xw + c * d;
    g->dwb = g->dwa + c * d;
    g->cap = cap;
    return KE_OK;
}

int gp_set_data(gp *g, const double *X, const double *y, int n, kerror *err)
{
    g->n = 0;
    int rc = reserve(g, n, err);
    if (rc) return rc;
    double mean = 0.0, ss = 0.0;
    for (int i = 0; i < n; i++) mean += y[i];
    mean = n ? mean / n : 0.0;
    for (int i = 0; i < n; i++) ss += (y[i] - mean) * (y[i] - mean);
    /* A NaN target, or one whose square overflows, would make every
     * prediction NaN without a word: refused instead. */
    if (!isfinite(mean) || !isfinite(ss))
        return kerror_set(err, KE_INVALID, NULL,
                          "gp: cannot standardize the targets: one is not finite or is too large "
                          "(|y| above %g) to square", GP_TARGET_MAX);
    double sd = n > 1 ? sqrt(ss / n) : 0.0;
    /* Constant targets carry no scale; 1 keeps the standardized values at 0
     * (and there is nothing to be pessimistic about). */
    if (!(sd > 1e-12 * (1.0 + fabs(mean)))) sd = 1.0;
    else mean += g->prior_sd * sd;
    memcpy(g->X, X, (size_t)n * g->d * sizeof *X);
    for (int i = 0; i < n; i++) g->y[i] = (y[i] - mean) / sd;
    g->y_mean = mean;
    g->y_std = sd;
    g->n = n;
    return KE_OK;
}

void gp_scale_targets(double *y, int n)
{
    double big = 0.0;
    for (int i = 0; i < n; i++) big = fmax(big, fabs(y[i]));
    if (!(big > 0x1p256)) return;
    int e;
    frexp(big, &e);
    for (int i = 0; i < n; i++) y[i] = ldexp(y[i], 256 - e);
}

int gp_append(gp *g, const double *x, double y, kerror *err)
{
    int rc = reserve(g, g->n + 1, err);
    if (rc) return rc;
    memcpy(g->X + (size_t)g->n * g->d, x, (size_t)g->d * sizeof *x);
    g->y[g->n] = (y - g->y_mean) / g->y_std;
    g->n++;
    return KE_OK;
}

/* Squared ARD distance sum_k ((a_k - b_k) / l_k)^2, inv_l (d) = 1 / l. */
static double scaled_r2(const double *a, const double *b, const double *inv_l, int d)
{
    double r2 = 0.0;
    for (int k = 0; k < d; k++) {
        double t = (a[k] - b[k]) * inv_l[k];
        r2 += t * t;
    }
    return r2;
}

/* Matern-5/2 (Rasmussen & Williams 2006, eq. 4.17):
 * k = s2 (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r). When c is non-NULL it gets
 * 5/3 s2 (1 + sqrt5 r) exp(-sqrt5 r), so that dk/dlog l_k = c (a_k - b_k)^2 / l_k^2
 * (no 1/r singularity at r = 0). */
static double matern52(double r2, double s2, double *c)
{
    double r = sqrt(r2), e = exp(-SQRT5 * r);
    if (c) *c = (5.0 / 3.0) * s2 * (1.0 + SQRT5 * r) * e;
    return s2 * (1.0 + SQRT5 * r + (5.0 / 3.0) * r2) * e;
}

/* Writes the kernel-plus-noise matrix's diagonal and upper triangle into
 * K (n, n), and the gradient factors c_ij of matern52 into its lower triangle. */
static void build_kernel(gp *g, const double *theta)
{
    int n = g->n, d = g->d;
    double inv_l[d];
    for (int k = 0; k < d; k++) inv_l[k] = exp(-theta[k]);
    double s2 = exp(theta[d]), noise = exp(theta[d + 1]);
    double *K = g->K;
    for (int i = 0; i < n; i++) {
        const double *xi = g->Xw + (size_t)i * d;
        K[(size_t)i * n + i] = s2 + noise;
        for (int j = i + 1; j < n; j++) {
            double r2 = scaled_r2(xi, g->Xw + (size_t)j * d, inv_l, d);
            K[(size_t)i * n + j] = matern52(r2, s2, &K[(size_t)j * n + i]);
        }
    }
}

int gp_cholesky(const double *A, double *L, int n, double *jitter, kerror *err)
{
    if (n < 1) return kerror_set(err, KE_INVALID, NULL, "gp: empty matrix");
    double mean_diag = 0.0;
    for (int i = 0; i < n; i++) mean_diag += A[(size_t)i * n + i];
    mean_diag = n ? mean_diag / n : 0.0;
    gsl_matrix_view v = gsl_matrix_view_array(L, (size_t)n, (size_t)n);
    /* A failed factorization is expected here, so GSL's default handler
     * (abort) must be off in every program that fits a GP, not only in
     * kestrel's main: the benchmarks and tests too. Idempotent. */
    gsl_set_error_handler_off();
    for (int t = -11; t <= -2; t++) {
        double jit = t < -10 ? 0.0 : pow(10.0, t) * mean_diag;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < i; j++) L[(size_t)i * n + j] = A[(size_t)j * n + i];
            L[(size_t)i * n + i] = A[(size_t)i * n + i] + jit;
        }
        if (gsl_linalg_cholesky_decomp1(&v.matrix) != GSL_SUCCESS) continue;
        int finite = 1;
        for (int i = 0; i < n && finite; i++) finite = isfinite(L[(size_t)i * n + i]);
        if (!finite) break;
        if (jitter) *jitter = jit;
        return KE_OK;
    }
    return kerror_set(err, KE_INTERNAL, NULL,
                      "gp: kernel matrix not positive definite even with jitter");
}

/* alpha = (L L^T)^-1 y, by two triangular solves. */
static void solve_alpha(gp *g)
{
    int n = g->n;
    memcpy(g->alpha, g->y, (size_t)n * sizeof *g->alpha);
    cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, n, g->L, n, g->alpha, 1);
    cblas_dtrsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, n, g->L, n, g->alpha, 1);
}

static int factorize(gp *g, const double *theta, kerror *err)
{
    if (g->n < 1) return kerror_set(err, KE_INVALID, NULL, "gp: no data");
    warp_inputs(g, theta, g->X, g->n, g->Xw, g->dwa, g->dwb);
    build_kernel(g, theta);
    int rc = gp_cholesky(g->K, g->L, g->n, &g->jitter, err);
    if (rc) return rc;
    solve_alpha(g);
    return KE_OK;
}

int gp_condition(gp *g, kerror *err)
{
    return factorize(g, g->theta, err);
}

/* dLML/dtheta = 1/2 tr((alpha alpha^T - K^-1) dK/dtheta) (R&W eq. 5.9), summed
 * over the lower triangle with W symmetric; needs factorize() first. */
static int lml_gradient(gp *g, const double *theta, double *grad, kerror *err)
{
    int n = g->n, d = g->d;
    memcpy(g->Kinv, g->L, (size_t)n * n * sizeof *g->Kinv);
    gsl_matrix_view v = gsl_matrix_view_array(g->Kinv, (size_t)n, (size_t)n);
    if (gsl_linalg_cholesky_invert(&v.matrix) != GSL_SUCCESS)
        return kerror_set(err, KE_INTERNAL, NULL, "gp: cannot invert the kernel matrix");
    double inv_l2[d];
    for (int k = 0; k < d; k++) inv_l2[k] = exp(-2.0 * theta[k]);
    double s2 = exp(theta[d]), noise = exp(theta[d + 1]);
    double gs = 0.0, trace_w = 0.0;
    memset(grad, 0, (size_t)gp_nparams(g) * sizeof *grad);
    double *ga = grad + d + 2, *gb = ga + d;   /* warp gradients, if any */
    const double *K = g->K, *Kinv = g->Kinv, *a = g->alpha;
    for (int i = 0; i < n; i++) {
        const double *xi = g->Xw + (size_t)i * d;
        const double *ai = g->dwa + (size_t)i * d, *bi = g->dwb + (size_t)i * d;
        trace_w += a[i] * a[i] - Kinv[(size_t)i * n + i];
        for (int j = 0; j < i; j++) {
            const double *xj = g->Xw + (size_t)j * d;
            const double *aj = g->dwa + (size_t)j * d, *bj = g->dwb + (size_t)j * d;
            double w = a[i] * a[j] - Kinv[(size_t)i * n + j];
            double wc = w * K[(size_t)i * n + j];   /* lower: c_ij */
            gs += w * K[(size_t)j * n + i];         /* upper: k_ij */
            for (int k = 0; k < d; k++) {
                double t = xi[k] - xj[k];
                grad[k] += wc * t * t * inv_l2[k];
                /* dk/d(r^2) = -c/2 and d(r^2)/dw_ik = 2 t / l_k^2 */
                if (g->warp_inputs) {
                    ga[k] -= wc * t * inv_l2[k] * (ai[k] - aj[k]);
                    gb[k] -= wc * t * inv_l2[k] * (bi[k] - bj[k]);
                }
            }
        }
    }
    grad[d] = gs + 0.5 * s2 * trace_w;
    grad[d + 1] = 0.5 * noise * trace_w;
    return KE_OK;
}

int gp_log_marginal(gp *g, const double *theta, double *lml, double *grad, kerror *err)
{
    int rc = factorize(g, theta, err);
    if (rc) return rc;
    int n = g->n;
    double fit = 0.0, logdet = 0.0;
    for (int i = 0; i < n; i++) {
        fit += g->y[i] * g->alpha[i];
        logdet += log(g->L[(size_t)i * n + i]);
    }
    /* R&W eq. 2.30: -1/2 y^T K^-1 y - 1/2 log|K| - n/2 log 2pi */
    *lml = -0.5 * fit - logdet - 0.5 * n * LOG_2PI;
    return grad ? lml_gradient(g, theta, grad, err) : KE_OK;
}

double gp_log_prior(int d, const double *theta, double *grad)
{
    double mu = M_SQRT2 + 0.5 * log((double)d), lp = 0.0;
    for (int k = 0; k < d; k++) {
        double z = (theta[k] - mu) / PRIOR_SD;
        lp -= 0.5 * z * z;
        if (grad) grad[k] -= z / PRIOR_SD;
    }
    return lp;
}

static double clamp(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static void clamp_theta(int d, int m, const double *in, double *out)
{
    for (int k = 0; k < d; k++) out[k] = clamp(in[k], GP_LOG_LS_MIN, GP_LOG_LS_MAX);
    out[d] = clamp(in[d], GP_LOG_SIG_MIN, GP_LOG_SIG_MAX);
    out[d + 1] = clamp(in[d + 1], GP_LOG_NOISE_MIN, GP_LOG_NOISE_MAX);
    for (int k = d + 2; k < m; k++) out[k] = clamp(in[k], -GP_LOG_WARP_MAX, GP_LOG_WARP_MAX);
}

/* Log prior of the warp's log a, log b (theta[d+2 .. m)), gradient added into
 * grad: centred on the identity, so the data must pay for a warp. */
static double warp_prior(int d, int m, const double *theta, double *grad)
{
    double lp = 0.0;
    for (int k = d + 2; k < m; k++) {
        double z = theta[k] / KUMA_PRIOR_SD;
        lp -= 0.5 * z * z;
        if (grad) grad[k] -= z / KUMA_PRIOR_SD;
    }
    return lp;
}

/* Log prior of the noise variance v = exp(theta[d+1]), exponential with rate
 * g->noise_rate (gradient added into grad): nearly flat where the noise is
 * small, so the data still decide between interpolating and smoothing, but
 * a model that explains every value as noise (v near 1, the whole variance)
 * must pay for it. */
static double noise_prior(const gp *g, const double *theta, double *grad)
{
    double v = g->noise_rate * exp(theta[g->d + 1]);
    if (grad) grad[g->d + 1] -= v;
    return -v;
}

typedef struct {
    gp *g;
    double *th, *gr;     /* (d+2) scratch: clamped theta, LML gradient */
    double *x_last;      /* (d+2) point of the last evaluation */
    double f_last;
    int have_last;       /* g's factorization and f_last belong to x_last */
} fit_ctx;

static double penalty(int m, const double *x, const double *th)
{
    double pen = 0.0;
    for (int k = 0; k < m; k++) pen += (x[k] - th[k]) * (x[k] - th[k]);
    return 0.5 * BOUND_PENALTY * pen;
}

/* Objective for the minimizer: -(LML + log prior)/n at the clamped theta, plus
 * a quadratic wall outside the bounds so the line search sees a slope back in.
 * Dividing by n keeps the first BFGS step meaningful whatever the data size.
 * GSL's line search asks for f, then often df at the same point: the gradient
 * then reuses the factorization left by f instead of redoing it. */
static void objective(const gsl_vector *x, void *p, double *f, gsl_vector *df)
{
    fit_ctx *c = p;
    int d = c->g->d, m = gp_nparams(c->g), n = c->g->n;
    size_t bytes = (size_t)m * sizeof *c->x_last;
    int cached = c->have_last && memcmp(c->x_last, x->data, bytes) == 0;
    if (!cached) {
        double lml;
        clamp_theta(d, m, x->data, c->th);
        c->have_last = gp_log_marginal(c->g, c->th, &lml, NULL, NULL) == KE_OK;
        c->f_last = c->have_last ? -(lml + gp_log_prior(d, c->th, NULL) +
                                     noise_prior(c->g, c->th, NULL) +
                                     warp_prior(d, m, c->th, NULL)) / n +
                                       penalty(m, x->data, c->th)
                                 : GSL_POSINF;
        memcpy(c->x_last, x->data, bytes);
    }
    if (f) *f = c->f_last;
    if (!df) return;
    if (!c->have_last || lml_gradient(c->g, c->th, c->gr, NULL)) {
        gsl_vector_set_zero(df);
        return;
    }
    gp_log_prior(d, c->th, c->gr);
    noise_prior(c->g, c->th, c->gr);
    warp_prior(d, m, c->th, c->gr);
    for (int k = 0; k < m; k++) {
        double out = x->data[k] - c->th[k];
        gsl_vector_set(df, k, out != 0.0 ? BOUND_PENALTY * out : -c->gr[k] / n);
    }
}

static double obj_f(const gsl_vector *x, void *p)
{
    double f;
    objective(x, p, &f, NULL);
    return f;
}

static void obj_df(const gsl_vector *x, void *p, gsl_vector *df)
{
    objective(x, p, NULL, df);
}

static void obj_fdf(const gsl_vector *x, void *p, double *f, gsl_vector *df)
{
    objective(x, p, f, df);
}

/* One BFGS run from x0 (in place: returns the end point and its objective).
 * Line search tolerance 0.9: the loose curvature condition usual for
 * quasi-Newton steps (Nocedal & Wright 2006, sec. 3.1), about half the
 * evaluations of GSL's 0.1 for the same optimum. */
static double run_bfgs(gsl_multimin_fdfminimizer *mz, gsl_multimin_function_fdf *F,
                       gsl_vector *x0, int max_iter)
{
    gsl_multimin_fdfminimizer_set(mz, F, x0, 0.1, 0.9);
    for (int it = 0; it < max_iter; it++) {
        if (gsl_multimin_fdfminimizer_iterate(mz) != GSL_SUCCESS) break;
        if (gsl_multimin_test_gradient(mz->gradient, 1e-5) == GSL_SUCCESS) break;
    }
    gsl_vector_memcpy(x0, mz->x);
    return mz->f;
}

static void random_start(gsl_rng *r, int d, int m, double *x)
{
    for (int k = d + 2; k < m; k++) x[k] = 0.0;   /* the warp starts as the identity */
    for (int k = 0; k < d; k++) x[k] = log(0.05) + gsl_rng_uniform(r) * (log(3.0) - log(0.05));
    x[d] = log(0.5) + gsl_rng_uniform(r) * (log(2.0) - log(0.5));
    x[d + 1] = log(1e-5) + gsl_rng_uniform(r) * (log(1e-1) - log(1e-5));
}

int gp_fit(gp *g, int max_iter, int n_random, uint64_t seed, kerror *err)
{
    if (g->n < 1) return kerror_set(err, KE_INVALID, NULL, "gp: no data to fit");
    int d = g->d, m = gp_nparams(g);
    double scratch[4 * m];
    fit_ctx ctx = { .g = g, .th = scratch, .gr = scratch + m, .x_last = scratch + 2 * m };
    double *best = scratch + 3 * m, best_f = GSL_POSINF;
    gsl_multimin_function_fdf F = { obj_f, obj_df, obj_fdf, (size_t)m, &ctx };
    gsl_multimin_fdfminimizer *mz =
        gsl_multimin_fdfminimizer_alloc(gsl_multimin_fdfminimizer_vector_bfgs2, (size_t)m);
    gsl_vector *x = gsl_vector_alloc((size_t)m);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!mz || !x || !r) {
        gsl_multimin_fdfminimizer_free(mz);
        gsl_vector_free(x);
        gsl_rng_free(r);
        return kerror_set(err, KE_NOMEM, NULL, "gp: out of memory");
    }
    gsl_rng_set(r, (unsigned long)(seed ^ (seed >> 32)));
    for (int s = 0; s <= n_random; s++) {
        if (s == 0) memcpy(x->data, g->theta, (size_t)m * sizeof *g->theta);
        else random_start(r, d, m, x->data);
        double f = run_bfgs(mz, &F, x, max_iter);
        if (f < best_f) {
            best_f = f;
            clamp_theta(d, m, x->data, best);
        }
    }
    gsl_multimin_fdfminimizer_free(mz);
    gsl_vector_free(x);
    gsl_rng_free(r);
    /* Every start failing leaves theta as it was: still a usable model. */
    if (isfinite(best_f)) {
        memcpy(g->theta, best, (size_t)m * sizeof *best);
        g->fitted = 1;
    }
    return gp_condition(g, err);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* t = log(1 + (y - lo) / s) for lo <= y and s > 0, also where the ratio
 * overflows (a shift of 1e-300 under a spread of 1e300): log1p(r) is then
 * log(y - lo) - log(s) to the last bit. */
static double warp_log(double y, double lo, double s)
{
    double r = (y - lo) / s;
    return r <= DBL_MAX ? log1p(r) : log(y - lo) - log(s);
}

/* z of gp_power_warp for t = log(1 + (y - lo) / s) >= 0. */
static double box_cox(double t, double lambda)
{
    return lambda > 0.0 ? expm1(lambda * t) / lambda : t;
}

double gp_power_warp(double *y, int n, int fit_shift, double *scratch)
{
    if (n < 3) return 1.0;
    memcpy(scratch, y, (size_t)n * sizeof *y);
    qsort(scratch, (size_t)n, sizeof *scratch, cmp_double);
    if (!(scratch[n - 1] > scratch[0])) return 1.0;
    /* y - lo overflows beyond DBL_MAX / 2 (1e308 - -1e308); the warp does
     * not depend on the values' scale, and a power of two scales exactly. */
    if (fmax(fabs(scratch[0]), fabs(scratch[n - 1])) > DBL_MAX / 4)
        for (int i = 0; i < n; i++) {
            y[i] *= 0.25;
            scratch[i] *= 0.25;
        }
    double lo = scratch[0], shift[2] = { scratch[n / 2] - lo, scratch[n / 4] - lo };
    if (!(shift[0] > 0.0)) shift[0] = scratch[n - 1] - lo;
    int n_shift = fit_shift && n >= WARP_SHIFT_MIN_N && shift[1] > 0.0 && shift[1] < shift[0] ? 2 : 1;
    double best_s = shift[0], best_lambda = 1.0, best_ll = -INFINITY;
    for (int k = 0; k < n_shift; k++) {
        double s = shift[k], sum_t = 0.0;
        for (int i = 0; i < n; i++) {
            scratch[i] = warp_log(y[i], lo, s);
            sum_t += scratch[i];
        }
        /* Profile log-likelihood of (lambda, s) (Box & Cox 1964, sec. 3): the
         * normal log-likelihood at the ML variance plus the log-Jacobian
         * (lambda-1) sum t - n log s, since dz/dy = e^((lambda-1) t) / s. At
         * lambda = 1 the warp is affine and every s ties: the median's wins. */
        for (int g = 0; g <= WARP_GRID; g++) {
            double lambda = (double)g / WARP_GRID, mean = 0.0, var = 0.0;
            for (int i = 0; i < n; i++) mean += box_cox(scratch[i], lambda);
            mean /= n;
            for (int i = 0; i < n; i++) {
                double dz = box_cox(scratch[i], lambda) - mean;
                var += dz * dz;
            }
            var /= n;
            if (!(var > 0.0)) continue;
            double ll = -0.5 * n * log(var) + (lambda - 1.0) * sum_t - n * log(s);
            if (ll > best_ll) {
                best_ll = ll;
                best_lambda = lambda;
                best_s = s;
            }
        }
    }
    for (int i = 0; i < n; i++) y[i] = box_cox(warp_log(y[i], lo, best_s), best_lambda);
    return best_lambda;
}

int gp_predict(gp *g, const double *Xs, int m, double *mu, double *var, kerror *err)
{
    int n = g->n, d = g->d;
    if (n < 1) return kerror_set(err, KE_INVALID, NULL, "gp: predict before data");
    long need = (long)m * (n + d);   /* C (n, m), then the warped Xs (m, d) */
    if (need > g->cross_cap) {
        double *c = realloc(g->cross, (size_t)need * sizeof *c);
        if (!c) return kerror_set(err, KE_NOMEM, NULL, "gp: out of memory for %d points", m);
        g->cross = c;
        g->cross_cap = need;
    }
    if (g->warp_inputs) {
        double *w = g->cross + (size_t)n * m;
        warp_inputs(g, g->theta, Xs, m, w, NULL, NULL);
        Xs = w;
    }
    double inv_l[d];
    for (int k = 0; k < d; k++) inv_l[k] = exp(-g->theta[k]);
    double s2 = exp(g->theta[d]);
    double *C = g->cross;   /* (n, m): C_ij = k(x_i, xs_j) */
    for (int i = 0; i < n; i++) {
        const double *xi = g->Xw + (size_t)i * d;
        for (int j = 0; j < m; j++)
            C[(size_t)i * m + j] = matern52(scaled_r2(xi, Xs + (size_t)j * d, inv_l, d), s2, NULL);
    }
    /* mean = C^T alpha; variance = s2 - colsum((L^-1 C)^2) (R&W Alg. 2.1) */
    cblas_dgemv(CblasRowMajor, CblasTrans, n, m, 1.0, C, m, g->alpha, 1, 0.0, mu, 1);
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit,
                n, m, 1.0, g->L, n, C, m);
    for (int j = 0; j < m; j++) var[j] = s2;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) var[j] -= C[(size_t)i * m + j] * C[(size_t)i * m + j];
    double sd2 = g->y_std * g->y_std;
    for (int j = 0; j < m; j++) {
        mu[j] = g->y_mean + g->y_std * mu[j];
        var[j] = (var[j] > 1e-12 * s2 ? var[j] : 1e-12 * s2) * sd2;
    }
    return KE_OK;
}
