/* http_admit: the checks of a request's headers; see http_admit.h. They
 * run on the event thread when the headers arrive, in this order: the
 * server shutting down (503), headers too large (431), framing headers in
 * doubt (400: a name that is no token, a header given twice, Host missing,
 * a transfer coding not one final chunked; 501: a coding before the
 * chunked), an announced body too large (413), an absolute-form target's
 * host (400), the route by method and path (404, 405), a foreign page
 * (403), the token (401), the query's parameters (400) and the route's
 * admit. The token is compared in constant time. */
#define _GNU_SOURCE
#include "http_admit.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_impl.h"
#include "nearest.h"

/* Whether path matches pattern segment by segment; '*' segments are
 * recorded in rq->params, pointing into rq->segs (a copy of the path split
 * in place). */
static int match(http_req *rq, const char *pattern, const char *path)
{
    free(rq->segs);
    if (!(rq->segs = strdup(path))) return 0;
    char *p = rq->segs;
    const char *q = pattern;
    int k = 0;
    if (*p++ != '/' || *q++ != '/') return 0;
    for (;;) {
        size_t ql = strcspn(q, "/"), pl = strcspn(p, "/");
        int pmore = p[pl] == '/', qmore = q[ql] == '/';
        if (ql == 1 && *q == '*') {
            if (pl == 0 || k >= HTTP_MAX_PARAMS) return 0;
            rq->params[k++] = p;
        } else if (ql != pl || strncmp(q, p, ql) != 0) {
            return 0;
        }
        if (pmore != qmore) return 0;
        p[pl] = '\0';
        if (!pmore) return 1;
        p += pl + 1;
        q += ql + 1;
    }
}

static int is_read(const char *method)
{
    return !strcmp(method, "GET") || !strcmp(method, "HEAD");
}

static int method_matches(const char *route, const char *method)
{
    return !strcmp(route, method) || (!strcmp(route, "GET") && !strcmp(method, "HEAD"));
}

/* Constant-time comparison of the given a with the token b, so the token
 * cannot be guessed byte by byte. A space in a matches a '+' in b: a base64
 * token pasted unencoded into ?token= (or a dashboard link) arrives with its
 * '+' form-decoded into spaces, and the dashboard sends on what it read. */
static int token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i % (lb ? lb : 1)];
        x ^= (unsigned char)((x == ' ') & (y == '+')) * (' ' ^ '+');
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

/* What a request brought of the token: the 401 says which, so a client
 * that sent a token is not told to send the header it sent. Whether one was
 * given is all it tells: the comparison stays constant-time. */
typedef enum { AUTH_OK, AUTH_NONE, AUTH_NOT_BEARER, AUTH_WRONG_HEADER, AUTH_WRONG_QUERY } auth_seen;

static auth_seen authorized(const http_req *rq)
{
    const char *token = rq->srv->o.token;
    const char *h = http_header(rq, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h && !strncasecmp(h, "Bearer ", 7))
        return token_equal(h + 7, token) ? AUTH_OK : AUTH_WRONG_HEADER;
    /* EventSource and plain links cannot set headers: reads may carry it in
     * the query instead. */
    const char *q = is_read(rq->method) ? http_query(rq, "token") : NULL;
    if (q) return token_equal(q, token) ? AUTH_OK : AUTH_WRONG_QUERY;
    return h ? AUTH_NOT_BEARER : AUTH_NONE;
}

static void refuse_unauthorized(http_req *rq, auth_seen seen)
{
    static const char theirs[] = "is not this server's (the first line of its --token-file)";
    const char *query = is_read(rq->method) ? ", or ?token=TOKEN" : "";
    if (seen == AUTH_WRONG_HEADER)
        http_respond_error(rq, 401, "unauthorized", NULL,
                           "wrong token: the one in the header 'Authorization: Bearer ...' %s",
                           theirs);
    else if (seen == AUTH_WRONG_QUERY)
        http_respond_error(rq, 401, "unauthorized", NULL, "wrong token: the one in ?token= %s",
                           theirs);
    else
        http_respond_error(rq, 401, "unauthorized", NULL,
                           "no token: %s%s (TOKEN = the first line of the server's --token-file)",
                           seen == AUTH_NOT_BEARER
                               ? "the header 'Authorization' is not 'Bearer TOKEN'"
                               : "this request needs the header 'Authorization: Bearer TOKEN'",
                           query);
}

