/* test_space: the unit-cube mapping keeps every value legal and round-trips,
 * conditions switch parameters on and off, values print and serialise as
 * stored, illegal stored values are rejected by name, and grids enumerate
 * every point once (conditional children only under their parent's choice). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check_main.h"
#include "../search/space.h"
#include "space_fixture.h"

static double uniform(uint64_t *state)
{
    /* splitmix64 (Steele et al. 2014), top 53 bits to [0,1) */
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

/* One parameter of every kind, with log scales and steps. */
static void every_kind(space *s)
{
    static const double nums[] = { 0.5, 2, -3 };
    memset(s, 0, sizeof *s);
    fx_float(s, "lin", -2.5, 7, 0);
    fx_float(s, "lr", 1e-5, 0.3, 1);
    fx_fixed(s, "mode", "fast", 0);
    fx_int(s, "units", 0, 10, 3, 0);
    fx_int(s, "batch", 1, 1000, 1, 1);
    fx_int(s, "width", 3, 250, 5, 1);
    fx_cat(s, "opt", "sgd", "adam", "rmsprop", NULL);
    fx_cat_num(s, "scale", 3, nums);
    fx_fixed(s, "seed", NULL, 42);
}

static int legal(const space_param *q, double x)
{
    switch (q->kind) {
    case PARAM_FLOAT: return x >= q->low && x <= q->high;
    case PARAM_INT:
        return x >= q->low && x <= q->high && fmod(x - q->low, q->step) == 0;
    case PARAM_CATEGORICAL: return x >= 0 && x < q->n_choices && x == floor(x);
    case PARAM_FIXED: return x == 0;
    }
    return 0;
}

START_TEST(test_dims_and_find)
{
    space s;
    every_kind(&s);
    ck_assert_int_eq(space_dims(&s), 7);
    ck_assert_int_eq(space_find(&s, "batch"), 4);
    ck_assert_int_eq(space_find(&s, "nope"), -1);
    space_free(&s);
    ck_assert_int_eq(s.n, 0);
}
END_TEST

START_TEST(test_random_units_legal_and_round_trip)
{
    space s;
    every_kind(&s);
    uint64_t st = 7;
    double u[SPACE_MAX_PARAMS], u2[SPACE_MAX_PARAMS];
    for (int it = 0; it < 20000; it++) {
        for (int d = 0; d < space_dims(&s); d++) u[d] = uniform(&st);
        space_point p, p2;
        space_unit_to_point(&s, u, &p);
        for (int i = 0; i < s.n; i++) {
            ck_assert_msg(legal(&s.params[i], p.x[i]), "%s = %.17g", s.params[i].name, p.x[i]);
            ck_assert(p.active[i]);
        }
        space_point_to_unit(&s, &p, u2);
        for (int d = 0; d < space_dims(&s); d++) ck_assert(u2[d] >= 0 && u2[d] <= 1);
        space_unit_to_point(&s, u2, &p2);
        for (int i = 0; i < s.n; i++)
            ck_assert_msg(p2.x[i] == p.x[i], "%s: %.17g -> %.17g", s.params[i].name,
                          p.x[i], p2.x[i]);
        ck_assert(space_point_equal(&s, &p, &p2));
    }
    space_free(&s);
}
END_TEST

/* Corners: u = 0 and u = 1 give the bounds (ints: the last value on the step). */
START_TEST(test_cube_corners)
{
    space s;
    every_kind(&s);
    double u[SPACE_MAX_PARAMS];
    space_point p;
    for (int d = 0; d < 7; d++) u[d] = 0;
    space_unit_to_point(&s, u, &p);
    ck_assert(p.x[0] == -2.5 && p.x[1] == 1e-5 && p.x[3] == 0 && p.x[4] == 1 && p.x[5] == 3);
    ck_assert(p.x[6] == 0 && p.x[7] == 0);
    for (int d = 0; d < 7; d++) u[d] = 1;
    space_unit_to_point(&s, u, &p);
    ck_assert(p.x[0] == 7 && p.x[1] == 0.3 && p.x[3] == 9 && p.x[4] == 1000 && p.x[5] == 248);
    ck_assert(p.x[6] == 2 && p.x[7] == 2);
    space_free(&s);
}
END_TEST

