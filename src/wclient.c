/* wclient: libcurl under the worker's JSON calls; see wclient.h. One easy
 * handle per client, reused, so calls to the server share a connection.
 * libcurl is loaded when a client opens, not linked: linked, it and its 19
 * libraries (TLS, Kerberos, LDAP, SSH) were loaded by every Kestrel process,
 * each function trial and CLI read among them, about 10 ms of a 27 ms
 * `kestrel fn`; only `kestrel worker` calls it. */
#define _GNU_SOURCE
#include "wclient.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "dynlib.h"

#define CONNECT_TIMEOUT_S 5L
#define CALL_TIMEOUT_S 30L      /* a server whose engine is busy answers late, not never */
#define CURL_SONAME "libcurl.so.4"

/* The libcurl calls a client makes, looked up in the loaded library. */
typedef struct {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *h);
    CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
    void (*easy_reset)(CURL *h);
    void (*easy_cleanup)(CURL *h);
    const char *(*easy_strerror)(CURLcode cc);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
} curl_api;

struct wclient {
    void *dl;               /* the dlopen handle of libcurl */
    curl_api api;
    CURL *h;
    char *base;
    struct curl_slist *headers;
    unsigned long answers;  /* requests answered, any status */
};

/* Loads libcurl into c->dl and c->api. */
static int load_curl(wclient *c, kerror *err)
{
    static const dynlib_sym syms[] = {
#define SYM(f) {"curl_" #f, offsetof(curl_api, f)}
        SYM(global_init), SYM(easy_init), SYM(easy_setopt), SYM(easy_perform), SYM(easy_getinfo),
        SYM(easy_reset), SYM(easy_cleanup), SYM(easy_strerror), SYM(slist_append),
        SYM(slist_free_all),
#undef SYM
    };
    return dynlib_load(&c->dl, CURL_SONAME, "libcurl, which kestrel worker needs", "libcurl4", syms,
                       sizeof syms / sizeof syms[0], &c->api, err);
}

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

int wclient_check_base(const char *base, kerror *err)
{
    if (strncmp(base, "http://", 7) && strncmp(base, "https://", 8))
        return kerror_set(err, KE_INVALID, "--server", "expected an http:// or https:// URL, "
                          "not '%s'", base);
    return KE_OK;
}

int wclient_open(wclient **out, const char *base, const char *token, kerror *err)
{
    int crc = wclient_check_base(base, err);
    if (crc != KE_OK) return crc;
    wclient *c = calloc(1, sizeof *c);
    if (!c) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int rc = load_curl(c, err);
    /* not thread-safe, and the worker has one thread */
    if (rc == KE_OK && c->api.global_init(CURL_GLOBAL_DEFAULT) != 0)
        rc = kerror_set(err, KE_IO, NULL, "cannot initialize libcurl");
    if (rc == KE_OK && (!(c->base = strdup(base)) || !(c->h = c->api.easy_init())))
        rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (rc != KE_OK) {
        wclient_close(c);
        return rc;
    }
    size_t len = strlen(c->base);
    while (len > 0 && c->base[len - 1] == '/') c->base[--len] = '\0';
    c->headers = c->api.slist_append(NULL, "Content-Type: application/json");
    char auth[1024];
    if (token && (size_t)snprintf(auth, sizeof auth, "Authorization: Bearer %s", token) >= sizeof auth) {
        wclient_close(c);
        return kerror_set(err, KE_INVALID, "--token-file", "the token is too long");
    }
    if (token) c->headers = c->api.slist_append(c->headers, auth);
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
    if (c->h) c->api.easy_cleanup(c->h);
    if (c->headers) c->api.slist_free_all(c->headers);
    if (c->dl) dlclose(c->dl);
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
    const curl_api *api = &c->api;
    api->easy_reset(h);
    api->easy_setopt(h, CURLOPT_URL, url);
    api->easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    api->easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    api->easy_setopt(h, CURLOPT_TIMEOUT, CALL_TIMEOUT_S);
    api->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    api->easy_setopt(h, CURLOPT_WRITEFUNCTION, write);
    api->easy_setopt(h, CURLOPT_WRITEDATA, ctx);
    if (!strcmp(method, "POST")) {
        api->easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        api->easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
    }
    CURLcode cc = api->easy_perform(h);
    int rc = KE_OK;
    if (cc == CURLE_URL_MALFORMAT) {
        /* no retry mends it (a port of 99999): the option is wrong */
        rc = kerror_set(err, KE_INVALID, "--server", "%s%s: %s", c->base, path,
                        api->easy_strerror(cc));
    } else if (cc != CURLE_OK) {
        rc = kerror_set(err, KE_IO, NULL, "%s%s: %s", c->base, path, api->easy_strerror(cc));
    } else {
        long code = 0;
        api->easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        *status = (int)code;
        c->answers++;
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

unsigned long wclient_answers(const wclient *c)
{
    return c->answers;
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
