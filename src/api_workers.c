/* api_workers: HTTP in and out for the fleet; see api_workers.h. A request
 * body is a JSON object; an answer is the fleet's object, 204 for a lease
 * request that finds no trial, and the error envelope otherwise (404 for
 * an unknown worker, 409 for a lease that is not running). A checkpoint
 * upload's worker and key, in its query, are checked at its headers
 * (api_workers_upload_admit, 409), before its part is read, and so are a
 * report's and a finish's when their query names them (as kestrel worker
 * does). Invariant: no worker call has more than KEYLESS_BODY_MAX bytes of
 * body read and parsed before its worker's key is known good. */
#include "api_workers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fleet.h"
#include "format.h"
#include "klog.h"
#include "sched_dir.h"

/* Bytes of body a worker call may send while its caller is not known to
 * hold a worker's key: a registration, a heartbeat and a lease request
 * (a few hundred bytes each), and a report or finish whose query does not
 * name its worker and key (a client older than this server). Such a body
 * is parsed on the engine thread, which every study's scheduling waits on,
 * before the key in it is compared: four callers without a key sending a
 * megabyte each (HTTP_BODY_MAX) made every engine call take 0.3 to 0.45 s. */
#define KEYLESS_BODY_MAX (64 * 1024)

/* Path segment 0 as an id > 0, or -1 (answered 404). */
static int64_t path_id(http_req *rq)
{
    const char *v = http_param(rq, 0);
    long long id;
    if (http_parse_count(v, LLONG_MAX, &id) < 0 || id == 0) {
        http_respond_error(rq, 404, "not_found", NULL, "no such id: '%s'", v);
        return -1;
    }
    return id;
}

/* A worker's call while the engine runs it: its connection waits, holding
 * no thread (http_suspend), and the engine's answer resumes it. */
typedef struct {
    http_req *rq;
    fleet_call c;
    int rc;
    kerror err;
    char *text;                 /* the answer, written on the engine thread */
} worker_call;

/* On the HTTP thread, the engine done: the answer. */
static void answer(http_req *rq, void *ctx)
{
    worker_call *w = ctx;
    if (w->rc != KE_OK)
        http_respond_kerror(rq, &w->err);
    else if (!w->text)
        http_respond_empty(rq, 204);
    else
        http_respond_owned(rq, w->c.op == FLEET_REGISTER ? 201 : 200, "application/json", w->text,
                           strlen(w->text));
    free(w);
}

/* On the engine thread, after the commit. The body was read and the answer
 * is written here, so that the HTTP thread only moves bytes: in a thousand
 * workers' start it was the busier one, and the objects freed there one by
 * one took the engine's malloc arena lock each time (bench/README.md, issue
 * 14). */
static void engine_done(void *ctx, int rc, const kerror *err)
{
    worker_call *w = ctx;
    w->rc = rc;
    if (rc != KE_OK) {
        w->err = *err;
    } else if (w->c.out && !(w->text = format_json(w->c.out, JSON_COMPACT))) {
        w->rc = kerror_set(&w->err, KE_NOMEM, NULL, "cannot build the answer: out of memory");
    }
    json_decref(w->c.out);
    json_decref(w->c.req);
    w->c.out = w->c.req = NULL;
    http_resume(w->rq, answer, w);
}

/* Whether the query names a worker (?worker=W&key=K) that the fleet knows
 * with that key (checked on any thread, before the body is read). */
static int query_key_known(http_req *rq, struct fleet *fl)
{
    long long worker;
    const char *key = http_query(rq, "key");
    kerror err;
    kerror_clear(&err);
    return key && http_parse_count(http_query(rq, "worker"), LLONG_MAX / 2, &worker) == 0 &&
           fleet_lease_check(fl, 0, worker, key, &err) == KE_OK;
}

/* The 413 of a body past KEYLESS_BODY_MAX from a caller not known to hold
 * a key; keyed: the call takes ?worker=W&key=K, which lifts the bound. */
