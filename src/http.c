/* http: the libmicrohttpd wrapper; see http.h. Invariant: MHD calls the
 * access handler once with the headers, then once per body chunk, then once
 * more with no data: the request's handler runs on that last call only, when
 * the body is complete. What the headers alone decide is answered on the
 * first call, before the body is read (refuse_headers): a Content-Length
 * above HTTP_BODY_MAX (413), so a client cannot hold a connection by
 * announcing a huge body and trickling it, headers above HEADERS_MAX (431),
 * a missing token (401), an unknown route or method (404, 405), a foreign
 * page (403), an unknown query parameter (400) and what a route's admit
 * refuses (a checkpoint upload's unknown worker key: 409), so no client
 * without the token (or the key) has a body held. Such a refusal is sent
 * at once when no body follows or the client waits for a go (Expect:
 * 100-continue); MHD then closes the connection, the body unread. A client
 * that sends its body anyway gets it once the body was read and dropped: a
 * connection closed on unread bytes is reset, and its client may lose the
 * answer in the reset. A body must arrive within BODY_DEADLINE_S of its
 * headers.
 *
 * Threads: one event thread (libmicrohttpd's, epoll) reads and writes every
 * connection. A nonblocking route's handler runs on it; any other handler,
 * and the producer of each stream, on a pool thread, while its connection
 * is suspended (MHD_suspend_connection): what it answers is held in the
 * request and queued once the event thread resumes it, since MHD queues
 * responses on its own thread only. A thousand workers' connections thus
 * cost no thread each. Invariant: a suspended connection is resumed exactly
 * once, and http_stop stops MHD only once none is (MHD requires it).
 *
 * libmicrohttpd is loaded by http_start, not linked: linked, it and the 9
 * libraries under it (GnuTLS, p11-kit, nettle, GMP, ...) were loaded by
 * every Kestrel process, each trial's `kestrel fn` or `kestrel train` and
 * every CLI read among them, about a third of a trial process's start. */
#define _GNU_SOURCE
#include "http.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "dynlib.h"
#include "format.h"
#include "klog.h"
#include "nearest.h"

#define MAX_STATUS 600
#define CONN_TIMEOUT_S 120      /* idle connections; SSE pings every 15 s */
#define CONN_MAX_DEFAULT 256
/* One client (address) holds at most a quarter of the connections, so a
 * flood of idle or slow ones from one host leaves room for the rest (a
 * supervisor's /healthz included). */
#define CONN_PER_CLIENT(max) ((max) / 4)
/* From a connection's start, or the end of its last request, to the end of
 * the next request's headers. MHD's idle timeout restarts at every byte, so
 * headers trickled a byte at a time (slowloris) would hold a connection for
 * ever: a reaper thread shuts such sockets down. */
#define HEADER_DEADLINE_S 10
/* From the end of a request's headers to the end of its body (at most
 * HTTP_BODY_MAX): a body trickled a byte a minute held its connection for
 * ever, MHD's idle timeout restarting at every byte, as headers did. A
 * worker's own call times out as soon (30 s). */
#define BODY_DEADLINE_S 30
#define STREAM_CHUNK (16 * 1024)        /* bytes a stream's producer is ahead at most */
/* A connection's memory (MHD's pool: the request's headers, its read buffer,
 * the answer's headers; bodies are copied out as they arrive). MHD zeroes
 * all of it after every request, and a thousand workers connecting at once
 * touch a thousand fresh ones: at MHD's 32 KB that memset and those page
 * faults took a third of the event thread and held their leases' reads up
 * by 100 ms (bench/README.md, issue 14). 8 KB takes request headers up to
 * about 3.5 KB (more gets 431). */
#define CONN_MEMORY (8 * 1024)
/* Request headers above this get 431 before anything is done. MHD itself
 * refuses only at about 7.9 KB; between 7.4 and 7.9 KB its pool had room to
 * read them but none left for the answer's headers, so a POST took effect
 * and its client got an empty reply (and might retry it). */
#define HEADERS_MAX (6 * 1024)

typedef struct watch {          /* one connection, in the reaper's list */
    MHD_socket fd;
    double deadline;            /* CLOCK_MONOTONIC s; 0 while a request runs */
    struct watch *prev, *next;
} watch;

typedef struct task {           /* work for the pool */
    void (*run)(void *arg);
    void *arg;
    struct task *next;
} task;

typedef struct stream stream;

#define MHD_SONAME "libmicrohttpd.so.12"   /* its ABI since 0.9.x, Debian's libmicrohttpd12 */

/* The libmicrohttpd calls the server makes, each typed as its header
 * declares it, looked up in the loaded library. */
#define MHD_CALLS(X)                                                                          \
    X(start_daemon) X(stop_daemon) X(get_daemon_info) X(get_connection_info)                  \
    X(get_connection_values) X(lookup_connection_value) X(suspend_connection)                 \
    X(resume_connection) X(queue_response) X(destroy_response) X(add_response_header)         \
    X(create_response_from_buffer) X(create_response_from_buffer_with_free_callback_cls)      \
    X(create_response_from_callback) X(create_response_from_fd)

typedef struct {
#define MHD_FIELD(f) __typeof__(MHD_##f) *f;
    MHD_CALLS(MHD_FIELD)
#undef MHD_FIELD
} mhd_api;

