/* space: maps between the unit cube, typed parameter values and text/JSON,
 * and enumerates grids; see space.h. Invariant: every value this module
 * produces is legal for its parameter (inside [low, high], on the int step
 * grid, a valid choice index), and a point that came from
 * space_unit_to_point maps back to itself through space_point_to_unit. */
#include "space.h"

#include "../common/nearest.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRID_MAX 10000000L

void space_free(space *s)
{
    for (int i = 0; i < s->n; i++) {
        space_param *p = &s->params[i];
        for (int c = 0; c < p->n_choices; c++) free(p->choices[c].text);
        free(p->choices);
        free(p->fixed.text);
        free(p->grid);
        free(p->when);
    }
    memset(s, 0, sizeof *s);
}

int space_find(const space *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->params[i].name, name) == 0) return i;
    return -1;
}

int space_dims(const space *s)
{
    int d = 0;
    for (int i = 0; i < s->n; i++)
        if (s->params[i].kind != PARAM_FIXED) d++;
    return d;
}

/* ---- unit <-> value, one parameter at a time ---- */

/* An unset (zero) int step means 1. */
static double int_step(const space_param *p)
{
    return p->step >= 1 ? p->step : 1;
}

/* Number of int values low, low+step, ... <= high (as a double: may be huge). */
static double int_levels(const space_param *p)
{
    return floor((p->high - p->low) / int_step(p) + 1e-9) + 1;
}

/* Bucket k = floor(t) clamped to [0, levels-1]; NaN lands in bucket 0. */
static double bucket(double t, double levels)
{
    double k = floor(t);
    if (!(k >= 0)) return 0;
    return k < levels ? k : levels - 1;
}

static double float_from_unit(const space_param *p, double u)
{
    if (u <= 0) return p->low;
    if (u >= 1) return p->high;
    double x = p->log ? exp(log(p->low) + u * (log(p->high) - log(p->low)))
                      : p->low + u * (p->high - p->low);
    return x < p->low ? p->low : x > p->high ? p->high : x;
}

/* Ints take the value bucket k of the cube. Linear: k = floor(u*K). Log: each
 * value v owns the real interval [v, v+step), and u is spread log-uniformly
 * over [low, low+K*step), so every value is reachable with probability
 * proportional to log((v+step)/v): the continuous log-uniform law, discretised. */
static double int_from_unit(const space_param *p, double u)
{
    double step = int_step(p), levels = int_levels(p), k;
    if (p->log) {
        double a = log(p->low), b = log(p->low + levels * step);
        k = bucket((exp(a + u * (b - a)) - p->low) / step, levels);
    } else {
        k = bucket(u * levels, levels);
    }
    return p->low + k * step;
}

/* Bisection over the bit patterns of u in [0,1] (ordered like the doubles)
 * for the u whose image is nearest x; float_from_unit is monotone. */
static double float_preimage(const space_param *p, double x)
{
    double one = 1;
    uint64_t lo = 0, hi;
    memcpy(&hi, &one, sizeof hi);
    while (lo < hi) {                    /* smallest u with f(u) >= x */
        uint64_t mid = lo + (hi - lo) / 2;
        double u;
        memcpy(&u, &mid, sizeof u);
        if (float_from_unit(p, u) < x) lo = mid + 1; else hi = mid;
    }
    double u, below;
    memcpy(&u, &lo, sizeof u);
    if (lo == 0) return u;
    uint64_t prev = lo - 1;
    memcpy(&below, &prev, sizeof below);
    return float_from_unit(p, u) - x <= x - float_from_unit(p, below) ? u : below;
}

static double float_to_unit(const space_param *p, double x)
{
    if (!(p->high > p->low)) return 0.5;
    if (x <= p->low) return 0;
    if (x >= p->high) return 1;
    double u = p->log ? (log(x) - log(p->low)) / (log(p->high) - log(p->low))
                      : (x - p->low) / (p->high - p->low);
    if (u >= 0 && u <= 1 && float_from_unit(p, u) == x) return u;
    return float_preimage(p, x);       /* rounding moved us off x: rare */
}

