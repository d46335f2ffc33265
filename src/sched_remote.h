/* sched_remote: the remote runs of a scheduler: what scheduler.h's
 * scheduler_lease, scheduler_detach and scheduler_remote_* do, and the
 * kept runs taken back at its open and dropped at its stop. Private to the
 * scheduler (scheduler_impl.h). */
#ifndef KESTREL_SCHED_REMOTE_H
#define KESTREL_SCHED_REMOTE_H

#include "scheduler_impl.h"

/* Makes the kept trial k->number, RUNNING in storage, a remote run again,
 * its last report read back from storage; one it cannot take stays
 * RUNNING, for a later open to reclaim. */
int sched_remote_adopt(scheduler *s, const scheduler_kept *k, kerror *err);
/* A stopping study's remote runs: their trials end interrupted now (or,
 * detached, are left to their workers). */
int sched_remote_drop(scheduler *s, kerror *err);

#endif