struct http_server {
    void *dl;                   /* the dlopen handle of libmicrohttpd */
    mhd_api mhd;
    struct MHD_Daemon *d;
    http_opts o;
    int port;
    atomic_ullong counts[MAX_STATUS];
    pthread_mutex_t mu;         /* watches, stopping, streams */
    pthread_cond_t wake;
    watch *watches;
    int stopping;
    stream *streams;            /* live ones, cancelled by http_stop */
    pthread_t reaper;
    int reaper_started;
    atomic_int closing;         /* http_stop began: new requests get 503 */
    atomic_int n_suspended;     /* connections suspended, not yet resumed */

    pthread_mutex_t pool_mu;    /* everything below */
    pthread_cond_t pool_work;   /* to the pool: a task is queued, or quit */
    pthread_cond_t pool_done;   /* to http_stop: busy or n_suspended fell */
    task *tasks, *tasks_tail;
    int n_queued, n_idle, busy; /* busy: tasks queued or running */
    pthread_t *threads;         /* joined by http_stop */
    int n_threads, cap_threads;
    int quit;
};

struct http_req {
    http_server *srv;
    struct MHD_Connection *conn;
    const char *method, *path;
    char *body;
    size_t len, cap;
    int too_large;
    int headers_too_large;
    int responded;
    int queue_failed;
    int suspended;              /* its handler waits for http_resume */
    int offthread;              /* its handler runs on the pool: answers are held */
    int dead;                   /* the connection ended before the continuation ran */
    struct MHD_Response *held;  /* the answer made off the event thread */
    int held_status;
    http_handler then;          /* the continuation http_resume set */
    void *then_arg;
    const http_route *route;    /* for the pool */
    const char *params[HTTP_MAX_PARAMS];
    char *segs;                 /* the path, split in place for params */
};

struct stream {                 /* a streamed answer and its producer */
    http_server *srv;
    struct MHD_Connection *conn;
    http_stream_fn fn;
    void *ctx;
    void (*free_ctx)(void *);
    pthread_mutex_t mu;         /* everything below */
    pthread_cond_t room;        /* to the producer: the buffer was sent, or cancel */
    char buf[STREAM_CHUNK];     /* the producer writes it only while it is empty */
    size_t len, off;
    ssize_t end;                /* 0, or HTTP_STREAM_END/_ERROR once fn said so */
    int waiting;                /* MHD's reader suspended the connection for data */
    int cancel;                 /* its response is gone, or the server stops */
    int refs;                   /* the response and the producer */
    stream *prev, *next;        /* in srv->streams */
};

/* ---- the header deadline ---- */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Sets the connection's deadline (0: none while its request runs). */
static void watch_set(http_server *s, struct MHD_Connection *conn, double deadline)
{
    const union MHD_ConnectionInfo *ci =
        s->mhd.get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    watch *w = ci ? ci->socket_context : NULL;
    if (!w) return;
    pthread_mutex_lock(&s->mu);
    w->deadline = deadline;
    pthread_mutex_unlock(&s->mu);
}

/* MHD tells of a connection's start and end (before it closes the socket,
 * so the reaper, under the same lock, never shuts down a reused fd). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_server *s = cls;
    watch *w = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            s->mhd.get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(w = calloc(1, sizeof *w))) return;   /* unwatched: MHD's timeout */
        w->fd = ci->connect_fd;
        w->deadline = mono_s() + HEADER_DEADLINE_S;
        pthread_mutex_lock(&s->mu);
        w->next = s->watches;
        if (s->watches) s->watches->prev = w;
        s->watches = w;
        pthread_mutex_unlock(&s->mu);
        *socket_context = w;
    } else if (w) {
        pthread_mutex_lock(&s->mu);
        if (w->prev) w->prev->next = w->next;
        else s->watches = w->next;
        if (w->next) w->next->prev = w->prev;
        pthread_mutex_unlock(&s->mu);
        free(w);
        *socket_context = NULL;
    }
}

/* Once a second: shuts down the sockets past their deadline; their threads
 * then read EOF and MHD closes them. */
