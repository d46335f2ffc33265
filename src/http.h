/* http: a small HTTP/1.1 server over libmicrohttpd: routes by method and path
 * pattern, collects request bodies up to HTTP_BODY_MAX (413 beyond), checks
 * Bearer tokens, and answers with JSON, the project's error envelope, plain
 * bytes or streams. It knows nothing of studies. One event thread serves
 * every connection; handlers that may block (all but nonblocking routes')
 * and stream producers run on a pool that grows so none waits behind
 * another: Server-Sent Events and exports hold their stream for long, and a
 * blocked stream must not stall other clients. Invariant: a handler answers
 * each request exactly once (http_respond_*, http_respond.h); one that
 * returns without answering gets a 500. */
#ifndef KESTREL_HTTP_H
#define KESTREL_HTTP_H

#include <stdio.h>

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "http_respond.h"   /* the answers: http_respond_* */
#include "kerror.h"

#define HTTP_BODY_MAX (1024 * 1024)   /* bytes of request body accepted */
#define HTTP_MAX_PARAMS 4             /* '*' segments in a route pattern */

typedef struct http_server http_server;
typedef struct http_req http_req;     /* valid during the handler call */

typedef void (*http_handler)(http_req *rq, void *ctx);

typedef struct {
    const char *method;         /* "GET" (HEAD too), "POST", "DELETE" */
    const char *pattern;        /* "/api/v1/studies/ * /trials/ *": '*' is one segment */
    http_handler fn;
    int open;                   /* never needs a token (health checks) */
    const char *query;          /* the query parameters it takes, space-separated, or NULL
                                 * for none ("token" is always taken on reads); any
                                 * other is answered 400 naming it */
    int nonblocking;            /* fn never blocks: it runs on the event thread and
                                 * answers at once or through http_suspend (no thread
                                 * held while it waits); other routes' handlers (and
                                 * the fallback) run on a pool thread and may block */
    int (*admit)(http_req *rq, void *ctx);
                                /* or NULL: a check of what the headers alone say
                                 * (path, query), run on the event thread when they
                                 * arrive, after the token's: 1 when it answered (a
                                 * refusal, given before the body is read as the
                                 * token's is), 0 to go on. It never blocks */
} http_route;

typedef struct {
    const char *host;           /* numeric IPv4/IPv6 address or a name */
    int port;                   /* 0: any free port (see http_port) */
    const char *token;          /* Bearer token, NULL for none */
    int auth_reads;             /* GETs need the token too (except open routes) */
    const http_route *routes;
    int n_routes;
    http_handler fallback;      /* requests no route matches (static files; open:
                                 * it answers 405 to a method its file does not take) */
    void *ctx;                  /* handed to every handler */
    int max_connections;        /* 0: 256 */
    FILE *access_log;           /* one klog line per answer (client, method, path,
                                 * status), or NULL for none */
} http_opts;

/* Binds and starts serving (threads of its own). The opts' strings and
 * routes must outlive the server. */
int http_start(http_server **out, const http_opts *o, kerror *err);
/* The port it listens on (the chosen one when opts.port was 0). */
int http_port(const http_server *s);
/* Answers 503 to new requests, waits for running handlers and suspended
 * connections, stops, frees. Streams must end promptly once asked (their
 * own shutdown signal) for this to return, and every http_suspend must
 * have had its http_resume. */
void http_stop(http_server *s);
/* Responses sent with this status code since the start. */
uint64_t http_count(const http_server *s, int status);

/* Whether host is a loopback address (127.0.0.0/8, ::1 in any spelling,
 * bracketed or not, localhost in any case). */
int http_is_loopback(const char *host);

/* The request. Strings are valid until the handler returns. */
const char *http_method(const http_req *rq);
const char *http_path(const http_req *rq);
/* The i-th '*' segment of the route pattern (percent-decoded). */
const char *http_param(const http_req *rq, int i);
const char *http_query(const http_req *rq, const char *key);
/* A count as a path segment or query value gives it: decimal digits only
 * (no sign, space or exponent, which strtol would take or skip), at most
 * max; 0 with it in *out, else -1. */
int http_parse_count(const char *text, long long max, long long *out);
const char *http_header(const http_req *rq, const char *name);
/* The body (NUL-terminated) and its length; "" when none. */
const char *http_body(const http_req *rq, size_t *len);

/* A nonblocking handler that cannot answer yet: http_suspend(rq), then
 * return; the connection waits, holding no thread. http_resume, from any
 * thread (once per suspend, before or after the handler returned), has
 * then(rq, arg) run on the event thread, where it answers (or suspends
 * again). If the client is gone by then, `then` still runs (so it can free
 * arg) and its answer is dropped. */
void http_suspend(http_req *rq);
void http_resume(http_req *rq, http_handler then, void *arg);

#endif
