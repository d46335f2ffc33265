/* asha_pruner: the "asha" pruner, successive halving as early stopping (the
 * stopping variant of ASHA, Li et al. 2020, as Optuna's
 * SuccessiveHalvingPruner): rung k sits at step r_k = min_resource *
 * eta^(min_early_stopping_rate + k); when a trial first reports a step >= r_k
 * it goes on only if its value there is among the best floor(m / eta) of the
 * m values every trial (itself included) had at that rung; the best one when
 * m < eta. Trials are stopped, not resumed: use the "asha" strategy for
 * promotions with checkpoints. Options (unknown keys rejected as
 * "pruner.options.<key>"):
 *   min_resource            int >= 1  step of the first rung          (default 1)
 *   eta                     int >= 2  reduction factor                (default 3)
 *   min_early_stopping_rate int >= 0  rungs skipped at the bottom     (default 0) */
#ifndef KESTREL_ASHA_PRUNER_H
#define KESTREL_ASHA_PRUNER_H

#include "pruner.h"

extern const pruner_ops asha_pruner;

#endif
