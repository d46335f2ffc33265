/* hyperband: brackets of successive halving, rebuilt from the history at
 * every call; see hyperband.h and docs/hyperband.md. How the history maps to
 * brackets and rungs (fidelity.h builds the lineage):
 *   - fresh configuration c (c-th trial with no retry_of and no resumed_from)
 *     belongs to the bracket b with cum(b) <= c < cum(b + 1), cum(b) being the
 *     configurations of the brackets before b, and sits in its rung 0;
 *   - a trial with resumed_from = t (and no retry_of) is a promotion: it sits
 *     one rung above t's, in t's bracket;
 *   - a trial with retry_of = t replaces t in t's place;
 *   - a fresh trial of an enqueued configuration at budget R where its place
 *     would be at a smaller budget ran once the last round had been handed
 *     out (the scheduler runs such a one at full budget) and takes no
 *     place: see in_no_bracket.
 * With `rounds` the brackets run again after the last (Hyperband's outer
 * loop): bracket index K = round * n_br + k runs bracket k's table.
 * Invariant: brackets run in order and a bracket's rung i + 1 starts only
 * once every trial of rung i has ended, so the first bracket that is not
 * finished is the only one that can need anything. */
#include "hyperband.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fidelity.h"

/* "rounds" at most: round * n_br + k, a bracket's index, stays an int */
#define MAX_ROUNDS 1000000

struct strategy {
    fidelity_opts o;
    hyperband_bracket br[HYPERBAND_MAX_BRACKETS];
    int n_br;
    int cum[HYPERBAND_MAX_BRACKETS + 1];   /* configurations before bracket b */
    int rounds;                 /* times the brackets run; 0: until the budget ends */
    fidelity_sampler smp;
};

int hyperband_brackets(int R, int eta, int r_min, hyperband_bracket *out, int max)
{
    if (r_min < 1 || R < r_min || R > 1000000 || eta < 2) return KE_INVALID;
    int s_max = 0;
    for (long p = (long)r_min * eta; p <= R; p *= eta) s_max++;
    for (int s = s_max, b = 0; s >= 0; s--, b++) {
        if (b >= max) continue;
        hyperband_bracket *k = &out[b];
        long pow_s = 1;
        for (int i = 0; i < s; i++) pow_s *= eta;
        long n = ((long)(s_max + 1) * pow_s + s) / (s + 1);   /* ceil */
        k->s = s;
        k->n_rungs = s + 1;
        long div = pow_s;                                      /* eta^(s - i) */
        for (int i = 0; i <= s; i++, div /= eta) {
            k->n[i] = (int)(n * div / pow_s);                  /* floor(n / eta^i) */
            k->r[i] = (int)(R / div);
        }
    }
    return s_max + 1;
}

static void hb_destroy(strategy *b)
{
    if (!b) return;
    fidelity_sampler_free(&b->smp);
    free(b);
}

/* "rounds" is Hyperband's own option: the checks it shares with ASHA know
 * it by name, so that a near miss ("round") is named as one. */
static int hb_options(struct strategy *b, const json_t *options, kerror *err)
{
    const json_t *v = json_is_object(options) ? json_object_get(options, "rounds") : NULL;
    long long rounds = 1;
    if (v && !strategy_option_int(v, 0, MAX_ROUNDS, &rounds))
        return kerror_set(err, KE_INVALID, "strategy.options.rounds",
                          "must be an integer in [0, %d] (0: repeat the brackets until the budget "
                          "ends)", MAX_ROUNDS);
    b->rounds = (int)rounds;
    return fidelity_options(options, "rounds", &b->o, err);
}

