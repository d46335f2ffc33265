/* grid: the suggestions are the grid points order(0), order(1), ... that no
 * fresh trial of the history holds, where order is the identity or a seeded
 * permutation of [0, count); see grid.h. Enqueued configurations come on top
 * of the grid (every point still runs), so their trials do not count. The
 * grid's own trials hold order(0 .. k-1) of its k suggestions, but after a
 * `kestrel run --force` that changed the space (a choice added, other
 * grid_points) they hold other positions of the new grid, or points off it;
 * counting them as its first k positions ran some points twice and others
 * never.
 * Invariant: every position below `pos` holds a point of the history's set
 * `seen`, which grows with the history (kept between calls: a call costs
 * the trials added since the last one and the positions passed over, not a
 * pass over the history). No grid point is suggested twice and none lies
 * past the grid.
 * The permutation is computed per index (a Feistel network with cycle
 * walking), so even a 10-million-point grid needs no count-sized table. */
#include "grid.h"

#include <stdlib.h>
#include <string.h>

#define FEISTEL_ROUNDS 4

struct strategy {
    const space *sp;        /* borrowed */
    long count;             /* grid points */
    int shuffle;
    int half;               /* Feistel half width in bits: domain 2^(2*half) >= count */
    uint64_t keys[FEISTEL_ROUNDS];
    long pos;               /* every position below holds a point in seen */
    /* seen: the points of the history's fresh, not enqueued trials, as an
     * open-addressing set of their indices in h->obs (plus 1; 0 empty) */
    int *slot;
    size_t cap, size;
    int scanned;            /* h->obs[0 .. scanned) are in seen */
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

/* FNV-1a over what space_point_equal compares: the active flags and the
 * active values (-0 as 0). */
static uint64_t point_hash(const space *sp, const space_point *p)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < sp->n; i++) {
        uint64_t bits = 0;
        if (p->active[i]) {
            double x = p->x[i] + 0.0;
            memcpy(&bits, &x, sizeof bits);
            bits ^= 0x9e3779b97f4a7c15ULL;
        }
        for (int b = 0; b < 64; b += 8) h = (h ^ ((bits >> b) & 0xff)) * 0x100000001b3ULL;
    }
    return strategy_rng_next(&h);
}

/* The grid point trial idx of h holds: its point snapped (space_grid_snap),
 * so that a trial of an older build's log grid holds today's point. */
static const space_point *held(const struct strategy *g, const strategy_history *h, int idx,
                               space_point *buf)
{
    *buf = h->obs[idx].point;
    space_grid_snap(g->sp, buf);
    return buf;
}

/* 1 when a trial of h in seen holds p. */
static int seen_has(const struct strategy *g, const strategy_history *h, const space_point *p)
{
    if (!g->cap) return 0;
    space_point b;
    for (size_t i = point_hash(g->sp, p) & (g->cap - 1); g->slot[i]; i = (i + 1) & (g->cap - 1))
        if (space_point_equal(g->sp, held(g, h, g->slot[i] - 1, &b), p)) return 1;
    return 0;
}

static void seen_put(struct strategy *g, const strategy_history *h, int idx)
{
    space_point p, b;
    held(g, h, idx, &p);
    size_t i = point_hash(g->sp, &p) & (g->cap - 1);
    for (; g->slot[i]; i = (i + 1) & (g->cap - 1))
        if (space_point_equal(g->sp, held(g, h, g->slot[i] - 1, &b), &p)) return;
    g->slot[i] = idx + 1;
    g->size++;
}

/* Brings seen and pos up to h: adds the fresh, not enqueued trials h has
 * gained, then passes the positions whose points they hold. A history
 * shorter than what was scanned is another one: seen starts again. */
static int catch_up(struct strategy *g, const strategy_history *h, kerror *err)
{
    int n = h ? h->n_obs : 0;
    if (n < g->scanned) {
        free(g->slot);
        g->slot = NULL;
        g->cap = g->size = 0;
        g->scanned = 0;
        g->pos = 0;
    }
    if ((size_t)n * 2 > g->cap) {   /* load at most 1/2: rehash every index so far */
        size_t cap = g->cap ? g->cap : 64;
        while (cap < (size_t)n * 2) cap *= 2;
        int *slot = calloc(cap, sizeof *slot);
        if (!slot) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
        int *old = g->slot;
        size_t old_cap = g->cap;
        g->slot = slot;
        g->cap = cap;
        g->size = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i]) seen_put(g, h, old[i] - 1);
        free(old);
    }
    for (; g->scanned < n; g->scanned++) {
        const strategy_obs *o = &h->obs[g->scanned];
        if (o->retry_of < 0 && o->resumed_from < 0 && !o->enqueued) seen_put(g, h, g->scanned);
    }
    space_point p;
    while (g->pos < g->count) {
        space_grid_point(g->sp, order(g, g->pos), &p);
        if (!seen_has(g, h, &p)) break;
        g->pos++;
    }
    return KE_OK;
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

static int grid_suggest(strategy *g, const strategy_history *h,
                        strategy_suggestion *out, int n, kerror *err)
{
    int rc = catch_up(g, h, err);
    if (rc) return rc;
    int made = 0;
    for (long k = g->pos; made < n && k < g->count; k++) {
        space_grid_point(g->sp, order(g, k), &out[made].point);
        if (k > g->pos && seen_has(g, h, &out[made].point)) continue;
        out[made].budget = 0;
        out[made].resume_from = -1;
        made++;
    }
    return made;
}

/* Out of memory it says not done: the study goes on to its budget. */
static int grid_done(strategy *g, const strategy_history *h)
{
    return catch_up(g, h, NULL) == KE_OK && g->pos >= g->count;
}

static void grid_destroy(strategy *g)
{
    free(g->slot);
    free(g);
}

const strategy_ops grid_strategy = {
    .name = "grid",
    .create = grid_create,
    .suggest = grid_suggest,
    .done = grid_done,
    .destroy = grid_destroy,
};