static void refuse_keyless(http_req *rq, int keyed)
{
    if (keyed)
        http_respond_error(rq, 413, "invalid", NULL, "request body larger than %d bytes without "
                           "the worker and its key in the query (?worker=W&key=K, checked before "
                           "the body is read)", KEYLESS_BODY_MAX);
    else
        http_respond_error(rq, 413, "invalid", NULL, "request body larger than %d bytes (a "
                           "registration, heartbeat or lease request takes a few hundred)",
                           KEYLESS_BODY_MAX);
}

/* Whether the request announces a body past KEYLESS_BODY_MAX. */
static int announced_large(http_req *rq)
{
    const char *cl = http_header(rq, "Content-Length");
    return cl && strtoull(cl, NULL, 10) > KEYLESS_BODY_MAX;
}

/* The common shape: id from the path, body in, object (or 204) out. */
static void worker_route(http_req *rq, service *sv, fleet_op op)
{
    int64_t id = op == FLEET_REGISTER ? 0 : path_id(rq);
    if (id < 0) return;
    worker_call *w = calloc(1, sizeof *w);
    if (!w) {
        http_respond_error(rq, 500, "nomem", NULL, "out of memory");
        return;
    }
    w->rq = rq;
    w->c = (fleet_call){.op = op, .id = id};
    w->c.text = http_body(rq, &w->c.len);
    /* a body sent without Content-Length is bounded only once read */
    if (w->c.len > KEYLESS_BODY_MAX && !query_key_known(rq, service_fleet(sv))) {
        free(w);
        refuse_keyless(rq, op == FLEET_REPORT || op == FLEET_FINISH);
        return;
    }
    http_suspend(rq);
    kerror err;
    kerror_clear(&err);
    int rc = fleet_call_start(sv, &w->c, engine_done, w, &err);
    if (rc != KE_OK) engine_done(w, rc, &err);   /* not queued: answered now */
}

void api_workers_register(http_req *rq, void *ctx) { worker_route(rq, ctx, FLEET_REGISTER); }
void api_workers_heartbeat(http_req *rq, void *ctx) { worker_route(rq, ctx, FLEET_HEARTBEAT); }
void api_workers_lease(http_req *rq, void *ctx) { worker_route(rq, ctx, FLEET_LEASE); }
void api_workers_report(http_req *rq, void *ctx) { worker_route(rq, ctx, FLEET_REPORT); }
void api_workers_finish(http_req *rq, void *ctx) { worker_route(rq, ctx, FLEET_FINISH); }

void api_workers_list(http_req *rq, void *ctx)
{
    json_t *out;
    kerror err;
    kerror_clear(&err);
    if (fleet_list(ctx, &out, &err) != KE_OK) http_respond_kerror(rq, &err);
    else http_respond_json(rq, 200, out);
}

/* Query parameter key as an integer >= 0 into *out; -1 (answered 400) when
 * absent or malformed. At most half of LLONG_MAX, so an offset plus a
 * body's length cannot overflow. */
static int query_count(http_req *rq, const char *key, long long *out)
{
    const char *v = http_query(rq, key);
    if (http_parse_count(v, LLONG_MAX / 2, out) < 0) {
        *out = -1;
        http_respond_error(rq, 400, "invalid", key, "expected an integer >= 0");
        return -1;
    }
    return 0;
}

/* A failure on the server's side: the answer says what failed, the log
 * where (the answer names no path of the server's). */
static void server_failed(http_req *rq, const char *who, const char *what, const kerror *err)
{
    klog(stderr, "%s: %s: %s", who, what, err->msg);
    http_respond_error(rq, 500, "io", NULL, "%s (the server's log says why)", what);
}

static void upload_failed(http_req *rq, int64_t lease, const char *what, const kerror *err)
{
    char who[48];
    snprintf(who, sizeof who, "lease %lld", (long long)lease);
    server_failed(rq, who, what, err);
}

