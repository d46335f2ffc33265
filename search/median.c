/* median: the median stopping rule; see median.h. Invariant: the decision is
 * a function of (options, history, trial, step, value) alone, so a study
 * resumed from its history prunes the same way. The other trials compared
 * are COMPLETE and RUNNING ones that reported exactly step s: pruned and
 * failed curves would drag the median towards the bad ones.
 * A report costs O(log n) in the n trials compared, not a scan of every
 * curve: observe keeps, per step, the running averages of the compared
 * trials at that step in an order-statistic set (what each trial put there
 * is remembered, so a changed curve or state takes out exactly that). */
#include "median.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/rankset.h"

typedef struct {            /* what one trial holds in the step sets */
    int n, cap;
    int *steps;             /* ascending */
    double *avgs;           /* its running average at each */
} curve;

typedef struct {
    int step;
    rankset avgs;           /* of the compared trials that reported step */
} step_set;

struct pruner {
    int warmup, min_trials, interval;
    step_set *sets;         /* by ascending step */
    int n_sets, cap_sets;
    curve *curves;          /* by trial number */
    int n_curves;
    curve next;             /* scratch: a trial's entries as observe recomputes them */
    int lost;               /* out of memory once: the sets are no longer whole */
};

static int median_create(pruner **out, const json_t *options, kerror *err)
{
    static const char *const known[] = { "warmup_steps", "min_trials", "interval", NULL };
    struct pruner p = { .warmup = 0, .min_trials = 5, .interval = 1 };
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

static int curve_reserve(curve *c, int n)
{
    if (n <= c->cap) return KE_OK;
    int cap = c->cap ? c->cap : 8;
    while (cap < n) cap *= 2;
    int *s = realloc(c->steps, (size_t)cap * sizeof *s);
    if (!s) return KE_NOMEM;
    c->steps = s;
    double *a = realloc(c->avgs, (size_t)cap * sizeof *a);
    if (!a) return KE_NOMEM;
    c->avgs = a;
    c->cap = cap;
    return KE_OK;
}

/* Index of step in c, or -1. */
static int curve_find(const curve *c, int step)
{
    int lo = 0, hi = c->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (c->steps[mid] < step) lo = mid + 1;
        else hi = mid;
    }
    return lo < c->n && c->steps[lo] == step ? lo : -1;
}

/* The set of step, created when want_new; NULL when there is none (or no
 * memory for it). */
static rankset *set_of(pruner *p, int step, int want_new)
{
    int lo = 0, hi = p->n_sets;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (p->sets[mid].step < step) lo = mid + 1;
        else hi = mid;
    }
    if (lo < p->n_sets && p->sets[lo].step == step) return &p->sets[lo].avgs;
    if (!want_new) return NULL;
    if (p->n_sets == p->cap_sets) {
        int cap = p->cap_sets ? p->cap_sets * 2 : 16;
        step_set *s = realloc(p->sets, (size_t)cap * sizeof *s);
        if (!s) return NULL;
        p->sets = s;
        p->cap_sets = cap;
    }
    memmove(&p->sets[lo + 1], &p->sets[lo], (size_t)(p->n_sets - lo) * sizeof *p->sets);
    p->n_sets++;
    p->sets[lo] = (step_set){ .step = step };
    return &p->sets[lo].avgs;
}

/* o's entries: at each step it reported, the mean of its values up to that
 * step, summed in curve order (the rule's own arithmetic); none when o is
 * neither COMPLETE nor RUNNING. Values near the double range (1e308 twice)
 * overflow the sum: then the mean is the one updated step by step, each of
 * whose terms is within the largest |value| seen. */
static int entries_of(const strategy_obs *o, curve *out)
{
    out->n = 0;
    if (o->state != TRIAL_COMPLETE && o->state != TRIAL_RUNNING) return KE_OK;
    if (curve_reserve(out, o->n_steps) != KE_OK) return KE_NOMEM;
    double sum = 0, mean = 0;
    for (int j = 0; j < o->n_steps; j++) {
        double n = j + 1, v = o->values[j];
        sum += v;
        mean = mean - mean / n + v / n;   /* = (mean * j + v) / n, without the product */
        out->steps[j] = o->steps[j];
        out->avgs[j] = isfinite(sum) ? sum / n : mean;
    }
    out->n = o->n_steps;
    return KE_OK;
}

/* Moves the step sets from what trial c held to what next holds: both
 * ascending by step, so one merge walk finds what left, came or changed. */
