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

/* The framing header the request gave twice (Content-Length, then Host),
 * or Transfer-Encoding beside a Content-Length, which http_admit_headers
 * refuses; NULL when none was. */
const char *http_admit_doubled(http_server *s, struct MHD_Connection *conn);

#endif