/* The centre of the value's bucket (geometric centre in log space for log ints). */
static double int_to_unit(const space_param *p, double x)
{
    double step = int_step(p), levels = int_levels(p);
    double k = bucket(floor((x - p->low) / step + 0.5), levels);
    if (!p->log) return (k + 0.5) / levels;
    double v = p->low + k * step, a = log(p->low), b = log(p->low + levels * step);
    return (0.5 * (log(v) + log(v + step)) - a) / (b - a);
}

static double value_from_unit(const space_param *p, double u)
{
    switch (p->kind) {
    case PARAM_FLOAT: return float_from_unit(p, u);
    case PARAM_INT: return int_from_unit(p, u);
    case PARAM_CATEGORICAL: return bucket(u * p->n_choices, p->n_choices);
    case PARAM_FIXED: break;
    }
    return 0;
}

static double value_to_unit(const space_param *p, double x)
{
    switch (p->kind) {
    case PARAM_FLOAT: return float_to_unit(p, x);
    case PARAM_INT: return int_to_unit(p, x);
    case PARAM_CATEGORICAL:
        return (bucket(x, p->n_choices) + 0.5) / p->n_choices;
    case PARAM_FIXED: break;
    }
    return 0.5;
}

void space_unit_to_point(const space *s, const double *u, space_point *p)
{
    int c = 0;
    memset(p, 0, sizeof *p);
    for (int i = 0; i < s->n; i++) {
        if (s->params[i].kind == PARAM_FIXED) continue;
        double ui = u[c++];
        ui = ui < 0 ? 0 : ui > 1 ? 1 : ui;
        p->x[i] = value_from_unit(&s->params[i], ui);
    }
    space_point_resolve(s, p);
}

void space_point_to_unit(const space *s, const space_point *p, double *u)
{
    int c = 0;
    for (int i = 0; i < s->n; i++) {
        if (s->params[i].kind == PARAM_FIXED) continue;
        u[c++] = p->active[i] ? value_to_unit(&s->params[i], p->x[i]) : 0.5;
    }
}

/* ---- activity ---- */

static int when_has(const space_param *p, int choice)
{
    for (int w = 0; w < p->n_when; w++)
        if (p->when[w] == choice) return 1;
    return 0;
}

void space_point_resolve(const space *s, space_point *p)
{
    for (int i = 0; i < s->n; i++) {
        const space_param *q = &s->params[i];
        p->active[i] = q->parent < 0 ||
            (p->active[q->parent] && when_has(q, (int)p->x[q->parent]));
    }
}

int space_point_equal(const space *s, const space_point *a, const space_point *b)
{
    for (int i = 0; i < s->n; i++) {
        if (!a->active[i] != !b->active[i]) return 0;
        if (a->active[i] && a->x[i] != b->x[i]) return 0;
    }
    return 1;
}

/* ---- text and JSON ---- */

/* Shortest "%.*g" text that reads back as exactly x. */
static void format_double(double x, char *buf, size_t n)
{
    char tmp[40];
    x += 0.0;                            /* -0 prints as 0 */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, x);
        if (strtod(tmp, NULL) == x) break;
    }
    snprintf(buf, n, "%s", tmp);
}

static void format_param_value(const param_value *v, char *buf, size_t n)
{
    if (v->is_text) snprintf(buf, n, "%s", v->text);
    else format_double(v->num, buf, n);
}

/* The categorical choice or fixed value a point's x stands for. */
static const param_value *value_ref(const space_param *q, double x)
{
    if (q->kind == PARAM_FIXED) return &q->fixed;
    return &q->choices[(int)bucket(x, q->n_choices)];
}

void space_format_value(const space *s, const space_point *p, int i, char *buf, size_t n)
{
    const space_param *q = &s->params[i];
    if (n == 0) return;
    if (!p->active[i]) buf[0] = '\0';
    else if (q->kind == PARAM_INT) snprintf(buf, n, "%.0f", p->x[i] + 0.0);
    else if (q->kind == PARAM_FLOAT) format_double(p->x[i], buf, n);
    else format_param_value(value_ref(q, p->x[i]), buf, n);
}