/* Whether the Host header's name (without its port) is one of this
 * machine's loopback names. */
static int loopback_host(const char *host)
{
    char name[256];
    size_t n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
    if (n >= sizeof name || (host[0] == '[' && host[n - 1] != ']')) return 0;
    memcpy(name, host, n);
    name[n] = '\0';
    return http_is_loopback(name);
}

/* The host the request names: an absolute-form target's authority, which
 * stands for the Host header then (RFC 9112 3.2.2), else its Host header. */
static const char *request_host(const http_req *rq)
{
    return rq->authority ? rq->authority : http_header(rq, MHD_HTTP_HEADER_HOST);
}

/* An absolute-form request target ("GET http://HOST:PORT/path", which a
 * server must accept, RFC 9112 3.2.2, and a client talking through a proxy
 * sends) was routed by its whole text and answered 404: rq->path becomes
 * its path ("/" when it has none) and rq->authority its host, checked as
 * the Host header is. A target that names no host, or a user (RFC 9110
 * 4.2.4: an http URI has none), is answered 400; 1 when it answered. */
static int absolute_target(http_req *rq)
{
    const char *url = rq->path;
    size_t scheme = !strncasecmp(url, "http://", 7)    ? 7
                    : !strncasecmp(url, "https://", 8) ? 8
                                                       : 0;
    if (!scheme) return 0;
    const char *authority = url + scheme;
    size_t n = strcspn(authority, "/");
    /* the access log names the path alone: a user's part may hold a
     * password, as the query (left out) may hold the token */
    rq->path = authority[n] ? authority + n : "/";
    if (n == 0 || memchr(authority, '@', n)) {
        http_respond_error(rq, 400, "invalid", NULL, "the request target names %s: give "
                           "'http://HOST:PORT/PATH', or the path alone",
                           n ? "a user ('USER@')" : "no host");
        return 1;
    }
    if (!(rq->authority = strndup(authority, n))) {
        http_respond_error(rq, 500, "nomem", NULL, "out of memory");
        return 1;
    }
    return 0;
}

/* Whether a request to a server without a token came from a web page of
 * another site, which the browser lets send it although it may not read
 * the answer: a POSTed spec's command would run (a form of text/plain is
 * such a request, or fetch(..., {mode: "no-cors"})). A page that made its
 * own name resolve to 127.0.0.1 (DNS rebinding) reads and posts as the
 * same origin: its Host is its name, not a loopback one. Clients that are
 * no browser send no Origin and a Host naming the address they called. */
static int foreign_page(const http_req *rq)
{
    const char *host = request_host(rq);
    if (host && !loopback_host(host)) return 1;
    const char *origin = http_header(rq, "Origin");
    if (!origin || is_read(rq->method)) return 0;
    const char *rest = !strncasecmp(origin, "http://", 7)    ? origin + 7
                       : !strncasecmp(origin, "https://", 8) ? origin + 8
                                                             : NULL;
    return !rest || !host || strcasecmp(rest, host) != 0;
}

/* 1 + the index of name among the words of the space-separated list, or
 * 0 when it is none. */
static int in_words(const char *list, const char *name)
{
    size_t n = strlen(name);
    int i = 1;
    for (const char *p = list; p && *p; i++) {
        size_t len = strcspn(p, " ");
        if (len == n && !strncmp(p, name, n)) return i;
        p += len + (p[len] == ' ');
    }
    return 0;
}

