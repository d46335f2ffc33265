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
    if (s->warmup_steps < 0) return kerror_set(err, KE_INVALID, "warmup_steps", "must be >= 0");
    if (s->warmup_start < 0 || s->warmup_start > 1)
        return kerror_set(err, KE_INVALID, "warmup_start", "must be in [0, 1]");
    if (s->steps_per_epoch < 1 || s->total_steps < 1)
        return kerror_set(err, KE_INVALID, "epochs", "the run has no steps");
    return KE_OK;
}

/* Fraction of the post-warm-up run done at `step`, in [0, 1]. */
static double progress(const schedule *s, long step)
{
    long span = s->total_steps - s->warmup_steps;
    if (span <= 0) return 1.0;
    double p = (double)(step - s->warmup_steps) / (double)span;
    return p < 0 ? 0 : p > 1 ? 1 : p;
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