/* Every legal int and categorical value, set by hand, survives the round trip. */
START_TEST(test_every_discrete_value_round_trips)
{
    space s;
    every_kind(&s);
    for (int i = 0; i < s.n; i++) {
        const space_param *q = &s.params[i];
        double top = q->kind == PARAM_INT ? q->high : q->n_choices - 1;
        double step = q->kind == PARAM_INT ? q->step : 1;
        if (q->kind != PARAM_INT && q->kind != PARAM_CATEGORICAL) continue;
        for (double v = q->kind == PARAM_INT ? q->low : 0; v <= top; v += step) {
            double u[SPACE_MAX_PARAMS];
            space_point p, p2;
            for (int d = 0; d < 7; d++) u[d] = 0.5;
            space_unit_to_point(&s, u, &p);
            p.x[i] = v;
            space_point_to_unit(&s, &p, u);
            space_unit_to_point(&s, u, &p2);
            ck_assert_msg(p2.x[i] == v, "%s: %g -> %g", q->name, v, p2.x[i]);
        }
    }
    space_free(&s);
}
END_TEST

/* Arbitrary legal floats (not produced by the map) come back as the nearest
 * value the map can produce: the bounds exactly, others to ~1 ulp. */
START_TEST(test_float_values_round_trip)
{
    space s;
    every_kind(&s);
    uint64_t st = 99;
    double u[SPACE_MAX_PARAMS];
    space_point p, p2;
    for (int d = 0; d < 7; d++) u[d] = 0.5;
    space_unit_to_point(&s, u, &p);
    for (int it = 0; it < 5000; it++) {
        p.x[0] = -2.5 + 9.5 * uniform(&st);
        p.x[1] = exp(log(1e-5) + uniform(&st) * (log(0.3) - log(1e-5)));
        if (it == 0) p.x[0] = -2.5, p.x[1] = 0.3;
        if (it == 1) p.x[0] = 7, p.x[1] = 1e-5;
        space_point_to_unit(&s, &p, u);
        space_unit_to_point(&s, u, &p2);
        if (it < 2) ck_assert(p2.x[0] == p.x[0] && p2.x[1] == p.x[1]);
        ck_assert_msg(fabs(p2.x[0] - p.x[0]) <= 4e-15 * 9.5, "%.17g %.17g", p.x[0], p2.x[0]);
        ck_assert_msg(fabs(p2.x[1] - p.x[1]) <= 1e-14 * p.x[1], "%.17g %.17g", p.x[1], p2.x[1]);
    }
    space_free(&s);
}
END_TEST

/* (x - low) / (high - low) often lands a rounding away from the u that gave
 * x when low and high are not powers of two; the round trip must still be exact. */
START_TEST(test_float_round_trip_is_exact)
{
    space s;
    memset(&s, 0, sizeof s);
    fx_float(&s, "p", 0.1, 0.7, 0);
    uint64_t st = 11;
    for (int it = 0; it < 20000; it++) {
        double u = uniform(&st), v;
        space_point p, p2;
        space_unit_to_point(&s, &u, &p);
        space_point_to_unit(&s, &p, &v);
        space_unit_to_point(&s, &v, &p2);
        ck_assert_msg(p2.x[0] == p.x[0], "u %.17g: %.17g -> %.17g", u, p.x[0], p2.x[0]);
    }
    space_free(&s);
}
END_TEST

