/* sched_trial: the scheduler's in-memory history of one study (every trial
 * by number, its point in the space, its objective curve), which the
 * strategy reads. Loaded once from storage at open, then kept in step with
 * what the scheduler writes. Launching a trial is sched_launch's. */
#ifndef KESTREL_SCHED_TRIAL_H
#define KESTREL_SCHED_TRIAL_H

#include "../search/strategy.h"
#include "kerror.h"
#include "spec.h"
#include "storage.h"

typedef struct sched_trial {
    int64_t id;
    int number;
    trial_state state;
    int has_value;
    double value;           /* as reported */
    double norm;            /* sign-normalized to minimize */
    int budget, resumed_from, retry_of;
    char *failure;          /* owned */
    int retried;            /* a later trial retries this one */
    int enqueued;           /* ran an enqueued configuration */
    int foreign;            /* its params do not fit the current space */
    int obs;                /* its entry in the history's obs, -1: foreign (left out) */
    int n_steps, cap_steps;
    int *steps;             /* owned; objective curve, normalized */
    double *values;
    space_point point;
} sched_trial;

typedef struct {
    sched_trial *t;         /* t[k].number == k */
    int n, cap;
    int n_fresh;            /* neither retries nor promotions: what max_trials counts */
    /* what the strategy sees: the trials that are not foreign, by number,
     * each entry kept in step with its trial as the trial changes (through
     * sched_trials_append, _set_outcome, _add_step), so handing the history
     * to the strategy costs nothing however long the study */
    strategy_obs *obs;
    int n_obs;
    strategy_counts counts; /* of obs, handed with it */
    int maximize;
} sched_trials;

/* Loads every trial of the study (curves too when with_curves). */
int sched_trials_load(sched_trials *h, storage *st, int64_t study_id, const space *sp,
                      const char *metric, int maximize, int with_curves, kerror *err);
/* A trial row as stored, with the buffers its params point into. */
typedef struct {
    storage_trial row;
    storage_param params[SPACE_MAX_PARAMS];
    /* categorical and fixed values' text: room for the longest every
     * parameter may have, so whatever the spec parser accepts can run */
    char text[SPACE_MAX_PARAMS * (SPEC_TEXT_VALUE_MAX + 1)];
} sched_trial_row;

/* Stores a new RUNNING trial for the suggestion and appends it (enqueued_id:
 * the enqueued configuration it runs, 0 none); *out points
 * into h (valid until the next append); *stored gets the row as stored
 * (its start time set), for the caller to announce. */
int sched_trials_append(sched_trials *h, storage *st, int64_t study_id, const space *sp,
                        const strategy_suggestion *sg, int retry_of, int64_t enqueued_id,
                        const char *worker, sched_trial **out, sched_trial_row *stored, kerror *err);
/* Points hist at h->obs (foreign trials left out) and its counts, valid
 * until h next changes, with the study's max_trials. */
void sched_trials_history(const sched_trials *h, int max_trials, strategy_history *hist);
void sched_trials_free(sched_trials *h);

/* Adds a point of trial number's objective curve, normalized to minimize,
 * in step order (replacing the step's value when it was reported before). */
int sched_trials_add_step(sched_trials *h, int number, int step, double norm_value);
void sched_trials_set_outcome(sched_trials *h, int number, trial_state state, int has_value,
                              double value, const char *failure);

#endif
