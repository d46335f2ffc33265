/* kerror: fills the caller's error struct; see kerror.h. Messages are
 * truncated rather than allocated so reporting an error can never fail. */
#include "kerror.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Formats into copies first: a caller may wrap the error it holds, passing
 * err->path and err->msg as arguments (the wrapped reason must survive). */
int kerror_set(kerror *err, int code, const char *path, const char *fmt, ...)
{
    if (!err) return code;
    char p[sizeof err->path], m[sizeof err->msg];
    snprintf(p, sizeof p, "%s", path ? path : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    err->code = code;
    err->cause = 0;
    memcpy(err->path, p, sizeof p);
    memcpy(err->msg, m, sizeof m);
    return code;
}

void kerror_clear(kerror *err)
{
    if (!err) return;
    err->code = KE_OK;
    err->cause = 0;
    err->path[0] = '\0';
    err->msg[0] = '\0';
}

const char *kerror_text(const kerror *err, char *buf, size_t n)
{
    if (err->path[0])
        snprintf(buf, n, "%s: %s", err->path, err->msg);
    else
        snprintf(buf, n, "%s", err->msg);
    return buf;
}

const char *kerror_code_name(int code)
{
    switch (code) {
    case KE_OK: return "ok";
    case KE_INVALID: return "invalid";
    case KE_IO: return "io";
    case KE_NOMEM: return "nomem";
    case KE_DB: return "db";
    case KE_BUSY: return "busy";
    case KE_CONFLICT: return "conflict";
    case KE_NOTFOUND: return "not_found";
    case KE_INTERRUPTED: return "interrupted";
    default: return "internal";
    }
}
