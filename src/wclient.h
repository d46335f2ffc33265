/* wclient: the HTTP client of `kestrel worker`: JSON requests to one
 * `kestrel serve` (base URL, Bearer token) over libcurl, one connection kept
 * alive. It knows nothing of leases: it moves JSON objects and tells a
 * server that answered (any status) from one that could not be reached. */
#ifndef KESTREL_WCLIENT_H
#define KESTREL_WCLIENT_H

#include <stdio.h>

#include <jansson.h>

#include "kerror.h"

typedef struct wclient wclient;

/* KE_OK when base is a URL wclient_open takes (http:// or https://), else
 * KE_INVALID naming --server: for a caller that hands it to workers. */
int wclient_check_base(const char *base, kerror *err);
/* base: "http://host:port" (a trailing '/' is ignored); token may be NULL. */
int wclient_open(wclient **out, const char *base, const char *token, kerror *err);
void wclient_close(wclient *c);
/* method "GET" or "POST"; body (borrowed) may be NULL. KE_OK when the server
 * answered: *status set, *reply the parsed JSON body (new reference) or NULL
 * when empty or not JSON. KE_IO when it could not be reached or did not
 * answer in time (err says why): the caller may try again later. */
int wclient_call(wclient *c, const char *method, const char *path, const json_t *body,
                 int *status, json_t **reply, kerror *err);
/* The same with bytes: body (n bytes, may be NULL for a GET) out, the
 * answer's bytes in *out (malloc'd, the caller frees; *out_n bytes). */
int wclient_bytes(wclient *c, const char *method, const char *path, const void *body, size_t n,
                  int *status, char **out, size_t *out_n, kerror *err);
/* A GET whose answer's bytes are written to f as they arrive (whatever the
 * status: the caller looks at it before trusting f). */
int wclient_download(wclient *c, const char *path, FILE *f, int *status, kerror *err);
/* How many requests the server has answered so far (any status): a caller
 * that made several tells a round the server answered from one it did not. */
unsigned long wclient_answers(const wclient *c);

#endif
