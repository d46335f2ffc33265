/* grid: suggestion k (k = trials it suggested so far: fresh trials but the
 * enqueued configurations, which come on top of the grid, so every point
 * still runs) is grid point order(k), where
 * order is the identity or a seeded permutation of [0, count); see grid.h.
 * Invariant: no index is ever suggested twice and none lies past the grid.
 * The permutation is computed per index (a Feistel network with cycle
 * walking), so even a 10-million-point grid needs no count-sized table. */
#include "grid.h"

#include <stdlib.h>

#define FEISTEL_ROUNDS 4

struct strategy {
    const space *sp;        /* borrowed */
    long count;             /* grid points */
    int shuffle;
    int half;               /* Feistel half width in bits: domain 2^(2*half) >= count */
    uint64_t keys[FEISTEL_ROUNDS];
};

/* A balanced Feistel network on 2*half bits is a bijection of [0, 4^half)
 * whatever the round function (Luby & Rackoff 1988). */
static uint64_t feistel(const struct strategy *g, uint64_t x)
{
    uint64_t mask = (1ULL << g->half) - 1, l = x >> g->half, r = x & mask;
    for (int k = 0; k < FEISTEL_ROUNDS; k++) {
        uint64_t st = g->keys[k] ^ r;
        uint64_t next = l ^ (strategy_rng_next(&st) & mask);
        l = r;
        r = next;
    }
    return (l << g->half) | r;
}

/* Cycle walking (Black & Rogaway 2002): re-encrypt until the value falls in
 * [0, count); this restricts the bijection to a bijection of [0, count). */
static long order(const struct strategy *g, long k)
{
    if (!g->shuffle) return k;
    uint64_t y = feistel(g, (uint64_t)k);
    while (y >= (uint64_t)g->count) y = feistel(g, y);
    return (long)y;
}

static int grid_create(strategy **out, const space *sp, const json_t *options,
                       uint64_t seed, kerror *err)
{
    static const char *const known[] = { "shuffle", NULL };
    int rc = strategy_options_check(options, STRATEGY_OPTIONS, known, err);
    if (rc) return rc;
    const json_t *shuffle = options ? json_object_get(options, "shuffle") : NULL;
    if (shuffle && !json_is_boolean(shuffle))
        return kerror_set(err, KE_INVALID, "strategy.options.shuffle", "must be true or false");
    long count;
    if ((rc = space_grid_size(sp, &count, err))) return rc;
    struct strategy *g = calloc(1, sizeof *g);
    if (!g) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    g->sp = sp;
    g->count = count;
    g->shuffle = shuffle && json_is_true(shuffle);
    g->half = 1;
    while ((1ULL << (2 * g->half)) < (uint64_t)count) g->half++;
    uint64_t st = seed;
    for (int k = 0; k < FEISTEL_ROUNDS; k++) g->keys[k] = strategy_rng_next(&st);
    *out = g;
    return KE_OK;
}

/* Grid points taken so far: fresh trials but the enqueued ones. */
static long suggested(const strategy_history *h)
{
    strategy_counts c = strategy_history_counts(h);
    return (long)c.fresh - c.fresh_enqueued;
}

static int grid_suggest(strategy *g, const strategy_history *h,
                        strategy_suggestion *out, int n, kerror *err)
{
    (void)err;
    long next = suggested(h);
    int made = 0;
    for (; made < n && next + made < g->count; made++) {
        space_grid_point(g->sp, order(g, next + made), &out[made].point);
        out[made].budget = 0;
        out[made].resume_from = -1;
    }
    return made;
}

static int grid_done(strategy *g, const strategy_history *h)
{
    return suggested(h) >= g->count;
}

static void grid_destroy(strategy *g)
{
    free(g);
}

const strategy_ops grid_strategy = {
    .name = "grid",
    .create = grid_create,
    .suggest = grid_suggest,
    .done = grid_done,
    .destroy = grid_destroy,
};
