/* random: suggestion k draws its unit coordinates from a generator seeded by
 * strategy_seed_for(seed, k), k counting fresh trials; see random.h.
 * Invariant: the strategy holds no state beyond (space, seed). */
#include "random.h"

#include <stdlib.h>

struct strategy {
    const space *sp;        /* borrowed */
    uint64_t seed;
};

static int random_create(strategy **out, const space *sp, const json_t *options,
                         uint64_t seed, kerror *err)
{
    static const char *const known[] = { NULL };
    int rc = strategy_options_check(options, STRATEGY_OPTIONS, known, err);
    if (rc) return rc;
    struct strategy *r = malloc(sizeof *r);
    if (!r) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    r->sp = sp;
    r->seed = seed;
    *out = r;
    return KE_OK;
}

static int random_suggest(strategy *r, const strategy_history *h,
                          strategy_suggestion *out, int n, kerror *err)
{
    (void)err;
    int dims = space_dims(r->sp), first = strategy_history_fresh(h);
    double u[SPACE_MAX_PARAMS];
    int i;
    for (i = 0; i < n; i++) {
        uint64_t st = strategy_seed_for(r->seed, (uint64_t)(first + i));
        for (int d = 0; d < dims; d++) u[d] = strategy_rng_uniform(&st);
        space_unit_to_point(r->sp, u, &out[i].point);
        out[i].budget = 0;
        out[i].resume_from = -1;
    }
    return i;
}

/* Random search never runs out; only the trial budget ends it. */
static int random_done(strategy *r, const strategy_history *h)
{
    (void)r;
    (void)h;
    return 0;
}

static void random_destroy(strategy *r)
{
    free(r);
}

const strategy_ops random_strategy = {
    .name = "random",
    .create = random_create,
    .suggest = random_suggest,
    .done = random_done,
    .destroy = random_destroy,
};
