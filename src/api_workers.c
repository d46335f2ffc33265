/* api_workers: HTTP in and out for the fleet; see api_workers.h. A request
 * body is a JSON object; an answer is the fleet's object, 204 for a lease
 * request that finds no trial, and the error envelope otherwise (404 for
 * an unknown worker, 409 for a lease that is not running). */
#include "api_workers.h"

#include <errno.h>
#include <stdlib.h>

#include "fleet.h"

/* The body as a JSON object, or NULL (answered 400). */
static json_t *body_object(http_req *rq)
{
    size_t len;
    const char *text = http_body(rq, &len);
    json_error_t je;
    json_t *o = json_loadb(text, len, 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        http_respond_error(rq, 400, "invalid", NULL, "expected a JSON object: %s",
                           o ? "not an object" : je.text);
        return NULL;
    }
    return o;
}

/* Path segment 0 as an id > 0, or -1 (answered 404). */
static int64_t path_id(http_req *rq)
{
    const char *v = http_param(rq, 0);
    char *end;
    errno = 0;
    long long id = strtoll(v, &end, 10);
    if (!*v || *end || errno || id <= 0) {
        http_respond_error(rq, 404, "not_found", NULL, "no such id: '%s'", v);
        return -1;
    }
    return id;
}

typedef int (*fleet_id_fn)(service *sv, int64_t id, json_t *req, json_t **out, kerror *err);

/* The common shape: id from the path, body in, object (or 204) out. */
static void id_call(http_req *rq, void *ctx, fleet_id_fn fn, int with_id)
{
    int64_t id = with_id ? path_id(rq) : 0;
    if (id < 0) return;
    json_t *req = body_object(rq);
    if (!req) return;
    json_t *out = NULL;
    kerror err;
    kerror_clear(&err);
    int rc = fn(ctx, id, req, &out, &err);
    json_decref(req);
    if (rc != KE_OK) http_respond_kerror(rq, &err);
    else if (!out) http_respond_empty(rq, 204);
    else http_respond_json(rq, with_id ? 200 : 201, out);
}

static int do_register(service *sv, int64_t id, json_t *req, json_t **out, kerror *err)
{
    (void)id;
    return fleet_register(sv, req, out, err);
}

static int do_finish(service *sv, int64_t id, json_t *req, json_t **out, kerror *err)
{
    *out = NULL;
    int rc = fleet_finish(sv, id, req, err);
    if (rc == KE_OK) *out = json_pack("{s:b}", "ok", 1);
    return rc;
}

void api_workers_register(http_req *rq, void *ctx) { id_call(rq, ctx, do_register, 0); }
void api_workers_heartbeat(http_req *rq, void *ctx) { id_call(rq, ctx, fleet_heartbeat, 1); }
void api_workers_lease(http_req *rq, void *ctx) { id_call(rq, ctx, fleet_lease, 1); }
void api_workers_report(http_req *rq, void *ctx) { id_call(rq, ctx, fleet_report, 1); }
void api_workers_finish(http_req *rq, void *ctx) { id_call(rq, ctx, do_finish, 1); }

void api_workers_list(http_req *rq, void *ctx)
{
    json_t *out;
    kerror err;
    kerror_clear(&err);
    if (fleet_list(ctx, &out, &err) != KE_OK) http_respond_kerror(rq, &err);
    else http_respond_json(rq, 200, out);
}
