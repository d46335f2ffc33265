/* klog: timestamped log lines; see klog.h. Invariant: a line written is
 * one line whatever its arguments hold (a request's path, a worker's
 * reason, a trial's failure): control characters go out escaped, so no
 * client can forge a line ("%0a2026-...Z DELETE ... 204") or drive the
 * terminal that shows the log. */
#include "klog.h"

#include <stdarg.h>
#include <time.h>

size_t klog_escape(char *out, size_t size, const char *s)
{
    size_t n = 0;
    /* room for the longest escape (4 bytes) and the NUL */
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 5 < size; p++) {
        if (*p == '\n') n += (size_t)snprintf(out + n, 3, "\\n");
        else if (*p == '\t') n += (size_t)snprintf(out + n, 3, "\\t");
        else if (*p < 0x20 || *p == 0x7f) n += (size_t)snprintf(out + n, 5, "\\x%02x", *p);
        else out[n++] = (char)*p;
    }
    if (size) out[n] = '\0';
    return n;
}

void klog(FILE *f, const char *fmt, ...)
{
    char msg[2048], line[2048];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* the newline takes the NUL's place */
    n += klog_escape(line + n, sizeof line - n, msg);
    line[n++] = '\n';
    fwrite(line, 1, n, f);
    fflush(f);
}
