/* http_respond: the answers of the HTTP server (http.h): JSON, the
 * project's error envelope, plain bytes (static, owned, shared, a file) and
 * streams of unknown length, whose producer runs on a pool thread of its own.
 * A handler answers each request exactly once, with one of these. */
#ifndef KESTREL_HTTP_RESPOND_H
#define KESTREL_HTTP_RESPOND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "kerror.h"

typedef struct http_req http_req;     /* http.h */

/* Answers. Each returns KE_OK, or KE_NOMEM/KE_IO when nothing could be sent
 * (the connection is then closed). */
/* Sends body (reference stolen) as application/json. */
int http_respond_json(http_req *rq, int status, json_t *body);
/* {"error": {"code": code, "message": ..., "path": path}} (path omitted if
 * NULL or empty). */
int http_respond_error(http_req *rq, int status, const char *code, const char *path,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The error envelope for err, with the status its code maps to (400, 404,
 * 409, 503 for KE_INTERRUPTED, else 500). */
int http_respond_kerror(http_req *rq, const kerror *err);
int http_respond_status_of(int ke_code);
/* Static bytes (not copied: they must outlive the response). */
int http_respond_static(http_req *rq, int status, const char *ctype, const void *data,
                        size_t n);
int http_respond_empty(http_req *rq, int status);
/* 405 with its Allow header (allow: "GET, HEAD", say). */
int http_respond_not_allowed(http_req *rq, const char *allow);
/* The n bytes of the open file fd are sent (read as they go out), then fd
 * is closed, in every case. */
int http_respond_fd(http_req *rq, int status, const char *ctype, int fd, size_t n);
/* data (malloc'd, n bytes) is sent and then freed, in every case. */
int http_respond_owned(http_req *rq, int status, const char *ctype, char *data, size_t n);
/* data (n bytes) is sent, then release(ctx) is called, in every case: for
 * a body shared between responses (a cache's, reference counted). */
int http_respond_shared(http_req *rq, int status, const char *ctype, const char *data, size_t n,
                        void (*release)(void *), void *ctx);
/* A stream of unknown length, sent chunked: fn fills buf with up to max
 * bytes and returns the count, HTTP_STREAM_END or HTTP_STREAM_ERROR; it
 * runs on a pool thread of its own, so it may block, but must not return
 * 0; it is called again only once what it gave was sent.
 * free_ctx(ctx) runs once the response is done, sent or not. To HEAD, the
 * headers alone are sent, the connection closed after them, and fn never
 * runs (free_ctx(ctx) at once). */
#define HTTP_STREAM_END ((ssize_t)-1)
#define HTTP_STREAM_ERROR ((ssize_t)-2)
typedef ssize_t (*http_stream_fn)(void *ctx, uint64_t pos, char *buf, size_t max);
int http_respond_stream(http_req *rq, int status, const char *ctype, http_stream_fn fn,
                        void *ctx, void (*free_ctx)(void *));

#endif
