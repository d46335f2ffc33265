/* monotime: see monotime.h. One reading of CLOCK_MONOTONIC (or of
 * CLOCK_PROCESS_CPUTIME_ID), which cannot fail for these clock ids on Linux,
 * so no error is returned. */
#define _GNU_SOURCE
#include "monotime.h"

#include <time.h>

static double seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double monotime_s(void)
{
    return seconds(CLOCK_MONOTONIC);
}

double monotime_cpu_s(void)
{
    return seconds(CLOCK_PROCESS_CPUTIME_ID);
}

long long monotime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