static void *reaper_main(void *arg)
{
    http_server *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        double now = mono_s();
        for (watch *w = s->watches; w; w = w->next)
            if (w->deadline > 0 && now > w->deadline) {
                shutdown(w->fd, SHUT_RDWR);
                w->deadline = 0;
            }
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += 1;
        pthread_cond_timedwait(&s->wake, &s->mu, &t);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- the pool: threads for handlers that may block ---- */

static void *pool_main(void *arg)
{
    http_server *s = arg;
    pthread_mutex_lock(&s->pool_mu);
    for (;;) {
        while (!s->tasks && !s->quit) {
            s->n_idle++;
            pthread_cond_wait(&s->pool_work, &s->pool_mu);
            s->n_idle--;
        }
        task *t = s->tasks;
        if (!t) break;
        s->tasks = t->next;
        if (!s->tasks) s->tasks_tail = NULL;
        s->n_queued--;
        pthread_mutex_unlock(&s->pool_mu);
        t->run(t->arg);
        free(t);
        pthread_mutex_lock(&s->pool_mu);
        if (--s->busy == 0) pthread_cond_broadcast(&s->pool_done);
    }
    pthread_mutex_unlock(&s->pool_mu);
    return NULL;
}

/* Runs run(arg) on a pool thread: an idle one, or a new one, so a task
 * never waits behind another that blocks (a stop waiting for trials, an
 * event stream). KE_NOMEM when no thread could take it. */
static int pool_submit(http_server *s, void (*run)(void *), void *arg)
{
    task *t = malloc(sizeof *t);
    if (!t) return KE_NOMEM;
    *t = (task){run, arg, NULL};
    int rc = KE_OK;
    pthread_mutex_lock(&s->pool_mu);
    if (s->n_idle <= s->n_queued) {
        pthread_t th;
        if (s->n_threads == s->cap_threads) {
            int cap = s->cap_threads ? 2 * s->cap_threads : 16;
            pthread_t *bigger = realloc(s->threads, (size_t)cap * sizeof *bigger);
            if (bigger) {
                s->threads = bigger;
                s->cap_threads = cap;
            }
        }
        if (s->n_threads < s->cap_threads && pthread_create(&th, NULL, pool_main, s) == 0)
            s->threads[s->n_threads++] = th;
        else if (s->n_idle == 0 && s->n_threads == 0)
            rc = KE_NOMEM;      /* else a busy thread takes it in turn */
    }
    if (rc == KE_OK) {
        if (s->tasks_tail) s->tasks_tail->next = t;
        else s->tasks = t;
        s->tasks_tail = t;
        s->n_queued++;
        s->busy++;
        pthread_cond_signal(&s->pool_work);
    }
    pthread_mutex_unlock(&s->pool_mu);
    if (rc != KE_OK) free(t);
    return rc;
}

/* ---- suspended connections ---- */

static void suspend_conn(http_server *s, struct MHD_Connection *conn)
{
    atomic_fetch_add(&s->n_suspended, 1);
    s->mhd.suspend_connection(conn);
}

static void resume_conn(http_server *s, struct MHD_Connection *conn)
{
    s->mhd.resume_connection(conn);
    if (atomic_fetch_sub(&s->n_suspended, 1) == 1 && atomic_load(&s->closing)) {
        pthread_mutex_lock(&s->pool_mu);
        pthread_cond_broadcast(&s->pool_done);
        pthread_mutex_unlock(&s->pool_mu);
    }
}

void http_suspend(http_req *rq)
{
    rq->suspended = 1;
    suspend_conn(rq->srv, rq->conn);
}

void http_resume(http_req *rq, http_handler then, void *arg)
{
    /* MHD's lock in MHD_resume_connection orders these before the event
     * thread's read of them */
    rq->then = then;
    rq->then_arg = arg;
    resume_conn(rq->srv, rq->conn);
}

/* ---- requests ---- */

const char *http_method(const http_req *rq) { return rq->method; }
const char *http_path(const http_req *rq) { return rq->path; }

const char *http_param(const http_req *rq, int i)
{
    return i >= 0 && i < HTTP_MAX_PARAMS ? rq->params[i] : NULL;
}

const char *http_query(const http_req *rq, const char *key)
{
    return rq->srv->mhd.lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}

int http_parse_count(const char *text, long long max, long long *out)
{
    long long v = 0;
    if (!text || !*text) return -1;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9' || v > max / 10 || v * 10 > max - (*p - '0')) return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

const char *http_header(const http_req *rq, const char *name)
{
    return rq->srv->mhd.lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *http_body(const http_req *rq, size_t *len)
{
    if (len) *len = rq->len;
    return rq->body ? rq->body : "";
}

static int append_body(http_req *rq, const char *data, size_t n)
{
    if (rq->too_large || rq->len + n > HTTP_BODY_MAX) {
        rq->too_large = 1;
        return 0;
    }
    if (rq->len + n + 1 > rq->cap) {
        size_t cap = rq->cap ? rq->cap : 4096;
        while (cap < rq->len + n + 1) cap *= 2;
        char *bigger = realloc(rq->body, cap);
        if (!bigger) return -1;
        rq->body = bigger;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    rq->body[rq->len] = '\0';
    return 0;
}

/* ---- responses ---- */

/* The access log's line: client address, method, path (query left out: it
 * may hold the token), status. */
static void access_line(const http_req *rq, int status)
{
    char client[INET6_ADDRSTRLEN] = "-";
    const union MHD_ConnectionInfo *ci =
        rq->srv->mhd.get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, client, sizeof client);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, client, sizeof client);
    klog(rq->srv->o.access_log, "%s %s %s %d", client, rq->method, rq->path, status);
}

/* Queues resp on the event thread (or drops it: the connection is gone). */
static int deliver(http_req *rq, int status, struct MHD_Response *resp)
{
    if (rq->dead) {
        rq->srv->mhd.destroy_response(resp);
        return KE_IO;
    }
    enum MHD_Result ok = rq->srv->mhd.queue_response(rq->conn, (unsigned)status, resp);
    rq->srv->mhd.destroy_response(resp);
    if (ok != MHD_YES) {
        rq->queue_failed = 1;
        return KE_IO;
    }
    if (status >= 100 && status < MAX_STATUS) atomic_fetch_add(&rq->srv->counts[status], 1);
    if (rq->srv->o.access_log) access_line(rq, status);
    return KE_OK;
}

static int send_response(http_req *rq, int status, struct MHD_Response *resp, const char *ctype)
{
    rq->responded = 1;
    if (!resp) {
        rq->queue_failed = 1;
        return KE_NOMEM;
    }
    if (ctype) rq->srv->mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    rq->srv->mhd.add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (status == 401)
        rq->srv->mhd.add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (!rq->offthread) return deliver(rq, status, resp);
    rq->held = resp;
    rq->held_status = status;
    return KE_OK;
}

int http_respond_json(http_req *rq, int status, json_t *body)
{
    /* A body that could not be built (out of memory) is a 500 with a fixed
     * text, never an empty reply a client would take for a network error. */
    static const char unbuilt[] = "{\"error\":{\"code\":\"internal\",\"message\":"
                                  "\"cannot build the answer: out of memory\"}}";
    char *text = body ? format_json(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct MHD_Response *resp;
    if (!text) {
        status = 500;
        resp = rq->srv->mhd.create_response_from_buffer(strlen(unbuilt), (void *)unbuilt,
                                                        MHD_RESPMEM_PERSISTENT);
    } else if (!(resp = rq->srv->mhd.create_response_from_buffer(strlen(text), text,
                                                                 MHD_RESPMEM_MUST_FREE))) {
        free(text);
    }
    return send_response(rq, status, resp, "application/json");
}

static int respond_verror(http_req *rq, int status, const char *code, const char *path,
                          const char *fmt, va_list ap)
{
    char msg[KERROR_MSG_MAX + KERROR_PATH_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", msg);
    if (e && path && *path) json_object_set_new(e, "path", json_string(path));
    return http_respond_json(rq, status, e ? json_pack("{s:o}", "error", e) : NULL);
}

int http_respond_error(http_req *rq, int status, const char *code, const char *path,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = respond_verror(rq, status, code, path, fmt, ap);
    va_end(ap);
    return rc;
}

int http_status_of(int ke_code)
{
    switch (ke_code) {
    case KE_INVALID: return 400;
    case KE_NOTFOUND: return 404;
    case KE_CONFLICT:
    case KE_BUSY: return 409;
    case KE_INTERRUPTED: return 503;
    default: return 500;
    }
}

int http_respond_kerror(http_req *rq, const kerror *err)
{
    return http_respond_error(rq, http_status_of(err->code), kerror_code_name(err->code),
                              err->path, "%s", err->msg);
}

int http_respond_static(http_req *rq, int status, const char *ctype, const void *data,
                        size_t n)
{
    struct MHD_Response *resp =
        rq->srv->mhd.create_response_from_buffer(n, (void *)data, MHD_RESPMEM_PERSISTENT);
    return send_response(rq, status, resp, ctype);
}

int http_respond_owned(http_req *rq, int status, const char *ctype, char *data, size_t n)
{
    struct MHD_Response *resp =
        rq->srv->mhd.create_response_from_buffer(n, data, MHD_RESPMEM_MUST_FREE);
    if (!resp) free(data);
    return send_response(rq, status, resp, ctype);
}

int http_respond_shared(http_req *rq, int status, const char *ctype, const char *data, size_t n,
                        void (*release)(void *), void *ctx)
{
    struct MHD_Response *resp =
        rq->srv->mhd.create_response_from_buffer_with_free_callback_cls(n, (void *)data, release,
                                                                        ctx);
    if (!resp) release(ctx);
    return send_response(rq, status, resp, ctype);
}

int http_respond_fd(http_req *rq, int status, const char *ctype, int fd, size_t n)
{
    struct MHD_Response *resp = rq->srv->mhd.create_response_from_fd(n, fd);
    if (!resp) close(fd);
    return send_response(rq, status, resp, ctype);
}

int http_respond_empty(http_req *rq, int status)
{
    return http_respond_static(rq, status, NULL, "", 0);
}

/* Drops one of st's two references; the last frees it. */
static void stream_unref(stream *st)
{
    pthread_mutex_lock(&st->mu);
    int last = --st->refs == 0;
    pthread_mutex_unlock(&st->mu);
    if (!last) return;
    http_server *s = st->srv;
    pthread_mutex_lock(&s->mu);
    if (st->prev) st->prev->next = st->next;
    else s->streams = st->next;
    if (st->next) st->next->prev = st->prev;
    pthread_mutex_unlock(&s->mu);
    if (st->free_ctx) st->free_ctx(st->ctx);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->room);
    free(st);
}

/* MHD's reader, on the event thread: what the producer made, or a
 * suspension until it makes more. The connection is suspended before
 * `waiting` is published, so the producer's resume always follows it. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream *st = cls;
    pthread_mutex_lock(&st->mu);
    if (st->off < st->len) {
        size_t n = st->len - st->off < max ? st->len - st->off : max;
        memcpy(buf, st->buf + st->off, n);
        st->off += n;
        if (st->off == st->len) pthread_cond_signal(&st->room);
        pthread_mutex_unlock(&st->mu);
        return (ssize_t)n;
    }
    ssize_t end = st->end;
    pthread_mutex_unlock(&st->mu);
    if (end) return end == HTTP_STREAM_END ? (ssize_t)MHD_CONTENT_READER_END_OF_STREAM
                                           : (ssize_t)MHD_CONTENT_READER_END_WITH_ERROR;
    suspend_conn(st->srv, st->conn);
    pthread_mutex_lock(&st->mu);
    int ready = st->off < st->len || st->end;
    st->waiting = !ready;
    pthread_mutex_unlock(&st->mu);
    if (ready) resume_conn(st->srv, st->conn);
    return 0;   /* MHD asks again once resumed */
}

/* The response is gone (sent, or its connection closed). */
static void stream_gone(void *cls)
{
    stream *st = cls;
    pthread_mutex_lock(&st->mu);
    st->cancel = 1;
    pthread_cond_signal(&st->room);
    pthread_mutex_unlock(&st->mu);
    stream_unref(st);
}

/* The producer, on a pool thread: fills the buffer each time it was sent
 * (fn may block there, as it did on a connection's own thread). */
static void stream_pump(void *arg)
{
    stream *st = arg;
    uint64_t pos = 0;
    for (;;) {
        pthread_mutex_lock(&st->mu);
        while (!st->cancel && st->off < st->len) pthread_cond_wait(&st->room, &st->mu);
        int cancel = st->cancel;
        pthread_mutex_unlock(&st->mu);
        ssize_t n = cancel ? HTTP_STREAM_ERROR : st->fn(st->ctx, pos, st->buf, STREAM_CHUNK);
        if (n == 0) n = HTTP_STREAM_ERROR;      /* against fn's contract */
        pthread_mutex_lock(&st->mu);
        if (n > 0) {
            st->off = 0;
            st->len = (size_t)n;
            pos += (uint64_t)n;
        } else {
            st->end = n == HTTP_STREAM_END ? HTTP_STREAM_END : HTTP_STREAM_ERROR;
        }
        int wake = st->waiting;
        st->waiting = 0;
        pthread_mutex_unlock(&st->mu);
        if (wake) resume_conn(st->srv, st->conn);
        if (n < 0) break;
    }
    stream_unref(st);
}

int http_respond_stream(http_req *rq, int status, const char *ctype, http_stream_fn fn,
                        void *ctx, void (*free_ctx)(void *))
{
    http_server *s = rq->srv;
    stream *st = calloc(1, sizeof *st);
    struct MHD_Response *resp = NULL;
    if (st) {
        *st = (stream){.srv = s, .conn = rq->conn, .fn = fn, .ctx = ctx, .free_ctx = free_ctx,
                       .refs = 2};
        pthread_mutex_init(&st->mu, NULL);
        pthread_cond_init(&st->room, NULL);
        resp = s->mhd.create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_CHUNK, stream_read, st,
                                                    stream_gone);
    }
    if (!resp) {
        if (st) {
            pthread_mutex_destroy(&st->mu);
            pthread_cond_destroy(&st->room);
            free(st);
        }
        if (free_ctx) free_ctx(ctx);
        return send_response(rq, status, NULL, ctype);
    }
    pthread_mutex_lock(&s->mu);
    st->next = s->streams;
    if (st->next) st->next->prev = st;
    s->streams = st;
    pthread_mutex_unlock(&s->mu);
    if (pool_submit(s, stream_pump, st) != KE_OK) {
        st->end = HTTP_STREAM_ERROR;   /* no producer: the reader ends it */
        stream_unref(st);
    }
    s->mhd.add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return send_response(rq, status, resp, ctype);
}

/* ---- routing ---- */

/* Whether path matches pattern segment by segment; '*' segments are
 * recorded in rq->params, pointing into rq->segs (a copy of the path split
 * in place). */
static int match(http_req *rq, const char *pattern, const char *path)
{
    free(rq->segs);
    if (!(rq->segs = strdup(path))) return 0;
    char *p = rq->segs;
    const char *q = pattern;
    int k = 0;
    if (*p++ != '/' || *q++ != '/') return 0;
    for (;;) {
        size_t ql = strcspn(q, "/"), pl = strcspn(p, "/");
        int pmore = p[pl] == '/', qmore = q[ql] == '/';
        if (ql == 1 && *q == '*') {
            if (pl == 0 || k >= HTTP_MAX_PARAMS) return 0;
            rq->params[k++] = p;
        } else if (ql != pl || strncmp(q, p, ql) != 0) {
            return 0;
        }
        if (pmore != qmore) return 0;
        p[pl] = '\0';
        if (!pmore) return 1;
        p += pl + 1;
        q += ql + 1;
    }
}

static int is_read(const char *method)
{
    return !strcmp(method, "GET") || !strcmp(method, "HEAD");
}

static int method_matches(const char *route, const char *method)
{
    return !strcmp(route, method) || (!strcmp(route, "GET") && !strcmp(method, "HEAD"));
}

/* Constant-time comparison of the given a with the token b, so the token
 * cannot be guessed byte by byte. A space in a matches a '+' in b: a base64
 * token pasted unencoded into ?token= (or a dashboard link) arrives with its
 * '+' form-decoded into spaces, and the dashboard sends on what it read. */
static int token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i % (lb ? lb : 1)];
        x ^= (unsigned char)((x == ' ') & (y == '+')) * (' ' ^ '+');
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

