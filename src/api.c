/* api: the endpoint handlers of `kestrel serve`; see api.h and
 * docs/openapi.yaml. The reads of a study's trials are api_trials.c's, the
 * exports api_export.c's, the event stream api_events.c's, the worker
 * routes api_workers.c's, the dashboard's files api_static.c's. Invariant: a
 * handler holds a pooled storage handle only while it runs (an export's
 * producer thread until it has written the last row), so at most one thread
 * uses a handle at a time. */
#define _GNU_SOURCE
#include "api.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_cache.h"
#include "api_events.h"
#include "api_export.h"
#include "api_impl.h"
#include "api_json.h"
#include "api_trials.h"
#include "api_workers.h"
#include "enqueue.h"
#include "field.h"
#include "spec.h"
#include "storage.h"

storage *api_pool_get(api *a, kerror *err)
{
    storage *st = NULL;
    pthread_mutex_lock(&a->mu);
    if (a->n_pool > 0) st = a->pool[--a->n_pool];
    pthread_mutex_unlock(&a->mu);
    if (!st && storage_open(&st, a->db_path, err) != KE_OK) return NULL;
    return st;
}

void api_pool_put(api *a, storage *st)
{
    if (!st) return;
    pthread_mutex_lock(&a->mu);
    if (a->n_pool < POOL_KEEP) {
        a->pool[a->n_pool++] = st;
        st = NULL;
    }
    pthread_mutex_unlock(&a->mu);
    storage_close(st);
}

/* The study called name, read through a pooled handle that the caller puts
 * back; on failure it has answered the request and returns NULL. */
storage *api_get_study(api *a, http_req *rq, const char *name, storage_study *s)
{
    kerror err;
    kerror_clear(&err);
    storage *st = api_pool_get(a, &err);
    if (st && storage_study_get(st, name, s, &err) == KE_OK) return st;
    api_pool_put(a, st);
    http_respond_kerror(rq, &err);
    return NULL;
}

/* What a study respond_study no longer finds was gone by: */
typedef enum {
    GONE_BEFORE,        /* a read: 404, no such study */
    GONE_UNDONE,        /* the engine has just created or resumed it, so a
                         * concurrent request deleted it: 409, the act undone */
    GONE_MEANWHILE      /* the engine has just stopped it: 404, deleted
                         * meanwhile, as the routes that read then write say */
} gone_as;

static void respond_study(api *a, http_req *rq, int status, const char *name, int with_spec,
                          gone_as gone)
{
    kerror err;
    kerror_clear(&err);
    storage_study s;
    storage *st = api_pool_get(a, &err);
    int rc = st ? storage_study_get(st, name, &s, &err) : err.code;
    if (rc == KE_OK) {
        json_t *o = api_study_json(&s, with_spec);
        /* the columns its trials have that "params" does not name */
        if (o && with_spec && (rc = api_study_removed_params(st, &s, o, &err)) != KE_OK) {
            json_decref(o);
            http_respond_kerror(rq, &err);
        } else {
            http_respond_json(rq, status, o);
        }
        storage_study_free(&s);
    } else {
        if (rc == KE_NOTFOUND && gone == GONE_UNDONE)
            kerror_set(&err, KE_CONFLICT, NULL, "study '%s' was deleted by another request "
                       "meanwhile", name);
        if (gone == GONE_MEANWHILE) api_deleted_meanwhile(rc, name, NULL, &err);
        http_respond_kerror(rq, &err);
    }
    api_pool_put(a, st);
}

/* A route reads its study by name, then writes or lists by the study's id:
 * a KE_NOTFOUND of the latter is a DELETE that went through in between
 * (another request or process). It is said as a study the route does not
 * find is, by the name the route was given ("no study with id 7" named an
 * id no client used); what says what was not done. Other codes pass. */
int api_deleted_meanwhile(int rc, const char *name, const char *what, kerror *err)
{
    if (rc != KE_NOTFOUND) return rc;
    return kerror_set(err, KE_NOTFOUND, NULL, "study '%s' was deleted meanwhile%s%s", name,
                      what ? ": " : "", what ? what : "");
}

/* ---- health, metrics ---- */

/* Every stored study, read through a pooled handle put back before it
 * returns; the caller frees *list with storage_study_list_free. On failure
 * it has answered the request and returns its error code. */
