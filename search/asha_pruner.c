/* asha_pruner: successive halving as a pruner; see asha_pruner.h. A trial's
 * value at a rung is its first reported value at a step >= the rung's step.
 * Invariant: the decision is a function of (options, history, trial, step,
 * value), so a resumed study prunes the same way.
 * A report costs O(log n) in the n trials at its rung, not a scan and a sort
 * of every curve: observe keeps each rung's values in an order-statistic set
 * (what each trial put there is remembered, so a changed curve takes out
 * exactly that). */
#include "asha_pruner.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/rankset.h"

typedef struct {            /* what one trial holds in the rung sets */
    int n, cap;             /* rungs 0..n-1: a curve past a rung is past those below */
    double *v;              /* its value at each */
} rungs;

struct pruner {
    int r_min, eta, rate;
    rankset *sets;          /* sets[k]: every trial's value at rung k */
    int n_sets;
    rungs *trials;          /* by trial number */
    int n_trials;
    int lost;               /* out of memory once: the sets are no longer whole */
};

static int ap_create(pruner **out, const json_t *options, kerror *err)
{
    static const char *const known[] = { "min_resource", "eta", "min_early_stopping_rate", NULL };
    struct pruner p = { .r_min = 1, .eta = 3, .rate = 0 };
    int rc;
    if ((rc = strategy_options_check(options, PRUNER_OPTIONS, known, err)) ||
        (rc = pruner_option_int(options, "min_resource", 1, 1000000000, &p.r_min, err)) ||
        (rc = pruner_option_int(options, "eta", 2, 1000000, &p.eta, err)) ||
        (rc = pruner_option_int(options, "min_early_stopping_rate", 0, 60, &p.rate, err)))
        return rc;
    struct pruner *a = calloc(1, sizeof *a);
    if (!a) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    *a = p;
    *out = a;
    return KE_OK;
}

/* The step of rung k (rungs past a step's range are never reached). */
static long rung_step(const struct pruner *p, int k)
{
    long r = p->r_min;
    for (int i = 0; i < p->rate + k && r <= 2147483647L; i++) r *= p->eta;
    return r;
}

static int grow(void **arr, int *n, int want, size_t size)
{
    if (want <= *n) return KE_OK;
    int cap = *n ? *n : 4;
    while (cap < want) cap *= 2;
    char *bigger = realloc(*arr, (size_t)cap * size);
    if (!bigger) return KE_NOMEM;
    memset(bigger + (size_t)*n * size, 0, (size_t)(cap - *n) * size);
    *arr = bigger;
    *n = cap;
    return KE_OK;
}

/* Puts o's values at the rungs its curve (ascending steps) reaches in place
 * of what it held there. */
static int observe(struct pruner *p, const strategy_obs *o)
{
    if (o->number < 0) return KE_OK;
    if (grow((void **)&p->trials, &p->n_trials, o->number + 1, sizeof *p->trials) != KE_OK)
        return KE_NOMEM;
    rungs *t = &p->trials[o->number];
    for (int k = 0; k < t->n; k++) rankset_remove(&p->sets[k], t->v[k]);
    t->n = 0;
    int j = 0;
    for (int k = 0;; k++) {
        long r = rung_step(p, k);
        while (j < o->n_steps && o->steps[j] < r) j++;
        if (j == o->n_steps || !isfinite(o->values[j])) return KE_OK;
        if (k >= t->cap) {
            double *v = realloc(t->v, (size_t)(k + 8) * sizeof *v);
            if (!v) return KE_NOMEM;
            t->v = v;
            t->cap = k + 8;
        }
        if (grow((void **)&p->sets, &p->n_sets, k + 1, sizeof *p->sets) != KE_OK ||
            rankset_add(&p->sets[k], o->values[j]) != KE_OK)
            return KE_NOMEM;
        t->v[t->n++] = o->values[j];
    }
}

static void ap_observe(pruner *p, const strategy_obs *o)
{
    if (!p->lost && observe(p, o) != KE_OK) p->lost = 1;
}

/* The j-th smallest of set once one copy of x (in it when has_x) is taken out. */
static double kth_but(const rankset *set, int j, int has_x, double x)
{
    return rankset_kth(set, !has_x || j < rankset_rank(set, x) ? j : j + 1);
}

/* 1 when value, at rung k, is not among the best floor(m / eta) of the m
 * values there: the other trials' and this one. */
static int loses_rung(const struct pruner *p, int number, int k, double value)
{
    static const rankset empty;
    const rankset *set = k < p->n_sets ? &p->sets[k] : &empty;
    const rungs *t = number >= 0 && number < p->n_trials ? &p->trials[number] : NULL;
    int mine = t && k < t->n;
    double own = mine ? t->v[k] : 0;
    int others = rankset_size(set) - mine;
    int idx = (others + 1) / p->eta - 1;
    if (idx < 0) idx = 0;
    /* the idx-th smallest of the others and value */
    int below = rankset_rank(set, value) - (mine && own < value);
    double bar = idx < below ? kth_but(set, idx, mine, own)
                 : idx == below ? value : kth_but(set, idx - 1, mine, own);
    return value > bar;
}

static int ap_should_stop(pruner *p, const strategy_history *h, int number, int step,
                          double value)
{
    if (p->lost || !isfinite(value)) return 0;   /* lost: no memory to decide, let it go on */
    const strategy_obs *me = pruner_find_obs(h, number);
    long prev = -1;   /* the trial's last reported step before this one */
    for (int j = 0; me && j < me->n_steps && me->steps[j] < step; j++) prev = me->steps[j];
    /* Every rung this report reaches for the first time. */
    for (int k = 0;; k++) {
        long r = rung_step(p, k);
        if (r > step) return 0;
        if (r > prev && loses_rung(p, number, k, value)) return 1;
    }
}

static void ap_destroy(pruner *p)
{
    for (int k = 0; k < p->n_sets; k++) rankset_free(&p->sets[k]);
    free(p->sets);
    for (int i = 0; i < p->n_trials; i++) free(p->trials[i].v);
    free(p->trials);
    free(p);
}

const pruner_ops asha_pruner = {
    .name = "asha",
    .create = ap_create,
    .observe = ap_observe,
    .should_stop = ap_should_stop,
    .destroy = ap_destroy,
};
