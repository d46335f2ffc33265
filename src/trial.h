/* trial: the vocabulary shared by storage, scheduler and strategies: a trial's
 * lifecycle states and their stored names. Data only, no behaviour beyond the
 * name mapping, so that storage need not include search headers. */
#ifndef KESTREL_TRIAL_H
#define KESTREL_TRIAL_H

typedef enum {
    TRIAL_RUNNING = 0,
    TRIAL_COMPLETE = 1,
    TRIAL_PRUNED = 2,
    TRIAL_FAILED = 3
} trial_state;

/* "RUNNING", "COMPLETE", "PRUNED", "FAILED" (the names stored in SQL). */
const char *trial_state_name(trial_state s);
/* Inverse of trial_state_name; returns -1 for an unknown name. */
int trial_state_parse(const char *name);

#endif
