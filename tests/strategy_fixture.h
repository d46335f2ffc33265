/* strategy_fixture: what the tests of the "gp" strategy share to drive a
 * strategy by hand: create one from JSON options (the test fails on an
 * error) and record a trial's outcome in a history. */
#ifndef KESTREL_STRATEGY_FIXTURE_H
#define KESTREL_STRATEGY_FIXTURE_H

#include <check.h>
#include <math.h>
#include <string.h>

#include "../search/sobol.h"
#include "../search/strategy.h"

/* A new strategy of ops on sp with options (JSON text or NULL) and seed;
 * the caller destroys it. */
static inline strategy *fx_strategy(const strategy_ops *ops, const space *sp, const char *options,
                                    uint64_t seed)
{
    strategy *st = NULL;
    kerror err;
    json_t *o = options ? json_loads(options, 0, NULL) : NULL;
    int rc = ops->create(&st, sp, o, seed, &err);
    json_decref(o);
    ck_assert_msg(rc == KE_OK, "create: %s: %s", err.path, err.msg);
    return st;
}

/* Trial number, fresh, at p: COMPLETE with value v, or FAILED when v is NaN. */
static inline void fx_record(strategy_obs *o, int number, const space_point *p, double v)
{
    memset(o, 0, sizeof *o);
    o->number = number;
    o->resumed_from = -1;
    o->retry_of = -1;
    o->point = *p;
    o->has_value = !isnan(v);
    o->state = isnan(v) ? TRIAL_FAILED : TRIAL_COMPLETE;
    o->value = isnan(v) ? 0 : v;
}

/* Point k of the seeded Sobol design over sp (sobol_unit's, the points
 * the gp strategy's design and the Hyperband/ASHA sampler draw). */
static inline space_point fx_sobol_point(const space *sp, uint64_t seed, long k)
{
    double u[SOBOL_MAX_DIMS];
    space_point p;
    kerror err;
    ck_assert_int_eq(sobol_unit(seed, k, space_dims(sp), u, &err), KE_OK);
    space_unit_to_point(sp, u, &p);
    return p;
}

#endif
