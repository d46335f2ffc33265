/* http_respond: the server's answers; see http_respond.h. An answer made on
 * the event thread is queued at once (http_deliver); one made on a pool
 * thread is held in the request until the event thread resumes it, since
 * MHD queues responses on its own thread only. A stream's producer runs on
 * a pool thread and hands MHD's reader one buffer at a time. Invariant: a
 * stream is freed by the last of its two references, its response's and
 * its producer's, and is on the server's list (http_stop cancels it) until
 * then. */
#define _GNU_SOURCE
#include "http_respond.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "format.h"
#include "http_impl.h"
#include "klog.h"
#include "utf8.h"

#define STREAM_CHUNK (16 * 1024)        /* bytes a stream's producer is ahead at most */

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
int http_deliver(http_req *rq, int status, struct MHD_Response *resp)
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
    if (!rq->offthread) return http_deliver(rq, status, resp);
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

/* text as a JSON string (a new reference; NULL when out of memory). An
 * error quotes what the client sent (a study name in the path, a query
 * parameter or its value) and bytes of it that are no UTF-8 (%FF) would make
 * Jansson refuse the whole message, answered as a 500 "out of memory": they
 * are written as U+FFFD, as a trial's output is. A message cut at its
 * buffer's end in the middle of a character is mended the same way. */
static json_t *error_text(const char *text)
{
    if (utf8_valid(text)) return json_string(text);
    char *fixed = utf8_fix(text);
    json_t *j = fixed ? json_string(fixed) : NULL;
    free(fixed);
    return j;
}

static int respond_verror(http_req *rq, int status, const char *code, const char *path,
                          const char *fmt, va_list ap)
{
    char msg[KERROR_MSG_MAX + KERROR_PATH_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    json_t *e = json_pack("{s:s, s:o}", "code", code, "message", error_text(msg));
    if (e && path && *path && json_object_set_new(e, "path", error_text(path)) != 0) {
        json_decref(e);
        e = NULL;
    }
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

int http_respond_status_of(int ke_code)
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
    return http_respond_error(rq, http_respond_status_of(err->code),
                              kerror_code_name(err->code), err->path, "%s", err->msg);
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
    http_suspend_conn(st->srv, st->conn);
    pthread_mutex_lock(&st->mu);
    int ready = st->off < st->len || st->end;
    st->waiting = !ready;
    pthread_mutex_unlock(&st->mu);
    if (ready) http_resume_conn(st->srv, st->conn);
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
        if (wake) http_resume_conn(st->srv, st->conn);
        if (n < 0) break;
    }
    stream_unref(st);
}

static ssize_t no_content(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    (void)buf;
    (void)max;
    return (ssize_t)MHD_CONTENT_READER_END_OF_STREAM;
}

/* The answer to HEAD of a stream: its headers, no producer. Sent chunked,
 * libmicrohttpd 0.9.75 wrote the chunked body's end ("0\r\n\r\n") after
 * a HEAD's headers: bytes of no answer, which a client that kept the
 * connection read as the start of the next one. Sent as HTTP/1.0 would
 * (MHD_RF_HTTP_VERSION_1_0_ONLY: not chunked, the connection closed after
 * it), no byte follows the headers, and no Content-Length states a length
 * that GET would not have (RFC 9110 9.3.2, 8.6). */
static int respond_stream_head(http_req *rq, int status, const char *ctype, void *ctx,
                               void (*free_ctx)(void *))
{
    http_server *s = rq->srv;
    if (free_ctx) free_ctx(ctx);
    struct MHD_Response *resp =
        s->mhd.create_response_from_callback(MHD_SIZE_UNKNOWN, 1, no_content, NULL, NULL);
    if (resp) {
        s->mhd.set_response_options(resp, MHD_RF_HTTP_VERSION_1_0_ONLY, MHD_RO_END);
        s->mhd.add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    }
    return send_response(rq, status, resp, ctype);
}

int http_respond_stream(http_req *rq, int status, const char *ctype, http_stream_fn fn,
                        void *ctx, void (*free_ctx)(void *))
{
    http_server *s = rq->srv;
    if (!strcmp(rq->method, MHD_HTTP_METHOD_HEAD))
        return respond_stream_head(rq, status, ctype, ctx, free_ctx);
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
    if (http_pool_submit(s, stream_pump, st) != KE_OK) {
        st->end = HTTP_STREAM_ERROR;   /* no producer: the reader ends it */
        stream_unref(st);
    }
    s->mhd.add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return send_response(rq, status, resp, ctype);
}

void http_cancel_streams(http_server *s)
{
    pthread_mutex_lock(&s->mu);
    for (stream *st = s->streams; st; st = st->next) {
        pthread_mutex_lock(&st->mu);
        st->cancel = 1;
        pthread_cond_signal(&st->room);
        pthread_mutex_unlock(&st->mu);
    }
    pthread_mutex_unlock(&s->mu);
}
