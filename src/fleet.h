/* fleet: the workers of `kestrel serve` (kestrel worker processes on any
 * machine) and the leases they hold, one per trial attempt they run. It
 * hands trials out through scheduler_lease, relays what workers report to
 * the trial's scheduler, and fails the trials of a lease that ran out
 * (a worker that died, hung or was cut off). It lives in the service's engine
 * thread: every fleet_* call below but fleet_open runs through
 * service_call. Requests and answers are JSON objects (docs/openapi.yaml,
 * docs/workers.md); the HTTP layer only moves them. */
#ifndef KESTREL_FLEET_H
#define KESTREL_FLEET_H

#include <jansson.h>

#include "kerror.h"
#include "service.h"

#define FLEET_LEASE_DEFAULT 30.0   /* seconds a lease lives without a call from its worker */

/* A new worker: {"host", "pid", "slots", "gpus": [..], "labels": {..},
 * "slurm_job"?}. *out = {"id", "key", "lease_seconds"}. */
int fleet_register(service *sv, json_t *req, json_t **out, kerror *err);
/* The registry: {"workers": [...]} (GET /api/v1/workers). */
int fleet_list(service *sv, json_t **out, kerror *err);
/* A worker's heartbeat {"key"}: renews every lease it holds. *out =
 * {"stop": [lease ids it should end]}. KE_NOTFOUND for an unknown id/key
 * (a restarted server): the worker registers again. */
int fleet_heartbeat(service *sv, int64_t worker, json_t *req, json_t **out, kerror *err);
/* {"key", "gpus_free"}: *out = the lease (lease id, study, spec, trial) or
 * NULL when no study has a trial for it now. */
int fleet_lease(service *sv, int64_t worker, json_t *req, json_t **out, kerror *err);
/* {"worker", "key", "lines": [report lines]}: *out = {"stop": bool}. And
 * with "exit" {exited, exit_code, signaled, signal, timed_out, exec_failed,
 * seconds}, "stdout_tail", "stderr_tail", or "released" (a reason), the
 * attempt ends (finish). KE_CONFLICT when the lease is not running (expired,
 * ended, its study stopped) or not this worker's: nothing is recorded. */
int fleet_report(service *sv, int64_t lease, json_t *req, json_t **out, kerror *err);
int fleet_finish(service *sv, int64_t lease, json_t *req, kerror *err);
/* The server's trial folder of a running lease that worker (with key)
 * holds, for the upload of the trial's folder before its finish; KE_CONFLICT
 * as fleet_report. */
int fleet_lease_dir(service *sv, int64_t lease, int64_t worker, const char *key, char *dir,
                    size_t n, kerror *err);

/* For the service (engine thread). */
typedef struct fleet fleet;
int fleet_open(fleet **out, service *sv, double lease_seconds, kerror *err);
/* Fails the trials of leases that ran out (retried under max_retries). */
void fleet_tick(fleet *fl);
/* Workers registered since the start and leases running now; any thread. */
void fleet_counts(const fleet *fl, int *workers, int *leases);
void fleet_close(fleet *fl);

#endif
