/* acq: acquisition functions (EI, log-EI, PI, UCB) for minimization; see acq.h.
 * The log forms never compute EI or PI itself, so they keep ranking candidates
 * where the plain values underflow to zero (the usual case late in a study). */
#include "acq.h"

#include <math.h>

#include <gsl/gsl_sf_erf.h>

#define INV_SQRT_2PI 0.3989422804014327
#define HALF_LOG_2PI 0.9189385332046727       /* c1 in Ament et al. */
#define SQRT_HALF_PI 1.2533141373155003       /* exp(c2) = sqrt(pi/2) */
#define TAIL_Z (-14.0)  /* below it the asymptotic series is exact to 1 ulp */

static double std_cdf(double z)
{
    return 0.5 * erfc(-z * M_SQRT1_2);
}

static double std_pdf(double z)
{
    return INV_SQRT_2PI * exp(-0.5 * z * z);
}

/* erfcx(x) = exp(x^2) erfc(x) for 0 <= x < 10: no overflow there, and the
 * product loses only the rounding of x^2. */
static double erfcx_moderate(double x)
{
    return exp(x * x) * erfc(x);
}

/* log h(z), h(z) = phi(z) + z Phi(z), so that EI = sigma h(z).
 * Ament et al. 2023, eq. 9: for z > -1 directly; for -1 >= z the common factor
 * phi(z) is pulled out, h = phi(z) (1 - sqrt(pi/2) |z| erfcx(|z|/sqrt2)),
 * and the bracket is 1/z^2 - 3/z^4 + 15/z^6 - ... (asymptotic series of erfc,
 * Abramowitz & Stegun 7.1.23) where that product nears 1 and would cancel. */
static double log_h(double z)
{
    if (z > -1.0) return log(std_pdf(z) + z * std_cdf(z));
    double bracket;
    if (z > TAIL_Z) {
        bracket = 1.0 - SQRT_HALF_PI * -z * erfcx_moderate(-z * M_SQRT1_2);
    } else {
        double inv_z2 = 1.0 / (z * z), term = inv_z2;
        bracket = 0.0;
        for (int k = 1; k <= 20; k++) {
            bracket += term;
            term *= -(2.0 * k + 1.0) * inv_z2;
        }
    }
    return -0.5 * z * z - HALF_LOG_2PI + log(bracket);
}

double acq_ei(double mu, double sigma, double best, double xi)
{
    double imp = best - xi - mu;
    if (!(sigma > 0.0)) return imp > 0.0 ? imp : 0.0;
    double z = imp / sigma;
    return imp * std_cdf(z) + sigma * std_pdf(z);
}

double acq_log_ei(double mu, double sigma, double best, double xi)
{
    double imp = best - xi - mu;
    if (!(sigma > 0.0)) return imp > 0.0 ? log(imp) : -INFINITY;
    return log(sigma) + log_h(imp / sigma);
}

double acq_pi(double mu, double sigma, double best, double xi)
{
    double imp = best - xi - mu;
    if (!(sigma > 0.0)) return imp > 0.0 ? 1.0 : 0.0;
    return std_cdf(imp / sigma);
}

double acq_log_pi(double mu, double sigma, double best, double xi)
{
    double imp = best - xi - mu;
    if (!(sigma > 0.0)) return imp > 0.0 ? 0.0 : -INFINITY;
    /* log Phi(z) = log(erfc(-z/sqrt2) / 2); GSL's log_erfc is accurate in the tail. */
    return gsl_sf_log_erfc(-(imp / sigma) * M_SQRT1_2) - M_LN2;
}

double acq_ucb(double mu, double sigma, double beta)
{
    return beta * sigma - mu;
}

double acq_score(const acq_params *p, double mu, double sigma)
{
    switch (p->kind) {
    case ACQ_UCB: return acq_ucb(mu, sigma, p->beta);
    case ACQ_PI: return acq_log_pi(mu, sigma, p->best, p->xi);
    case ACQ_EI:
    default: return acq_log_ei(mu, sigma, p->best, p->xi);
    }
}
