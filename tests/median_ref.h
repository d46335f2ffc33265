/* median_ref: the median stopping rule as search/median.c computed it
 * before it kept an index, a scan of every curve at each report: the
 * reference that test_hyperband holds the indexed pruner to, decision for
 * decision, and the "old" side of bench/median_bench. Header-only. */
#ifndef KESTREL_MEDIAN_REF_H
#define KESTREL_MEDIAN_REF_H

#include <stdlib.h>

#include "../search/pruner.h"

/* Mean of o's values at steps <= step, when o reported step itself. */
static int median_ref_average(const strategy_obs *o, int step, double *avg)
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

static int median_ref_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int median_ref_should_stop(int warmup, int min_trials, int interval,
                                  const strategy_history *h, int number, int step, double value)
{
    if (step <= warmup) return 0;
    const strategy_obs *me = pruner_find_obs(h, number);
    double best = value;
    int prev = -1;
    for (int j = 0; me && j < me->n_steps && me->steps[j] <= step; j++) {
        if (me->values[j] < best) best = me->values[j];
        if (me->steps[j] < step) prev = me->steps[j];
    }
    if (prev > warmup && (prev - warmup - 1) / interval == (step - warmup - 1) / interval)
        return 0;
    double *avg = malloc((size_t)(h->n_obs + 1) * sizeof *avg);
    if (!avg) return 0;
    int n = 0;
    for (int i = 0; i < h->n_obs; i++) {
        const strategy_obs *o = &h->obs[i];
        if (o->number == number || (o->state != TRIAL_COMPLETE && o->state != TRIAL_RUNNING))
            continue;
        n += median_ref_average(o, step, &avg[n]);
    }
    int stop = 0;
    if (n >= min_trials) {
        qsort(avg, (size_t)n, sizeof *avg, median_ref_cmp);
        double median = n % 2 ? avg[n / 2] : 0.5 * (avg[n / 2 - 1] + avg[n / 2]);
        stop = best > median;
    }
    free(avg);
    return stop;
}

#endif
