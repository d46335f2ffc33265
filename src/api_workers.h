/* api_workers: the worker routes of the HTTP API (docs/workers.md,
 * docs/openapi.yaml): registration, leases, heartbeats, reports and the
 * registry. Each handler parses the body and hands it to the fleet
 * (fleet.h), which does the work on the engine thread. */
#ifndef KESTREL_API_WORKERS_H
#define KESTREL_API_WORKERS_H

#include "http.h"
#include "service.h"

/* Handlers; ctx is the service. */
void api_workers_register(http_req *rq, void *ctx);
void api_workers_list(http_req *rq, void *ctx);
void api_workers_heartbeat(http_req *rq, void *ctx);
void api_workers_lease(http_req *rq, void *ctx);
void api_workers_report(http_req *rq, void *ctx);
void api_workers_finish(http_req *rq, void *ctx);

#endif