static int hb_create(strategy **out, const space *sp, const json_t *options, uint64_t seed,
                     kerror *err)
{
    struct strategy *b = calloc(1, sizeof *b);
    if (!b) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int rc = hb_options(b, options, err);
    if (!rc) {
        b->n_br = hyperband_brackets(b->o.R, b->o.eta, b->o.r_min, b->br, HYPERBAND_MAX_BRACKETS);
        for (int k = 0; k < b->n_br; k++) b->cum[k + 1] = b->cum[k] + b->br[k].n[0];
        rc = fidelity_sampler_init(&b->smp, sp, &b->o, seed, err);
    }
    if (rc) {
        hb_destroy(b);
        return rc;
    }
    *out = b;
    return KE_OK;
}

typedef struct {
    int bracket;            /* index of the first unfinished bracket; -1 when all have ended */
    int rung;               /* its rung that is running or to promote from */
    int fresh;              /* configurations still to start in its rung 0 */
    int n_promote;          /* slots of `rung` to promote now, best first */
    int *promote;           /* owned */
} hb_plan;

/* The bracket index of fresh configuration `config`, -1 for none. */
static int bracket_of(const struct strategy *b, int config)
{
    if (config < 0) return -1;
    int per_round = b->cum[b->n_br], round = config / per_round;
    if (b->rounds && round >= b->rounds) return -1;
    config %= per_round;
    for (int k = 0; k < b->n_br; k++)
        if (config < b->cum[k + 1]) return round * b->n_br + k;
    return -1;
}

/* 1 when a trial of budget `budget` fits rung `rung` of the bracket of
 * fresh configuration `config` in the current table. */
static int fits_place(const struct strategy *b, int config, int rung, int budget)
{
    int k = bracket_of(b, config);
    if (k < 0 || rung < 0) return 0;
    const hyperband_bracket *br = &b->br[k % b->n_br];
    return rung < br->n_rungs && br->r[rung] == budget;
}

/* Numbers the fresh configurations of l again, giving a place (in order:
 * the next fresh configuration's bracket, rung 0) only to a trial that ran
 * that place's budget, and a promotion its rung of its configuration's
 * bracket only if it ran that rung's budget; the others take no place
 * (config -1, as their retries and promotions) and the parent of a
 * promotion left out counts as not promoted. That leaves out:
 *   - a configuration enqueued after the last round, which ran at R in no
 *     bracket: rerun with more rounds it took the first place of the next
 *     round's first bracket, at its bottom rung, and that bracket ran one
 *     configuration fewer;
 *   - after a `kestrel run --force` that changed max_resource, min_resource
 *     or eta, the trials whose budgets the new brackets do not have where
 *     they would stand: by their order alone, a trial that had run 9 epochs
 *     took a bottom rung of 1 and was "promoted" to 3 (resumed from 9), a
 *     trial that trains nothing.
 * With the table the trials ran under, every other trial ran its place's
 * budget (an enqueued configuration that takes a place runs at its
 * budget). Returns the sampler's index of the next fresh configuration:
 * the fresh configurations that took a place or drew a point, which is all
 * but the enqueued ones that took none. */
static int in_no_bracket(const struct strategy *b, const strategy_history *h, fidelity_lineage *l)
{
    int next = 0, drawn = 0, i = 0;
    for (int j = 0; j < l->n; j++) {
        fidelity_slot *s = &l->slot[j];
        int budget = h->obs[s->latest].budget;
        if (s->parent >= 0) {   /* a promotion: its parent's (slots go by number) */
            s->config = l->slot[s->parent].config;
            if (s->config >= 0 && !fits_place(b, s->config, s->rung, budget)) {
                s->config = -1;
                l->slot[s->parent].promoted--;
            }
            continue;
        }
        if (s->config < 0) continue;   /* resumed from a trial the history lacks */
        while (i + 1 < h->n_obs && h->obs[i].number < s->head) i++;   /* the head's: both by number */
        if (fits_place(b, next, 0, budget)) {
            s->config = next++;
            drawn++;
        } else {
            s->config = -1;
            drawn += !h->obs[i].enqueued;
        }
    }
    return drawn;
}

