/* monotime: the monotonic clock in seconds, for deadlines, timeouts and
 * durations that a change of the wall clock (NTP, an admin's date) must not
 * stretch or cut; and the process's CPU time, for benchmarks that report
 * both. Knows nothing of Kestrel: the trainer uses it too. */
#ifndef KESTREL_MONOTIME_H
#define KESTREL_MONOTIME_H

/* Seconds on CLOCK_MONOTONIC (since an unspecified start: compare two
 * readings, never show one). */
double monotime_s(void);

/* Nanoseconds on CLOCK_MONOTONIC, for a stamp kept in an atomic integer
 * (a double cannot be). The same clock and start as monotime_s(). */
long long monotime_ns(void);

/* Seconds of CPU time used by this process, all its threads (user and
 * system, CLOCK_PROCESS_CPUTIME_ID): compare two readings, as for
 * monotime_s(), to set a run's CPU cost beside its wall time. */
double monotime_cpu_s(void);

#endif
