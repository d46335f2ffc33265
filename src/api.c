/* api: the endpoint handlers of `kestrel serve`; see api.h and
 * docs/openapi.yaml. The exports are api_export.c's, the event stream
 * api_events.c's, the worker routes api_workers.c's. Invariant: a handler
 * holds a pooled storage handle only while it runs (an export's producer
 * thread until it has written the last row), so at most one thread uses a
 * handle at a time. */
#define _GNU_SOURCE
#include "api.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_cache.h"
#include "api_events.h"
#include "api_export.h"
#include "api_json.h"
#include "api_workers.h"
#include "enqueue.h"
#include "field.h"
#include "format.h"
#include "spec.h"
#include "storage.h"

#define POOL_KEEP 32            /* idle read connections kept */
#define LIMIT_DEFAULT 100
#define LIMIT_MAX 10000

/* The dashboard, embedded by build-aux/embed.sh from web/. */
extern const char *const web_assets[];
extern const char *const web_assets_names[];
extern const unsigned long web_assets_sizes[];

struct api {
    service *sv;
    char *db_path;
    http_server *srv;           /* set once the server runs (atomic) */
    pthread_mutex_t mu;         /* the pool */
    storage *pool[POOL_KEEP];
    int n_pool;
    api_cache *cache;           /* bodies of study reads (best, trial pages) */
};

static storage *pool_get(api *a, kerror *err)
{
    storage *st = NULL;
    pthread_mutex_lock(&a->mu);
    if (a->n_pool > 0) st = a->pool[--a->n_pool];
    pthread_mutex_unlock(&a->mu);
    if (!st && storage_open(&st, a->db_path, err) != KE_OK) return NULL;
    return st;
}

static void pool_put(api *a, storage *st)
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
static storage *get_study(api *a, http_req *rq, const char *name, storage_study *s)
{
    kerror err;
    kerror_clear(&err);
    storage *st = pool_get(a, &err);
    if (st && storage_study_get(st, name, s, &err) == KE_OK) return st;
    pool_put(a, st);
    http_respond_kerror(rq, &err);
    return NULL;
}

static void respond_body(http_req *rq, api_body *b)
{
    size_t len;
    const char *text = api_body_text(b, &len);
    http_respond_shared(rq, 200, "application/json", text, len, api_body_release, b);
}

/* A read of the trials of the study in the path that the cache may answer:
 * when the body kept for key is still current it answers and returns NULL;
 * on an error too (answered). Otherwise it returns a pooled handle (the
 * caller puts it back) with the study in s (the caller frees it) and its
 * stamp, for the caller to build the body and answer with respond_new. */
static storage *cached_read(api *a, http_req *rq, const char *key, storage_stamp *stamp,
                            storage_study *s)
{
    kerror err;
    kerror_clear(&err);
    const char *name = http_param(rq, 0);
    storage *st = pool_get(a, &err);
    if (st && storage_study_stamp(st, name, stamp, &err) == KE_OK) {
        api_body *b = api_cache_get(a->cache, key, stamp);
        if (b) {
            pool_put(a, st);
            respond_body(rq, b);
            return NULL;
        }
        /* read after the stamp: the body is at least as new as the stamp */
        if (storage_study_get(st, name, s, &err) == KE_OK) return st;
    }
    pool_put(a, st);
    http_respond_kerror(rq, &err);
    return NULL;
}

/* Answers 200 with body, kept under key at stamp when keep is set. */
static void respond_new(api *a, http_req *rq, const char *key, const storage_stamp *stamp,
                        json_t *body, int keep)
{
    if (!keep) {
        http_respond_json(rq, 200, body);
        return;
    }
    char *text = body ? format_json(body, JSON_COMPACT) : NULL;
    json_decref(body);
    api_body *b = text ? api_cache_put(a->cache, key, stamp, text, strlen(text)) : NULL;
    if (b) respond_body(rq, b);
    else http_respond_error(rq, 500, "nomem", NULL, "out of memory");
}

/* just_acted: the engine has just created or resumed the study, so one gone
 * by now was deleted by a concurrent request: 409, not 404. */
