/* pruner: stops unpromising trials early from their intermediate values,
 * independently of the strategy that proposed them (a study names one with
 * "pruner": {"name": ..., "options": {...}}). Called by the scheduler on each
 * intermediate report of the objective; a stopped trial becomes PRUNED with the
 * step it reached. Like strategies, a pruner is rebuilt from the history at
 * every start, and knows nothing of SQL, HTTP or processes. */
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
    /* 1 = stop trial `number` now, after it reported `value` (normalized to
     * minimize) at `step`; h holds every trial's curve so far. */
    int (*should_stop)(pruner *p, const strategy_history *h, int number, int step, double value);
    void (*destroy)(pruner *p);
} pruner_ops;

/* The pruner called name, or NULL. */
const pruner_ops *pruner_find(const char *name);
/* Comma-separated names of every pruner, for help and error messages. */
const char *pruner_names(void);

#endif