/* A log int samples like a discretised log-uniform: P(batch < 10) = log 10 / log 1001. */
START_TEST(test_log_int_distribution)
{
    space s;
    every_kind(&s);
    uint64_t st = 3;
    int below = 0, n = 40000;
    double u[SPACE_MAX_PARAMS];
    space_point p;
    for (int it = 0; it < n; it++) {
        for (int d = 0; d < 7; d++) u[d] = uniform(&st);
        space_unit_to_point(&s, u, &p);
        below += p.x[4] < 10;
    }
    double want = log(10) / log(1001);
    ck_assert_msg(fabs((double)below / n - want) < 0.015, "%g vs %g", (double)below / n, want);
    space_free(&s);
}
END_TEST

/* optimizer{sgd,adam,rmsprop}; momentum when sgd; nesterov{no,yes} when sgd;
 * dampening when nesterov=yes; beta when adam or rmsprop. */
static void conditional(space *s)
{
    memset(s, 0, sizeof *s);
    fx_cat(s, "optimizer", "sgd", "adam", "rmsprop", NULL);
    fx_when(s, fx_float(s, "momentum", 0, 1, 0), "optimizer", 1, 0);
    fx_when(s, fx_cat(s, "nesterov", "no", "yes", NULL), "optimizer", 1, 0);
    fx_when(s, fx_float(s, "dampening", 0, 0.5, 0), "nesterov", 1, 1);
    fx_when(s, fx_float(s, "beta", 0.8, 0.999, 0), "optimizer", 2, 1, 2);
}

START_TEST(test_conditional_activity)
{
    space s;
    conditional(&s);
    space_point p;
    double u[5] = { 0.1, 0.5, 0.9, 0.5, 0.5 };      /* sgd, nesterov yes */
    space_unit_to_point(&s, u, &p);
    ck_assert(p.active[0] && p.active[1] && p.active[2] && p.active[3] && !p.active[4]);
    u[2] = 0.1;                                      /* nesterov no */
    space_unit_to_point(&s, u, &p);
    ck_assert(p.active[1] && p.active[2] && !p.active[3] && !p.active[4]);
    u[0] = 0.9;                                      /* rmsprop: nesterov off, so dampening too */
    u[2] = 0.9;
    space_unit_to_point(&s, u, &p);
    ck_assert(!p.active[1] && !p.active[2] && !p.active[3] && p.active[4]);
    double back[5];
    space_point_to_unit(&s, &p, back);
    ck_assert(back[1] == 0.5 && back[2] == 0.5 && back[3] == 0.5);

    p.x[0] = 0;                                      /* by hand: back to sgd */
    space_point_resolve(&s, &p);
    ck_assert(p.active[1] && p.active[2] && p.active[3] && !p.active[4]);

    space_point q = p;                               /* inactive values do not count */
    q.x[4] = 0.123;
    ck_assert(space_point_equal(&s, &p, &q));
    q.x[3] = p.x[3] / 2;
    ck_assert(!space_point_equal(&s, &p, &q));
    space_free(&s);
}
END_TEST

START_TEST(test_format_value)
{
    space s;
    every_kind(&s);
    space_point p;
    double u[7] = { 0 };
    char buf[64];
    space_unit_to_point(&s, u, &p);
    p.x[0] = 0.1;
    p.x[1] = 1e-5;
    p.x[4] = 128;
    p.x[6] = 1;
    p.x[7] = 0;
    const char *want[] = { "0.1", "1e-05", "fast", "0", "128", "3", "adam", "0.5", "42" };
    for (int i = 0; i < s.n; i++) {
        space_format_value(&s, &p, i, buf, sizeof buf);
        ck_assert_str_eq(buf, want[i]);
    }
    p.x[0] = 1.0 / 3;
    space_format_value(&s, &p, 0, buf, sizeof buf);
    ck_assert(strtod(buf, NULL) == 1.0 / 3);
    p.x[7] = 1;
    space_format_value(&s, &p, 7, buf, sizeof buf);
    ck_assert_str_eq(buf, "2");
    p.active[3] = 0;
    space_format_value(&s, &p, 3, buf, sizeof buf);
    ck_assert_str_eq(buf, "");
    space_free(&s);
}
END_TEST

