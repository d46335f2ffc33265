/* api_trials: the reads of a study's trials; see api_trials.h. Invariant:
 * a body is kept in the cache only when nothing in it changes while its
 * stamp holds: no RUNNING trial (its duration grows with the clock), and a
 * page kept under its settled count alone only when it is full of finished
 * trials. A handler holds a pooled storage handle only while it runs. */
#define _GNU_SOURCE
#include "api_trials.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_impl.h"
#include "api_json.h"
#include "format.h"

#define LIMIT_DEFAULT 100
#define LIMIT_MAX 10000

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
    storage *st = api_pool_get(a, &err);
    if (st && storage_study_stamp(st, name, stamp, &err) == KE_OK) {
        api_body *b = api_cache_get(a->cache, key, stamp);
        if (b) {
            api_pool_put(a, st);
            respond_body(rq, b);
            return NULL;
        }
        /* read after the stamp: the body is at least as new as the stamp */
        if (storage_study_get(st, name, s, &err) == KE_OK) return st;
    }
    api_pool_put(a, st);
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

void api_trials_list(http_req *rq, void *ctx)
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
        api_pool_put(a, st);
        return;
    }
    /* one trial past the page: whether another page follows (its next) */
    page_build pb = {.arr = json_array(), .want = f.limit, .best_first = f.best_first};
    storage_filter past = f;
    past.limit = f.limit + 1;
    kerror err;
    kerror_clear(&err);
    int rc = f.limit == 0 ? KE_OK : storage_trial_each(st, s.id, &past, add_trial, &pb, &err);
    rc = api_deleted_meanwhile(rc, s.name, NULL, &err);
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
    api_pool_put(a, st);
}

/* A trial (found: or its detail) not found in study s, read by name just
 * before: a DELETE meanwhile took the trial with it ("no trial with id 12"
 * of its detail, or "no trial 0" of a study that had one) and is said as
 * the other routes say it (api_deleted_meanwhile); else the study has no
 * such trial. Always fills err. */
static int trial_not_found(storage *st, const storage_study *s, int found, int best, int number,
                           kerror *err)
{
    storage_study now;
    int rc = storage_study_get_id(st, s->id, &now, err);   /* ids are never given again: 011 */
    if (rc == KE_OK) storage_study_free(&now);
    if (rc != KE_OK) return api_deleted_meanwhile(rc, s->name, NULL, err);
    if (found)   /* the trial's rows went, its study stayed: not a DELETE of the study */
        return kerror_set(err, KE_NOTFOUND, NULL, "study '%s' has no trial %d any more", s->name,
                          number);
    return kerror_set(err, KE_NOTFOUND, NULL, best ? "study '%s' has no COMPLETE trial yet"
                                                   : "study '%s' has no trial %d", s->name, number);
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
    storage *st = best ? cached_read(a, rq, "best", &stamp, &s)
                       : api_get_study(a, rq, http_param(rq, 0), &s);
    if (!st) return;
    storage_trial t;
    kerror err;
    kerror_clear(&err);
    int rc = best ? storage_trial_best(st, s.id, &t, &err) : storage_trial_get(st, s.id, number, &t, &err);
    int found = rc == KE_OK;
    if (rc == KE_OK) {
        json_t *o = api_trial_json(&t);
        if (!o) rc = kerror_set(&err, KE_NOMEM, NULL, "out of memory");
        else if (!best) rc = api_trial_detail(st, &t, o, &err);
        storage_trial_free(&t);
        if (rc == KE_OK) respond_new(a, rq, "best", &stamp, o, best);
        else json_decref(o);
    }
    if (rc == KE_NOTFOUND) rc = trial_not_found(st, &s, found, best, number, &err);
    if (rc != KE_OK) http_respond_kerror(rq, &err);
    storage_study_free(&s);
    api_pool_put(a, st);
}

void api_trials_get(http_req *rq, void *ctx)
{
    respond_trial(ctx, rq, 0);
}

void api_trials_best(http_req *rq, void *ctx)
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
void api_trials_curves(http_req *rq, void *ctx)
{
    api *a = ctx;
    int offset, limit;
    if (query_int(rq, "offset", 0, 1000000000, &offset) < 0 ||
        query_int(rq, "limit", LIMIT_DEFAULT, LIMIT_MAX, &limit) < 0)
        return;
    storage_study s;
    storage *st = api_get_study(a, rq, http_param(rq, 0), &s);
    if (!st) return;
    kerror err;
    kerror_clear(&err);
    storage_stamp stamp;
    settled_page pg = {"curves", s.metric ? s.metric : "", offset, limit, 0};
    /* the stamp before the curves: what is kept is at least as new as it */
    int rc = storage_study_stamp(st, s.name, &stamp, &err);
    if (rc == KE_OK && limit > 0 && answer_settled(a, rq, &pg, &stamp, &s, NULL)) {
        storage_study_free(&s);
        api_pool_put(a, st);
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
    api_pool_put(a, st);
}
