/* sobol: a low-discrepancy design (Sobol' 1967, GSL's direction numbers),
 * Cranley-Patterson rotated by a seeded shift so different seeds give
 * different designs. Suggestion k is point skip+k. Option: {"skip": int from 0
 * to SOBOL_MAX_SKIP} (default 0). At most SOBOL_MAX_DIMS non-fixed parameters. */
#ifndef KESTREL_SOBOL_H
#define KESTREL_SOBOL_H

#include <stdint.h>

#include "strategy.h"

#define SOBOL_MAX_DIMS 40   /* GSL's limit */
/* Reaching point skip draws every point before it on the engine thread, and
 * GSL's sequence repeats after 2^30 points: 2^20 keeps that step short and
 * skip + any study's trials far below the repeat. */
#define SOBOL_MAX_SKIP 1048576

/* The space passed to create must outlive the strategy. */
extern const strategy_ops sobol_strategy;

/* The index-th point (index >= 0) of the Sobol sequence in dims dimensions,
 * shifted by a seeded random vector modulo 1 (Cranley-Patterson rotation) so
 * different seeds give different designs. u has dims entries. Index 0 is the
 * sequence's origin (the shift itself), so the first 2^m points form a
 * shifted (t,m,s)-net. Costs O(index * dims): for designs, not long runs. */
int sobol_unit(uint64_t seed, long index, int dims, double *u, kerror *err);

#endif