/* What a request brought of the token: the 401 says which, so a client
 * that sent a token is not told to send the header it sent. Whether one was
 * given is all it tells: the comparison stays constant-time. */
typedef enum { AUTH_OK, AUTH_NONE, AUTH_NOT_BEARER, AUTH_WRONG_HEADER, AUTH_WRONG_QUERY } auth_seen;

static auth_seen authorized(const http_req *rq)
{
    const char *token = rq->srv->o.token;
    const char *h = http_header(rq, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h && !strncasecmp(h, "Bearer ", 7))
        return token_equal(h + 7, token) ? AUTH_OK : AUTH_WRONG_HEADER;
    /* EventSource and plain links cannot set headers: reads may carry it in
     * the query instead. */
    const char *q = is_read(rq->method) ? http_query(rq, "token") : NULL;
    if (q) return token_equal(q, token) ? AUTH_OK : AUTH_WRONG_QUERY;
    return h ? AUTH_NOT_BEARER : AUTH_NONE;
}

static void refuse_unauthorized(http_req *rq, auth_seen seen)
{
    static const char theirs[] = "is not this server's (the first line of its --token-file)";
    const char *query = is_read(rq->method) ? ", or ?token=TOKEN" : "";
    if (seen == AUTH_WRONG_HEADER)
        http_respond_error(rq, 401, "unauthorized", NULL,
                           "wrong token: the one in the header 'Authorization: Bearer ...' %s",
                           theirs);
    else if (seen == AUTH_WRONG_QUERY)
        http_respond_error(rq, 401, "unauthorized", NULL, "wrong token: the one in ?token= %s",
                           theirs);
    else
        http_respond_error(rq, 401, "unauthorized", NULL,
                           "no token: %s%s (TOKEN = the first line of the server's --token-file)",
                           seen == AUTH_NOT_BEARER
                               ? "the header 'Authorization' is not 'Bearer TOKEN'"
                               : "this request needs the header 'Authorization: Bearer TOKEN'",
                           query);
}

