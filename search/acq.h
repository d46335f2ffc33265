/* acq: acquisition functions for Bayesian optimization of a MINIMIZED
 * objective, from a Gaussian posterior N(mu, sigma^2) at a point and the best
 * value observed so far. Pure functions; every score is "higher is better".
 * Invariant: log-EI and log-PI stay finite (no underflow to -inf) for every
 * finite mu, best and sigma > 0. */
#ifndef KESTREL_ACQ_H
#define KESTREL_ACQ_H

typedef enum { ACQ_EI, ACQ_UCB, ACQ_PI } acq_kind;

typedef struct {
    acq_kind kind;
    double best;   /* lowest observed value, same units as mu */
    double xi;     /* EI/PI margin: improvement counts below best - xi; >= 0 */
    double beta;   /* UCB: standard deviations of optimism */
} acq_params;

/* Expected improvement E[max(best - xi - f, 0)], f ~ N(mu, sigma^2):
 * (best - xi - mu) Phi(z) + sigma phi(z), z = (best - xi - mu) / sigma
 * (Jones, Schonlau & Welch 1998). sigma <= 0 gives max(best - xi - mu, 0). */
double acq_ei(double mu, double sigma, double best, double xi);

/* log of acq_ei, computed without forming EI, so it is accurate where EI
 * underflows (Ament et al. 2023, "Unexpected Improvements to Expected
 * Improvement for Bayesian Optimization", NeurIPS, eq. 9). -inf only when
 * sigma <= 0 and there is no improvement. */
double acq_log_ei(double mu, double sigma, double best, double xi);

/* Probability of improvement P[f < best - xi] = Phi(z) (Kushner 1964), and its
 * logarithm, accurate far into the lower tail. */
double acq_pi(double mu, double sigma, double best, double xi);
double acq_log_pi(double mu, double sigma, double best, double xi);

/* Lower-confidence-bound rule for minimization as a score to maximize:
 * beta * sigma - mu (Srinivas et al. 2010, with beta multiplying sigma). */
double acq_ucb(double mu, double sigma, double beta);

/* The score the optimizer maximizes for p->kind: log EI, UCB or log PI
 * (logs so that flat, underflowing regions still rank). */
double acq_score(const acq_params *p, double mu, double sigma);

#endif