/* The places in brackets that l's fresh configurations hold, numbered by
 * in_no_bracket: the number of the next fresh place. */
static int places_taken(const fidelity_lineage *l)
{
    int next = 0;
    for (int j = 0; j < l->n; j++) next += l->slot[j].parent < 0 && l->slot[j].config >= 0;
    return next;
}

/* Walks bracket k's rungs, whose slots are members[0..n_members) (ascending);
 * 1 when it has ended, 0 when p says what it needs (fresh trials,
 * promotions, or nothing while a rung runs), < 0 on error. idx has room for
 * every slot. */
static int walk_bracket(const struct strategy *b, int k, const int *members, int n_members,
                        const strategy_history *h, const fidelity_lineage *l, int *idx,
                        hb_plan *p, kerror *err)
{
    const hyperband_bracket *br = &b->br[k % b->n_br];
    p->bracket = k;
    for (int i = 0; i < br->n_rungs; i++) {
        int m = 0, running = 0;
        for (int e = 0; e < n_members; e++) {
            const fidelity_slot *s = &l->slot[members[e]];
            if (s->rung != i) continue;
            running |= !fidelity_slot_finished(s, h);
            idx[m++] = members[e];
        }
        p->rung = i;
        if (i == 0 && m < br->n[0]) {
            p->fresh = br->n[0] - m;
            return 0;
        }
        if (running) return 0;
        if (i + 1 == br->n_rungs) return 1;
        int c = 0, promoted = 0;
        for (int j = 0; j < m; j++) {
            promoted += l->slot[idx[j]].promoted > 0;
            if (fidelity_slot_complete(&l->slot[idx[j]], h)) idx[c++] = idx[j];
        }
        /* Failed and pruned trials rank last and are never promoted. */
        int quota = br->n[i + 1] < c ? br->n[i + 1] : c;
        if (quota == 0) return 1;
        int rc = fidelity_rank(idx, c, l, h, err);
        if (rc) return rc;
        for (int j = 0; j < c && promoted < quota; j++) {
            if (l->slot[idx[j]].promoted) continue;
            p->promote[p->n_promote++] = idx[j];
            promoted++;
        }
        if (p->n_promote > 0) return 0;
    }
    return 1;
}

/* What the history needs next; p->promote is allocated (free it). The
 * slots are grouped by bracket first (a counting sort, in slot order), so
 * that each bracket's walk reads its own slots only: with `rounds` 0 a study
 * of 10,000 trials has ended over a thousand brackets, and walking each of
 * them over every slot made one call quadratic in the trials (77 ms for a
 * done() and a suggest() at 6,000, made at every fill while a rung runs). */
static int make_plan(const struct strategy *b, const strategy_history *h,
                     const fidelity_lineage *l, hb_plan *p, kerror *err)
{
    memset(p, 0, sizeof *p);
    size_t n = (size_t)l->n + 1;
    p->promote = malloc(n * sizeof *p->promote);
    int *idx = malloc(n * sizeof *idx), *of = malloc(n * sizeof *of);
    int *members = malloc(n * sizeof *members), *first = NULL;
    int rc = p->promote && idx && of && members ? KE_OK
             : kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int n_k = 0;   /* brackets that hold a slot: 0 .. n_k - 1 */
    for (int j = 0; !rc && j < l->n; j++) {
        of[j] = bracket_of(b, l->slot[j].config);
        if (of[j] >= n_k) n_k = of[j] + 1;
    }
    if (!rc && !(first = calloc((size_t)n_k + 1, sizeof *first)))
        rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (int j = 0; !rc && j < l->n; j++)
        if (of[j] >= 0) first[of[j] + 1]++;
    for (int k = 0; !rc && k < n_k; k++) first[k + 1] += first[k];
    for (int j = 0; !rc && j < l->n; j++)   /* first[k] moves to bracket k's end */
        if (of[j] >= 0) members[first[of[j]]++] = j;
    /* back to its start; first[n_k], the count, stays: the last one's end */
    for (int k = n_k - 1; !rc && k > 0; k--) first[k] = first[k - 1];
    if (!rc && n_k > 0) first[0] = 0;
    int k = 0, end = b->rounds ? b->rounds * b->n_br : INT_MAX;
    while (!rc && k < end) {
        const int *mine = k < n_k ? members + first[k] : NULL;
        int n_mine = k < n_k ? first[k + 1] - first[k] : 0;
        if ((rc = walk_bracket(b, k, mine, n_mine, h, l, idx, p, err)) != 1) break;
        rc = KE_OK;
        k++;
    }
    if (k == end) p->bracket = -1;
    free(first);
    free(members);
    free(of);
    free(idx);
    return rc < 0 ? rc : KE_OK;
}