/* Whether the Host header's name (without its port) is one of this
 * machine's loopback names. */
static int loopback_host(const char *host)
{
    char name[256];
    size_t n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
    if (n >= sizeof name || (host[0] == '[' && host[n - 1] != ']')) return 0;
    memcpy(name, host, n);
    name[n] = '\0';
    return http_is_loopback(name);
}

/* Whether a request to a server without a token came from a web page of
 * another site, which the browser lets send it although it may not read
 * the answer: a POSTed spec's command would run (a form of text/plain is
 * such a request, or fetch(..., {mode: "no-cors"})). A page that made its
 * own name resolve to 127.0.0.1 (DNS rebinding) reads and posts as the
 * same origin: its Host is its name, not a loopback one. Clients that are
 * no browser send no Origin and a Host naming the address they called. */
static int foreign_page(const http_req *rq)
{
    const char *host = http_header(rq, MHD_HTTP_HEADER_HOST);
    if (host && !loopback_host(host)) return 1;
    const char *origin = http_header(rq, "Origin");
    if (!origin || is_read(rq->method)) return 0;
    const char *rest = !strncasecmp(origin, "http://", 7)    ? origin + 7
                       : !strncasecmp(origin, "https://", 8) ? origin + 8
                                                             : NULL;
    return !rest || !host || strcasecmp(rest, host) != 0;
}

