/* trial: the vocabulary shared by storage, scheduler and strategies: a trial's
 * lifecycle states and their stored names. Data only, no behaviour beyond the
 * name mapping, so that storage need not include search headers. */
#ifndef KESTREL_TRIAL_H
#define KESTREL_TRIAL_H

/* Dense from 0, so a state indexes an array of TRIAL_STATES counters. */
typedef enum {
    TRIAL_RUNNING = 0,
    TRIAL_COMPLETE = 1,
    TRIAL_PRUNED = 2,
    TRIAL_FAILED = 3
} trial_state;

#define TRIAL_STATES 4

/* The failure reason of a FAILED trial that did not fail by itself (a stop,
 * a signal to the runner, a dead runner) starts with this: it is re-run on
 * resume and counted apart from trials that failed. Storage's SQL (the
 * n_interrupted count) matches the same prefix. */
#define TRIAL_INTERRUPTED "interrupted: "

/* 1 when failure (a FAILED trial's reason, or NULL) marks an interruption. */
int trial_interrupted(const char *failure);

/* "RUNNING", "COMPLETE", "PRUNED", "FAILED" (the names stored in SQL). */
const char *trial_state_name(trial_state s);
/* Inverse of trial_state_name, exact as every name the API and CLI take
 * ("pruned" is none); -1 for an unknown name. */
int trial_state_parse(const char *name);

#endif
