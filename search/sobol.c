/* sobol: Sobol' points from GSL's gsl_qrng_sobol, rotated modulo 1 by a
 * shift drawn from the seed; see sobol.h. GSL starts its sequence after the
 * origin, so our index i >= 1 is GSL's i-th draw and index 0 is the origin.
 * Invariant: a cursor's generator has produced exactly `drawn` points, its
 * mark exactly `mark_drawn` (a copy taken at the start of the last batch, so
 * that asking again for a batch the scheduler dropped rewinds to it, not to
 * the sequence's start: O(batch) draws, not O(index)). */
#include "sobol.h"

#include <gsl/gsl_qrng.h>
#include <stdlib.h>
#include <string.h>

typedef struct sobol_cursor {
    gsl_qrng *q;              /* NULL when dims == 0 */
    gsl_qrng *mark;           /* q as it was at mark_drawn; NULL until marked */
    long drawn;               /* GSL draws since the last init */
    long mark_drawn;
    long cost;                /* GSL draws since open, rewinds included */
    int dims;
    double shift[SOBOL_MAX_DIMS];
} cursor;

static int check_dims(int dims, kerror *err)
{
    if (dims > SOBOL_MAX_DIMS)
        return kerror_set(err, KE_INVALID, "strategy",
                          "sobol supports at most %d dimensions, the space has %d",
                          SOBOL_MAX_DIMS, dims);
    return KE_OK;
}

/* The shift lies on a 2^-32 lattice: GSL's points have 30 bits, so point +
 * shift is exact in a double and differences between rotated points are the
 * exact differences of the raw points. */
static int cursor_open(cursor *c, uint64_t seed, int dims, kerror *err)
{
    int rc = check_dims(dims, err);
    if (rc) return rc;
    memset(c, 0, sizeof *c);
    c->dims = dims;
    uint64_t st = strategy_seed_for(seed, UINT64_MAX);
    for (int d = 0; d < dims; d++)
        c->shift[d] = (double)(strategy_rng_next(&st) >> 32) * 0x1.0p-32;
    if (dims > 0 && !(c->q = gsl_qrng_alloc(gsl_qrng_sobol, (unsigned)dims)))
        return kerror_set(err, KE_NOMEM, NULL, "cannot allocate a Sobol generator");
    return KE_OK;
}

static void cursor_close(cursor *c)
{
    if (c->q) gsl_qrng_free(c->q);
    if (c->mark) gsl_qrng_free(c->mark);
    c->q = c->mark = NULL;
}

/* Brings the generator to `drawn` draws, from the mark or else from the
 * start when it is already past them. */
static void cursor_seek(cursor *c, long drawn)
{
    double raw[SOBOL_MAX_DIMS];
    if (c->drawn > drawn) {
        if (c->mark && c->mark_drawn <= drawn) {
            gsl_qrng_memcpy(c->q, c->mark);
            c->drawn = c->mark_drawn;
        } else {
            gsl_qrng_init(c->q);
            c->drawn = 0;
        }
    }
    while (c->drawn < drawn) {
        gsl_qrng_get(c->q, raw);
        c->drawn++;
        c->cost++;
    }
}

/* Marks the generator just before index, where a batch starts. */
int sobol_cursor_mark(cursor *c, long index, kerror *err)
{
    if (c->dims == 0) return KE_OK;
    cursor_seek(c, index > 0 ? index - 1 : 0);
    if (!c->mark && !(c->mark = gsl_qrng_clone(c->q)))
        return kerror_set(err, KE_NOMEM, NULL, "cannot allocate a Sobol generator");
    gsl_qrng_memcpy(c->mark, c->q);
    c->mark_drawn = c->drawn;
    return KE_OK;
}

void sobol_cursor_point(cursor *c, long index, double *u)
{
    double raw[SOBOL_MAX_DIMS] = { 0 };
    if (c->dims == 0) return;
    if (index > 0) {
        cursor_seek(c, index - 1);
        gsl_qrng_get(c->q, raw);
        c->drawn++;
        c->cost++;
    }
    for (int d = 0; d < c->dims; d++) {
        double v = raw[d] + c->shift[d];
        u[d] = v >= 1 ? v - 1 : v;
    }
}

int sobol_unit(uint64_t seed, long index, int dims, double *u, kerror *err)
{
    cursor c;
    int rc = cursor_open(&c, seed, dims, err);
    if (rc) return rc;
    sobol_cursor_point(&c, index, u);
    cursor_close(&c);
    return KE_OK;
}

int sobol_cursor_new(sobol_cursor **out, uint64_t seed, int dims, kerror *err)
{
    cursor *c = malloc(sizeof *c);
    if (!c) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int rc = cursor_open(c, seed, dims, err);
    if (rc) {
        free(c);
        return rc;
    }
    *out = c;
    return KE_OK;
}

long sobol_cursor_cost(const sobol_cursor *c)
{
    return c->cost;
}

void sobol_cursor_free(sobol_cursor *c)
{
    if (!c) return;
    cursor_close(c);
    free(c);
}

void sobol_design_unit(sobol_cursor *c, uint64_t seed, long k, int dims, double *u)
{
    if (c) {
        sobol_cursor_point(c, k, u);
        return;
    }
    uint64_t st = strategy_seed_for(seed, (uint64_t)k);
    for (int d = 0; d < dims; d++) u[d] = strategy_rng_uniform(&st);
}

struct strategy {
    const space *sp;          /* borrowed */
    long skip;
    cursor cur;
};

static int sobol_create(strategy **out, const space *sp, const json_t *options,
                        uint64_t seed, kerror *err)
{
    static const char *const known[] = { "skip", NULL };
    int rc = strategy_options_check(options, STRATEGY_OPTIONS, known, err);
    if (rc) return rc;
    const json_t *skip = options ? json_object_get(options, "skip") : NULL;
    long long n_skip = 0;
    if (skip && !strategy_option_int(skip, 0, SOBOL_MAX_SKIP, &n_skip))
        return kerror_set(err, KE_INVALID, "strategy.options.skip",
                          "must be an integer from 0 to %d", SOBOL_MAX_SKIP);
    struct strategy *s = malloc(sizeof *s);
    if (!s) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    s->sp = sp;
    s->skip = (long)n_skip;
    if ((rc = cursor_open(&s->cur, seed, space_dims(sp), err))) {
        free(s);
        return rc;
    }
    *out = s;
    return KE_OK;
}

static int sobol_suggest(strategy *s, const strategy_history *h,
                         strategy_suggestion *out, int n, kerror *err)
{
    long first = s->skip + strategy_history_fresh(h);
    double u[SOBOL_MAX_DIMS];
    int i, rc = sobol_cursor_mark(&s->cur, first, err);
    if (rc) return rc;
    for (i = 0; i < n; i++) {
        sobol_cursor_point(&s->cur, first + i, u);
        space_unit_to_point(s->sp, u, &out[i].point);
        out[i].budget = 0;
        out[i].resume_from = -1;
    }
    return i;
}

/* The sequence is endless; only the trial budget ends the study. */
static int sobol_done(strategy *s, const strategy_history *h)
{
    (void)s;
    (void)h;
    return 0;
}

static void sobol_destroy(strategy *s)
{
    cursor_close(&s->cur);
    free(s);
}

const strategy_ops sobol_strategy = {
    .name = "sobol",
    .create = sobol_create,
    .suggest = sobol_suggest,
    .done = sobol_done,
    .destroy = sobol_destroy,
};
