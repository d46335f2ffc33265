/* fleet_req: checks the bodies of the workers' calls (docs/openapi.yaml,
 * the worker and lease routes) before the fleet acts on them, so that a
 * wrongly typed field is a 400 naming it (err->path, "exit.exit_code")
 * rather than a value read as 0 or false: a finish whose exit read as
 * {} recorded a trial COMPLETE. Pure functions of the JSON; every json_t
 * and string they hand out is borrowed from the request. */
#ifndef KESTREL_FLEET_REQ_H
#define KESTREL_FLEET_REQ_H

#include <jansson.h>

#include "kerror.h"
#include "runner.h"

#define FLEET_REQ_HOST_MAX 64
#define FLEET_REQ_JOB_MAX 48
#define FLEET_REQ_GPU_MAX 1023      /* a device id, as kestrel worker --gpus takes */

/* A registration, checked. */
typedef struct {
    const char *host;               /* printable ASCII, no space */
    long long pid;                  /* 0 when not given */
    long long slots;
    const json_t *gpus;             /* integers, each once, or NULL */
    const json_t *labels;           /* string values, or NULL */
    const char *slurm_job;          /* or NULL (absent or null) */
    int lease;                      /* a first lease in the answer */
    long long gpus_free;
} fleet_req_reg;

/* POST /api/v1/workers: KE_INVALID naming the field, unknown ones too. */
int fleet_req_register(const json_t *req, fleet_req_reg *out, kerror *err);
/* POST /api/v1/workers/ID/lease: {"key", "gpus_free"?} into *gpus_free
 * (0 when absent). */
int fleet_req_lease(const json_t *req, long long *gpus_free, kerror *err);
/* The part every call on a lease shares (report, finish): "worker" an
 * integer, "key" a string, "lines" an array of strings when present. */
int fleet_req_lease_call(const json_t *req, kerror *err);
/* A finish's "exit" object into ev (kind RUNNER_EXIT): exactly one of
 * "exited" (with "exit_code") and "signaled" (with "signal") is true. */
int fleet_req_exit(const json_t *ex, runner_event *ev, kerror *err);

#endif