/* Integral numbers become JSON integers so 3 stays 3 rather than 3.0. */
static json_t *json_number(double x)
{
    if (x == floor(x) && fabs(x) < 9007199254740992.0) return json_integer((json_int_t)x);
    return json_real(x);
}

json_t *space_point_to_json(const space *s, const space_point *p)
{
    json_t *obj = json_object();
    if (!obj) return NULL;
    for (int i = 0; i < s->n; i++) {
        const space_param *q = &s->params[i];
        if (!p->active[i]) continue;
        json_t *v;
        if (q->kind == PARAM_FLOAT) {
            v = json_real(p->x[i]);
        } else if (q->kind == PARAM_INT) {
            v = json_integer((json_int_t)p->x[i]);
        } else {
            const param_value *pv = value_ref(q, p->x[i]);
            v = pv->is_text ? json_string(pv->text) : json_number(pv->num);
        }
        if (json_object_set_new(obj, q->name, v) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

/* ---- setting values from storage ---- */

/* A stored number that arrived as text ("0.01") is read back as a number. */
static int parse_number(const char *text, double *out)
{
    char *end;
    if (!text || !*text) return 0;
    *out = strtod(text, &end);
    return *end == '\0' && isfinite(*out);
}

/* strict: the value is a person's JSON, whose type must be the declared
 * value's ("3" and 3 are different choices, docs/spec.md); otherwise it was
 * read back from storage, where a number may come back as text. */
static int value_matches(const param_value *v, int is_text, double num, const char *text,
                         int strict)
{
    double parsed;
    if (v->is_text) return is_text && strcmp(v->text, text) == 0;
    if (is_text) return !strict && parse_number(text, &parsed) && parsed == v->num;
    return v->num == num;
}

/* Would v match if the value were of the other JSON type ("4" for 4)? */
static int matches_but_type(const param_value *v, int is_text, double num, const char *text)
{
    double parsed;
    if (is_text == v->is_text) return 0;
    return parse_number(is_text ? text : v->text, &parsed) && parsed == (is_text ? v->num : num);
}

/* v as a message shows it: the fewest digits that read back as v (1e-05,
 * not 1.0000000000000001e-05, as the spec was written). */
static void show_number(char *buf, size_t n, double v)
{
    /* at least the integer part's digits: 30, not 3e+01 */
    int p = fabs(v) >= 1 && fabs(v) < 1e17 ? (int)floor(log10(fabs(v))) + 1 : 1;
    for (; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* A value as a message shows it: text quoted (cut), a number bare. */
static void show_value(char *buf, size_t n, int is_text, double num, const char *text)
{
    if (is_text) snprintf(buf, n, "\"%.64s%s\"", text, strlen(text) > 64 ? "..." : "");
    else show_number(buf, n, num);
}

/* KE_INVALID for a value none of vals (n of them) matches, "<value> <what>";
 * when one differs only in JSON type, says so, since the two print alike. */
static int no_match(const char *name, const param_value *vals, int n, int is_text, double num,
                    const char *text, const char *what, kerror *err)
{
    char given[80], declared[80];
    show_value(given, sizeof given, is_text, num, text);
    for (int c = 0; c < n; c++) {
        if (!matches_but_type(&vals[c], is_text, num, text)) continue;
        show_value(declared, sizeof declared, vals[c].is_text, vals[c].num, vals[c].text);
        return kerror_set(err, KE_INVALID, name, "%s %s (%s is %s, not %s)", given, what, declared,
                          vals[c].is_text ? "a string" : "a number",
                          is_text ? "a string" : "a number");
    }
    return kerror_set(err, KE_INVALID, name, "%s %s", given, what);
}

static int int_is_legal(const space_param *q, double x)
{
    for (int g = 0; g < q->n_grid; g++)
        if (q->grid[g] == x) return 1;
    double k = (x - q->low) / int_step(q);
    return x == floor(x) && x >= q->low && x <= q->high && fabs(k - floor(k + 0.5)) < 1e-9;
}

/* space_point_set, strict (see value_matches) for a person's JSON. */
static int set_value(const space *s, space_point *p, const char *name, int is_text, double num,
                     const char *text, int strict, kerror *err)
{
    int i = space_find(s, name);
    if (i < 0) return kerror_set(err, KE_INVALID, name, "not a parameter of the space");
    const space_param *q = &s->params[i];
    double x = 0;
    if (q->kind == PARAM_FLOAT || q->kind == PARAM_INT) {
        if (is_text ? !parse_number(text, &x) : !isfinite(num))
            return kerror_set(err, KE_INVALID, name, "must be a finite number");
        if (!is_text) x = num;
        char xs[32], lo[32], hi[32], step[32];
        show_number(xs, sizeof xs, x);
        show_number(lo, sizeof lo, q->low);
        show_number(hi, sizeof hi, q->high);
        show_number(step, sizeof step, int_step(q));
        if (q->kind == PARAM_FLOAT && !(x >= q->low && x <= q->high))
            return kerror_set(err, KE_INVALID, name, "%s is outside [%s, %s]", xs, lo, hi);
        if (q->kind == PARAM_INT && !int_is_legal(q, x))
            return kerror_set(err, KE_INVALID, name, "%s is not one of %s..%s step %s", xs, lo,
                              hi, step);
    } else if (q->kind == PARAM_CATEGORICAL) {
        int c = 0;
        while (c < q->n_choices && !value_matches(&q->choices[c], is_text, num, text, strict)) c++;
        if (c == q->n_choices)
            return no_match(name, q->choices, q->n_choices, is_text, num, text,
                            "is not one of the declared choices", err);
        x = c;
    } else if (!value_matches(&q->fixed, is_text, num, text, strict)) {
        return no_match(name, &q->fixed, 1, is_text, num, text, "differs from the fixed value", err);
    }
    p->x[i] = x;
    p->active[i] = 1;
    return KE_OK;
}

int space_point_set(const space *s, space_point *p, const char *name, int is_text,
                    double num, const char *text, kerror *err)
{
    return set_value(s, p, name, is_text, num, text, 0, err);
}

/* The JSON type a person gives parameter q, as a message names it. */
static const char *expected_type(const space_param *q)
{
    if (q->kind == PARAM_FLOAT) return "a number";
    if (q->kind == PARAM_INT) return "an integer";
    return "a string or a number";
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING: return "a string";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    default: return "a number";
    }
}

/* Sets parameter name (one of s) from a person's JSON value v: of the
 * parameter's own JSON type, never converted (no "4" for 4, no true for 1). */
static int set_from_json(const space *s, space_point *p, const char *name, const json_t *v,
                         kerror *err)
{
    const space_param *q = &s->params[space_find(s, name)];
    int takes_text = q->kind == PARAM_CATEGORICAL || q->kind == PARAM_FIXED;
    /* A double holds every integer up to 2^53 (the bound a spec's int takes)
     * and no more: 2^53 + 1 was read as 2^53 and taken, out of range by one. */
    json_int_t limit = (json_int_t)1 << 53;
    if (q->kind == PARAM_INT && json_is_integer(v) &&
        (json_integer_value(v) > limit || json_integer_value(v) < -limit))
        return kerror_set(err, KE_INVALID, name,
                          "%" JSON_INTEGER_FORMAT " is beyond +-2^53, where an integer has no "
                          "exact value", json_integer_value(v));
    if (json_is_number(v))
        return set_value(s, p, name, 0, json_number_value(v), NULL, 1, err);
    if (json_is_string(v) && takes_text)
        return set_value(s, p, name, 1, 0, json_string_value(v), 1, err);
    return kerror_set(err, KE_INVALID, name, "must be %s, not %s", expected_type(q),
                      json_type_name(v));
}

/* Prefixes err's path (a parameter name) with path. */
static int at_path(kerror *err, const char *path, int rc)
{
    if (!err) return rc;
    char name[KERROR_PATH_MAX];
    memcpy(name, err->path, sizeof name);
    int half = KERROR_PATH_MAX / 2 - 1;
    snprintf(err->path, sizeof err->path, "%.*s%s%.*s", half, path, *path ? "." : "", half, name);
    return rc;
}

int space_point_from_json(const space *s, const json_t *obj, const char *path, space_point *p,
                          kerror *err)
{
    if (!json_is_object(obj))
        return kerror_set(err, KE_INVALID, path, "must be an object {parameter: value}");
    memset(p, 0, sizeof *p);
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)obj, name, v) {
        int rc;
        if (space_find(s, name) < 0) {
            const char *names[SPACE_MAX_PARAMS + 1];
            for (int i = 0; i < s->n; i++) names[i] = s->params[i].name;
            names[s->n] = NULL;
            const char *near = nearest_name(name, names);
            rc = kerror_set(err, KE_INVALID, name, "not a parameter of the space%s%s%s",
                            near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
        } else {
            rc = set_from_json(s, p, name, v, err);
        }
        if (rc != KE_OK) return at_path(err, path, rc);
    }
    unsigned char given[SPACE_MAX_PARAMS];
    memcpy(given, p->active, sizeof given);
    for (int i = 0; i < s->n; i++)
        if (s->params[i].kind == PARAM_FIXED) p->active[i] = 1;
    space_point_resolve(s, p);
    for (int i = 0; i < s->n; i++) {
        const space_param *q = &s->params[i];
        if (q->kind == PARAM_FIXED) continue;
        if (p->active[i] && !given[i])
            return at_path(err, path, kerror_set(err, KE_INVALID, q->name, "missing: give it a value"));
        if (!p->active[i] && given[i])
            return at_path(err, path, kerror_set(err, KE_INVALID, q->name,
                                                 "inactive under '%s' as given: leave it out",
                                                 s->params[q->parent].name));
    }
    return KE_OK;
}

/* ---- grid ----
 * size[i] is the number of grid points of the subtree rooted at parameter i:
 * its own levels for a leaf; for a categorical, the sum over its choices of
 * the product of the sizes of the children that choice activates. The grid is
 * the product over the unconditional parameters. Sizes saturate at GRID_MAX+1
 * so the arithmetic never overflows. */

static long sat(long x)
{
    return x > GRID_MAX ? GRID_MAX + 1 : x;
}

/* Grid levels of one parameter (1 for a float without grid values, which
 * space_grid_size rejects before anyone relies on it). */
static long grid_levels(const space_param *q)
{
    if (q->kind == PARAM_FIXED) return 1;
    if (q->kind == PARAM_CATEGORICAL) return q->n_choices;
    if (q->n_grid > 0) return q->n_grid;
    if (q->kind == PARAM_INT) return (long)fmin(int_levels(q), GRID_MAX + 1.0);
    return q->grid_points > 0 ? q->grid_points : 1;
}

/* The k-th grid value of a float or int (evenly spaced in log space for log
 * floats, with both ends exact). Log spacing is numpy.geomspace's: 10 to
 * the power of evenly spaced base-10 exponents, the k-th being
 * k * (b - a) / (n - 1) from a, exact for whole exponents, so 6 points over
 * [1e-5, 1] are 1e-5, 1e-4, ..., 1 as written; exp(log(low) + t * ...) made
 * them 9.999999999999991e-05, 0.0010000000000000002, ... */
static double grid_value(const space_param *q, long k)
{
    if (q->n_grid > 0) return q->grid[k];
    if (q->kind == PARAM_INT) return q->low + (double)k * int_step(q);
    if (q->grid_points <= 1 || k == 0) return q->low;
    if (k == q->grid_points - 1) return q->high;
    if (q->log) {
        double a = log10(q->low), b = log10(q->high);
        double x = pow(10.0, a + (double)k * (b - a) / (q->grid_points - 1));
        return x < q->low ? q->low : x > q->high ? q->high : x;
    }
    double t = (double)k / (q->grid_points - 1);
    return q->low + t * (q->high - q->low);
}

/* Is j a direct member of the group (parent, choice)? parent -1 = the roots. */
static int in_group(const space *s, int j, int parent, int choice)
{
    const space_param *q = &s->params[j];
    if (parent < 0) return q->parent < 0;
    return q->parent == parent && when_has(q, choice);
}

static long group_size(const space *s, const long *size, int parent, int choice)
{
    long total = 1;
    for (int j = parent + 1; j < s->n; j++)
        if (in_group(s, j, parent, choice)) total = sat(total * size[j]);
    return total;
}

static void grid_sizes(const space *s, long *size)
{
    for (int i = s->n - 1; i >= 0; i--) {
        const space_param *q = &s->params[i];
        if (q->kind != PARAM_CATEGORICAL) {
            size[i] = grid_levels(q);
            continue;
        }
        size[i] = 0;
        for (int c = 0; c < q->n_choices; c++)
            size[i] = sat(size[i] + group_size(s, size, i, c));
    }
}

int space_grid_size(const space *s, long *count, kerror *err)
{
    long size[SPACE_MAX_PARAMS];
    for (int i = 0; i < s->n; i++) {
        const space_param *q = &s->params[i];
        if (q->kind == PARAM_FLOAT && q->n_grid <= 0 && q->grid_points <= 0) {
            char path[KERROR_PATH_MAX];
            snprintf(path, sizeof path, "space.%s", q->name);
            return kerror_set(err, KE_INVALID, path,
                              "a grid search needs grid values or grid_points for a float");
        }
    }
    grid_sizes(s, size);
    *count = group_size(s, size, -1, 0);
    if (*count > GRID_MAX)
        return kerror_set(err, KE_INVALID, "space",
                          "the grid has more than %ld points", GRID_MAX);
    return KE_OK;
}

static void decode_param(const space *s, const long *size, int i, long idx, space_point *p);

/* Mixed radix over the group's members, the last member varying fastest. */
static void decode_group(const space *s, const long *size, int parent, int choice,
                         long idx, space_point *p)
{
    for (int j = s->n - 1; j > parent; j--) {
        if (!in_group(s, j, parent, choice)) continue;
        decode_param(s, size, j, idx % size[j], p);
        idx /= size[j];
    }
}

static void decode_param(const space *s, const long *size, int i, long idx, space_point *p)
{
    const space_param *q = &s->params[i];
    p->active[i] = 1;
    if (q->kind == PARAM_FIXED) return;
    if (q->kind != PARAM_CATEGORICAL) {
        p->x[i] = grid_value(q, idx);
        return;
    }
    for (int c = 0; c < q->n_choices; c++) {
        long block = group_size(s, size, i, c);
        if (idx < block) {
            p->x[i] = c;
            decode_group(s, size, i, c, idx, p);
            return;
        }
        idx -= block;
    }
}

void space_grid_snap(const space *s, space_point *p)
{
    for (int i = 0; i < s->n; i++) {
        const space_param *q = &s->params[i];
        if (!p->active[i] || q->kind != PARAM_FLOAT || q->n_grid > 0 || q->grid_points < 2)
            continue;
        double x = p->x[i];
        double t = q->log ? (log10(x) - log10(q->low)) / (log10(q->high) - log10(q->low))
                          : (x - q->low) / (q->high - q->low);
        double k = nearbyint(t * (q->grid_points - 1));
        if (!(k >= 0 && k <= q->grid_points - 1)) continue;   /* NaN too: off the grid */
        double v = grid_value(q, (long)k);
        if (fabs(x - v) <= 1e-12 * fabs(v)) p->x[i] = v;
    }
}

void space_grid_point(const space *s, long index, space_point *p)
{
    long size[SPACE_MAX_PARAMS];
    memset(p, 0, sizeof *p);
    grid_sizes(s, size);
    decode_group(s, size, -1, 0, index, p);
}
