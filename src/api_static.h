/* api_static: the dashboard's files (web/), embedded in the binary by
 * build-aux/embed.sh and served by base name as the HTTP server's fallback
 * for requests no API route matches. Knows nothing of studies. */
#ifndef KESTREL_API_STATIC_H
#define KESTREL_API_STATIC_H

#include "http.h"

/* The fallback of http_opts (ctx unused): GET or HEAD of an embedded file
 * ("/" is index.html), 405 for another method, 404 for any other path. */
void api_static(http_req *rq, void *ctx);

#endif
