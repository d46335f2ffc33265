/* pruner: stops unpromising trials early from their intermediate values,
 * independently of the strategy that proposed them (a study names one with
 * "pruner": {"name": ..., "options": {...}}). Called by the scheduler on each
 * intermediate report of the objective; a stopped trial becomes PRUNED with the
 * step it reached. Like strategies, a pruner is rebuilt from the history at
 * every start (its observe told every trial again), and knows nothing of
 * SQL, HTTP or processes. */
#ifndef KESTREL_PRUNER_H
#define KESTREL_PRUNER_H

#include <jansson.h>

#include "strategy.h"

typedef struct pruner pruner;   /* each implementation defines it */

typedef struct {
    const char *name;           /* as written in the spec: "median", ... */
    /* Validates options (a JSON object or NULL; unknown keys rejected with
     * path "pruner.options.<key>") and builds the state. */
    int (*create)(pruner **out, const json_t *options, kerror *err);
    /* Optional: o, an entry of the history, is new or just changed (a step
     * added or replaced, a new state). A pruner that keeps its own index of
     * the history, so that a report does not scan every curve, is told each
     * change here before the next should_stop; after a reload it is told
     * every entry once. */
    void (*observe)(pruner *p, const strategy_obs *o);
    /* 1 = stop trial `number` now, after it reported `value` (normalized to
     * minimize) at `step`; h holds every trial's curve so far. */
    int (*should_stop)(pruner *p, const strategy_history *h, int number, int step, double value);
    void (*destroy)(pruner *p);
} pruner_ops;

/* The pruner called name, or NULL. */
const pruner_ops *pruner_find(const char *name);
/* The name of the i-th registered pruner, NULL past the last. */
const char *pruner_name_at(int i);

/* Helpers shared by implementations (and strategy_options_check with
 * PRUNER_OPTIONS). */
/* Where a spec holds a pruner's options: the root of their error paths. */
#define PRUNER_OPTIONS "pruner.options"
/* Reads the optional integer option key into *out (left alone when absent);
 * fails with path "pruner.options.<key>" unless it is an integer in [lo, hi]. */
int pruner_option_int(const json_t *options, const char *key, int lo, int hi, int *out,
                      kerror *err);
/* The trial numbered `number` in h, or NULL. */
const strategy_obs *pruner_find_obs(const strategy_history *h, int number);

#endif
