/* fidelity: options, lineage and sampler shared by Hyperband and ASHA; see
 * fidelity.h. Invariant: nothing here keeps state between calls except the
 * inner GP's warm start and the Sobol cursor's position, which only saves
 * work (its points are sobol_unit's), so the lineage and the random and
 * Sobol samplers are pure functions of (options, seed, history). */
#include "fidelity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bo.h"
#include "sobol.h"

#define COIN_SALT 0x626f6862ULL   /* "bohb": the random-or-model coin's stream */
#define GP_SALT 0x67707362ULL     /* the inner GP's seed */
#define MAX_BUDGETS 64            /* distinct budgets tracked for the model */

static int bad(kerror *err, const char *key, const char *msg)
{
    char path[KERROR_PATH_MAX];
    snprintf(path, sizeof path, "strategy.options.%s", key);
    return kerror_set(err, KE_INVALID, path, "%s", msg);
}

static int opt_int(const json_t *o, const char *key, int lo, int *out, kerror *err)
{
    json_t *v = json_object_get(o, key);
    if (!v) return KE_OK;
    long long i;
    if (!strategy_option_int(v, lo, FIDELITY_MAX_RESOURCE, &i)) {
        char msg[96];
        snprintf(msg, sizeof msg, "must be an integer in [%d, %d]", lo, FIDELITY_MAX_RESOURCE);
        return bad(err, key, msg);
    }
    *out = (int)i;
    return KE_OK;
}

int fidelity_options(const json_t *options, const char *own, fidelity_opts *o, kerror *err)
{
    const char *const known[] = { "min_resource", "max_resource", "eta", "sampler",
                                  "random_fraction", own, NULL };
    o->r_min = 1;
    o->R = 0;
    o->eta = 3;
    o->sampler = FIDELITY_SOBOL;
    o->random_fraction = 1.0 / 3.0;
    int rc = strategy_options_check(options, STRATEGY_OPTIONS, known, err);
    if (rc) return rc;
    if (!options || !json_object_get(options, "max_resource"))
        return bad(err, "max_resource", "required option missing (the largest budget, e.g. "
                                        "the trainer's epochs)");
    if ((rc = opt_int(options, "min_resource", 1, &o->r_min, err)) ||
        (rc = opt_int(options, "max_resource", 1, &o->R, err)) ||
        (rc = opt_int(options, "eta", 2, &o->eta, err)))
        return rc;
    /* Below r_min * eta there is a single rung: each configuration runs once
     * at R and none is compared with another (a Hyperband bracket is one
     * trial), which is random search under another name. */
    long long least = (long long)o->r_min * o->eta;
    if (o->R < least) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "must be >= min_resource * eta (%lld): with less there is a single rung, each "
                 "configuration runs once at max_resource and none is compared with another "
                 "(the random or sobol strategy does that)", least);
        return bad(err, "max_resource", msg);
    }
    json_t *v = json_object_get(options, "sampler");
    if (v) {
        static const char *const names[] = { "random", "sobol", "gp" };
        int k = 0;
        while (k < 3 && !(json_is_string(v) && strcmp(json_string_value(v), names[k]) == 0)) k++;
        if (k == 3) return bad(err, "sampler", "must be \"random\", \"sobol\" or \"gp\"");
        o->sampler = (fidelity_kind)k;
    }
    v = json_object_get(options, "random_fraction");
    if (v) {
        if (!json_is_number(v) || !(json_number_value(v) >= 0.0 && json_number_value(v) <= 1.0))
            return bad(err, "random_fraction", "must be a number in [0, 1]");
        /* only the gp sampler has a model to mix with uniform draws: with
         * the others the option did nothing, silently */
        if (o->sampler != FIDELITY_GP)
            return bad(err, "random_fraction",
                       o->sampler == FIDELITY_SOBOL
                           ? "applies to the \"gp\" sampler only (the sampler is \"sobol\", "
                             "the default); set \"sampler\": \"gp\" or remove it"
                           : "applies to the \"gp\" sampler only (the sampler is \"random\"); "
                             "set \"sampler\": \"gp\" or remove it");
        o->random_fraction = json_number_value(v);
    }
    return KE_OK;
}

