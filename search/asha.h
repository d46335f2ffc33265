/* asha: the "asha" strategy, asynchronous successive halving (Li, Jamieson,
 * Rostamizadeh, Gonina, Ben-tzur, Hardt, Recht & Talwalkar 2020, "A System for
 * Massively Parallel Hyperparameter Tuning", MLSys, Alg. 2). Rungs k = 0..K
 * have the budgets of Hyperband's most aggressive bracket (r_k = floor(R *
 * eta^(k - K)), K = floor(log_eta(R / min_resource))). Each suggestion
 * promotes, from the highest rung that has one, a trial that is among the
 * best floor(ended / eta) of its rung and not promoted yet (same point, next
 * budget, resume_from = the trial); otherwise it starts a new configuration at
 * rung 0. So suggest() fills every slot it is asked for and no worker waits
 * on a rung. done() is never true: the study's max_trials bounds the fresh
 * configurations. Options: as hyperband.h (max_resource, min_resource, eta,
 * sampler, random_fraction); see docs/hyperband.md. */
#ifndef KESTREL_ASHA_H
#define KESTREL_ASHA_H

#include "strategy.h"

/* The space passed to create must outlive the strategy. */
extern const strategy_ops asha_strategy;

#endif