START_TEST(test_to_json)
{
    space s;
    every_kind(&s);
    space_point p;
    double u[7] = { 0 };
    space_unit_to_point(&s, u, &p);
    p.x[0] = 2.5;
    p.x[4] = 64;
    p.x[6] = 2;
    p.x[7] = 1;
    p.active[5] = 0;
    json_t *j = space_point_to_json(&s, &p);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq((int)json_object_size(j), 8);
    ck_assert(json_is_real(json_object_get(j, "lin")));
    ck_assert(json_real_value(json_object_get(j, "lin")) == 2.5);
    ck_assert(json_is_integer(json_object_get(j, "batch")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "batch")), 64);
    ck_assert_str_eq(json_string_value(json_object_get(j, "opt")), "rmsprop");
    ck_assert_str_eq(json_string_value(json_object_get(j, "mode")), "fast");
    ck_assert(json_is_integer(json_object_get(j, "scale")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "scale")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "seed")), 42);
    ck_assert_ptr_null(json_object_get(j, "width"));
    json_decref(j);
    p.x[7] = 0;
    j = space_point_to_json(&s, &p);
    ck_assert(json_is_real(json_object_get(j, "scale")));
    json_decref(j);
    space_free(&s);
}
END_TEST

static void expect_invalid(const space *s, space_point *p, const char *name, int is_text,
                           double num, const char *text)
{
    kerror err;
    kerror_clear(&err);
    ck_assert_int_eq(space_point_set(s, p, name, is_text, num, text, &err), KE_INVALID);
    ck_assert_str_eq(err.path, name);
    ck_assert(err.msg[0] != '\0');
}

START_TEST(test_point_set)
{
    space s;
    every_kind(&s);
    space_point p;
    memset(&p, 0, sizeof p);
    kerror err;
    ck_assert_int_eq(space_point_set(&s, &p, "lin", 0, 7, NULL, &err), KE_OK);
    ck_assert_int_eq(space_point_set(&s, &p, "lr", 1, 0, "0.01", &err), KE_OK);
    ck_assert_int_eq(space_point_set(&s, &p, "mode", 1, 0, "fast", &err), KE_OK);
    ck_assert_int_eq(space_point_set(&s, &p, "units", 0, 9, NULL, &err), KE_OK);
    ck_assert_int_eq(space_point_set(&s, &p, "batch", 0, 1000, NULL, &err), KE_OK);
    ck_assert_int_eq(space_point_set(&s, &p, "width", 0, 248, NULL, &err), KE_OK);
    ck_assert_int_eq(space_point_set(&s, &p, "opt", 1, 0, "rmsprop", &err), KE_OK);
    ck_assert_int_eq(space_point_set(&s, &p, "scale", 0, -3, NULL, &err), KE_OK);
    ck_assert_int_eq(space_point_set(&s, &p, "seed", 0, 42, NULL, &err), KE_OK);
    space_point_resolve(&s, &p);
    ck_assert(p.x[0] == 7 && p.x[1] == 0.01 && p.x[3] == 9 && p.x[5] == 248);
    ck_assert(p.x[6] == 2 && p.x[7] == 2);
    for (int i = 0; i < s.n; i++) ck_assert(p.active[i]);

    expect_invalid(&s, &p, "lin", 0, 7.0000001, NULL);
    expect_invalid(&s, &p, "lin", 0, NAN, NULL);
    expect_invalid(&s, &p, "lr", 1, 0, "abc");
    expect_invalid(&s, &p, "lr", 0, 0, NULL);
    expect_invalid(&s, &p, "units", 0, 10, NULL);     /* off the step: 0,3,6,9 */
    expect_invalid(&s, &p, "units", 0, 4.5, NULL);
    expect_invalid(&s, &p, "units", 0, -3, NULL);
    expect_invalid(&s, &p, "width", 0, 250, NULL);
    expect_invalid(&s, &p, "opt", 1, 0, "Adam");
    expect_invalid(&s, &p, "opt", 0, 1, NULL);
    expect_invalid(&s, &p, "scale", 0, 1, NULL);
    expect_invalid(&s, &p, "mode", 1, 0, "slow");
    expect_invalid(&s, &p, "seed", 0, 41, NULL);
    expect_invalid(&s, &p, "missing", 0, 1, NULL);
    ck_assert(p.x[0] == 7 && p.x[6] == 2);              /* failures change nothing */
    space_free(&s);
}
END_TEST

