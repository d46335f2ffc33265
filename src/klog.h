/* klog: one line of a log a person or journald reads (`kestrel serve`'s
 * stderr, `kestrel run`'s lines in a pipe or from cron): an ISO 8601 UTC
 * timestamp, a space, the message, a newline, flushed at once so lines of
 * a crashed process are not lost. */
#ifndef KESTREL_KLOG_H
#define KESTREL_KLOG_H

#include <stdio.h>

/* Writes "2026-12-02T17:30:17Z " + printf(fmt, ...) + "\n" to f, the message's
 * control characters escaped (\n, \t, \x1b): one line, whatever the
 * arguments hold. Safe from several threads: the line is formatted first
 * and written with one call. */
void klog(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