int fidelity_lineage_build(fidelity_lineage *l, const strategy_history *h, kerror *err)
{
    memset(l, 0, sizeof *l);
    int max_num = -1;
    for (int i = 0; i < h->n_obs; i++)
        if (h->obs[i].number > max_num) max_num = h->obs[i].number;
    int *of = malloc((size_t)(max_num + 2) * sizeof *of);   /* trial number -> slot */
    l->slot = malloc((size_t)(h->n_obs + 1) * sizeof *l->slot);
    if (!of || !l->slot) {
        free(of);
        fidelity_lineage_free(l);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    for (int k = 0; k <= max_num; k++) of[k] = -1;
    for (int i = 0; i < h->n_obs; i++) {
        const strategy_obs *o = &h->obs[i];
        if (o->retry_of >= 0) {
            /* A retry takes its original's place; one of a trial the history
             * lacks (foreign to the space) has no place and is left out. */
            int sl = o->retry_of <= max_num ? of[o->retry_of] : -1;
            if (sl >= 0) {
                l->slot[sl].latest = i;
                of[o->number] = sl;
            }
            continue;
        }
        fidelity_slot *s = &l->slot[l->n];
        s->head = o->number;
        s->latest = i;
        s->parent = -1;
        s->rung = 0;
        s->config = -1;
        s->promoted = 0;
        if (o->resumed_from >= 0) {
            int p = o->resumed_from <= max_num ? of[o->resumed_from] : -1;
            s->parent = p;
            s->rung = p >= 0 && l->slot[p].rung >= 0 ? l->slot[p].rung + 1 : -1;
            s->config = p >= 0 ? l->slot[p].config : -1;
            if (p >= 0) l->slot[p].promoted++;
        } else {
            s->config = l->fresh++;
        }
        of[o->number] = l->n++;
    }
    free(of);
    return KE_OK;
}

void fidelity_lineage_free(fidelity_lineage *l)
{
    free(l->slot);
    memset(l, 0, sizeof *l);
}

int fidelity_slot_finished(const fidelity_slot *s, const strategy_history *h)
{
    return h->obs[s->latest].state != TRIAL_RUNNING;
}

int fidelity_slot_complete(const fidelity_slot *s, const strategy_history *h)
{
    const strategy_obs *o = &h->obs[s->latest];
    return o->state == TRIAL_COMPLETE && o->has_value && isfinite(o->value);
}

typedef struct {
    double value;
    int head, idx;
} ranked;

static int by_value(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->value != y->value) return x->value < y->value ? -1 : 1;
    return (x->head > y->head) - (x->head < y->head);
}

int fidelity_rank(int *idx, int n, const fidelity_lineage *l, const strategy_history *h,
                  kerror *err)
{
    if (n <= 1) return KE_OK;
    ranked *r = malloc((size_t)n * sizeof *r);
    if (!r) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (int i = 0; i < n; i++) {
        const fidelity_slot *s = &l->slot[idx[i]];
        r[i] = (ranked){ h->obs[s->latest].value, s->head, idx[i] };
    }
    qsort(r, (size_t)n, sizeof *r, by_value);
    for (int i = 0; i < n; i++) idx[i] = r[i].idx;
    free(r);
    return KE_OK;
}

int fidelity_sampler_init(fidelity_sampler *s, const space *sp, const fidelity_opts *o,
                          uint64_t seed, kerror *err)
{
    memset(s, 0, sizeof *s);
    s->sp = sp;
    s->seed = seed;
    s->o = *o;
    /* BOHB models budget b once |D_b| >= N_min + 2, N_min = d + 1
     * (Falkner et al. 2018, Sec. 4.1). */
    s->min_points = space_dims(sp) + 3;
    /* Kept between calls: fresh configurations come in increasing order, so
     * each costs one draw where sobol_unit walked from the sequence's start
     * (O(study) per configuration). */
    if (o->sampler == FIDELITY_SOBOL && space_dims(sp) <= SOBOL_MAX_DIMS)
        return sobol_cursor_new(&s->sobol, seed, space_dims(sp), err);
    if (o->sampler != FIDELITY_GP) return KE_OK;
    /* Every trial handed to the inner GP is an observation: no design phase. */
    json_t *gp_opts = json_pack("{s:i}", "n_initial", 1);
    if (!gp_opts) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int rc = gp_strategy.create(&s->gp, sp, gp_opts, seed ^ GP_SALT, err);
    json_decref(gp_opts);
    return rc;
}

void fidelity_sampler_free(fidelity_sampler *s)
{
    if (s->gp) gp_strategy.destroy(s->gp);
    sobol_cursor_free(s->sobol);
    free(s->sub);
    memset(s, 0, sizeof *s);
}