typedef struct {
    const http_route *route;
    int is_read;
    const char *bad;            /* the first parameter the route does not take */
    int twice;                  /* bad is one it takes, given again */
    int bare;                   /* bad is one it takes, given without '=' */
    unsigned long long seen;    /* bit i: the route's word i given; bit 0: token */
} query_check;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    query_check *c = cls;
    /* "?&limit=5" or "?limit=5&&sort=best": the empty piece between two
     * '&' comes as a parameter of no name and no value, where a trailing
     * '&' comes as nothing; nothing was given there either */
    if (!*key && !value) return MHD_YES;
    int word = c->is_read && !strcmp(key, "token") ? 0 : in_words(c->route->query, key);
    if (word == 0 && !(c->is_read && !strcmp(key, "token"))) {
        c->bad = key;
        return MHD_NO;
    }
    /* MHD's lookup answers the first of two: the second was dropped unseen */
    unsigned long long bit = word < 64 ? 1ull << word : 0;
    c->twice = (c->seen & bit) != 0;
    c->seen |= bit;
    /* ?retry_failed or ?state with no '=' reaches MHD's lookup as NULL, the
     * same as no parameter at all: the route would silently do without it */
    c->bare = !c->twice && !value;
    if (c->twice || c->bare) c->bad = key;
    return c->bad ? MHD_NO : MHD_YES;
}

/* Answers 400 when the query has a parameter the route does not take (a
 * typo like ?limt=5 would otherwise be silently ignored), or one it takes
 * given twice (all but the first were) or without a value (read as
 * absent); 1 when it did. */
static int unknown_query(http_req *rq, const http_route *route)
{
    query_check c = {route, is_read(rq->method), NULL, 0, 0, 0};
    rq->srv->mhd.get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, check_arg, &c);
    if (!c.bad) return 0;
    if (c.twice) {
        http_respond_error(rq, 400, "invalid", c.bad, "query parameter given twice: give it once");
        return 1;
    }
    if (c.bare) {
        http_respond_error(rq, 400, "invalid", c.bad, "query parameter without a value: give "
                           "%s=VALUE", c.bad);
        return 1;
    }
    if (!*c.bad) {
        const char *v = http_query(rq, "");
        http_respond_error(rq, 400, "invalid", NULL, "query parameter without a name ('=%s'): "
                           "give NAME=VALUE", v ? v : "");
        return 1;
    }
    char words[256], *save = NULL;
    snprintf(words, sizeof words, "%s", route->query ? route->query : "");
    const char *list[17];
    int m = 0;
    for (char *w = strtok_r(words, " ", &save); w && m < 16; w = strtok_r(NULL, " ", &save))
        list[m++] = w;
    list[m] = NULL;
    const char *near = nearest_name(c.bad, list);
    http_respond_error(rq, 400, "invalid", c.bad, "unknown query parameter%s%s%s%s%s",
                       near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "",
                       route->query ? "; this route takes: " : "; this route takes none",
                       route->query ? route->query : "");
    return 1;
}

typedef struct {
    int content_length, host, transfer_encoding; /* how many times each came */
    const char *codings;        /* the Transfer-Encoding's value */
    const char *bad_name;       /* the first name refused by name_read_whole */
} framing_count;

/* Whether MHD read the header's line as it came: its name is an HTTP
 * token (RFC 9110 5.1, 5.6.2). MHD keeps the white space of
 * "Content-Length : 2" in the name ("Content-Length ", which it then does
 * not read as the length, where a proxy in front may: RFC 9112 5.1 says
 * refuse it), and a line folded onto the previous one ends up in that
 * one's name: "HostTransfer-Encoding: chunked", or, folded onto a framing
 * header ("Content-Length:" then " 40"), a token ("Content-Length40"),
 * where a proxy that unfolds it (RFC 9112 5.2 lets it) reads a length, or
 * a chunked body, and MHD none: no name that a framing header's begins
 * is taken. */
static int name_read_whole(const char *name)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    static const char *const framing[] = {MHD_HTTP_HEADER_CONTENT_LENGTH,
                                          MHD_HTTP_HEADER_TRANSFER_ENCODING,
                                          MHD_HTTP_HEADER_HOST};
    if (!*name || name[strspn(name, tchar)] != '\0') return 0;
    for (size_t i = 0; i < sizeof framing / sizeof *framing; i++) {
        size_t n = strlen(framing[i]);
        if (!strncasecmp(name, framing[i], n) && name[n]) return 0;
    }
    return 1;
}

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    framing_count *c = cls;
    if (!c->bad_name && !name_read_whole(key)) c->bad_name = key;
    if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) c->content_length++;
    else if (!strcasecmp(key, MHD_HTTP_HEADER_HOST)) c->host++;
    else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) && !c->transfer_encoding++)
        c->codings = value ? value : "";
    return MHD_YES;
}

