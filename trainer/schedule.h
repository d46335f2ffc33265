/* schedule: the learning rate as a pure function of the optimizer step, so a
 * resumed run needs only the step count to continue exactly. Invariant:
 * schedule_lr never reads or writes state; the same (schedule, step) always
 * gives the same rate.
 *
 * Granularity (one "step" = one optimizer update, i.e. `accumulate` batches):
 * - step, multistep, exponential and inverse_time are per-epoch: they use the
 *   integer epoch = step / steps_per_epoch, so the rate is constant within an
 *   epoch (as a scheduler stepped once per epoch would give);
 * - linear and cosine are per-step: progress p = (step - warmup) /
 *   (total_steps - warmup), clamped to [0, 1];
 * - one_cycle is per-step over total_steps (PyTorch's OneCycleLR, two
 *   phases, cosine annealing: Smith & Topor 2018): from lr / div_factor up
 *   to lr over the first pct_start of the steps (its last step at
 *   pct_start total_steps - 1), then down to lr / div_factor /
 *   final_div_factor at the last step;
 * - cosine_restarts is per-step in fractional epochs t = step /
 *   steps_per_epoch (PyTorch's CosineAnnealingWarmRestarts stepped with
 *   epoch + batch / batches, SGDR: Loshchilov & Hutter 2017): periods of
 *   restart_period, restart_period restart_mult, ... epochs, each
 *   min_lr + (lr - min_lr) (1 + cos(pi t_cur / T_i)) / 2;
 * - warm-up is per-step and multiplies whichever schedule runs underneath:
 *   factor = s + (1 - s) (step + 1) / warmup_steps for step < warmup_steps,
 *   1 afterwards (s = warmup_start; the "+1" makes the first update non-zero
 *   and the last warm-up step reach the full rate). */
#ifndef KESTREL_SCHEDULE_H
#define KESTREL_SCHEDULE_H

#include "../common/kerror.h"

#define SCHEDULE_MAX_MILESTONES 32

typedef enum {
    SCHEDULE_CONSTANT,     /* lr */
    SCHEDULE_STEP,         /* lr gamma^floor(epoch / step_size) */
    SCHEDULE_MULTISTEP,    /* lr gamma^(number of milestones <= epoch) */
    SCHEDULE_EXPONENTIAL,  /* lr gamma^epoch */
    SCHEDULE_INVERSE_TIME, /* lr / (1 + decay epoch) */
    SCHEDULE_LINEAR,       /* lr + (min_lr - lr) p */
    SCHEDULE_COSINE,       /* min_lr + (lr - min_lr) (1 + cos(pi p)) / 2, SGDR
                            * without restarts, Loshchilov & Hutter 2017 eq. 5 */
    SCHEDULE_ONE_CYCLE,    /* see above */
    SCHEDULE_COSINE_RESTARTS
} schedule_kind;

typedef struct {
    schedule_kind kind;
    double lr;               /* base rate, > 0 */
    double min_lr;           /* final rate of linear and cosine */
    double gamma;            /* step, multistep, exponential factor */
    double decay;            /* inverse_time, per epoch */
    int step_size;           /* epochs per gamma, step schedule, >= 1 */
    int n_milestones;        /* ascending epochs, multistep */
    int milestones[SCHEDULE_MAX_MILESTONES];
    double pct_start;        /* one_cycle: rising share of the steps, in (0, 1) */
    double div_factor;       /* one_cycle: start rate lr / div_factor, > 0 */
    double final_div_factor; /* one_cycle: end rate start / final_div_factor, > 0 */
    int restart_period;      /* cosine_restarts: first period in epochs, >= 1 */
    int restart_mult;        /* cosine_restarts: period growth factor, >= 1 */
    long warmup_steps;       /* 0 = no warm-up */
    double warmup_start;     /* warm-up start factor s in [0, 1] */
    long steps_per_epoch;    /* >= 1 */
    long total_steps;        /* steps of the whole run (all epochs), >= 1 */
} schedule;

/* KE_INVALID (path = the option name) when a field is out of its range, the
 * milestones are not ascending or the warm-up outlasts total_steps. */
int schedule_check(const schedule *s, kerror *err);

/* The learning rate for optimizer step `step` (0-based). */
double schedule_lr(const schedule *s, long step);

#endif
