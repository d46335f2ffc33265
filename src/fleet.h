/* fleet: the workers of `kestrel serve` (kestrel worker processes on any
 * machine) and the leases they hold, one per trial attempt they run. It
 * hands trials out through scheduler_lease, relays what workers report to
 * the trial's scheduler, and fails the trials of a lease that ran out
 * (a worker that died, hung or was cut off). It lives in the service's engine
 * thread. This header, fleet.c: the registry of workers and leases and its
 * life in the engine (engine thread only, but fleet_counts); fleet_calls.h,
 * fleet_calls.c: the workers' calls, which run there through service_call
 * or service_call_async. */
#ifndef KESTREL_FLEET_H
#define KESTREL_FLEET_H

#include "fleet_calls.h"
#include "kerror.h"
#include "scheduler.h"
#include "service.h"

#define FLEET_LEASE_DEFAULT 30.0   /* seconds a lease lives without a call from its worker */
#define FLEET_FORGET_WALKS 10      /* leases' lengths without a call after which a worker
                                    * holding no lease is forgotten (its row stays) */

/* For the service (engine thread). */
typedef struct fleet fleet;
/* The database's worker coordinator when no other server is (lock.h's
 * LOCK_COORDINATOR in db_path): it keeps the leases a stopped or killed
 * one left open whose trials still run (their workers still run them, and
 * report to this one; see fleet_kept), and ends the others.
 * Else a passive fleet: registrations are refused (KE_CONFLICT), and the
 * live coordinator's leases are left alone. */
int fleet_open(fleet **out, service *sv, const char *db_path, double lease_seconds, kerror *err);
/* The leases of study that this fleet kept at its start (fleet_open:
 * open, their trials RUNNING) and has not handed out yet, for its
 * scheduler to take as remote runs (scheduler_opts.kept): *out (the
 * caller frees it) gets each once. KE_NOMEM: *out holds the first *n. */
int fleet_kept(fleet *fl, const char *study, scheduler_kept **out, int *n);
/* Fails the trials of leases that ran out (retried under max_retries). */
void fleet_tick(fleet *fl);
/* The engine's pass of requests (some) ended, its writes committed or
 * (committed 0) rolled back: the workers registered and the leases begun
 * in it are then forgotten, as their rows are (each caller heard the
 * error), and the leases it dropped have their rows ended again. */
void fleet_pass_end(fleet *fl, int committed);
/* Workers registered and not forgotten, and leases running now; with
 * registered (or NULL), every registration since the start (it never goes
 * down: a worker that came and went counts); any thread. */
void fleet_counts(const fleet *fl, int *workers, int *leases, long *registered);
void fleet_close(fleet *fl);

#endif