/* Parses json as a configuration of s: KE_OK, or KE_INVALID with err.path
 * equal to path and err.msg containing msg. */
static void expect_from_json(const space *s, const char *json, const char *path, const char *msg)
{
    json_t *obj = json_loads(json, 0, NULL);
    ck_assert_ptr_nonnull(obj);
    space_point p;
    kerror err;
    kerror_clear(&err);
    int rc = space_point_from_json(s, obj, "enqueue[0]", &p, &err);
    json_decref(obj);
    if (!path) {
        ck_assert_msg(rc == KE_OK, "%s: %s: %s", json, err.path, err.msg);
        return;
    }
    ck_assert_msg(rc == KE_INVALID, "%s accepted", json);
    ck_assert_str_eq(err.path, path);
    ck_assert_msg(strstr(err.msg, msg) != NULL, "%s: message '%s' lacks '%s'", json, err.msg, msg);
}

/* A configuration a person gives must use the parameter's JSON type: "3"
 * and 3 are different choices, and "4" is no integer (docs/spec.md); only
 * values read back from storage may arrive as text. */
START_TEST(test_from_json_types)
{
    static const double nums[] = { 4 };
    space s;
    memset(&s, 0, sizeof s);
    fx_float(&s, "x", 0, 2, 0);
    fx_int(&s, "i", 0, 10, 2, 0);
    space_param *c = fx_cat(&s, "c", "3", NULL);
    c->choices = realloc(c->choices, 2 * sizeof *c->choices);
    c->choices[c->n_choices++] = (param_value){ 0, nums[0], NULL };
    fx_fixed(&s, "f", NULL, 7);
    expect_from_json(&s, "{\"x\": 1, \"i\": 4, \"c\": \"3\"}", NULL, NULL);
    expect_from_json(&s, "{\"x\": 1.5, \"i\": 4.0, \"c\": 4, \"f\": 7}", NULL, NULL);
    expect_from_json(&s, "{\"x\": 1, \"i\": \"4\", \"c\": 4}", "enqueue[0].i",
                     "must be an integer, not a string");
    expect_from_json(&s, "{\"x\": \"1\", \"i\": 4, \"c\": 4}", "enqueue[0].x",
                     "must be a number, not a string");
    expect_from_json(&s, "{\"x\": true, \"i\": 4, \"c\": 4}", "enqueue[0].x",
                     "must be a number, not a boolean");
    expect_from_json(&s, "{\"x\": 1, \"i\": false, \"c\": 4}", "enqueue[0].i",
                     "must be an integer, not a boolean");
    expect_from_json(&s, "{\"x\": 1, \"i\": 4, \"c\": null}", "enqueue[0].c",
                     "must be a string or a number, not null");
    expect_from_json(&s, "{\"x\": 1, \"i\": 4, \"c\": \"4\"}", "enqueue[0].c",
                     "\"4\" is not one of the declared choices (4 is a number, not a string)");
    expect_from_json(&s, "{\"x\": 1, \"i\": 4, \"c\": 3}", "enqueue[0].c",
                     "3 is not one of the declared choices (\"3\" is a string, not a number)");
    expect_from_json(&s, "{\"x\": 1, \"i\": 4, \"c\": 4, \"f\": \"7\"}", "enqueue[0].f",
                     "differs from the fixed value");
    expect_from_json(&s, "{\"x\": 1, \"i\": 4, \"c\": 4, \"f\": [7]}", "enqueue[0].f",
                     "must be a string or a number, not an array");
    space_free(&s);
    /* 2^53 + 1 has no double: it was read as 2^53, the bound, and taken */
    memset(&s, 0, sizeof s);
    fx_int(&s, "i", -9007199254740992.0, 9007199254740992.0, 1, 0);
    expect_from_json(&s, "{\"i\": 9007199254740992}", NULL, NULL);
    expect_from_json(&s, "{\"i\": -9007199254740992}", NULL, NULL);
    expect_from_json(&s, "{\"i\": 9007199254740993}", "enqueue[0].i",
                     "9007199254740993 is beyond +-2^53");
    expect_from_json(&s, "{\"i\": -9223372036854775807}", "enqueue[0].i",
                     "-9223372036854775807 is beyond +-2^53");
    space_free(&s);
}
END_TEST

