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
/* POST /api/v1/leases/N/checkpoint?worker=W&key=K&offset=O[&last=1]: a part
 * of the trial folder's archive (sched_dir_pack), unpacked into the server's
 * trial folder with the last part; GET
 * /api/v1/studies/S/trials/N/checkpoint: that folder as one archive. */
void api_workers_upload(http_req *rq, void *ctx);
/* Its admit (http_route): 409 at the headers for a worker and key the
 * fleet does not know, before the part is read. */
int api_workers_upload_admit(http_req *rq, void *ctx);
/* The admits of the other calls, so that a caller not known to hold a
 * worker's key has no more than 64 KiB of body read and parsed (413 at
 * the headers past it): a report's or finish's (their query may name the
 * worker and key, ?worker=W&key=K: then checked as the upload's, and the
 * body may reach HTTP_BODY_MAX), and a registration's, heartbeat's or
 * lease request's. */
int api_workers_call_admit(http_req *rq, void *ctx);
int api_workers_keyless_admit(http_req *rq, void *ctx);
void api_workers_download(http_req *rq, void *ctx);

#endif
