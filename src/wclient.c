/* wclient: libcurl under the worker's JSON calls; see wclient.h. One easy
 * handle per client, reused, so calls to the server share a connection. */
#define _GNU_SOURCE
#include "wclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define CONNECT_TIMEOUT_S 5L
#define CALL_TIMEOUT_S 30L      /* a server whose engine is busy answers late, not never */

struct wclient {
    CURL *h;
    char *base;
    struct curl_slist *headers;
};

typedef struct {
    char *data;
    size_t n, cap;
} buf;

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    buf *b = ctx;
    size_t add = size * n;
    if (b->n + add + 1 > b->cap) {
        size_t cap = (b->n + add + 1) * 2;
        char *d = realloc(b->data, cap);
        if (!d) return 0;   /* curl reports a write error */
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->n, p, add);
    b->n += add;
    b->data[b->n] = '\0';
    return add;
}

int wclient_open(wclient **out, const char *base, const char *token, kerror *err)
{
    if (strncmp(base, "http://", 7) && strncmp(base, "https://", 8))
        return kerror_set(err, KE_INVALID, "--server", "expected an http:// or https:// URL, "
                          "not '%s'", base);
    /* once per process; not thread-safe, and the worker has one thread */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return kerror_set(err, KE_IO, NULL, "cannot initialize libcurl");
    wclient *c = calloc(1, sizeof *c);
    if (!c || !(c->base = strdup(base)) || !(c->h = curl_easy_init())) {
        wclient_close(c);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    size_t len = strlen(c->base);
    while (len > 0 && c->base[len - 1] == '/') c->base[--len] = '\0';
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[1024];
    if (token && (size_t)snprintf(auth, sizeof auth, "Authorization: Bearer %s", token) >= sizeof auth) {
        wclient_close(c);
        return kerror_set(err, KE_INVALID, "--token-file", "the token is too long");
    }
    if (token) c->headers = curl_slist_append(c->headers, auth);
    if (!c->headers) {
        wclient_close(c);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    *out = c;
    return KE_OK;
}

void wclient_close(wclient *c)
{
    if (!c) return;
    if (c->h) curl_easy_cleanup(c->h);
    curl_slist_free_all(c->headers);
    free(c->base);
    free(c);
}

static size_t on_file(char *p, size_t size, size_t n, void *ctx)
{
    return fwrite(p, 1, size * n, ctx);
}

/* One request; the answer's body goes to write(ctx). */
static int perform(wclient *c, const char *method, const char *path, const void *body, size_t n,
                   curl_write_callback write, void *ctx, int *status, kerror *err)
{
    char *url = NULL;
    if (asprintf(&url, "%s%s", c->base, path) < 0)
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    CURL *h = c->h;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, CALL_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, ctx);
    if (!strcmp(method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    }
    CURLcode cc = curl_easy_perform(h);
    int rc = KE_OK;
    if (cc != CURLE_OK) {
        rc = kerror_set(err, KE_IO, NULL, "%s%s: %s", c->base, path, curl_easy_strerror(cc));
    } else {
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        *status = (int)code;
    }
    free(url);
    return rc;
}

int wclient_bytes(wclient *c, const char *method, const char *path, const void *body, size_t n,
                  int *status, char **out, size_t *out_n, kerror *err)
{
    buf b = {0};
    int rc = perform(c, method, path, body, n, on_data, &b, status, err);
    if (rc != KE_OK) free(b.data);
    *out = rc == KE_OK ? b.data : NULL;
    *out_n = rc == KE_OK ? b.n : 0;
    return rc;
}

int wclient_download(wclient *c, const char *path, FILE *f, int *status, kerror *err)
{
    return perform(c, "GET", path, NULL, 0, on_file, f, status, err);
}

int wclient_call(wclient *c, const char *method, const char *path, const json_t *body,
                 int *status, json_t **reply, kerror *err)
{
    *reply = NULL;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !text) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    char *out;
    size_t n;
    int rc = wclient_bytes(c, method, path, text ? text : "{}", text ? strlen(text) : 2, status,
                           &out, &n, err);
    if (rc == KE_OK && n) *reply = json_loadb(out, n, 0, NULL);
    free(out);
    free(text);
    return rc;
}
