/* asha_pruner: successive halving as a pruner; see asha_pruner.h. A trial's
 * value at a rung is its first reported value at a step >= the rung's step.
 * Invariant: the decision is a function of (options, history, trial, step,
 * value), so a resumed study prunes the same way. */
#include "asha_pruner.h"

#include <stdlib.h>

struct pruner {
    int r_min, eta, rate;
};

static int ap_create(pruner **out, const json_t *options, kerror *err)
{
    static const char *const known[] = { "min_resource", "eta", "min_early_stopping_rate", NULL };
    struct pruner p = { 1, 3, 0 };
    int rc;
    if ((rc = strategy_options_check(options, PRUNER_OPTIONS, known, err)) ||
        (rc = pruner_option_int(options, "min_resource", 1, 1000000000, &p.r_min, err)) ||
        (rc = pruner_option_int(options, "eta", 2, 1000000, &p.eta, err)) ||
        (rc = pruner_option_int(options, "min_early_stopping_rate", 0, 60, &p.rate, err)))
        return rc;
    struct pruner *a = malloc(sizeof *a);
    if (!a) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    *a = p;
    *out = a;
    return KE_OK;
}

/* o's value at the rung at step r: its first report at a step >= r. */
static int rung_value(const strategy_obs *o, long r, double *v)
{
    for (int j = 0; j < o->n_steps; j++)
        if (o->steps[j] >= r) {
            *v = o->values[j];
            return 1;
        }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 1 when value, at the rung at step r, is not among the best of the rung. */
static int loses_rung(const struct pruner *p, const strategy_history *h, int number, long r,
                      double value)
{
    double *vals = malloc((size_t)(h->n_obs + 1) * sizeof *vals);
    if (!vals) return 0;   /* no memory to decide: let the trial go on */
    int m = 0;
    vals[m++] = value;
    for (int i = 0; i < h->n_obs; i++)
        if (h->obs[i].number != number) m += rung_value(&h->obs[i], r, &vals[m]);
    qsort(vals, (size_t)m, sizeof *vals, cmp_double);
    int idx = m / p->eta - 1;
    int lose = value > vals[idx < 0 ? 0 : idx];
    free(vals);
    return lose;
}

static int ap_should_stop(pruner *p, const strategy_history *h, int number, int step,
                          double value)
{
    const strategy_obs *me = pruner_find_obs(h, number);
    long prev = -1;   /* the trial's last reported step before this one */
    for (int j = 0; me && j < me->n_steps && me->steps[j] < step; j++) prev = me->steps[j];
    long r = p->r_min;
    for (int k = 0; k < p->rate && r <= step; k++) r *= p->eta;
    /* Every rung this report reaches for the first time. */
    for (; r <= step; r *= p->eta)
        if (r > prev && loses_rung(p, h, number, r, value)) return 1;
    return 0;
}

static void ap_destroy(pruner *p)
{
    free(p);
}

const pruner_ops asha_pruner = {
    .name = "asha",
    .create = ap_create,
    .should_stop = ap_should_stop,
    .destroy = ap_destroy,
};
