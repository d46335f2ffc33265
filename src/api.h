/* api: the HTTP API of `kestrel serve` (docs/openapi.yaml): routes and
 * handlers for /api/v1, /healthz, /metrics, the event stream and the
 * embedded dashboard. Reads go straight to storage through a small pool of
 * read connections of its own (WAL lets them read while the engine writes);
 * every change goes through the service engine. Ownership: the api owns its
 * pool; the service and server it is given outlive it. */
#ifndef KESTREL_API_H
#define KESTREL_API_H

#include "api_static.h"   /* the fallback: the dashboard's files */
#include "http.h"
#include "kerror.h"
#include "service.h"

typedef struct api api;

int api_open(api **out, service *sv, const char *db_path, kerror *err);
/* The server whose response counters /metrics reports (set once started). */
void api_set_server(api *a, http_server *srv);
/* The route table, for http_opts (ctx = the api); its fallback is
 * api_static (api_static.h). */
const http_route *api_routes(int *n);
/* Frees the pool; call after http_stop (no request in flight). */
void api_close(api *a);

#endif