/* 1 + the index of name among the words of the space-separated list, or
 * 0 when it is none. */
static int in_words(const char *list, const char *name)
{
    size_t n = strlen(name);
    int i = 1;
    for (const char *p = list; p && *p; i++) {
        size_t len = strcspn(p, " ");
        if (len == n && !strncmp(p, name, n)) return i;
        p += len + (p[len] == ' ');
    }
    return 0;
}

typedef struct {
    const http_route *route;
    int is_read;
    const char *bad;            /* the first parameter the route does not take */
    int twice;                  /* bad is one it takes, given again */
    unsigned long long seen;    /* bit i: the route's word i given; bit 0: token */
} query_check;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    (void)value;
    query_check *c = cls;
    int word = c->is_read && !strcmp(key, "token") ? 0 : in_words(c->route->query, key);
    if (word == 0 && !(c->is_read && !strcmp(key, "token"))) {
        c->bad = key;
        return MHD_NO;
    }
    /* MHD's lookup answers the first of two: the second was dropped unseen */
    unsigned long long bit = word < 64 ? 1ull << word : 0;
    c->twice = (c->seen & bit) != 0;
    c->seen |= bit;
    if (c->twice) c->bad = key;
    return c->twice ? MHD_NO : MHD_YES;
}

/* Answers 400 when the query has a parameter the route does not take (a
 * typo like ?limt=5 would otherwise be silently ignored), or one it takes
 * given twice (all but the first were); 1 when it did. */
static int unknown_query(http_req *rq, const http_route *route)
{
    query_check c = {route, is_read(rq->method), NULL, 0, 0};
    rq->srv->mhd.get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, check_arg, &c);
    if (!c.bad) return 0;
    if (c.twice) {
        http_respond_error(rq, 400, "invalid", c.bad, "query parameter given twice: give it once");
        return 1;
    }
    char words[256], *save = NULL;
    snprintf(words, sizeof words, "%s", route->query ? route->query : "");
    const char *list[17];
    int m = 0;
    for (char *w = strtok_r(words, " ", &save); w && m < 16; w = strtok_r(NULL, " ", &save))
        list[m++] = w;
    list[m] = NULL;
    const char *near = nearest_name(c.bad, list);
    http_respond_error(rq, 400, "invalid", c.bad, "unknown query parameter%s%s%s%s%s",
                       near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "",
                       route->query ? "; this route takes: " : "; this route takes none",
                       route->query ? route->query : "");
    return 1;
}

/* The continuation of a handler run on the pool: its held answer. */
static void send_held(http_req *rq, void *arg)
{
    (void)arg;
    rq->offthread = 0;
    struct MHD_Response *resp = rq->held;
    rq->held = NULL;
    if (resp) deliver(rq, rq->held_status, resp);
}

static void run_handler(void *arg)
{
    http_req *rq = arg;
    const http_route *route = rq->route;
    if (route) route->fn(rq, rq->srv->o.ctx);
    else rq->srv->o.fallback(rq, rq->srv->o.ctx);
    if (!rq->responded) http_respond_error(rq, 500, "internal", NULL, "the handler sent no answer");
    http_resume(rq, send_held, NULL);
}

static void busy_answer(http_req *rq, void *arg)
{
    (void)arg;
    http_respond_error(rq, 503, "unavailable", NULL, "no thread to answer with: out of memory");
}

int http_respond_not_allowed(http_req *rq, const char *allow)
{
    http_server *s = rq->srv;
    json_t *e = json_pack("{s:{s:s, s:s}}", "error", "code", "invalid", "message",
                          "method not allowed here");
    char *body = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    struct MHD_Response *resp =
        body ? s->mhd.create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE) : NULL;
    if (resp) s->mhd.add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    else free(body);
    return send_response(rq, 405, resp, "application/json");
}

/* The answers a request gets for its headers alone, given when they arrive,
 * before its body is read: a client without the token cannot have the
 * server read and hold a megabyte of body, nor hold its connection for the
 * body's deadline. Sets rq->route; 1 when it answered. */
