/* strategy: the one interface every search strategy implements (grid, random,
 * Sobol, GP, Hyperband, ASHA) and the registry that finds one by name.
 * Stopping a running trial early is a pruner's job (pruner.h), not a
 * strategy's.
 * A strategy is rebuilt from the study's history at every start, so suggest()
 * must be a function of (seed, options, history): resuming a study continues
 * the same sequence. Values are normalized so strategies always MINIMIZE.
 * Strategies know nothing of SQL, HTTP or processes. */
#ifndef KESTREL_STRATEGY_H
#define KESTREL_STRATEGY_H

#include <stdint.h>
#include <jansson.h>

#include "space.h"
#include "../common/kerror.h"
#include "../common/trial.h"

typedef struct {            /* one trial as a strategy sees it */
    int number;             /* 0-based trial number in the study */
    trial_state state;      /* RUNNING trials are pending: avoid re-suggesting */
    int has_value;
    double value;           /* objective, sign-normalized to minimize */
    int budget;             /* resource the trial was given (0 = full) */
    int resumed_from;       /* trial number it continued, -1 if none */
    int retry_of;           /* trial number it retries, -1 if none */
    int enqueued;           /* 1: ran an enqueued configuration, not a suggestion */
    int n_steps;            /* intermediate reports, ascending step order */
    const int *steps;       /* owned by the caller */
    const double *values;   /* objective at each step, normalized to minimize */
    space_point point;
} strategy_obs;

typedef struct {            /* what a strategy counts over a history's obs */
    int fresh;              /* trials that consumed a new suggestion: neither
                             * retries nor promotions (resumed) */
    int fresh_enqueued;     /* of those, the ones that ran an enqueued configuration */
} strategy_counts;

typedef struct {
    const strategy_obs *obs;  /* every trial of the study, by number */
    int n_obs;
    int max_trials;           /* the study's budget of fresh trials; 0: unknown */
    /* the counts of obs, kept by whoever appends to it (the scheduler, one
     * strategy_counts_add per trial), so a suggestion costs no pass over a
     * long history; NULL: each asks counts them */
    const strategy_counts *counts;
} strategy_history;

typedef struct {
    space_point point;
    int budget;              /* resource (max step) to train to; 0 = full */
    int resume_from;         /* trial number whose checkpoint to continue, -1 none */
} strategy_suggestion;

typedef struct strategy strategy;   /* each implementation defines it */

typedef struct {
    const char *name;       /* as written in the spec: "random", "grid", ... */
    int gives_budgets;      /* 1: suggestions carry budgets (Hyperband, ASHA) */
    /* Validates options (a JSON object or NULL; unknown keys rejected, error
     * path relative to "strategy.options") and builds the state. */
    int (*create)(strategy **out, const space *sp, const json_t *options,
                  uint64_t seed, kerror *err);
    /* Writes up to n suggestions into out and returns how many (0 when the
     * strategy is exhausted for now: grid done, or waiting on pending trials
     * as Hyperband can be), or a negative KE_* code. Outcomes reach a
     * strategy only through h: it keeps no model between calls. */
    int (*suggest)(strategy *s, const strategy_history *h,
                   strategy_suggestion *out, int n, kerror *err);
    /* 1 when the study is finished whatever the trial budget says (grid). */
    int (*done)(strategy *s, const strategy_history *h);
    /* The budget of the next fresh place after those of h, which a
     * configuration enqueued while the strategy suggests nothing now takes
     * at once (Hyperband waiting for a rung's trials to end: the next
     * bracket's bottom rung), or the largest budget (R) once no place is
     * left; a negative KE_* code on error. NULL when suggestions carry no
     * budget (gives_budgets 0). */
    int (*enqueued_budget)(strategy *s, const strategy_history *h, kerror *err);
    void (*destroy)(strategy *s);
} strategy_ops;

/* The strategy called name, or NULL. */
const strategy_ops *strategy_find(const char *name);
/* The name of the i-th registered strategy, NULL past the last: lets help
 * and error messages list them. */
const char *strategy_name_at(int i);

/* Helpers shared by implementations. */
/* splitmix64 step: a small, seedable, reproducible generator. */
uint64_t strategy_rng_next(uint64_t *state);
/* Uniform double in [0,1) from the generator. */
double strategy_rng_uniform(uint64_t *state);
/* Seed for the k-th suggestion of a study, so suggestion k is the same
 * whatever happened before a restart. */
uint64_t strategy_seed_for(uint64_t seed, uint64_t k);
/* Adds trial o to c (zeroed: no trials); the fields o is counted by never
 * change once it is in a history. */
void strategy_counts_add(strategy_counts *c, const strategy_obs *o);
/* h's counts: h->counts, or (NULL) a pass over its obs. h may be NULL. */
strategy_counts strategy_history_counts(const strategy_history *h);
/* Count of trials that consumed a new suggestion (not retries). */
int strategy_history_fresh(const strategy_history *h);
/* *out gets a new map, by trial number (0 to the largest of h), of the
 * trials of h that a retry re-ran (some trial's retry_of), which the caller
 * frees; NULL when none was. */
int strategy_history_retried(const strategy_history *h, unsigned char **out, kerror *err);
/* Where a spec holds a strategy's options: the root of their error paths. */
#define STRATEGY_OPTIONS "strategy.options"
/* Checks that options is NULL or a JSON object whose keys are all in known
 * (NULL-terminated); fails with path "<root>[.<key>]", root being
 * STRATEGY_OPTIONS or PRUNER_OPTIONS (pruners share it). */
int strategy_options_check(const json_t *options, const char *root, const char *const *known,
                           kerror *err);
/* 1 when option value v is an integer in [lo, hi] (*out set): a JSON
 * integer or a real with no fractional part (3.0), as every integer field
 * of a spec is read (docs/spec.md); 0 otherwise. */
int strategy_option_int(const json_t *v, long long lo, long long hi, long long *out);

#endif
