/* bo: the "gp" strategy, Bayesian optimization with a Gaussian-process model
 * (gp.c) and an acquisition function (acq.c). A seeded Sobol design comes
 * first; then each suggestion maximizes the acquisition over the unit cube,
 * with pending trials filled in by the model's own mean (kriging believer),
 * on at most `subset` trials, with a local model (trust region) taking over
 * when the global one is stuck re-measuring a point on the wall of the box.
 * Options (all optional; unknown keys rejected as "strategy.options.<key>";
 * parsed by bo_options.c):
 *   n_initial   int >= 1    Sobol points before the model (default max(5, 2*dims))
 *   acquisition "ei"|"ucb"|"pi"                              (default "ei")
 *   ucb_beta    number in [0, 100]: standard deviations of optimism (default 2.0)
 *   xi          number in [0, 10]: EI/PI margin, in standard deviations of the
 *                           observed values                  (default 0.0)
 *   candidates  int in [10, 100000] random screen size       (default 2000)
 *   parallel    "kriging_believer"|"constant_liar"|"constant_liar_min": the
 *               value pending trials get              (default "kriging_believer")
 *   transform   "power"|"none": Box-Cox warp of the values before the model
 *               (gp_power_warp), for heavy-tailed objectives   (default "power")
 *   subset      int, 0 or >= 20: most trials the model is fitted on, the half
 *               nearest the incumbent and a sample of the rest; 0 all (default 200)
 *   trust_region  boolean: the local-model fallback              (default true)
 *   prior_mean  number in [0, 10]: the GP's prior mean, in standard deviations
 *               above the mean of the (warped) values; 0 neutral (default 1.0)
 *   input_warp  boolean: a Kumaraswamy warp of each input fitted with the
 *               kernel (Snoek et al. 2014)                     (default false)
 *   noise_prior boolean: an exponential prior on the noise variance (default true)
 *   wall_redraw boolean: a wall coordinate of an input the model deems
 *               irrelevant is drawn anew                       (default true)
 *   warp_shift  boolean: the power warp's shift (median or lower quartile)
 *               is chosen by its likelihood with lambda        (default true)
 *   exploit_last number in [0, 1]: the share of the study's max_trials, at
 *               its end, spent in a box around the incumbent; 0 none (default 0.2)
 * See docs/gp.md for the model and how pending, failed and conditional
 * trials are treated. */
#ifndef KESTREL_BO_H
#define KESTREL_BO_H

#include "strategy.h"

/* The space passed to create must outlive the strategy. The strategy keeps the
 * previous fit's hyperparameters as the next fit's warm start. */
extern const strategy_ops gp_strategy;

/* The Sobol generator's draws that s's initial design has cost since
 * create, rewinds included (0 for a space beyond SOBOL_MAX_DIMS, whose
 * design is uniform): design point k costs one draw when it follows the
 * last one. s must be a gp_strategy's. For tests and benches. */
long bo_design_draws(const strategy *s);

#endif
