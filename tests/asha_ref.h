/* asha_ref: the asha pruner's rule as search/asha_pruner.c computed it
 * before it kept an index, a scan and a sort of every curve at each rung a
 * report reached: the reference test_hyperband holds the indexed pruner
 * to, decision for decision. Header-only. */
#ifndef KESTREL_ASHA_REF_H
#define KESTREL_ASHA_REF_H

#include <stdlib.h>

#include "../search/pruner.h"

/* o's value at the rung at step r: its first report at a step >= r. */
static int asha_ref_rung_value(const strategy_obs *o, long r, double *v)
{
    for (int j = 0; j < o->n_steps; j++)
        if (o->steps[j] >= r) {
            *v = o->values[j];
            return 1;
        }
    return 0;
}

static int asha_ref_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 1 when value, at the rung at step r, is not among the best of the rung. */
static int asha_ref_loses_rung(int eta, const strategy_history *h, int number, long r,
                               double value)
{
    double *vals = malloc((size_t)(h->n_obs + 1) * sizeof *vals);
    if (!vals) return 0;
    int m = 0;
    vals[m++] = value;
    for (int i = 0; i < h->n_obs; i++)
        if (h->obs[i].number != number) m += asha_ref_rung_value(&h->obs[i], r, &vals[m]);
    qsort(vals, (size_t)m, sizeof *vals, asha_ref_cmp);
    int idx = m / eta - 1;
    int lose = value > vals[idx < 0 ? 0 : idx];
    free(vals);
    return lose;
}

static int asha_ref_should_stop(int r_min, int eta, int rate, const strategy_history *h,
                                int number, int step, double value)
{
    const strategy_obs *me = pruner_find_obs(h, number);
    long prev = -1;
    for (int j = 0; me && j < me->n_steps && me->steps[j] < step; j++) prev = me->steps[j];
    long r = r_min;
    for (int k = 0; k < rate && r <= step; k++) r *= eta;
    for (; r <= step; r *= eta)
        if (r > prev && asha_ref_loses_rung(eta, h, number, r, value)) return 1;
    return 0;
}

#endif
