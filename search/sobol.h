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
 * shifted (t,m,s)-net. Costs O(index * dims): for designs, not long runs;
 * a sobol_cursor draws the same points at O(dims) each. */
int sobol_unit(uint64_t seed, long index, int dims, double *u, kerror *err);

/* A generator kept between calls, for callers that walk the sequence upward:
 * sobol_cursor_point(c, index, u) gives sobol_unit(seed, index, dims, u)
 * bit for bit, drawing only the points between the last one and index. A
 * lower index rewinds to the mark when it is at or below it, else to the
 * sequence's start: sobol_cursor_mark(c, first) before a batch that starts at
 * first (and may be asked again) keeps a batch's rewinds O(batch).
 * new fills *out, which the caller frees with sobol_cursor_free (NULL is
 * fine); dims as for sobol_unit. mark fails only out of memory. cost is the
 * generator's draws since new, rewinds included: what the calls cost. */
typedef struct sobol_cursor sobol_cursor;
int sobol_cursor_new(sobol_cursor **out, uint64_t seed, int dims, kerror *err);
int sobol_cursor_mark(sobol_cursor *c, long index, kerror *err);
void sobol_cursor_point(sobol_cursor *c, long index, double *u);
long sobol_cursor_cost(const sobol_cursor *c);
void sobol_cursor_free(sobol_cursor *c);

/* Point k of a seeded design in dims dimensions, the one draw the "gp"
 * strategy's initial design and the Hyperband/ASHA samplers share: c's
 * point k (sobol_cursor_point, O(dims) when k follows the last point) when
 * c is not NULL, else uniform from strategy_seed_for(seed, k) as the
 * "random" strategy draws its suggestion k (a space beyond SOBOL_MAX_DIMS,
 * or a sampler asked for uniform draws). u has dims entries. */
void sobol_design_unit(sobol_cursor *c, uint64_t seed, long k, int dims, double *u);

#endif
