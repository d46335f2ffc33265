/* monotime: see monotime.h. One reading of CLOCK_MONOTONIC, which cannot
 * fail for this clock id on Linux, so no error is returned. */
#define _GNU_SOURCE
#include "monotime.h"

#include <time.h>

double monotime_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

long long monotime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
