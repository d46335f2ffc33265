/* hyperband: the "hyperband" strategy (Li, Jamieson, DeSalvo, Rostamizadeh &
 * Talwalkar 2018, "Hyperband", JMLR 18, Alg. 1): brackets of successive
 * halving, run one after the other, from the most aggressive (many
 * configurations at the smallest budget) to plain search at the full budget.
 * A rung's trials run with suggestion.budget = the rung's resource; once every
 * trial of a rung has ended, its best floor(n_i / eta) COMPLETE trials are
 * promoted: same point, the next rung's budget, resume_from = the trial.
 * suggest() returns 0 while a rung is still running; done() once the last
 * bracket of the last round has ended. Options (unknown keys rejected as
 * "strategy.options.<key>"; see docs/hyperband.md):
 *   max_resource    int >= min_resource  R, the largest budget (required)
 *   min_resource    int >= 1             the smallest budget       (default 1)
 *   eta             int >= 2             reduction factor          (default 3)
 *   sampler         "sobol"|"random"|"gp" new configurations: a shifted Sobol
 *                                        sequence, uniform, or BOHB (GP on the
 *                                        largest budget with enough COMPLETE
 *                                        trials)                   (default "sobol")
 *   random_fraction number in [0, 1]     gp sampler: share still drawn
 *                                        uniformly                 (default 1/3)
 *   rounds          int 0 to 1,000,000   times the whole set of brackets runs;
 *                                        0: again and again until the study's
 *                                        budget ends               (default 1) */
#ifndef KESTREL_HYPERBAND_H
#define KESTREL_HYPERBAND_H

#include "strategy.h"

/* R <= 1,000,000 and eta >= 2 give at most 20 brackets of at most 20 rungs. */
#define HYPERBAND_MAX_BRACKETS 24

typedef struct {
    int s;                           /* bracket index: s_max runs first, 0 last */
    int n_rungs;                     /* s + 1 */
    int n[HYPERBAND_MAX_BRACKETS];   /* configurations at rung i */
    int r[HYPERBAND_MAX_BRACKETS];   /* budget of rung i */
} hyperband_bracket;

/* The brackets for max resource R, reduction factor eta and min resource
 * r_min, in run order (s = s_max down to 0), where
 *   s_max = floor(log_eta(R / r_min)),  n = ceil((s_max + 1) / (s + 1) * eta^s),
 *   n_i = floor(n * eta^-i),            r_i = floor(R * eta^(i - s)),
 * so r_0 >= r_min and the last rung of every bracket gets R (Li et al. 2018,
 * Alg. 1 and Table 1, with budgets in units of r_min). Writes at most max
 * brackets into out and returns how many there are (s_max + 1), or KE_INVALID
 * when r_min < 1, R < r_min, R > 1,000,000 or eta < 2. */
int hyperband_brackets(int R, int eta, int r_min, hyperband_bracket *out, int max);

/* The space passed to create must outlive the strategy. */
extern const strategy_ops hyperband_strategy;

#endif
