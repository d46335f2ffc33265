/* klog: one line of a log a person or journald reads (`kestrel serve`'s
 * stderr, `kestrel run`'s lines in a pipe or from cron): an ISO 8601 UTC
 * timestamp, a space, the message, a newline, flushed at once so lines of
 * a crashed process are not lost. */
#ifndef KESTREL_KLOG_H
#define KESTREL_KLOG_H

#include <stddef.h>
#include <stdio.h>

/* Writes "2026-12-02T17:30:17Z " + printf(fmt, ...) + "\n" to f, the message's
 * control characters escaped (\n, \t, \x1b): one line, whatever the
 * arguments hold. Safe from several threads: the line is formatted first
 * and written with one call. */
void klog(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes s into out (size bytes, NUL-terminated) with its control
 * characters escaped as klog escapes them, cut where the next character
 * would not fit; returns the length written. For a line that carries
 * another's text (a trial's failure, its stderr) without a timestamp. */
size_t klog_escape(char *out, size_t size, const char *s);

#endif
