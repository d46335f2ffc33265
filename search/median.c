/* median: the median stopping rule; see median.h. Invariant: the decision is
 * a function of (options, history, trial, step, value) alone, so a study
 * resumed from its history prunes the same way. The other trials compared
 * are COMPLETE and RUNNING ones that reported exactly step s: pruned and
 * failed curves would drag the median towards the bad ones. */
#include "median.h"

#include <stdlib.h>

struct pruner {
    int warmup, min_trials, interval;
};

static int median_create(pruner **out, const json_t *options, kerror *err)
{
    static const char *const known[] = { "warmup_steps", "min_trials", "interval", NULL };
    struct pruner p = { 0, 5, 1 };
    int rc;
    if ((rc = strategy_options_check(options, PRUNER_OPTIONS, known, err)) ||
        (rc = pruner_option_int(options, "warmup_steps", 0, 1000000000, &p.warmup, err)) ||
        (rc = pruner_option_int(options, "min_trials", 1, 1000000, &p.min_trials, err)) ||
        (rc = pruner_option_int(options, "interval", 1, 1000000000, &p.interval, err)))
        return rc;
    struct pruner *m = malloc(sizeof *m);
    if (!m) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    *m = p;
    *out = m;
    return KE_OK;
}

/* Mean of o's values at steps <= step, when o reported step itself. */
static int running_average(const strategy_obs *o, int step, double *avg)
{
    double sum = 0;
    int n = 0, hit = 0;
    for (int j = 0; j < o->n_steps && o->steps[j] <= step; j++) {
        sum += o->values[j];
        n++;
        hit = o->steps[j] == step;
    }
    if (hit) *avg = sum / n;
    return hit;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int median_should_stop(pruner *p, const strategy_history *h, int number, int step,
                              double value)
{
    if (step <= p->warmup) return 0;
    const strategy_obs *me = pruner_find_obs(h, number);
    double best = value;
    int prev = -1;   /* the trial's last reported step before this one */
    for (int j = 0; me && j < me->n_steps && me->steps[j] <= step; j++) {
        if (me->values[j] < best) best = me->values[j];
        if (me->steps[j] < step) prev = me->steps[j];
    }
    if (prev > p->warmup && (prev - p->warmup - 1) / p->interval == (step - p->warmup - 1) / p->interval)
        return 0;
    double *avg = malloc((size_t)(h->n_obs + 1) * sizeof *avg);
    if (!avg) return 0;   /* no memory to decide: let the trial go on */
    int n = 0;
    for (int i = 0; i < h->n_obs; i++) {
        const strategy_obs *o = &h->obs[i];
        if (o->number == number || (o->state != TRIAL_COMPLETE && o->state != TRIAL_RUNNING))
            continue;
        n += running_average(o, step, &avg[n]);
    }
    int stop = 0;
    if (n >= p->min_trials) {
        qsort(avg, (size_t)n, sizeof *avg, cmp_double);
        double median = n % 2 ? avg[n / 2] : 0.5 * (avg[n / 2 - 1] + avg[n / 2]);
        stop = best > median;
    }
    free(avg);
    return stop;
}

static void median_destroy(pruner *p)
{
    free(p);
}

const pruner_ops median_pruner = {
    .name = "median",
    .create = median_create,
    .should_stop = median_should_stop,
    .destroy = median_destroy,
};
