/* schedule: learning-rate schedules as closed-form functions of the step; see
 * schedule.h for the per-step / per-epoch split. Invariant: no state, so
 * resuming at step t gives the rate an uninterrupted run had at step t. */
#include "schedule.h"

#include <math.h>

int schedule_check(const schedule *s, kerror *err)
{
    if (!(s->lr > 0)) return kerror_set(err, KE_INVALID, "lr", "must be > 0");
    if (s->min_lr < 0) return kerror_set(err, KE_INVALID, "min_lr", "must be >= 0");
    if (!(s->gamma > 0)) return kerror_set(err, KE_INVALID, "gamma", "must be > 0");
    if (s->decay < 0) return kerror_set(err, KE_INVALID, "decay", "must be >= 0");
    if (s->step_size < 1) return kerror_set(err, KE_INVALID, "step_size", "must be >= 1");
    if (s->n_milestones < 0 || s->n_milestones > SCHEDULE_MAX_MILESTONES)
        return kerror_set(err, KE_INVALID, "milestones", "at most %d milestones",
                          SCHEDULE_MAX_MILESTONES);
    for (int i = 1; i < s->n_milestones; i++)
        if (s->milestones[i] <= s->milestones[i - 1])
            return kerror_set(err, KE_INVALID, "milestones", "must be strictly ascending");
    /* the option's range, [0, 1], is every schedule's: one_cycle's phases
     * each need a step */
    if (s->kind == SCHEDULE_ONE_CYCLE && !(s->pct_start > 0 && s->pct_start < 1))
        return kerror_set(err, KE_INVALID, "pct_start", "one_cycle needs it in (0, 1), got %g",
                          s->pct_start);
    if (s->kind == SCHEDULE_ONE_CYCLE && (!(s->div_factor > 0) || !(s->final_div_factor > 0)))
        return kerror_set(err, KE_INVALID, !(s->div_factor > 0) ? "div_factor" : "final_div_factor",
                          "must be > 0 for one_cycle");
    if (s->kind == SCHEDULE_COSINE_RESTARTS && (s->restart_period < 1 || s->restart_mult < 1))
        return kerror_set(err, KE_INVALID, s->restart_period < 1 ? "restart_period" : "restart_mult",
                          "must be >= 1");
    if (s->warmup_steps < 0) return kerror_set(err, KE_INVALID, "warmup_steps", "must be >= 0");
    if (s->warmup_start < 0 || s->warmup_start > 1)
        return kerror_set(err, KE_INVALID, "warmup_start", "must be in [0, 1]");
    if (s->steps_per_epoch < 1 || s->total_steps < 1)
        return kerror_set(err, KE_INVALID, "epochs", "the run has no steps");
    /* the warm-up's last step is the first at the full rate: a longer one
     * trains the whole run below lr, and a study would rank the trial as
     * the lr it never had (PyTorch's LinearLR keeps warming silently) */
    if (s->warmup_steps > s->total_steps)
        return kerror_set(err, KE_INVALID, "warmup_steps", "%ld exceeds the run's %ld optimizer "
                          "steps (%ld epochs of %ld): the rate would never reach lr",
                          s->warmup_steps, s->total_steps, s->total_steps / s->steps_per_epoch,
                          s->steps_per_epoch);
    return KE_OK;
}

/* Fraction of the post-warm-up run done at `step`, in [0, 1]: 0 during the
 * warm-up, also when it lasts the whole run (no steps after it), or such a
 * run warmed up to min_lr instead of lr. */
static double progress(const schedule *s, long step)
{
    long span = s->total_steps - s->warmup_steps;
    if (step < s->warmup_steps) return 0.0;
    if (span <= 0) return 1.0;
    double p = (double)(step - s->warmup_steps) / (double)span;
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

/* PyTorch's _annealing_cos: from start (pct 0) to end (pct 1). */
static double anneal(double start, double end, double pct)
{
    return end + (start - end) / 2.0 * (cos(M_PI * pct) + 1.0);
}

/* OneCycleLR's two phases; a phase of no length ends at once. */
static double one_cycle(const schedule *s, long step)
{
    double initial = s->lr / s->div_factor, final = initial / s->final_div_factor;
    double end1 = s->pct_start * (double)s->total_steps - 1, end2 = (double)s->total_steps - 1;
    double t = (double)step;
    if (t <= end1) return anneal(initial, s->lr, end1 > 0 ? t / end1 : 1);
    double pct = end2 > end1 ? (t - end1) / (end2 - end1) : 1;
    return anneal(s->lr, final, pct > 1 ? 1 : pct);
}

/* SGDR: the period t falls in and the time since it began, in epochs. */
static double cosine_restarts(const schedule *s, long step)
{
    double t = (double)step / (double)s->steps_per_epoch, begin = 0, period = s->restart_period;
    while (t >= begin + period) {
        begin += period;
        period *= s->restart_mult;
    }
    return anneal(s->lr, s->min_lr, (t - begin) / period);
}

static double base_lr(const schedule *s, long step)
{
    long epoch = step / s->steps_per_epoch;
    switch (s->kind) {
    case SCHEDULE_CONSTANT:
        return s->lr;
    case SCHEDULE_STEP:
        return s->lr * pow(s->gamma, (double)(epoch / s->step_size));
    case SCHEDULE_MULTISTEP: {
        int passed = 0;
        while (passed < s->n_milestones && s->milestones[passed] <= epoch) passed++;
        return s->lr * pow(s->gamma, passed);
    }
    case SCHEDULE_EXPONENTIAL:
        return s->lr * pow(s->gamma, (double)epoch);
    case SCHEDULE_INVERSE_TIME:
        return s->lr / (1.0 + s->decay * (double)epoch);
    case SCHEDULE_LINEAR:
        return s->lr + (s->min_lr - s->lr) * progress(s, step);
    case SCHEDULE_COSINE:
        return s->min_lr + 0.5 * (s->lr - s->min_lr) * (1.0 + cos(M_PI * progress(s, step)));
    case SCHEDULE_ONE_CYCLE:
        return one_cycle(s, step);
    case SCHEDULE_COSINE_RESTARTS:
        return cosine_restarts(s, step);
    }
    return s->lr;
}

double schedule_lr(const schedule *s, long step)
{
    double lr = base_lr(s, step);
    if (step < s->warmup_steps) {
        double f = (double)(step + 1) / (double)s->warmup_steps;
        lr *= s->warmup_start + (1.0 - s->warmup_start) * f;
    }
    return lr;
}