static int move_entries(pruner *p, const curve *c, const curve *next)
{
    int i = 0, j = 0;
    while (i < c->n || j < next->n) {
        int old = i < c->n && (j == next->n || c->steps[i] <= next->steps[j]);
        int neu = j < next->n && (i == c->n || next->steps[j] <= c->steps[i]);
        if (old && neu && c->avgs[i] == next->avgs[j]) {
            i++, j++;
            continue;
        }
        rankset *set = set_of(p, old ? c->steps[i] : next->steps[j], neu);
        if (!set) return KE_NOMEM;
        if (old) rankset_remove(set, c->avgs[i++]);
        if (neu && rankset_add(set, next->avgs[j++]) != KE_OK) return KE_NOMEM;
    }
    return KE_OK;
}

static int observe(pruner *p, const strategy_obs *o)
{
    if (o->number >= p->n_curves) {
        int n = p->n_curves ? p->n_curves : 64;
        while (n <= o->number) n *= 2;
        curve *c = realloc(p->curves, (size_t)n * sizeof *c);
        if (!c) return KE_NOMEM;
        memset(&c[p->n_curves], 0, (size_t)(n - p->n_curves) * sizeof *c);
        p->curves = c;
        p->n_curves = n;
    }
    curve *c = &p->curves[o->number];
    int rc = entries_of(o, &p->next);
    if (rc == KE_OK) rc = move_entries(p, c, &p->next);
    if (rc == KE_OK) rc = curve_reserve(c, p->next.n);
    if (rc != KE_OK) return rc;
    if (p->next.n > 0) {        /* with none, the arrays may not exist yet */
        memcpy(c->steps, p->next.steps, (size_t)p->next.n * sizeof *c->steps);
        memcpy(c->avgs, p->next.avgs, (size_t)p->next.n * sizeof *c->avgs);
    }
    c->n = p->next.n;
    return KE_OK;
}

static void median_observe(pruner *p, const strategy_obs *o)
{
    if (!p->lost && observe(p, o) != KE_OK) p->lost = 1;
}

/* The k-th smallest of set once one copy of x is taken out. */
static double kth_without(const rankset *set, int k, double x)
{
    return rankset_kth(set, k < rankset_rank(set, x) ? k : k + 1);
}

static int median_should_stop(pruner *p, const strategy_history *h, int number, int step,
                              double value)
{
    if (step <= p->warmup || p->lost) return 0;   /* lost: no memory to decide, let it go on */
    const strategy_obs *me = pruner_find_obs(h, number);
    double best = value;
    int prev = -1;   /* the trial's last reported step before this one */
    for (int j = 0; me && j < me->n_steps && me->steps[j] <= step; j++) {
        if (me->values[j] < best) best = me->values[j];
        if (me->steps[j] < step) prev = me->steps[j];
    }
    if (prev > p->warmup && (prev - p->warmup - 1) / p->interval == (step - p->warmup - 1) / p->interval)
        return 0;
    const rankset *set = set_of(p, step, 0);
    if (!set) return 0;
    int n = rankset_size(set), mine = -1;
    if (number >= 0 && number < p->n_curves) mine = curve_find(&p->curves[number], step);
    if (mine >= 0) n--;   /* the others only */
    if (n < p->min_trials) return 0;
    double x = mine >= 0 ? p->curves[number].avgs[mine] : 0;
    double lo = mine >= 0 ? kth_without(set, (n - 1) / 2, x) : rankset_kth(set, (n - 1) / 2);
    double hi = mine >= 0 ? kth_without(set, n / 2, x) : rankset_kth(set, n / 2);
    double median = n % 2 ? lo : 0.5 * lo + 0.5 * hi;   /* lo + hi overflows at 1e308 */
    return best > median;
}

static void curve_free(curve *c)
{
    free(c->steps);
    free(c->avgs);
}

static void median_destroy(pruner *p)
{
    for (int i = 0; i < p->n_sets; i++) rankset_free(&p->sets[i].avgs);
    free(p->sets);
    for (int i = 0; i < p->n_curves; i++) curve_free(&p->curves[i]);
    free(p->curves);
    curve_free(&p->next);
    free(p);
}

const pruner_ops median_pruner = {
    .name = "median",
    .create = median_create,
    .observe = median_observe,
    .should_stop = median_should_stop,
    .destroy = median_destroy,
};