/* Configuration k drawn without a model: as the "sobol" strategy draws its
 * point k for the sobol sampler (in spaces that Sobol's table covers), as the
 * "random" strategy does otherwise. */
static void random_point(fidelity_sampler *s, int k, space_point *p)
{
    double u[SPACE_MAX_PARAMS];
    sobol_design_unit(s->sobol, s->seed, k, space_dims(s->sp), u);
    space_unit_to_point(s->sp, u, p);
}

/* The largest budget with min_points COMPLETE trials, or -1. */
static int model_budget(const fidelity_sampler *s, const strategy_history *h)
{
    int budgets[MAX_BUDGETS], count[MAX_BUDGETS], nb = 0, best = -1;
    for (int i = 0; i < h->n_obs; i++) {
        const strategy_obs *o = &h->obs[i];
        if (o->state != TRIAL_COMPLETE || !o->has_value || !isfinite(o->value)) continue;
        int j = 0;
        while (j < nb && budgets[j] != o->budget) j++;
        if (j == nb) {
            if (nb == MAX_BUDGETS) continue;
            budgets[nb] = o->budget;
            count[nb++] = 0;
        }
        count[j]++;
    }
    for (int j = 0; j < nb; j++)
        if (count[j] >= s->min_points && budgets[j] > best) best = budgets[j];
    return best;
}

/* The inner GP's history: trials at `budget` that ended COMPLETE or FAILED
 * (the GP takes FAILED ones as the worst value) and were not retried, plus
 * every RUNNING trial as pending; all presented as fresh, full-budget trials. */
static int model_history(fidelity_sampler *s, const strategy_history *h, int budget,
                         strategy_history *sub, kerror *err)
{
    if (s->cap < h->n_obs) {
        strategy_obs *o = realloc(s->sub, (size_t)h->n_obs * sizeof *o);
        if (!o) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
        s->sub = o;
        s->cap = h->n_obs;
    }
    int n = 0;
    unsigned char *retried;   /* by trial number; NULL: none was */
    int rc = strategy_history_retried(h, &retried, err);
    if (rc) return rc;
    for (int i = 0; i < h->n_obs; i++) {
        const strategy_obs *o = &h->obs[i];
        int ended = (o->state == TRIAL_COMPLETE || o->state == TRIAL_FAILED) && o->budget == budget;
        if ((retried && retried[o->number]) || !(ended || o->state == TRIAL_RUNNING)) continue;
        s->sub[n] = *o;
        s->sub[n].number = n;
        s->sub[n].budget = 0;
        s->sub[n].resumed_from = -1;
        s->sub[n].retry_of = -1;
        n++;
    }
    free(retried);
    /* its trials are renumbered, one budget's: the study's max_trials (which
     * counts fresh trials of every budget) is not theirs, nor its counts */
    *sub = (strategy_history){ s->sub, n, 0, NULL };
    return KE_OK;
}

int fidelity_sample(fidelity_sampler *s, const strategy_history *h, int k0,
                    strategy_suggestion *out, int n, kerror *err)
{
    int budget = s->gp ? model_budget(s, h) : -1;
    int *from_model = malloc((size_t)(n + 1) * sizeof *from_model);
    if (!from_model) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    /* a batch the scheduler dropped is asked for again from k0: rewind there */
    int n_model = 0, rc = s->sobol ? sobol_cursor_mark(s->sobol, k0, err) : KE_OK;
    for (int i = 0; i < n && !rc; i++) {
        uint64_t coin = strategy_seed_for(s->seed ^ COIN_SALT, (uint64_t)(k0 + i));
        if (budget >= 0 && strategy_rng_uniform(&coin) >= s->o.random_fraction)
            from_model[n_model++] = i;
        else
            random_point(s, k0 + i, &out[i].point);
    }
    strategy_suggestion *sg = NULL;
    strategy_history sub;
    if (!rc && n_model > 0 && !(sg = malloc((size_t)n_model * sizeof *sg)))
        rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (n_model > 0 && !rc) rc = model_history(s, h, budget, &sub, err);
    if (n_model > 0 && !rc) {
        int got = gp_strategy.suggest(s->gp, &sub, sg, n_model, err);
        if (got < 0) rc = got;
        for (int j = 0; j < n_model && !rc; j++) {
            if (j < got) out[from_model[j]].point = sg[j].point;
            else random_point(s, k0 + from_model[j], &out[from_model[j]].point);
        }
    }
    free(sg);
    free(from_model);
    return rc;
}