static int refuse_headers(http_server *s, http_req *rq)
{
    if (atomic_load(&s->closing)) {
        http_respond_error(rq, 503, "interrupted", NULL, "the server is shutting down");
        return 1;
    }
    if (rq->headers_too_large) {
        http_respond_error(rq, 431, "invalid", NULL, "request headers larger than %d bytes",
                           HEADERS_MAX);
        return 1;
    }
    if (rq->too_large) {
        http_respond_error(rq, 413, "invalid", NULL, "request body larger than %d bytes",
                           HTTP_BODY_MAX);
        return 1;
    }
    const http_route *route = NULL;
    char allow[64] = "";
    for (int i = 0; i < s->o.n_routes && !route; i++) {
        const http_route *r = &s->o.routes[i];
        memset(rq->params, 0, sizeof rq->params);
        if (!match(rq, r->pattern, rq->path)) continue;
        if (method_matches(r->method, rq->method)) {
            route = r;
        } else if (strlen(allow) + strlen(r->method) + 3 < sizeof allow) {
            if (allow[0]) strcat(allow, ", ");
            strcat(allow, r->method);
        }
    }
    rq->route = route;
    if (!route && allow[0]) {
        http_respond_not_allowed(rq, allow);
        return 1;
    }
    if (!route && !s->o.fallback) {
        http_respond_error(rq, 404, "not_found", NULL, "no such resource: %s %s", rq->method,
                           rq->path);
        return 1;
    }
    if (!s->o.token && foreign_page(rq)) {
        http_respond_error(rq, 403, "forbidden", NULL, "a request from a web page of another "
                           "site (its Host or Origin is not this machine): without "
                           "--token-file this server answers only this machine's own clients");
        return 1;
    }
    int needs_token = s->o.token && route && (!is_read(rq->method) || (s->o.auth_reads && !route->open));
    auth_seen seen = needs_token ? authorized(rq) : AUTH_OK;
    if (seen != AUTH_OK) {
        refuse_unauthorized(rq, seen);
        return 1;
    }
    if (!route) return 0;
    return unknown_query(rq, route) || (route->admit && route->admit(rq, s->o.ctx));
}

/* Runs the request's handler, its body read (refuse_headers passed it). */
static void dispatch(http_server *s, http_req *rq)
{
    if (atomic_load(&s->closing) || rq->too_large) {
        refuse_headers(s, rq);
        return;
    }
    const http_route *route = rq->route;
    if (route && route->nonblocking) {
        route->fn(rq, s->o.ctx);
        return;
    }
    rq->offthread = 1;
    http_suspend(rq);
    if (pool_submit(s, run_handler, rq) == KE_OK) return;
    rq->offthread = 0;
    http_resume(rq, busy_answer, NULL);
}

static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;   /* ": ", CRLF */
    return MHD_YES;
}