/* Checks the grid's points are distinct, legal and resolved; returns the count. */
static long check_grid(const space *s)
{
    long count;
    kerror err;
    ck_assert_int_eq(space_grid_size(s, &count, &err), KE_OK);
    space_point *pts = malloc((size_t)count * sizeof *pts);
    for (long k = 0; k < count; k++) {
        space_grid_point(s, k, &pts[k]);
        space_point r = pts[k];
        space_point_resolve(s, &r);
        ck_assert(memcmp(r.active, pts[k].active, sizeof r.active) == 0);
        for (int i = 0; i < s->n; i++)
            if (pts[k].active[i] && s->params[i].kind != PARAM_FLOAT)
                ck_assert(legal(&s->params[i], pts[k].x[i]));
        for (long j = 0; j < k; j++) ck_assert(!space_point_equal(s, &pts[j], &pts[k]));
    }
    free(pts);
    return count;
}

START_TEST(test_grid_product)
{
    space s;
    memset(&s, 0, sizeof s);
    fx_int(&s, "units", 1, 10, 3, 0);              /* 1 4 7 10 */
    fx_cat(&s, "act", "relu", "tanh", "gelu", NULL);
    fx_fixed(&s, "seed", NULL, 1);
    static const double bs[] = { 16, 64 };
    fx_grid(fx_int(&s, "batch", 1, 512, 1, 1), 2, bs);
    ck_assert_int_eq(check_grid(&s), 24);
    space_point p;
    space_grid_point(&s, 0, &p);                    /* the last parameter varies fastest */
    ck_assert(p.x[0] == 1 && p.x[1] == 0 && p.x[3] == 16);
    space_grid_point(&s, 1, &p);
    ck_assert(p.x[0] == 1 && p.x[1] == 0 && p.x[3] == 64);
    space_grid_point(&s, 23, &p);
    ck_assert(p.x[0] == 10 && p.x[1] == 2 && p.x[3] == 64);
    space_free(&s);
}
END_TEST

START_TEST(test_grid_conditional)
{
    space s;
    static const double mom[] = { 0.9, 0.99 };
    memset(&s, 0, sizeof s);
    fx_cat(&s, "optimizer", "sgd", "adam", NULL);
    fx_grid(fx_float(&s, "momentum", 0, 1, 0), 2, mom);
    fx_when(&s, &s.params[1], "optimizer", 1, 0);
    ck_assert_int_eq(check_grid(&s), 3);
    space_free(&s);

    conditional(&s);   /* sgd: momentum 2 x nesterov (no 1 + yes: dampening 3); adam, rmsprop: beta 2 */
    s.params[1].grid_points = 2;
    s.params[3].grid_points = 3;
    s.params[4].grid_points = 2;
    ck_assert_int_eq(check_grid(&s), 2 * (1 + 3) + 2 + 2);
    space_free(&s);
}
END_TEST