static int list_studies(api *a, http_req *rq, storage_study **list, int *n)
{
    kerror err;
    kerror_clear(&err);
    *list = NULL;
    *n = 0;
    storage *st = api_pool_get(a, &err);
    int rc = st ? storage_study_list(st, list, n, &err) : err.code;
    api_pool_put(a, st);
    if (rc != KE_OK) http_respond_kerror(rq, &err);
    return rc;
}

/* 503 when the engine has not finished a round for a while: one step that
 * blocks stalls every study, and a supervisor should see it. */
static void h_health(http_req *rq, void *ctx)
{
    api *a = ctx;
    service_stats ss;
    service_get_stats(a->sv, &ss);
    if (ss.stalled)
        http_respond_json(rq, 503, json_pack("{s:s, s:f}", "status", "stalled",
                                             "engine_idle_s", ss.engine_idle_s));
    else
        http_respond_json(rq, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_metrics(http_req *rq, void *ctx)
{
    api *a = ctx;
    storage_study *list;
    int n;
    if (list_studies(a, rq, &list, &n) != KE_OK) return;
    long trials[TRIAL_STATES] = {0}, studies[STUDY_STATES] = {0};
    for (int i = 0; i < n; i++) {
        trials[TRIAL_RUNNING] += list[i].n_running;
        trials[TRIAL_COMPLETE] += list[i].n_complete;
        trials[TRIAL_PRUNED] += list[i].n_pruned;
        trials[TRIAL_FAILED] += list[i].n_failed + list[i].n_interrupted;
        studies[list[i].state]++;
    }
    storage_study_list_free(list, n);
    service_stats ss;
    service_get_stats(a->sv, &ss);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        http_respond_error(rq, 500, "nomem", NULL, "out of memory");
        return;
    }
    fputs("# HELP kestrel_trials Trials in the history by state.\n# TYPE kestrel_trials gauge\n", f);
    for (int k = 0; k < TRIAL_STATES; k++)
        fprintf(f, "kestrel_trials{state=\"%s\"} %ld\n", trial_state_name((trial_state)k), trials[k]);
    fprintf(f, "# HELP kestrel_running_trials Trials running now, here or on workers.\n"
               "# TYPE kestrel_running_trials gauge\nkestrel_running_trials %d\n"
               "# HELP kestrel_suggestions_total Trials started since the server started.\n"
               "# TYPE kestrel_suggestions_total counter\nkestrel_suggestions_total %" PRIu64 "\n"
               "# HELP kestrel_workers Workers the server knows: registered, and not forgotten after ten "
               "silent leases.\n"
               "# TYPE kestrel_workers gauge\nkestrel_workers %d\n"
               "# HELP kestrel_remote_trials Trials workers run now (their leases).\n"
               "# TYPE kestrel_remote_trials gauge\nkestrel_remote_trials %d\n"
               "# HELP kestrel_studies_waiting Studies stored RUNNING that wait to resume after "
               "a transient storage error.\n"
               "# TYPE kestrel_studies_waiting gauge\nkestrel_studies_waiting %d\n"
               "# HELP kestrel_studies Studies in the history by state.\n"
               "# TYPE kestrel_studies gauge\n", ss.running, ss.suggestions, ss.workers, ss.remote,
            ss.waiting);
    for (int k = 0; k < STUDY_STATES; k++)
        fprintf(f, "kestrel_studies{state=\"%s\"} %ld\n", study_state_name((study_state)k), studies[k]);
    fputs("# HELP kestrel_http_requests_total HTTP responses by status code.\n"
          "# TYPE kestrel_http_requests_total counter\n", f);
    for (int code = 100; code < 600; code++) {
        http_server *srv = __atomic_load_n(&a->srv, __ATOMIC_ACQUIRE);
        uint64_t c = srv ? http_count(srv, code) : 0;
        if (c) fprintf(f, "kestrel_http_requests_total{code=\"%d\"} %" PRIu64 "\n", code, c);
    }
    fclose(f);
    http_respond_owned(rq, 200, "text/plain; version=0.0.4", text, len);
}

/* ---- studies ---- */

static void h_list(http_req *rq, void *ctx)
{
    api *a = ctx;
    storage_study *list;
    int n;
    if (list_studies(a, rq, &list, &n) != KE_OK) return;
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(arr, api_study_json(&list[i], 0));
    storage_study_list_free(list, n);
    http_respond_json(rq, 200, json_pack("{s:o}", "studies", arr));
}

/* The request body as text for a JSON parser that reads up to a NUL, or
 * KE_INVALID when it holds one: `{"note": "a"}` then a NUL and anything
 * was stored as the note "a", the rest unread (the worker routes read the
 * body by its length, json_loadb, and refuse it). */
static int body_text(http_req *rq, const char **text, kerror *err)
{
    size_t len;
    *text = http_body(rq, &len);
    size_t nul = strlen(*text);
    if (nul == len) return KE_OK;
    return kerror_set(err, KE_INVALID, NULL, "invalid JSON: a NUL byte at byte %zu of the "
                      "body (of %zu bytes)", nul, len);
}

static void h_create(http_req *rq, void *ctx)
{
    api *a = ctx;
    kerror err;
    kerror_clear(&err);
    spec_study spec;
    const char *text;
    if (body_text(rq, &text, &err) != KE_OK || spec_parse(&spec, text, &err) != KE_OK) {
        http_respond_kerror(rq, &err);
        return;
    }
    char name[256];
    snprintf(name, sizeof name, "%s", spec.name);
    int created = 0;
    if (service_submit(a->sv, &spec, &created, &err) != KE_OK) {
        http_respond_kerror(rq, &err);
        return;
    }
    respond_study(a, rq, created ? 201 : 200, name, 0, GONE_UNDONE);
}

static void h_show(http_req *rq, void *ctx)
{
    respond_study(ctx, rq, 200, http_param(rq, 0), 1, GONE_BEFORE);
}

/* Runs a study action of the engine (stop, delete); answers its error, or
 * 204 when the study is gone, or the study as it now stands with 202. */
static void study_action(http_req *rq, api *a, int (*act)(service *, const char *, kerror *),
                         int deleted)
{
    kerror err;
    kerror_clear(&err);
    if (act(a->sv, http_param(rq, 0), &err) != KE_OK)
        http_respond_kerror(rq, &err);
    else if (deleted)
        http_respond_empty(rq, 204);
    else
        respond_study(a, rq, 202, http_param(rq, 0), 0, GONE_MEANWHILE);
}

static void h_stop(http_req *rq, void *ctx) { study_action(rq, ctx, service_stop, 0); }
/* POST .../resume[?retry_failed=true]: retry_failed re-runs every FAILED
 * trial once more, as `kestrel run --retry-failed`. */
static void h_resume(http_req *rq, void *ctx)
{
    const char *v = http_query(rq, "retry_failed");
    int retry = v && (!strcmp(v, "true") || !strcmp(v, "1"));
    if (v && !retry && strcmp(v, "false") && strcmp(v, "0")) {
        http_respond_error(rq, 400, "invalid", "retry_failed", "expected true or false, not '%s'", v);
        return;
    }
    kerror err;
    kerror_clear(&err);
    if (service_resume(((api *)ctx)->sv, http_param(rq, 0), retry, &err) != KE_OK)
        http_respond_kerror(rq, &err);
    else
        respond_study(ctx, rq, 202, http_param(rq, 0), 0, GONE_UNDONE);
}
static void h_delete(http_req *rq, void *ctx) { study_action(rq, ctx, service_delete, 1); }

/* ---- enqueue, note ---- */

/* What a study route does with the study and a pooled handle: fills *out
 * (the response body) or err. */
typedef int (*study_fn)(http_req *rq, storage *st, const storage_study *s, json_t **out,
                        kerror *err);

static void on_study(http_req *rq, api *a, int status, study_fn fn)
{
    kerror err;
    kerror_clear(&err);
    storage_study s;
    json_t *out = NULL;
    storage *st = api_pool_get(a, &err);
    int rc = st ? storage_study_get(st, http_param(rq, 0), &s, &err) : err.code;
    if (rc == KE_OK) {
        rc = fn(rq, st, &s, &out, &err);
        storage_study_free(&s);
    }
    api_pool_put(a, st);
    if (rc == KE_OK) http_respond_json(rq, status, out);
    else http_respond_kerror(rq, &err);
}

/* The request body as JSON (a new reference), or KE_INVALID. */
static int body_json(http_req *rq, json_t **out, kerror *err)
{
    json_error_t je;
    const char *text;
    *out = NULL;
    if (body_text(rq, &text, err) != KE_OK) return err->code;
    *out = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (*out) return KE_OK;
    return kerror_set(err, KE_INVALID, NULL, "invalid JSON at line %d, column %d: %s", je.line,
                      je.column, je.text);
}

static int enqueue_get(http_req *rq, storage *st, const storage_study *s, json_t **out,
                       kerror *err)
{
    (void)rq;
    json_t *pending;
    spec_study spec;
    int unfit, rc = spec_parse(&spec, s->spec_json, err);
    if (rc != KE_OK) return rc;
    rc = enqueue_list_json(st, s->id, &spec.space, &pending, &unfit, err);
    spec_free(&spec);
    if (rc == KE_OK) *out = json_pack("{s:o}", "pending", pending);
    return rc;
}

/* POST body: one {parameter: value} object or an array of them. */
static int enqueue_post(http_req *rq, storage *st, const storage_study *s, json_t **out,
                        kerror *err)
{
    json_t *body;
    spec_study spec;
    int added = 0, unfit, rc = body_json(rq, &body, err);
    if (rc != KE_OK) return rc;
    int parsed = (rc = spec_parse(&spec, s->spec_json, err)) == KE_OK;
    if (parsed) rc = enqueue_add(st, s->id, &spec.space, body, "", "api", &added, err);
    rc = api_deleted_meanwhile(rc, s->name, "nothing enqueued", err);
    json_decref(body);
    json_t *pending;
    if (rc == KE_OK &&
        (rc = enqueue_list_json(st, s->id, &spec.space, &pending, &unfit, err)) == KE_OK)
        *out = json_pack("{s:i, s:o}", "added", added, "pending", pending);
    if (parsed) spec_free(&spec);
    return rc;
}

static int note_get(http_req *rq, storage *st, const storage_study *s, json_t **out, kerror *err)
{
    (void)rq;
    (void)st;
    (void)err;
    *out = json_pack("{s:o}", "note", api_text(s->note));
    return KE_OK;
}

/* PUT body: {"note": text or null}. A refusal names the field at fault:
 * an unknown one ("notes", with the nearest, "note") or note itself. */
static int note_put(http_req *rq, storage *st, const storage_study *s, json_t **out, kerror *err)
{
    static const char *const keys[] = {"note", NULL};
    json_t *body;
    int rc = body_json(rq, &body, err);
    if (rc != KE_OK) return rc;
    json_t *note = json_object_get(body, "note");
    rc = json_is_object(body) ? field_check_keys(body, "", keys, NULL, NULL, err)
                              : kerror_set(err, KE_INVALID, NULL, "expected {\"note\": text or null}");
    if (rc == KE_OK && !json_is_string(note) && !json_is_null(note))
        rc = kerror_set(err, KE_INVALID, "note", note ? "must be a string or null"
                                                      : "required field missing");
    if (rc == KE_OK)
        rc = api_deleted_meanwhile(storage_study_set_note(st, s->id, json_string_value(note), err),
                                   s->name, "no note stored", err);
    if (rc == KE_OK)
        *out = json_pack("{s:o}", "note", json_is_string(note) && *json_string_value(note)
                                              ? json_incref(note) : json_null());
    json_decref(body);
    return rc;
}

static void h_enqueue_get(http_req *rq, void *ctx) { on_study(rq, ctx, 200, enqueue_get); }
static void h_enqueue_post(http_req *rq, void *ctx) { on_study(rq, ctx, 201, enqueue_post); }
static void h_note_get(http_req *rq, void *ctx) { on_study(rq, ctx, 200, note_get); }
static void h_note_put(http_req *rq, void *ctx) { on_study(rq, ctx, 200, note_put); }

/* ---- exports (api_export.c), events (api_events.c) ---- */

static void release_to_pool(void *owner, storage *st)
{
    api_pool_put(owner, st);
}

static void respond_export(api *a, http_req *rq, int csv)
{
    storage_study s;
    storage *st = api_get_study(a, rq, http_param(rq, 0), &s);
    if (st) api_export(rq, st, &s, csv, release_to_pool, a);
}

static void h_export_csv(http_req *rq, void *ctx)
{
    respond_export(ctx, rq, 1);
}

static void h_export_json(http_req *rq, void *ctx)
{
    respond_export(ctx, rq, 0);
}

static void h_events(http_req *rq, void *ctx)
{
    api_events(rq, ((api *)ctx)->sv);
}

/* ---- workers (api_workers.c, which needs only the service) ---- */

#define WORKER_ROUTE(name) \
    static void h_worker_##name(http_req *rq, void *ctx) { api_workers_##name(rq, ((api *)ctx)->sv); }
WORKER_ROUTE(register)
WORKER_ROUTE(list)
WORKER_ROUTE(heartbeat)
WORKER_ROUTE(lease)
WORKER_ROUTE(report)
WORKER_ROUTE(finish)
WORKER_ROUTE(upload)
WORKER_ROUTE(download)

#define WORKER_ADMIT(name) \
    static int h_worker_##name##_admit(http_req *rq, void *ctx) \
    { return api_workers_##name##_admit(rq, ((api *)ctx)->sv); }
WORKER_ADMIT(upload)
WORKER_ADMIT(call)
WORKER_ADMIT(keyless)

/* ---- setup ---- */

static const http_route routes[] = {
    {"GET", "/healthz", h_health, 1, NULL, 0, NULL},
    {"GET", "/metrics", h_metrics, 0, NULL, 0, NULL},
    {"GET", "/api/v1/studies", h_list, 0, NULL, 0, NULL},
    {"POST", "/api/v1/studies", h_create, 0, NULL, 0, NULL},
    {"GET", "/api/v1/studies/*", h_show, 0, NULL, 0, NULL},
    {"DELETE", "/api/v1/studies/*", h_delete, 0, NULL, 0, NULL},
    {"POST", "/api/v1/studies/*/stop", h_stop, 0, NULL, 0, NULL},
    {"POST", "/api/v1/studies/*/resume", h_resume, 0, "retry_failed", 0, NULL},
    {"GET", "/api/v1/studies/*/enqueue", h_enqueue_get, 0, NULL, 0, NULL},
    {"POST", "/api/v1/studies/*/enqueue", h_enqueue_post, 0, NULL, 0, NULL},
    {"GET", "/api/v1/studies/*/note", h_note_get, 0, NULL, 0, NULL},
    {"PUT", "/api/v1/studies/*/note", h_note_put, 0, NULL, 0, NULL},
    {"GET", "/api/v1/studies/*/trials", api_trials_list, 0, "state sort offset limit after format",
     0, NULL},
    {"GET", "/api/v1/studies/*/trials/*", api_trials_get, 0, NULL, 0, NULL},
    {"GET", "/api/v1/studies/*/best", api_trials_best, 0, NULL, 0, NULL},
    {"GET", "/api/v1/studies/*/curves", api_trials_curves, 0, "offset limit", 0, NULL},
    {"GET", "/api/v1/studies/*/export.csv", h_export_csv, 0, NULL, 0, NULL},
    {"GET", "/api/v1/studies/*/export.json", h_export_json, 0, NULL, 0, NULL},
    {"GET", "/api/v1/events", h_events, 0, "study since", 0, NULL},
    {"GET", "/api/v1/workers", h_worker_list, 0, NULL, 0, NULL},
    {"POST", "/api/v1/workers", h_worker_register, 0, NULL, 1, h_worker_keyless_admit},
    {"POST", "/api/v1/workers/*/heartbeat", h_worker_heartbeat, 0, NULL, 1, h_worker_keyless_admit},
    {"POST", "/api/v1/workers/*/lease", h_worker_lease, 0, NULL, 1, h_worker_keyless_admit},
    {"POST", "/api/v1/leases/*/report", h_worker_report, 0, "worker key", 1, h_worker_call_admit},
    {"POST", "/api/v1/leases/*/finish", h_worker_finish, 0, "worker key", 1, h_worker_call_admit},
    {"POST", "/api/v1/leases/*/checkpoint", h_worker_upload, 0, "worker key offset last", 0,
     h_worker_upload_admit},
    {"GET", "/api/v1/studies/*/trials/*/checkpoint", h_worker_download, 0, NULL, 0, NULL},
};

const http_route *api_routes(int *n)
{
    *n = (int)(sizeof routes / sizeof routes[0]);
    return routes;
}

int api_open(api **out, service *sv, const char *db_path, kerror *err)
{
    api *a = calloc(1, sizeof *a);
    if (!a || !(a->db_path = strdup(db_path))) {
        free(a);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    if (!(a->cache = api_cache_new())) {
        free(a->db_path);
        free(a);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    a->sv = sv;
    pthread_mutex_init(&a->mu, NULL);
    *out = a;
    return KE_OK;
}

void api_set_server(api *a, http_server *srv)
{
    __atomic_store_n(&a->srv, srv, __ATOMIC_RELEASE);
}

void api_close(api *a)
{
    if (!a) return;
    for (int i = 0; i < a->n_pool; i++) storage_close(a->pool[i]);
    api_cache_free(a->cache);
    pthread_mutex_destroy(&a->mu);
    free(a->db_path);
    free(a);
}