static void respond_study(api *a, http_req *rq, int status, const char *name, int with_spec,
                          int just_acted)
{
    kerror err;
    kerror_clear(&err);
    storage_study s;
    storage *st = pool_get(a, &err);
    int rc = st ? storage_study_get(st, name, &s, &err) : err.code;
    if (rc == KE_OK) {
        http_respond_json(rq, status, api_study_json(&s, with_spec));
        storage_study_free(&s);
    } else {
        if (rc == KE_NOTFOUND && just_acted)
            kerror_set(&err, KE_CONFLICT, NULL, "study '%s' was deleted by another request "
                       "meanwhile", name);
        http_respond_kerror(rq, &err);
    }
    pool_put(a, st);
}

/* A route reads its study by name, then writes or lists by the study's id:
 * a KE_NOTFOUND of the latter is a DELETE that went through in between
 * (another request or process). It is said as a study the route does not
 * find is, by the name the route was given ("no study with id 7" named an
 * id no client used); what says what was not done. Other codes pass. */
static int deleted_meanwhile(int rc, const storage_study *s, const char *what, kerror *err)
{
    if (rc != KE_NOTFOUND) return rc;
    return kerror_set(err, KE_NOTFOUND, NULL, "study '%s' was deleted meanwhile%s%s", s->name,
                      what ? ": " : "", what ? what : "");
}

/* Query parameter key as an integer in [0, max], def when absent; on a bad
 * value it answers 400 (path = the parameter) and returns -1. */
