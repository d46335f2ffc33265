/* bo: the "gp" strategy, Bayesian optimization with a Gaussian-process model
 * (gp.c) and an acquisition function (acq.c). A seeded Sobol design comes
 * first; then each suggestion maximizes the acquisition over the unit cube,
 * with pending trials filled in by a liar so parallel workers spread out.
 * Options (all optional; unknown keys rejected as "strategy.options.<key>"):
 *   n_initial   int >= 1    Sobol points before the model (default max(5, 2*dims))
 *   acquisition "ei"|"ucb"|"pi"                              (default "ei")
 *   ucb_beta    number >= 0 standard deviations of optimism (default 2.0)
 *   xi          number >= 0 EI/PI margin, in standard deviations of the
 *                           observed values                  (default 0.0)
 *   candidates  int in [10, 100000] random screen size       (default 2000)
 *   parallel    "constant_liar"|"kriging_believer"          (default "constant_liar")
 *   transform   "power"|"none": Box-Cox warp of the values before the model
 *               (gp_power_warp), for heavy-tailed objectives   (default "power")
 * See docs/gp.md for the model and how pending, failed and conditional
 * trials are treated. */
#ifndef KESTREL_BO_H
#define KESTREL_BO_H

#include "strategy.h"

/* The space passed to create must outlive the strategy. The strategy keeps the
 * previous fit's hyperparameters as the next fit's warm start. */
extern const strategy_ops gp_strategy;

#endif
