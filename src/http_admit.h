/* http_admit: what a request's headers alone decide, before its body is
 * read: its route (method and path pattern), its token, whether it comes
 * from a web page of another site, its query's parameters and the route's
 * own admit. Internal to the HTTP server: http.c calls it. */
#ifndef KESTREL_HTTP_ADMIT_H
#define KESTREL_HTTP_ADMIT_H

#include "http.h"

/* The answers a request gets for its headers alone, given when they arrive,
 * before its body is read: a client without the token cannot have the
 * server read and hold a megabyte of body, nor hold its connection for the
 * body's deadline. Sets rq->route; 1 when it answered. */
int http_admit_headers(http_server *s, http_req *rq);

struct MHD_Connection;

/* What a request's framing headers say wrong: http_admit_headers refuses
 * it at once, before the body, and the connection is closed with the
 * answer, as the body's end is in doubt (RFC 9112 6.1, 6.3). */
typedef enum {
    HTTP_FRAMING_OK,
    HTTP_FRAMING_LENGTH_TWICE,      /* Content-Length given twice: 400 */
    HTTP_FRAMING_BAD_NAME,          /* a header name with a byte no name holds: 400 */
    HTTP_FRAMING_HOST_TWICE,        /* Host given twice: 400 */
    HTTP_FRAMING_HOST_MISSING,      /* no Host in an HTTP/1.1 request: 400 */
    HTTP_FRAMING_LENGTH_AND_CODING, /* Content-Length beside Transfer-Encoding: 400 */
    HTTP_FRAMING_CODING_TWICE,      /* Transfer-Encoding given twice: 400 */
    HTTP_FRAMING_NOT_CHUNKED,       /* codings other than one chunked, last: 400 */
    HTTP_FRAMING_CODING_UNKNOWN,    /* a coding before the chunked (gzip, chunked): 501 */
    HTTP_FRAMING_CODING_HTTP10      /* Transfer-Encoding in an HTTP/1.0 request: 400 */
} http_framing;

/* The request's framing headers judged; version is the request line's
 * ("HTTP/1.1"). *name is the header name refused for HTTP_FRAMING_BAD_NAME
 * (the connection's, valid for the request's life), else NULL. */
http_framing http_admit_framing(http_server *s, struct MHD_Connection *conn,
                                const char *version, const char **name);

#endif
