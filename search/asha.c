/* asha: asynchronous successive halving, rebuilt from the history at every
 * call; see asha.h. A trial's rung is the ladder's highest whose budget it
 * ran (see rung_of), which is its depth in its lineage (fidelity.h: a fresh
 * configuration at rung 0, a promotion, resumed_from = t, one rung above t,
 * a retry in its original's place) unless a `kestrel run --force` changed
 * the ladder. Invariant: a trial is promoted at
 * most once, and only while it ranks among the best floor(ended / eta) of its
 * rung, where ended counts its rung's trials that have ended in any state and
 * failed or pruned ones rank last (ASHA's top_k(rung, |rung| / eta)). */
#include "asha.h"

#include <stdlib.h>
#include <string.h>

#include "fidelity.h"
#include "hyperband.h"

struct strategy {
    fidelity_opts o;
    hyperband_bracket ladder;   /* rung budgets: Hyperband's bracket s_max */
    fidelity_sampler smp;
};

static void asha_destroy(strategy *a)
{
    if (!a) return;
    fidelity_sampler_free(&a->smp);
    free(a);
}

static int asha_create(strategy **out, const space *sp, const json_t *options, uint64_t seed,
                       kerror *err)
{
    /* A spec switched from hyperband to asha keeps its rounds; "unknown
     * option" alone said neither whose option it is nor what asha does. */
    if (json_is_object(options) && json_object_get(options, "rounds"))
        return kerror_set(err, KE_INVALID, "strategy.options.rounds",
                          "is a hyperband option (how many times its brackets run); asha has "
                          "no rounds: it starts new configurations until budget.max_trials or "
                          "max_seconds ends the study, promoting the best of each rung as it "
                          "goes; remove it");
    struct strategy *a = calloc(1, sizeof *a);
    if (!a) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int rc = fidelity_options(options, NULL, &a->o, err);
    if (!rc) {
        hyperband_brackets(a->o.R, a->o.eta, a->o.r_min, &a->ladder, 1);
        rc = fidelity_sampler_init(&a->smp, sp, &a->o, seed, err);
    }
    if (rc) {
        asha_destroy(a);
        return rc;
    }
    *out = a;
    return KE_OK;
}

typedef struct {
    int *buf;                              /* COMPLETE slots, grouped by rung, best first */
    int start[HYPERBAND_MAX_BRACKETS + 1]; /* rung k's group: buf[start[k] .. start[k+1]) */
    int quota[HYPERBAND_MAX_BRACKETS];     /* floor(ended / eta), at most the group size */
    int cur[HYPERBAND_MAX_BRACKETS];       /* next position of the group to consider */
} rungs;

/* The rung of slot s: the highest of the ladder whose budget is at most the
 * one its trial ran (rung 0 below r[0], and for budget 0, a trial of
 * another strategy before a --force), -1 for a promotion whose parent the
 * history lacks. With the ladder the trials ran under it is their depth,
 * the budgets rising strictly with the rungs; a --force that changed
 * min_resource, max_resource or eta changes the ladder, and by depth a
 * trial that ran 3 epochs stood in a rung of 1, so that it outranked the
 * rung's trials and was "promoted" to 3 again, a trial that trains nothing. */
static int rung_of(const struct strategy *a, const fidelity_slot *s, const strategy_history *h)
{
    if (s->rung < 0) return -1;
    int budget = h->obs[s->latest].budget, k = 0;
    while (k + 1 < a->ladder.n_rungs && a->ladder.r[k + 1] <= budget) k++;
    return k;
}

/* Groups and ranks the COMPLETE slots of every rung below the top. */
static int build_rungs(const struct strategy *a, const strategy_history *h,
                       fidelity_lineage *l, rungs *g, kerror *err)
{
    int top = a->ladder.n_rungs - 1, ended[HYPERBAND_MAX_BRACKETS] = { 0 };
    int fill[HYPERBAND_MAX_BRACKETS] = { 0 };
    memset(g, 0, sizeof *g);
    g->buf = malloc((size_t)(l->n + 1) * sizeof *g->buf);
    if (!g->buf) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (int j = 0; j < l->n; j++) {
        fidelity_slot *s = &l->slot[j];
        s->rung = rung_of(a, s, h);
        if (s->rung < 0 || s->rung >= top) continue;
        ended[s->rung] += fidelity_slot_finished(s, h);
        g->start[s->rung + 1] += fidelity_slot_complete(s, h);
    }
    for (int k = 0; k < top; k++) g->start[k + 1] += g->start[k];
    for (int j = 0; j < l->n; j++) {
        const fidelity_slot *s = &l->slot[j];
        if (s->rung >= 0 && s->rung < top && fidelity_slot_complete(s, h))
            g->buf[g->start[s->rung] + fill[s->rung]++] = j;
    }
    for (int k = 0; k < top; k++) {
        int size = g->start[k + 1] - g->start[k];
        int rc = fidelity_rank(g->buf + g->start[k], size, l, h, err);
        if (rc) return rc;
        g->quota[k] = ended[k] / a->o.eta < size ? ended[k] / a->o.eta : size;
    }
    return KE_OK;
}

/* A slot to promote, from the highest rung that has one, or -1. Marks it
 * promoted in l so the same call does not promote it twice. */
static int next_promotion(const struct strategy *a, fidelity_lineage *l, rungs *g)
{
    for (int k = a->ladder.n_rungs - 2; k >= 0; k--) {
        while (g->cur[k] < g->quota[k] && l->slot[g->buf[g->start[k] + g->cur[k]]].promoted)
            g->cur[k]++;
        if (g->cur[k] < g->quota[k]) {
            int j = g->buf[g->start[k] + g->cur[k]++];
            l->slot[j].promoted++;
            return j;
        }
    }
    return -1;
}

static int asha_suggest(strategy *a, const strategy_history *h, strategy_suggestion *out, int n,
                        kerror *err)
{
    static const strategy_history empty = { NULL, 0, 0, NULL };
    if (!h) h = &empty;
    fidelity_lineage l;
    rungs g;
    int rc = fidelity_lineage_build(&l, h, err);
    if (rc) return rc;
    rc = build_rungs(a, h, &l, &g, err);
    int i = 0;
    for (; i < n && !rc; i++) {
        int j = next_promotion(a, &l, &g);
        if (j < 0) break;
        const strategy_obs *o = &h->obs[l.slot[j].latest];
        out[i] = (strategy_suggestion){ o->point, a->ladder.r[l.slot[j].rung + 1], o->number };
    }
    for (int f = i; f < n && !rc; f++) {
        out[f].budget = a->ladder.r[0];
        out[f].resume_from = -1;
    }
    if (!rc && i < n) rc = fidelity_sample(&a->smp, h, l.fresh, out + i, n - i, err);
    free(g.buf);
    fidelity_lineage_free(&l);
    return rc ? rc : n;
}

/* Asynchronous: there is always a new configuration to start. */
static int asha_done(strategy *a, const strategy_history *h)
{
    (void)a;
    (void)h;
    return 0;
}

/* Every fresh configuration starts at the bottom rung. */
static int asha_enqueued_budget(strategy *a, const strategy_history *h, kerror *err)
{
    (void)h;
    (void)err;
    return a->ladder.r[0];
}

const strategy_ops asha_strategy = {
    .name = "asha",
    .gives_budgets = 1,
    .create = asha_create,
    .suggest = asha_suggest,
    .done = asha_done,
    .enqueued_budget = asha_enqueued_budget,
    .destroy = asha_destroy,
};