/* Judges a Transfer-Encoding's list of codings. MHD reads one value, a
 * single chunked, and takes any other as a body of unknown length that
 * never ends ("gzip, chunked": the client waited for the body deadline):
 * with chunked last among other codings the server cannot undo those (501,
 * RFC 9112 6.1), any other list leaves the body's end in doubt (400, RFC
 * 9112 6.3), empty elements (", chunked") and white space after it
 * included, which MHD reads so. */
static http_framing judge_codings(const char *list)
{
    if (!strcasecmp(list, "chunked")) return HTTP_FRAMING_OK;
    int n = 0, chunked = 0, last_chunked = 0, empty = 0;
    for (const char *p = list;; p++) {
        p += strspn(p, " \t");
        size_t len = strcspn(p, ",");
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        last_chunked = len == 7 && !strncasecmp(p, "chunked", 7);
        chunked += last_chunked;
        empty |= len == 0;
        n++;
        p += strcspn(p, ",");
        if (!*p) break;
    }
    return n > 1 && last_chunked && chunked == 1 && !empty ? HTTP_FRAMING_CODING_UNKNOWN
                                                           : HTTP_FRAMING_NOT_CHUNKED;
}

http_framing http_admit_framing(http_server *s, struct MHD_Connection *conn,
                                const char *version, const char **name)
{
    framing_count c = {0, 0, 0, NULL, NULL};
    s->mhd.get_connection_values(conn, MHD_HEADER_KIND, count_framing, &c);
    *name = c.bad_name;
    /* first: a name so spoilt may hide a framing header */
    if (c.bad_name) return HTTP_FRAMING_BAD_NAME;
    if (c.content_length > 1) return HTTP_FRAMING_LENGTH_TWICE;
    if (c.host > 1) return HTTP_FRAMING_HOST_TWICE;
    int http10 = version && !strcmp(version, MHD_HTTP_VERSION_1_0);
    /* RFC 9112 3.2: a server MUST answer 400 to an HTTP/1.1 request without
     * Host (MHD serves it); the check of a web page's Host has nothing to
     * read there */
    if (!c.host && !http10) return HTTP_FRAMING_HOST_MISSING;
    if (!c.transfer_encoding) return HTTP_FRAMING_OK;
    /* a length beside a chunked body: MHD reads the chunks, and keeps the
     * connection, where a proxy may have read the length (RFC 9112 6.1) */
    if (c.content_length) return HTTP_FRAMING_LENGTH_AND_CODING;
    /* MHD reads the first of two, where a proxy may join them into one list */
    if (c.transfer_encoding > 1) return HTTP_FRAMING_CODING_TWICE;
    /* HTTP/1.0 has no transfer codings: a proxy of that version frames the
     * body otherwise (RFC 9112 6.1: faulty framing) */
    if (http10) return HTTP_FRAMING_CODING_HTTP10;
    return judge_codings(c.codings);
}

/* The answer to a request whose framing headers are refused. MHD reads the
 * first of two, where a proxy in front may have read the other: the bytes
 * the two disagree on would be taken as a request of their own
 * (smuggling). The answer goes before the body is read, and the connection
 * is closed with it (RFC 9112 6.3). */