static int query_int(http_req *rq, const char *key, int def, int max, int *out)
{
    const char *v = http_query(rq, key);
    *out = def;
    if (!v) return 0;
    long long n;
    if (http_parse_count(v, max, &n) < 0) {
        http_respond_error(rq, 400, "invalid", key, "expected an integer from 0 to %d, not '%s'",
                           max, v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

/* ---- health, metrics ---- */

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
    kerror err;
    kerror_clear(&err);
    storage *st = pool_get(a, &err);
    storage_study *list = NULL;
    int n = 0;
    if (!st || storage_study_list(st, &list, &n, &err) != KE_OK) {
        pool_put(a, st);
        http_respond_kerror(rq, &err);
        return;
    }
    pool_put(a, st);
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
    kerror err;
    kerror_clear(&err);
    storage *st = pool_get(a, &err);
    storage_study *list = NULL;
    int n = 0;
    if (!st || storage_study_list(st, &list, &n, &err) != KE_OK) {
        pool_put(a, st);
        http_respond_kerror(rq, &err);
        return;
    }
    pool_put(a, st);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(arr, api_study_json(&list[i], 0));
    storage_study_list_free(list, n);
    http_respond_json(rq, 200, json_pack("{s:o}", "studies", arr));
}

static void h_create(http_req *rq, void *ctx)
{
    api *a = ctx;
    kerror err;
    kerror_clear(&err);
    spec_study spec;
    if (spec_parse(&spec, http_body(rq, NULL), &err) != KE_OK) {
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
    respond_study(a, rq, created ? 201 : 200, name, 0, 1);
}

static void h_show(http_req *rq, void *ctx)
{
    respond_study(ctx, rq, 200, http_param(rq, 0), 1, 0);
}

/* Runs a study action of the engine; answers its error, or 204 when the
 * study is gone, or the study as it now stands with 202. */
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
        respond_study(a, rq, 202, http_param(rq, 0), 0, 1);
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
        respond_study(ctx, rq, 202, http_param(rq, 0), 0, 1);
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
    storage *st = pool_get(a, &err);
    int rc = st ? storage_study_get(st, http_param(rq, 0), &s, &err) : err.code;
    if (rc == KE_OK) {
        rc = fn(rq, st, &s, &out, &err);
        storage_study_free(&s);
    }
    pool_put(a, st);
    if (rc == KE_OK) http_respond_json(rq, status, out);
    else http_respond_kerror(rq, &err);
}

/* The request body as JSON (a new reference), or KE_INVALID. */
static int body_json(http_req *rq, json_t **out, kerror *err)
{
    json_error_t je;
    *out = json_loads(http_body(rq, NULL), JSON_REJECT_DUPLICATES, &je);
    if (*out) return KE_OK;
    return kerror_set(err, KE_INVALID, NULL, "invalid JSON at line %d, column %d: %s", je.line,
                      je.column, je.text);
}

static int enqueue_get(http_req *rq, storage *st, const storage_study *s, json_t **out,
                       kerror *err)
{
    (void)rq;
    json_t *pending;
    int rc = enqueue_list_json(st, s->id, &pending, err);
    if (rc == KE_OK) *out = json_pack("{s:o}", "pending", pending);
    return rc;
}

/* POST body: one {parameter: value} object or an array of them. */
static int enqueue_post(http_req *rq, storage *st, const storage_study *s, json_t **out,
                        kerror *err)
{
    json_t *body;
    spec_study spec;
    int added = 0, rc = body_json(rq, &body, err);
    if (rc != KE_OK) return rc;
    if ((rc = spec_parse(&spec, s->spec_json, err)) == KE_OK) {
        rc = enqueue_add(st, s->id, &spec.space, body, "", "api", &added, err);
        spec_free(&spec);
    }
    rc = deleted_meanwhile(rc, s, "nothing enqueued", err);
    json_decref(body);
    json_t *pending;
    if (rc == KE_OK && (rc = enqueue_list_json(st, s->id, &pending, err)) == KE_OK)
        *out = json_pack("{s:i, s:o}", "added", added, "pending", pending);
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
        rc = deleted_meanwhile(storage_study_set_note(st, s->id, json_string_value(note), err), s,
                               "no note stored", err);
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

/* ---- trials ---- */

typedef struct {
    json_t *arr;
    int running;   /* a RUNNING trial's duration grows with the clock: not kept */
    int failed;    /* a trial could not be encoded (out of memory) */
    int want, best_first;       /* trials: the page's limit, its order */
    int more;                   /* a trial follows the page's `want` (read one past) */
    char next[API_CURSOR_MAX];  /* the cursor after the last trial in arr */
} page_build;

static int add_trial(const storage_trial *t, void *ctx)
{
    page_build *pb = ctx;
    if (json_array_size(pb->arr) == (size_t)pb->want) {
        pb->more = 1;
        return 1;
    }
    pb->running |= t->state == TRIAL_RUNNING;
    pb->failed = json_array_append_new(pb->arr, api_trial_json(t)) != 0;
    api_cursor_text(t, pb->best_first, pb->next);
    return pb->failed;
}

static int count_state(const storage_study *s, int state)
{
    switch (state) {
    case TRIAL_RUNNING: return s->n_running;
    case TRIAL_COMPLETE: return s->n_complete;
    case TRIAL_PRUNED: return s->n_pruned;
    case TRIAL_FAILED: return s->n_failed + s->n_interrupted;
    default: return s->n_trials;
    }
}

/* A full page of finished trials by number (no state filter), or of their
 * curves, stays what it is while the study grows, until its stamp's settled
 * count moves (see storage_stamp): it is kept under that alone, so a live
 * study's pages of old trials are built once, not at every write. Kept
 * without its counts (the total grows), which each answer appends. */
static storage_stamp settled_stamp(const storage_stamp *s)
{
    return (storage_stamp){.id = s->id, .created_at = s->created_at, .version = -1,
                           .settled = s->settled};
}

/* Which page: what names its items ("trials", "columns": the trials as
 * columns, or "curves"), metric the curves' ("" for trials); a page of
 * trials carries its `next`, kept with it: kept only when a trial follows
 * (and answered from the cache only while one does), so the last page,
 * whose next is null, is always read. */
typedef struct {
    const char *what, *metric;
    int offset, limit;
    int has_next;
} settled_page;

/* The items of a page as the answer names them (new reference): the
 * trials' objects, or (what "columns") the same trials as columns. */
static json_t *page_items(const page_build *pb, const char *what)
{
    return strcmp(what, "columns") ? json_incref(pb->arr) : api_trials_columns(pb->arr);
}

/* Answers the kept text of a page (`{"trials":[...]`) with its counts. */
static void respond_settled(http_req *rq, const char *head, size_t len, int total,
                            const settled_page *pg)
{
    char tail[96];
    int n = snprintf(tail, sizeof tail, ",\"total\":%d,\"offset\":%d,\"limit\":%d}", total,
                     pg->offset, pg->limit);
    char *text = malloc(len + (size_t)n + 1);
    if (!text) {
        http_respond_error(rq, 500, "nomem", NULL, "out of memory");
        return;
    }
    memcpy(text, head, len);
    memcpy(text + len, tail, (size_t)n + 1);
    http_respond_owned(rq, 200, "application/json", text, len + (size_t)n);
}

/* Answers a page from the settled cache, or builds its head from pb (when
 * given), keeps it and answers; 0 when the page cannot be kept (not full,
 * or a RUNNING trial in it: then pb->arr is still the caller's to answer
 * with) or is not kept (pb NULL). */
static int answer_settled(api *a, http_req *rq, const settled_page *pg, const storage_stamp *stamp,
                          const storage_study *s, const page_build *pb)
{
    size_t klen = strlen(pg->metric) + 64;
    char *key = malloc(klen);
    if (!key) {
        http_respond_error(rq, 500, "nomem", NULL, "out of memory");
        return 1;
    }
    snprintf(key, klen, "settled %s %d %d %s", pg->what, pg->offset, pg->limit, pg->metric);
    storage_stamp fin = settled_stamp(stamp);
    size_t len;
    int last = pg->has_next && count_state(s, -1) <= pg->offset + pg->limit;
    api_body *b = last ? NULL : api_cache_get(a->cache, key, &fin);
    if (!b && pb) {
        if (pb->running || json_array_size(pb->arr) != (size_t)pg->limit ||
            (pg->has_next && !pb->more)) {
            free(key);
            return 0;
        }
        json_t *o = pg->has_next ? json_pack("{s:o, s:s}", pg->what, page_items(pb, pg->what),
                                             "next", pb->next)
                                 : json_pack("{s:o}", pg->what, page_items(pb, pg->what));
        char *text = o ? format_json(o, JSON_COMPACT) : NULL;
        json_decref(o);
        size_t n = text ? strlen(text) : 0;
        if (n) text[--n] = '\0';   /* the closing brace, after which the counts go */
        b = text ? api_cache_put(a->cache, key, &fin, text, n) : NULL;
        if (!b) {
            free(key);
            http_respond_error(rq, 500, "nomem", NULL, "out of memory");
            return 1;
        }
    }
    free(key);
    if (!b) return 0;
    const char *head = api_body_text(b, &len);
    respond_settled(rq, head, len, count_state(s, -1), pg);
    api_body_release(b);
    return 1;
}

/* ?after=CURSOR: f->after set to *c; 0, or -1 when answered (a 400). */
static int query_after(http_req *rq, storage_filter *f, storage_cursor *c)
{
    const char *text = http_query(rq, "after");
    if (!text) return 0;
    kerror err;
    kerror_clear(&err);
    if (api_cursor_parse(text, f->best_first, c, &err) == KE_OK && f->offset > 0)
        kerror_set(&err, KE_INVALID, "after", "not with offset: a cursor is where the page "
                   "starts (offset %d given)", f->offset);
    if (err.code != KE_OK) {
        http_respond_kerror(rq, &err);
        return -1;
    }
    f->after = c;
    return 0;
}

static void h_trials(http_req *rq, void *ctx)
{
    api *a = ctx;
    storage_filter f = {.state = -1};
    storage_cursor after;
    const char *state = http_query(rq, "state"), *sort = http_query(rq, "sort");
    const char *format = http_query(rq, "format");
    if (format && strcmp(format, "objects") && strcmp(format, "columns")) {
        http_respond_error(rq, 400, "invalid", "format", "expected objects or columns, not '%s'", format);
        return;
    }
    const char *what = format && !strcmp(format, "columns") ? "columns" : "trials";
    if (state && (f.state = trial_state_parse(state)) < 0) {
        http_respond_error(rq, 400, "invalid", "state", "expected RUNNING, COMPLETE, PRUNED or "
                           "FAILED, not '%s'", state);
        return;
    }
    if (sort && strcmp(sort, "number") && strcmp(sort, "best")) {
        http_respond_error(rq, 400, "invalid", "sort", "expected number or best, not '%s'", sort);
        return;
    }
    f.best_first = sort && !strcmp(sort, "best");
    if (query_int(rq, "offset", 0, 1000000000, &f.offset) < 0 ||
        query_int(rq, "limit", LIMIT_DEFAULT, LIMIT_MAX, &f.limit) < 0 ||
        query_after(rq, &f, &after) < 0)
        return;
    char key[128];   /* a cursor that parsed has one text, of at most 28 characters */
    snprintf(key, sizeof key, "%s %d %d %d %d %s", what, f.state, f.best_first, f.offset, f.limit,
             f.after ? http_query(rq, "after") : "");
    storage_stamp stamp;
    storage_study s;
    storage *st = cached_read(a, rq, key, &stamp, &s);
    if (!st) return;
    int settled = f.state < 0 && !f.best_first && f.limit > 0 && !f.after;
    settled_page pg = {what, "", f.offset, f.limit, 1};
    if (settled && answer_settled(a, rq, &pg, &stamp, &s, NULL)) {
        storage_study_free(&s);
        pool_put(a, st);
        return;
    }
    /* one trial past the page: whether another page follows (its next) */
    page_build pb = {.arr = json_array(), .want = f.limit, .best_first = f.best_first};
    storage_filter past = f;
    past.limit = f.limit + 1;
    kerror err;
    kerror_clear(&err);
    int rc = f.limit == 0 ? KE_OK : storage_trial_each(st, s.id, &past, add_trial, &pb, &err);
    rc = deleted_meanwhile(rc, &s, NULL, &err);
    if (rc == KE_OK && (pb.failed || !pb.arr))
        rc = kerror_set(&err, KE_NOMEM, NULL, "out of memory");
    if (rc == KE_OK && !(settled && answer_settled(a, rq, &pg, &stamp, &s, &pb)))
        respond_new(a, rq, key, &stamp,
                    json_pack("{s:o, s:o, s:i, s:i, s:i}", what, page_items(&pb, what), "next",
                              pb.more ? json_string(pb.next) : json_null(), "total",
                              count_state(&s, f.state), "offset", f.offset, "limit", f.limit),
                    !pb.running);
    else if (rc != KE_OK)
        http_respond_kerror(rq, &err);
    json_decref(pb.arr);
    storage_study_free(&s);
    pool_put(a, st);
}

/* GET .../trials/{number} (detail) and GET .../best (by: 1). */
static void respond_trial(api *a, http_req *rq, int best)
{
    int number = 0;
    if (!best) {
        const char *arg = http_param(rq, 1);
        long long n;
        if (http_parse_count(arg, 1000000000, &n) < 0) {
            http_respond_error(rq, 400, "invalid", "number", "not a trial number: '%s'", arg);
            return;
        }
        number = (int)n;
    }
    storage_stamp stamp;
    storage_study s;
    storage *st = best ? cached_read(a, rq, "best", &stamp, &s) : get_study(a, rq, http_param(rq, 0), &s);
    if (!st) return;
    storage_trial t;
    kerror err;
    kerror_clear(&err);
    int rc = best ? storage_trial_best(st, s.id, &t, &err) : storage_trial_get(st, s.id, number, &t, &err);
    if (rc == KE_NOTFOUND)
        kerror_set(&err, KE_NOTFOUND, NULL, best ? "study '%s' has no COMPLETE trial yet"
                                                 : "study '%s' has no trial %d", s.name, number);
    if (rc == KE_OK) {
        json_t *o = api_trial_json(&t);
        if (!o) rc = kerror_set(&err, KE_NOMEM, NULL, "out of memory");
        else if (!best) rc = api_trial_detail(st, &t, o, &err);
        storage_trial_free(&t);
        if (rc == KE_OK) respond_new(a, rq, "best", &stamp, o, best);
        else json_decref(o);
    }
    if (rc != KE_OK) http_respond_kerror(rq, &err);
    storage_study_free(&s);
    pool_put(a, st);
}

static void h_trial(http_req *rq, void *ctx)
{
    respond_trial(ctx, rq, 0);
}

static void h_best(http_req *rq, void *ctx)
{
    respond_trial(ctx, rq, 1);
}

static int add_curve(int number, trial_state state, const int *steps, const double *values,
                     int n, void *ctx)
{
    page_build *pb = ctx;
    pb->running |= state == TRIAL_RUNNING;
    json_t *st = json_array(), *va = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(st, json_integer(steps[i]));
        json_array_append_new(va, api_number(values[i]));
    }
    json_t *c = json_pack("{s:i, s:s, s:o, s:o}", "number", number, "state",
                          trial_state_name(state), "steps", st, "values", va);
    pb->failed = json_array_append_new(pb->arr, c) != 0;
    return pb->failed;
}

/* A full page of finished trials' curves is kept as their page is
 * (answer_settled): their reports no longer change (sql/010). */
static void h_curves(http_req *rq, void *ctx)
{
    api *a = ctx;
    int offset, limit;
    if (query_int(rq, "offset", 0, 1000000000, &offset) < 0 ||
        query_int(rq, "limit", LIMIT_DEFAULT, LIMIT_MAX, &limit) < 0)
        return;
    storage_study s;
    storage *st = get_study(a, rq, http_param(rq, 0), &s);
    if (!st) return;
    kerror err;
    kerror_clear(&err);
    storage_stamp stamp;
    settled_page pg = {"curves", s.metric ? s.metric : "", offset, limit, 0};
    /* the stamp before the curves: what is kept is at least as new as it */
    int rc = storage_study_stamp(st, s.name, &stamp, &err);
    if (rc == KE_OK && limit > 0 && answer_settled(a, rq, &pg, &stamp, &s, NULL)) {
        storage_study_free(&s);
        pool_put(a, st);
        return;
    }
    page_build pb = {.arr = json_array()};
    if (rc == KE_OK && limit > 0)
        rc = storage_curves_each(st, s.id, s.metric, offset, limit, add_curve, &pb, &err);
    if (rc == KE_OK && (pb.failed || !pb.arr))
        rc = kerror_set(&err, KE_NOMEM, NULL, "out of memory");
    if (rc == KE_OK && limit > 0 && answer_settled(a, rq, &pg, &stamp, &s, &pb))
        json_decref(pb.arr);
    else if (rc == KE_OK)
        http_respond_json(rq, 200, json_pack("{s:o, s:i, s:i, s:i}", "curves", pb.arr, "total",
                                             s.n_trials, "offset", offset, "limit", limit));
    else {
        json_decref(pb.arr);
        http_respond_kerror(rq, &err);
    }
    storage_study_free(&s);
    pool_put(a, st);
}

/* ---- exports (api_export.c), events (api_events.c) ---- */

static void release_to_pool(void *owner, storage *st)
{
    pool_put(owner, st);
}

static void respond_export(api *a, http_req *rq, int csv)
{
    storage_study s;
    storage *st = get_study(a, rq, http_param(rq, 0), &s);
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

/* ---- static files ---- */

static const char *mime_type(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
        {".json", "application/json"},         {".png", "image/png"},
        {".ico", "image/x-icon"},              {".txt", "text/plain; charset=utf-8"}};
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i][0])) return types[i][1];
    return "application/octet-stream";
}

