/* http: the libmicrohttpd wrapper; see http.h. This file runs the server:
 * its connections and their deadlines, the pool, the life of a request; the
 * answers are http_respond.c's, the checks of the headers http_admit.c's.
 * Invariant: MHD calls the access handler once with the headers, then once
 * per body chunk, then once more with no data: the request's handler runs
 * on that last call only, when the body is complete. What the headers alone decide is answered on the
 * first call, before the body is read (http_admit.c): a Content-Length
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
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "dynlib.h"
#include "http_admit.h"
#include "http_impl.h"
#include "monotime.h"

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
/* A connection's memory (MHD's pool: the request's headers, its read buffer,
 * the answer's headers; bodies are copied out as they arrive). MHD zeroes
 * all of it after every request, and a thousand workers connecting at once
 * touch a thousand fresh ones: at MHD's 32 KB that memset and those page
 * faults took a third of the event thread and held their leases' reads up
 * by 100 ms (bench/README.md, issue 14). 8 KB takes request headers up to
 * HEADERS_MAX, a Cookie line up to about 3.9 KB (more gets 431). */
#define CONN_MEMORY (8 * 1024)

struct watch {          /* one connection, in the reaper's list */
    MHD_socket fd;
    double deadline;            /* CLOCK_MONOTONIC s; 0 while a request runs */
    struct watch *prev, *next;
};

struct task {           /* work for the pool */
    void (*run)(void *arg);
    void *arg;
    struct task *next;
};

#define MHD_SONAME "libmicrohttpd.so.12"   /* its ABI since 0.9.x, Debian's libmicrohttpd12 */

/* ---- the header deadline ---- */

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
        w->deadline = monotime_s() + HEADER_DEADLINE_S;
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
        double now = monotime_s();
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
int http_pool_submit(http_server *s, void (*run)(void *), void *arg)
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

void http_suspend_conn(http_server *s, struct MHD_Connection *conn)
{
    atomic_fetch_add(&s->n_suspended, 1);
    s->mhd.suspend_connection(conn);
}

void http_resume_conn(http_server *s, struct MHD_Connection *conn)
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
    http_suspend_conn(rq->srv, rq->conn);
}

void http_resume(http_req *rq, http_handler then, void *arg)
{
    /* MHD's lock in MHD_resume_connection orders these before the event
     * thread's read of them */
    rq->then = then;
    rq->then_arg = arg;
    http_resume_conn(rq->srv, rq->conn);
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


/* The continuation of a handler run on the pool: its held answer. */
static void send_held(http_req *rq, void *arg)
{
    (void)arg;
    rq->offthread = 0;
    struct MHD_Response *resp = rq->held;
    rq->held = NULL;
    if (resp) http_deliver(rq, rq->held_status, resp);
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

/* Runs the request's handler, its body read (http_admit_headers passed it). */
static void dispatch(http_server *s, http_req *rq)
{
    if (atomic_load(&s->closing) || rq->too_large) {
        http_admit_headers(s, rq);
        return;
    }
    const http_route *route = rq->route;
    if (route && route->nonblocking) {
        route->fn(rq, s->o.ctx);
        return;
    }
    rq->offthread = 1;
    http_suspend(rq);
    if (http_pool_submit(s, run_handler, rq) == KE_OK) return;
    rq->offthread = 0;
    http_resume(rq, busy_answer, NULL);
}

static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    /* a header's ": " and CRLF; a query parameter's '?' or '&' and '=' */
    size_t framing = kind == MHD_GET_ARGUMENT_KIND ? 2 : 4;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + framing;
    return MHD_YES;
}

/* The bytes of a request's line and headers, about as they came: MHD hands
 * the path without its query, which counts too (a 7 KB query was served
 * under the 6 KB bound), percent-decoded (a %XX as one byte). */
static size_t header_size(http_server *s, struct MHD_Connection *conn, const char *url,
                          const char *method)
{
    size_t n = strlen(method) + strlen(url) + 12;   /* " ", " HTTP/1.1", CRLF */
    s->mhd.get_connection_values(conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND,
                                 add_header_size, &n);
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
    http_server *s = cls;
    http_req *rq = *con_cls;
    if (!rq) {
        watch_set(s, conn, monotime_s() + BODY_DEADLINE_S);   /* its headers are in */
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
        rq->framing = http_admit_framing(s, conn, version, &rq->framing_name);
        /* a body the client sends anyway: the refusal waits for it, read and
         * dropped, as a connection closed on unread bytes is reset and the
         * client may lose the answer (a too large one is refused at once,
         * and one whose length is in doubt, which no read of it settles) */
        rq->offthread = body_coming(s, conn) && !rq->too_large && !rq->headers_too_large &&
                        rq->framing == HTTP_FRAMING_OK;
        http_admit_headers(s, rq);
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
    watch_set(s, conn, monotime_s() + HEADER_DEADLINE_S);   /* the next request's headers */
    http_req *rq = *con_cls;
    if (!rq) return;
    if (rq->then) {             /* resumed, then closed: the continuation frees its own */
        rq->dead = 1;
        rq->then(rq, rq->then_arg);
    }
    if (rq->held) s->mhd.destroy_response(rq->held);
    free(rq->body);
    free(rq->segs);
    free(rq->authority);
    free(rq);
    *con_cls = NULL;
}

/* ---- the server ---- */

/* A name is a loopback name in any case (curl http://LOCALHOST:8080/ sends
 * the Host as typed, and was refused as a foreign page), and ::1 in any of
 * its spellings ([0:0:0:0:0:0:0:1], ::ffff:127.0.0.1). */
int http_is_loopback(const char *host)
{
    if (!strcasecmp(host, "localhost")) return 1;
    char inner[INET6_ADDRSTRLEN];
    size_t n = strlen(host);
    int bracketed = n >= 2 && host[0] == '[' && host[n - 1] == ']';
    if (bracketed && n - 2 < sizeof inner) {
        memcpy(inner, host + 1, n - 2);
        inner[n - 2] = '\0';
        host = inner;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    struct in_addr a;
    return !bracketed && inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
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
    http_cancel_streams(s);
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
