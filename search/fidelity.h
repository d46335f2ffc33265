/* fidelity: what the multi-fidelity strategies (hyperband.c, asha.c) share:
 * their options, the lineage of a study's trials as rungs (a fresh
 * configuration starts at rung 0, a promotion continues a trial one rung up,
 * a retry re-runs a trial in place), and the sampler of new configurations
 * (uniform, or BOHB's GP fitted at the largest well-observed budget).
 * Everything here is rebuilt from the history on each call, so a strategy
 * restarted from the same history makes the same decisions. */
#ifndef KESTREL_FIDELITY_H
#define KESTREL_FIDELITY_H

#include "sobol.h"
#include "strategy.h"

#define FIDELITY_MAX_RESOURCE 1000000

typedef enum {
    FIDELITY_RANDOM,        /* uniform, as the "random" strategy draws */
    FIDELITY_SOBOL,         /* the "sobol" strategy's shifted low-discrepancy sequence */
    FIDELITY_GP             /* BOHB-like: the GP's pick on the largest well-filled budget */
} fidelity_kind;

typedef struct {
    int r_min;              /* min_resource: smallest budget, >= 1 */
    int R;                  /* max_resource: largest budget, >= r_min * eta */
    int eta;                /* reduction factor, >= 2 */
    fidelity_kind sampler;  /* how fresh configurations are drawn */
    double random_fraction; /* GP sampler: share of configurations drawn uniformly */
} fidelity_opts;

/* Validates options (NULL or an object; unknown keys and bad values rejected
 * with path "strategy.options.<key>") into o, defaults filled in. own (NULL:
 * none) is the name of an option the caller reads itself (Hyperband's
 * "rounds"): a known key here, so that a near miss of it is named. */
int fidelity_options(const json_t *options, const char *own, fidelity_opts *o, kerror *err);

/* One chain of trials that ran the same configuration at the same budget: a
 * trial with retry_of < 0 and every retry of it. */
typedef struct {
    int head;               /* number of the chain's first trial */
    int latest;             /* index in h->obs of its last trial: the outcome */
    int parent;             /* slot it was promoted from, -1 for a fresh configuration */
    int rung;               /* 0 fresh, parent's rung + 1; -1 when the parent is unknown */
    int config;             /* 0-based order of its fresh configuration */
    int promoted;           /* slots promoted from it */
} fidelity_slot;

typedef struct {
    fidelity_slot *slot;    /* owned; in order of head number */
    int n;
    int fresh;              /* fresh configurations (slots with parent -1, rung 0) */
} fidelity_lineage;

/* Builds the lineage of h (obs in ascending trial number). KE_NOMEM only.
 * Free with fidelity_lineage_free. */
int fidelity_lineage_build(fidelity_lineage *l, const strategy_history *h, kerror *err);
void fidelity_lineage_free(fidelity_lineage *l);

/* The slot's latest trial has ended (COMPLETE, PRUNED or FAILED). */
int fidelity_slot_finished(const fidelity_slot *s, const strategy_history *h);
/* The slot's latest trial is COMPLETE with a finite value: it may be promoted. */
int fidelity_slot_complete(const fidelity_slot *s, const strategy_history *h);
/* Sorts idx[0..n) (slot indices, all complete) best first: lower value, then
 * lower head number. KE_NOMEM only. */
int fidelity_rank(int *idx, int n, const fidelity_lineage *l, const strategy_history *h,
                  kerror *err);

/* The sampler of fresh configurations; holds the inner GP strategy when the
 * sampler is "gp", a Sobol cursor when it is "sobol". The space must outlive
 * it. */
typedef struct {
    const space *sp;        /* borrowed */
    uint64_t seed;
    fidelity_opts o;
    int min_points;         /* GP sampler: observations a budget needs to be modelled */
    strategy *gp;           /* owned; NULL for the random sampler */
    sobol_cursor *sobol;    /* owned; the sobol sampler's points, NULL for others */
    strategy_obs *sub;      /* owned scratch: the model's history */
    int cap;
} fidelity_sampler;

int fidelity_sampler_init(fidelity_sampler *s, const space *sp, const fidelity_opts *o,
                          uint64_t seed, kerror *err);
void fidelity_sampler_free(fidelity_sampler *s);
/* Sets out[0..n).point to new configurations, the i-th being the study's
 * fresh configuration number k0 + i (budget and resume_from are left alone). Random and Sobol: a function of
 * (seed, k0 + i) alone; Sobol costs O(dims) a configuration when k0 follows
 * the last call's configurations, as a study's fresh count does.
 * GP: once some budget has min_points COMPLETE trials, configurations not
 * drawn at random (random_fraction) maximize the GP's acquisition on the
 * trials of the largest such budget (Falkner, Klein & Hutter 2018, BOHB). */
int fidelity_sample(fidelity_sampler *s, const strategy_history *h, int k0,
                    strategy_suggestion *out, int n, kerror *err);

#endif
