/* sched_fill: starts a study's next trials (retries, enqueued
 * configurations, suggestions) in its free run slots, locally or as remote
 * runs. Private to the scheduler (scheduler_impl.h). */
#ifndef KESTREL_SCHED_FILL_H
#define KESTREL_SCHED_FILL_H

#include "scheduler_impl.h"

/* A free run slot (no local child, no remote run), or NULL. */
sched_run *sched_fill_slot(scheduler *s);
/* Starts up to slots trials in free slots, retries first, then enqueued
 * configurations and suggestions while the budget allows; with rem, one
 * trial at most, handed to that remote run (rem->leased). A trial whose
 * child cannot start is recorded FAILED, not an error. */
int sched_fill(scheduler *s, int slots, scheduler_remote *rem, kerror *err);

#endif
