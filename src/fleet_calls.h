/* fleet_calls: the workers' calls on the fleet of `kestrel serve`, as the
 * HTTP layer (api_workers.c) makes them: each runs on the engine thread,
 * through service_call or service_call_async, and answers a JSON object
 * (docs/openapi.yaml, docs/workers.md); the HTTP layer only moves them. */
#ifndef KESTREL_FLEET_CALLS_H
#define KESTREL_FLEET_CALLS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "kerror.h"
#include "service.h"

struct fleet;

/* The registry: {"workers": [...]} (GET /api/v1/workers). */
int fleet_list(service *sv, json_t **out, kerror *err);

/* A worker's call, as its request gives it:
 * - FLEET_REGISTER, a new worker: {"host", "pid", "slots", "gpus": [..],
 *   "labels": {..}, "slurm_job"?} (fleet_req_register checks it). out =
 *   {"id", "key", "lease_seconds"}.
 * - FLEET_HEARTBEAT {"key"}: renews every lease worker `id` holds. out =
 *   {"stop": [lease ids it should end]}. KE_NOTFOUND for an unknown id/key
 *   (a restarted server): the worker registers again.
 * - FLEET_LEASE {"key", "gpus_free"}: out = the lease (lease id, study,
 *   spec, trial), or NULL when no study has a trial for it now or it
 *   holds as many leases as its slots.
 * - FLEET_REPORT on lease `id` {"worker", "key", "lines": [report lines]}:
 *   out = {"stop": bool}. FLEET_FINISH: the same with "exit" {exited,
 *   exit_code, signaled, signal, timed_out, exec_failed, seconds},
 *   "stdout_tail", "stderr_tail", or "released" (a reason): the attempt
 *   ends; out = {"ok": true}. KE_INVALID naming the field for a body that
 *   fleet_req.h refuses, before the lease is looked at. KE_CONFLICT when the lease is not running
 *   (expired, ended, its study stopped) or not this worker's: nothing is
 *   recorded. */
typedef enum { FLEET_REGISTER, FLEET_HEARTBEAT, FLEET_LEASE, FLEET_REPORT, FLEET_FINISH } fleet_op;
typedef struct {
    fleet_op op;
    int64_t id;                 /* the worker (heartbeat, lease) or the lease (report, finish) */
    json_t *req;                /* the body (borrowed), or NULL: then text is */
    const char *text;           /* ... read on the engine thread (KE_INVALID unless
                                 * a JSON object) into req, which the caller
                                 * releases, there too, once done runs: each
                                 * object is made and freed on one thread */
    size_t len;
    json_t *out;                /* the answer (a new reference) or NULL */
} fleet_call;
/* Queues c on the engine without waiting (service_call_async): done(ctx,
 * rc, err) runs on the engine thread once c->out is set and the call's
 * writes are committed. c must live until then. */
int fleet_call_start(service *sv, fleet_call *c, service_done_fn done, void *ctx, kerror *err);
/* The same, waiting for the answer (service_call). */
int fleet_call_run(service *sv, fleet_call *c, kerror *err);
/* What a call on lease `lease` by worker (with key) can be refused for
 * before its body is read, on any thread (fl NULL too: no worker known):
 * KE_CONFLICT, as fleet_report, when no worker `worker` has that key;
 * else KE_OK, and whether it holds the lease is the engine's to say. */
int fleet_lease_check(struct fleet *fl, int64_t lease, int64_t worker, const char *key,
                      kerror *err);
/* The server's trial folder of a running lease that worker (with key)
 * holds, for the upload of the trial's folder before its finish; KE_CONFLICT
 * as fleet_report. */
int fleet_lease_dir(service *sv, int64_t lease, int64_t worker, const char *key, char *dir,
                    size_t n, kerror *err);

#endif