START_TEST(test_grid_float_points)
{
    space s;
    memset(&s, 0, sizeof s);
    fx_float(&s, "x", -1, 1, 0)->grid_points = 5;
    fx_float(&s, "lr", 1e-4, 1, 1)->grid_points = 3;
    ck_assert_int_eq(check_grid(&s), 15);
    static const double xs[] = { -1, -0.5, 0, 0.5, 1 };
    space_point p;
    for (int k = 0; k < 5; k++) {
        space_grid_point(&s, 3 * k, &p);
        ck_assert(p.x[0] == xs[k] && p.x[1] == 1e-4);
    }
    space_grid_point(&s, 1, &p);
    ck_assert_msg(p.x[1] == 1e-2, "lr %.17g, not 0.01", p.x[1]);
    space_grid_point(&s, 2, &p);
    ck_assert(p.x[1] == 1);
    space_free(&s);
    /* log-spaced points over decades are the decades as written (they were
     * 9.999999999999991e-05, 0.0010000000000000002, 0.009999999999999995,
     * 0.10000000000000006), each within the bounds */
    memset(&s, 0, sizeof s);
    fx_float(&s, "lr", 1e-5, 1, 1)->grid_points = 6;
    fx_float(&s, "wd", 1e-8, 1e-1, 1)->grid_points = 8;
    ck_assert_int_eq(check_grid(&s), 48);
    static const double lrs[] = { 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1 };
    static const double wds[] = { 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1 };
    for (int k = 0; k < 48; k++) {
        space_grid_point(&s, k, &p);
        ck_assert_msg(p.x[0] == lrs[k / 8], "lr %.17g, not %g", p.x[0], lrs[k / 8]);
        ck_assert_msg(p.x[1] == wds[k % 8], "wd %.17g, not %g", p.x[1], wds[k % 8]);
    }
    space_free(&s);
}
END_TEST

START_TEST(test_grid_errors)
{
    space s;
    long count;
    kerror err;
    memset(&s, 0, sizeof s);
    fx_int(&s, "a", 0, 9, 1, 0);
    fx_float(&s, "lr", 0, 1, 0);
    ck_assert_int_eq(space_grid_size(&s, &count, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "space.lr");
    space_free(&s);

    fx_int(&s, "a", 0, 9999, 1, 0);
    fx_int(&s, "b", 0, 999, 1, 0);
    ck_assert_int_eq(space_grid_size(&s, &count, &err), KE_OK);
    ck_assert_int_eq(count, 10000000);
    fx_int(&s, "c", 0, 1, 1, 0);
    ck_assert_int_eq(space_grid_size(&s, &count, &err), KE_INVALID);
    space_free(&s);

    for (int i = 0; i < 12; i++) {                  /* 1000^12 must not overflow to small */
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        fx_int(&s, name, 0, 999, 1, 0);
    }
    ck_assert_int_eq(space_grid_size(&s, &count, &err), KE_INVALID);
    space_free(&s);
    fx_int(&s, "huge", 0, 1e15, 1, 0);
    ck_assert_int_eq(space_grid_size(&s, &count, &err), KE_INVALID);
    space_free(&s);
}
END_TEST

static Suite *space_suite(void)
{
    Suite *s = suite_create("space");
    TCase *tc = tcase_create("core");
    /* CPU-bound loops that wait on nothing: their time grows with the
     * machine's load (CI is a loaded 2-core box), so no deadline. */
    tcase_set_timeout(tc, 0);
    tcase_add_test(tc, test_dims_and_find);
    tcase_add_test(tc, test_random_units_legal_and_round_trip);
    tcase_add_test(tc, test_cube_corners);
    tcase_add_test(tc, test_every_discrete_value_round_trips);
    tcase_add_test(tc, test_float_values_round_trip);
    tcase_add_test(tc, test_float_round_trip_is_exact);
    tcase_add_test(tc, test_log_int_distribution);
    tcase_add_test(tc, test_conditional_activity);
    tcase_add_test(tc, test_format_value);
    tcase_add_test(tc, test_to_json);
    tcase_add_test(tc, test_point_set);
    tcase_add_test(tc, test_from_json_types);
    tcase_add_test(tc, test_grid_product);
    tcase_add_test(tc, test_grid_conditional);
    tcase_add_test(tc, test_grid_float_points);
    tcase_add_test(tc, test_grid_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(space_suite());
}