/* The bytes of a request's line and headers, about as they came. */
static size_t header_size(http_server *s, struct MHD_Connection *conn, const char *url,
                          const char *method)
{
    size_t n = strlen(method) + strlen(url) + 12;   /* " ", " HTTP/1.1", CRLF */
    s->mhd.get_connection_values(conn, MHD_HEADER_KIND, add_header_size, &n);
    return n;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* MHD's own %HH decoding of the path and of query values, but for %00: a
 * NUL would end the string where C reads it ("victim%00/trials/0/checkpoint"
 * read as the study "victim" itself, and DELETE deleted it), so "%00" stays
 * as it came, which no route, name or number takes. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *text)
{
    (void)cls;
    (void)conn;
    char *w = text;
    for (const char *r = text; *r;) {
        int hi, lo;
        if (r[0] == '%' && (hi = hex_value(r[1])) >= 0 && (lo = hex_value(r[2])) >= 0 &&
            (hi | lo)) {
            *w++ = (char)(hi * 16 + lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - text);
}

/* Whether the client sends a body after its headers without waiting for an
 * answer: one announced or chunked, unless it asked to wait (Expect:
 * 100-continue, RFC 9110 10.1.1: a final answer instead of 100 is the
 * point of it). */
static int body_coming(http_server *s, struct MHD_Connection *conn)
{
    const char *cl = s->mhd.lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = s->mhd.lookup_connection_value(conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const char *expect = s->mhd.lookup_connection_value(conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_EXPECT);
    if (expect && !strcasecmp(expect, "100-continue")) return 0;
    return (cl && strtoull(cl, NULL, 10) > 0) || (te && strcasestr(te, "chunked"));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    http_server *s = cls;
    http_req *rq = *con_cls;
    if (!rq) {
        watch_set(s, conn, mono_s() + BODY_DEADLINE_S);   /* its headers are in */
        if (!(rq = calloc(1, sizeof *rq))) return MHD_NO;
        rq->srv = s;
        *con_cls = rq;
        rq->conn = conn;        /* MHD keeps these for the request's life */
        rq->method = method;
        rq->path = url;
        const char *cl = s->mhd.lookup_connection_value(conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_CONTENT_LENGTH);
        rq->headers_too_large = header_size(s, conn, url, method) > HEADERS_MAX;
        rq->too_large = cl && strtoull(cl, NULL, 10) > HTTP_BODY_MAX;
        /* a body the client sends anyway: the refusal waits for it, read and
         * dropped, as a connection closed on unread bytes is reset and the
         * client may lose the answer (a too large one is refused at once) */
        rq->offthread = body_coming(s, conn) && !rq->too_large && !rq->headers_too_large;
        refuse_headers(s, rq);
        rq->offthread = 0;
        return rq->queue_failed ? MHD_NO : MHD_YES;
    }
    if (*upload_size && rq->held) {   /* refused: the body is dropped */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        if (append_body(rq, upload, *upload_size) < 0) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->then) {             /* resumed */
        http_handler then = rq->then;
        rq->then = NULL;
        rq->suspended = 0;
        then(rq, rq->then_arg);
    } else if (rq->held) {      /* refused for its headers, its body dropped */
        send_held(rq, NULL);
    } else if (!rq->responded) {
        watch_set(s, conn, 0);   /* its body is in: the request runs */
        dispatch(s, rq);
    }
    if (!rq->responded && !rq->suspended)
        http_respond_error(rq, 500, "internal", NULL, "the handler sent no answer");
    return rq->queue_failed ? MHD_NO : MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    (void)why;
    http_server *s = cls;
    watch_set(s, conn, mono_s() + HEADER_DEADLINE_S);   /* the next request's headers */
    http_req *rq = *con_cls;
    if (!rq) return;
    if (rq->then) {             /* resumed, then closed: the continuation frees its own */
        rq->dead = 1;
        rq->then(rq, rq->then_arg);
    }
    if (rq->held) s->mhd.destroy_response(rq->held);
    free(rq->body);
    free(rq->segs);
    free(rq);
    *con_cls = NULL;
}

/* ---- the server ---- */

int http_is_loopback(const char *host)
{
    if (!strcmp(host, "localhost") || !strcmp(host, "::1") || !strcmp(host, "[::1]")) return 1;
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* Loads libmicrohttpd into s->dl and s->mhd. */
static int load_mhd(http_server *s, kerror *err)
{
    static const dynlib_sym syms[] = {
#define MHD_SYM(f) {"MHD_" #f, offsetof(mhd_api, f)},
        MHD_CALLS(MHD_SYM)
#undef MHD_SYM
    };
    return dynlib_load(&s->dl, MHD_SONAME, "libmicrohttpd, which the HTTP service needs",
                       "libmicrohttpd12", syms, sizeof syms / sizeof syms[0], &s->mhd, err);
}

int http_start(http_server **out, const http_opts *o, kerror *err)
{
    *out = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE}, *ai;
    int gai = getaddrinfo(o->host, port, &hints, &ai);
    if (gai != 0)
        return kerror_set(err, KE_INVALID, "listen", "cannot resolve '%s': %s", o->host,
                          gai_strerror(gai));
    http_server *s = calloc(1, sizeof *s);
    if (!s) {
        freeaddrinfo(ai);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    s->o = *o;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_cond_init(&s->pool_work, NULL);
    pthread_cond_init(&s->pool_done, NULL);
    if (load_mhd(s, err) != KE_OK) {
        freeaddrinfo(ai);
        http_stop(s);
        return err->code;
    }
    unsigned max = (unsigned)(o->max_connections > 0 ? o->max_connections : CONN_MAX_DEFAULT);
    /* one event thread on epoll (select() takes descriptors below 1024 only);
     * handlers that block run on the pool while their connection is suspended */
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    flags |= MHD_USE_TURBO;     /* an answer is written at once, not a turn of the loop later */
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->d = s->mhd.start_daemon(flags, 0, NULL, NULL, on_request, s,
                               MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                               MHD_OPTION_CONNECTION_LIMIT, max,
                               MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                               CONN_PER_CLIENT(max) > 0 ? CONN_PER_CLIENT(max) : 1u,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
                               MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
                               MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                               MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                               MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
                               MHD_OPTION_END);
    freeaddrinfo(ai);
    if (s->d && pthread_create(&s->reaper, NULL, reaper_main, s) == 0) s->reaper_started = 1;
    if (!s->reaper_started) {
        http_stop(s);
        return kerror_set(err, KE_IO, "listen", "cannot listen on %s:%d (address in use, "
                          "or not an address of this machine)", o->host, o->port);
    }
    const union MHD_DaemonInfo *info = s->mhd.get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : o->port;
    *out = s;
    return KE_OK;
}

int http_port(const http_server *s)
{
    return s->port;
}

uint64_t http_count(const http_server *s, int status)
{
    return status >= 0 && status < MAX_STATUS ? atomic_load(&s->counts[status]) : 0;
}

void http_stop(http_server *s)
{
    if (!s) return;
    atomic_store(&s->closing, 1);
    /* streams end (their producers see cancel after fn returns), handlers
     * finish, and every suspended connection is resumed before MHD stops */
    pthread_mutex_lock(&s->mu);
    for (stream *st = s->streams; st; st = st->next) {
        pthread_mutex_lock(&st->mu);
        st->cancel = 1;
        pthread_cond_signal(&st->room);
        pthread_mutex_unlock(&st->mu);
    }
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&s->pool_mu);
    while (s->d && (s->busy > 0 || atomic_load(&s->n_suspended) > 0)) {
        /* n_suspended falls outside pool_mu: the timed wait covers a missed wake */
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += 50 * 1000000L;
        t.tv_sec += t.tv_nsec / 1000000000L;
        t.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->pool_done, &s->pool_mu, &t);
    }
    pthread_mutex_unlock(&s->pool_mu);
    if (s->d) s->mhd.stop_daemon(s->d);
    pthread_mutex_lock(&s->pool_mu);
    s->quit = 1;
    pthread_cond_broadcast(&s->pool_work);
    pthread_mutex_unlock(&s->pool_mu);
    for (int i = 0; i < s->n_threads; i++) pthread_join(s->threads[i], NULL);
    free(s->threads);
    if (s->reaper_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = 1;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->reaper, NULL);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_cond_destroy(&s->pool_work);
    pthread_cond_destroy(&s->pool_done);
    if (s->dl) dlclose(s->dl);
    free(s);
}