/* Only names in the embedded set are served, so no path reaches a file. */
void api_static(http_req *rq, void *ctx)
{
    (void)ctx;
    const char *path = http_path(rq);
    const char *name = !strcmp(path, "/") ? "index.html" : path + 1;
    const char *method = http_method(rq);
    if (path[0] == '/' && !strchr(name, '/'))
        for (int i = 0; web_assets_names[i]; i++) {
            if (strcmp(web_assets_names[i], name)) continue;
            if (strcmp(method, "GET") && strcmp(method, "HEAD"))
                http_respond_not_allowed(rq, "GET, HEAD");
            else
                http_respond_static(rq, 200, mime_type(name), web_assets[i], web_assets_sizes[i]);
            return;
        }
    http_respond_error(rq, 404, "not_found", NULL, "no such resource: %s", path);
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

static int h_worker_upload_admit(http_req *rq, void *ctx)
{
    return api_workers_upload_admit(rq, ((api *)ctx)->sv);
}

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
    {"GET", "/api/v1/studies/*/trials", h_trials, 0, "state sort offset limit after format", 0, NULL},
    {"GET", "/api/v1/studies/*/trials/*", h_trial, 0, NULL, 0, NULL},
    {"GET", "/api/v1/studies/*/best", h_best, 0, NULL, 0, NULL},
    {"GET", "/api/v1/studies/*/curves", h_curves, 0, "offset limit", 0, NULL},
    {"GET", "/api/v1/studies/*/export.csv", h_export_csv, 0, NULL, 0, NULL},
    {"GET", "/api/v1/studies/*/export.json", h_export_json, 0, NULL, 0, NULL},
    {"GET", "/api/v1/events", h_events, 0, "study since", 0, NULL},
    {"GET", "/api/v1/workers", h_worker_list, 0, NULL, 0, NULL},
    {"POST", "/api/v1/workers", h_worker_register, 0, NULL, 1, NULL},
    {"POST", "/api/v1/workers/*/heartbeat", h_worker_heartbeat, 0, NULL, 1, NULL},
    {"POST", "/api/v1/workers/*/lease", h_worker_lease, 0, NULL, 1, NULL},
    {"POST", "/api/v1/leases/*/report", h_worker_report, 0, NULL, 1, NULL},
    {"POST", "/api/v1/leases/*/finish", h_worker_finish, 0, NULL, 1, NULL},
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