static void refuse_framing(http_req *rq)
{
    const char *header = MHD_HTTP_HEADER_TRANSFER_ENCODING, *fmt;
    const char *codings = http_header(rq, header), *arg = codings ? codings : "";
    int status = 400;
    switch (rq->framing) {
    case HTTP_FRAMING_LENGTH_TWICE:
        arg = header = MHD_HTTP_HEADER_CONTENT_LENGTH;
        fmt = "the header '%s' given twice: a request names its body's length once";
        break;
    case HTTP_FRAMING_HOST_TWICE:
        arg = header = MHD_HTTP_HEADER_HOST;
        fmt = "the header '%s' given twice: a request names its host once";
        break;
    case HTTP_FRAMING_BAD_NAME:
        arg = header = rq->framing_name;
        fmt = "the header '%s' was not sent as 'NAME: VALUE' on one line (a space before "
              "its colon, or a line folded onto it)";
        break;
    case HTTP_FRAMING_HOST_MISSING:
        arg = header = MHD_HTTP_HEADER_HOST;
        fmt = "no header '%s': an HTTP/1.1 request names its host ('Host: HOST:PORT')";
        break;
    case HTTP_FRAMING_LENGTH_AND_CODING:
        fmt = "both 'Content-Length' and 'Transfer-Encoding': a request gives its body's "
              "length one way";
        break;
    case HTTP_FRAMING_CODING_TWICE:
        fmt = "the header 'Transfer-Encoding' given twice: a request names its body's coding "
              "once, 'Transfer-Encoding: chunked'";
        break;
    case HTTP_FRAMING_CODING_HTTP10:
        fmt = "'Transfer-Encoding' in an HTTP/1.0 request, which has none: give "
              "'Content-Length'";
        break;
    case HTTP_FRAMING_CODING_UNKNOWN:
        status = 501;
        fmt = "'Transfer-Encoding: %s': this server reads no transfer coding but a single "
              "'chunked'";
        break;
    default:
        fmt = "'Transfer-Encoding: %s': a request body comes as 'Transfer-Encoding: chunked' "
              "alone, or where it ends is in doubt";
        break;
    }
    /* fmt takes arg or nothing: an argument left over is ignored (C11 7.21.6.1) */
    http_respond_error(rq, status, "invalid", header, fmt, arg);
}

/* The answers a request gets for its headers alone, given when they arrive,
 * before its body is read: a client without the token cannot have the
 * server read and hold a megabyte of body, nor hold its connection for the
 * body's deadline. Sets rq->route; 1 when it answered. */
int http_admit_headers(http_server *s, http_req *rq)
{
    if (atomic_load(&s->closing)) {
        http_respond_error(rq, 503, "interrupted", NULL, "the server is shutting down");
        return 1;
    }
    if (rq->headers_too_large) {
        http_respond_error(rq, 431, "invalid", NULL, "request line (its query included) and "
                           "headers larger than %d bytes", HEADERS_MAX);
        return 1;
    }
    if (rq->framing != HTTP_FRAMING_OK) {
        refuse_framing(rq);
        return 1;
    }
    if (rq->too_large) {
        http_respond_error(rq, 413, "invalid", NULL, "request body larger than %d bytes",
                           HTTP_BODY_MAX);
        return 1;
    }
    if (absolute_target(rq)) return 1;
    const http_route *route = NULL;
    char allow[64] = "";
    for (int i = 0; i < s->o.n_routes && !route; i++) {
        const http_route *r = &s->o.routes[i];
        memset(rq->params, 0, sizeof rq->params);
        if (!match(rq, r->pattern, rq->path)) continue;
        /* a GET route answers HEAD too (method_matches): Allow says so, as
         * the dashboard's files' "GET, HEAD" does */
        const char *m = strcmp(r->method, "GET") ? r->method : "GET, HEAD";
        if (method_matches(r->method, rq->method)) {
            route = r;
        } else if (strlen(allow) + strlen(m) + 3 < sizeof allow) {
            if (allow[0]) strcat(allow, ", ");
            strcat(allow, m);
        }
    }
    rq->route = route;
    if (!route && allow[0]) {
        http_respond_not_allowed(rq, allow);
        return 1;
    }
    if (!route && !s->o.fallback) {
        http_respond_error(rq, 404, "not_found", NULL, "no such resource: %s %s", rq->method,
                           rq->path);
        return 1;
    }
    if (!s->o.token && foreign_page(rq)) {
        http_respond_error(rq, 403, "forbidden", NULL, "a request from a web page of another "
                           "site (its Host or Origin is not this machine): without "
                           "--token-file this server answers only this machine's own clients");
        return 1;
    }
    int needs_token = s->o.token && route && (!is_read(rq->method) || (s->o.auth_reads && !route->open));
    auth_seen seen = needs_token ? authorized(rq) : AUTH_OK;
    if (seen != AUTH_OK) {
        refuse_unauthorized(rq, seen);
        return 1;
    }
    if (!route) return 0;
    return unknown_query(rq, route) || (route->admit && route->admit(rq, s->o.ctx));
}