/* 1 when the file starts as a gzip stream does (RFC 1952: 1f 8b): a body
 * that is no archive at all is the client's error, told before tar runs. */
static int gzip_file(const char *path)
{
    unsigned char magic[2] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? pread(fd, magic, 2, 0) : -1;
    if (fd >= 0) close(fd);
    return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

/* The admit of a call whose query may name its worker and key: -1 when
 * it names neither; 0 when they are known, or an id is malformed (the
 * handler's 404 or 400 names it); 1 when refused (409, answered). */
static int query_key_admit(http_req *rq, void *ctx)
{
    long long lease, worker;
    if (!http_query(rq, "worker") && !http_query(rq, "key")) return -1;
    if (http_parse_count(http_param(rq, 0), LLONG_MAX, &lease) < 0 ||
        http_parse_count(http_query(rq, "worker"), LLONG_MAX / 2, &worker) < 0)
        return 0;
    kerror err;
    kerror_clear(&err);
    if (fleet_lease_check(service_fleet(ctx), lease, worker, http_query(rq, "key"), &err) == KE_OK)
        return 0;
    http_respond_kerror(rq, &err);
    return 1;
}

int api_workers_upload_admit(http_req *rq, void *ctx)
{
    return query_key_admit(rq, ctx) == 1;
}

int api_workers_call_admit(http_req *rq, void *ctx)
{
    int keyed = query_key_admit(rq, ctx);
    if (keyed >= 0) return keyed;
    if (!announced_large(rq)) return 0;
    refuse_keyless(rq, 1);
    return 1;
}

int api_workers_keyless_admit(http_req *rq, void *ctx)
{
    (void)ctx;
    if (!announced_large(rq)) return 0;
    refuse_keyless(rq, 0);
    return 1;
}

void api_workers_upload(http_req *rq, void *ctx)
{
    service *sv = ctx;
    int64_t lease = path_id(rq);
    long long worker, offset;
    if (lease < 0 || query_count(rq, "worker", &worker) < 0 || query_count(rq, "offset", &offset) < 0)
        return;
    const char *last = http_query(rq, "last");
    if (last && strcmp(last, "1")) {
        http_respond_error(rq, 400, "invalid", "last", "expected 1 (the last part) or nothing");
        return;
    }
    size_t len;
    const char *body = http_body(rq, &len);
    if (offset + (long long)len > service_checkpoint_max(sv)) {
        http_respond_error(rq, 413, "invalid", NULL, "the trial folder is larger than this server "
                           "takes (--checkpoint-max, %lld bytes)", service_checkpoint_max(sv));
        return;
    }
    char dir[4096], part[4200];
    kerror err;
    kerror_clear(&err);
    if (fleet_lease_dir(sv, lease, worker, http_query(rq, "key"), dir, sizeof dir, &err) != KE_OK) {
        http_respond_kerror(rq, &err);
        return;
    }
    /* beside the folder, which unpacking clears; offsets make a part sent
     * twice (a retry) harmless, but one past the bytes received would
     * leave a hole in the archive */
    snprintf(part, sizeof part, "%s.upload", dir);
    struct stat st;
    long long have = offset == 0 ? 0 : stat(part, &st) == 0 ? (long long)st.st_size : -1;
    if (have < 0) {
        http_respond_error(rq, 400, "invalid", "offset", "expected 0: no part came before");
        return;
    }
    if (offset > have) {
        http_respond_error(rq, 400, "invalid", "offset", "expected at most %lld, the bytes "
                           "received so far", have);
        return;
    }
    if (offset == 0 && sched_dir_make(dir, &err) != KE_OK) {
        upload_failed(rq, lease, "cannot make the trial folder", &err);
        return;
    }
    int fd = open(part, O_WRONLY | O_CREAT | O_CLOEXEC | (offset == 0 ? O_TRUNC : 0), 0600);
    ssize_t w = fd >= 0 ? pwrite(fd, body, len, offset) : -1;
    if (fd >= 0 && close(fd) < 0) w = -1;
    if (w != (ssize_t)len) {
        kerror_set(&err, KE_IO, NULL, "cannot write %s: %s", part, strerror(errno));
        upload_failed(rq, lease, "cannot store the part", &err);
        return;
    }
    if (!last) {
        http_respond_json(rq, 200, json_pack("{s:b}", "ok", 1));
        return;
    }
    if (!gzip_file(part)) {
        unlink(part);
        http_respond_error(rq, 400, "invalid", "body", "the parts are not a gzipped tar (no gzip "
                           "header at offset 0)");
        return;
    }
    int rc = sched_dir_unpack(dir, part, service_checkpoint_max(sv), &err);
    if (rc == KE_INVALID)   /* what the archive holds: the worker's to fix, told */
        http_respond_error(rq, 400, "invalid", "body", "%s", err.msg);
    else if (rc != KE_OK)
        upload_failed(rq, lease, "cannot unpack the parts", &err);
    else
        http_respond_json(rq, 200, json_pack("{s:b}", "ok", 1));
}

void api_workers_download(http_req *rq, void *ctx)
{
    service *sv = ctx;
    const char *name = http_param(rq, 0), *num = http_param(rq, 1);
    long long parsed;
    long number = http_parse_count(num, 1000000000, &parsed) < 0 ? -1 : (long)parsed;
    char work[4096] = "", dir[4200], mark[4300];
    struct stat st;
    kerror err;
    kerror_clear(&err);
    /* names never hold '/' or start with '.': nothing outside the work folder */
    int bad = !*name || name[0] == '.' || strchr(name, '/') || number < 0;
    /* the study's own folder: a --work-dir it was run with is stored */
    int rc = bad ? KE_NOTFOUND : service_study_work_dir(sv, name, work, sizeof work, &err);
    if (rc != KE_OK && !bad) {
        http_respond_kerror(rq, &err);
        return;
    }
    snprintf(dir, sizeof dir, "%s/%s/%ld", work, name, number);
    snprintf(mark, sizeof mark, "%s/%s", dir, SCHED_DIR_MARK);
    if (rc != KE_OK || stat(mark, &st) != 0) {
        http_respond_error(rq, 404, "not_found", NULL, "no trial folder for trial %s of study '%s'",
                           num, name);
        return;
    }
    /* packed beside the folder and sent from the file (a checkpoint may be
     * gigabytes); a name of its own, as two workers may fetch it at once */
    char archive[4300];
    snprintf(archive, sizeof archive, "%s.download.XXXXXX", dir);
    int fd = mkstemp(archive);
    size_t n;
    char who[300];
    snprintf(who, sizeof who, "download of trial %ld of study '%.200s'", number, name);
    if (fd < 0) {
        kerror_set(&err, KE_IO, NULL, "cannot create %s: %s", archive, strerror(errno));
        server_failed(rq, who, "cannot pack the trial folder", &err);
        return;
    }
    close(fd);
    if (sched_dir_pack(dir, archive, (size_t)service_checkpoint_max(sv), &n, &err) != KE_OK) {
        if (err.code != KE_INVALID) {
            server_failed(rq, who, "cannot pack the trial folder", &err);
        } else {
            klog(stderr, "%s: %s", who, err.msg);
            http_respond_error(rq, 413, "invalid", NULL, "the trial folder is larger than this "
                               "server's --checkpoint-max");
        }
        return;
    }
    fd = open(archive, O_RDONLY | O_CLOEXEC);
    int open_errno = errno;
    unlink(archive);   /* the open file stays readable */
    if (fd < 0) {
        kerror_set(&err, KE_IO, NULL, "cannot read %s: %s", archive, strerror(open_errno));
        server_failed(rq, who, "cannot read the packed trial folder", &err);
    } else {
        http_respond_fd(rq, 200, "application/gzip", fd, n);
    }
}