static int hb_suggest(strategy *b, const strategy_history *h, strategy_suggestion *out, int n,
                      kerror *err)
{
    static const strategy_history empty = { NULL, 0, 0, NULL };
    if (!h) h = &empty;
    fidelity_lineage l;
    hb_plan p;
    int rc = fidelity_lineage_build(&l, h, err);
    if (rc) return rc;
    /* l.fresh counts the enqueued trials in no bracket too, which drew no
     * point: a study run again with more rounds asked the sampler from one
     * index further per such trial, and the points it skipped were never
     * drawn */
    int drawn = in_no_bracket(b, h, &l);
    rc = make_plan(b, h, &l, &p, err);
    int got = 0;
    if (!rc && p.bracket >= 0) {
        const hyperband_bracket *br = &b->br[p.bracket % b->n_br];
        if (p.fresh > 0) {
            got = p.fresh < n ? p.fresh : n;
            for (int i = 0; i < got; i++) {
                out[i].budget = br->r[0];
                out[i].resume_from = -1;
            }
            rc = fidelity_sample(&b->smp, h, drawn, out, got, err);
        } else {
            got = p.n_promote < n ? p.n_promote : n;
            for (int i = 0; i < got; i++) {
                const strategy_obs *o = &h->obs[l.slot[p.promote[i]].latest];
                out[i] = (strategy_suggestion){ o->point, br->r[p.rung + 1], o->number };
            }
        }
    }
    free(p.promote);
    fidelity_lineage_free(&l);
    return rc ? rc : got;
}

static int hb_done(strategy *b, const strategy_history *h)
{
    static const strategy_history empty = { NULL, 0, 0, NULL };
    fidelity_lineage l;
    hb_plan p;
    if (fidelity_lineage_build(&l, h ? h : &empty, NULL)) return 0;
    in_no_bracket(b, h ? h : &empty, &l);
    int rc = make_plan(b, h ? h : &empty, &l, &p, NULL);
    free(p.promote);
    fidelity_lineage_free(&l);
    return rc == KE_OK && p.bracket < 0;
}

/* An enqueued configuration started now is the next fresh one by number,
 * so in_no_bracket gives it the place that follows the history's: the
 * bottom rung of its bracket, which need not have started (brackets still
 * run in order: only their promotions wait), or R in none. */
static int hb_enqueued_budget(strategy *b, const strategy_history *h, kerror *err)
{
    static const strategy_history empty = { NULL, 0, 0, NULL };
    fidelity_lineage l;
    int rc = fidelity_lineage_build(&l, h ? h : &empty, err);
    if (rc) return rc;
    in_no_bracket(b, h ? h : &empty, &l);
    int next = places_taken(&l);
    fidelity_lineage_free(&l);
    int k = bracket_of(b, next);
    return k < 0 ? b->o.R : b->br[k % b->n_br].r[0];
}

const strategy_ops hyperband_strategy = {
    .name = "hyperband",
    .gives_budgets = 1,
    .create = hb_create,
    .suggest = hb_suggest,
    .done = hb_done,
    .enqueued_budget = hb_enqueued_budget,
    .destroy = hb_destroy,
};
