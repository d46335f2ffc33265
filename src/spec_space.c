/* spec_space: the "space" section of a study spec (spec_space.h).
 * Invariant: values are checked for duplicates and looked up by sorting them
 * once (O(n log n)), so a spec's size never makes parsing quadratic. */
#define _GNU_SOURCE   /* qsort_r */
#include "spec_space.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"
#include "field.h"
#include "format.h"

#define MAX_GRID_POINTS 1000000
#define MAX_CHOICES 1000

static const char *const type_names[] = { "float", "int", "categorical", "fixed" };
static const char *const float_keys[] = { "type", "low", "high", "log", "grid", "grid_points", "when", NULL };
static const char *const int_keys[] = { "type", "low", "high", "step", "log", "grid", "when", NULL };
static const char *const cat_keys[] = { "type", "choices", "when", NULL };
static const char *const fixed_keys[] = { "type", "value", "when", NULL };
static const char *const any_param_keys[] = {
    "type", "low", "high", "step", "log", "grid", "grid_points", "choices", "value", "when", NULL,
};

/* A choice or fixed value: a string, or a number a double holds as written
 * (an integer beyond +-2^53 would reach the trial as its neighbour, as
 * json_number_value rounds it: 9007199254740993 ran as 9007199254740992). */
static int parse_value(param_value *out, const json_t *v, const char *path, kerror *err)
{
    if (json_is_integer(v) && (json_integer_value(v) > (json_int_t)FIELD_INT_LIMIT ||
                               json_integer_value(v) < -(json_int_t)FIELD_INT_LIMIT))
        return kerror_set(err, KE_INVALID, path,
                          "%" JSON_INTEGER_FORMAT " is beyond +-2^53, where an integer has no "
                          "exact value (write it as a string)", json_integer_value(v));
    if (json_is_number(v)) {
        out->num = json_number_value(v);
        return KE_OK;
    }
    if (!json_is_string(v)) return field_invalid(err, path, "must be a string or a number");
    if (json_string_length(v) > SPEC_TEXT_VALUE_MAX)
        return kerror_set(err, KE_INVALID, path, "must be at most %d bytes", SPEC_TEXT_VALUE_MAX);
    out->is_text = 1;
    return field_dup_string(&out->text, v, err);
}

/* ---- distinct values ----
 * Duplicate checks and condition lookups sort the values once (O(n log n)):
 * a spec's size alone must never make parsing, and so an engine step that
 * resumes the study, quadratic. */

/* Numbers before strings, numbers by value, strings by bytes; 0 exactly when
 * the two denote the same choice ("3" and 3 differ, 3 and 3.0 do not). */
static int value_cmp(const param_value *a, const param_value *b)
{
    if (a->is_text != b->is_text) return a->is_text - b->is_text;
    if (a->is_text) return strcmp(a->text, b->text);
    return (a->num > b->num) - (a->num < b->num);
}

static int choice_cmp(const void *base, size_t a, size_t b)
{
    const param_value *v = base;
    return value_cmp(&v[a], &v[b]);
}

static int grid_cmp(const void *base, size_t a, size_t b)
{
    const double *g = base;
    return (g[a] > g[b]) - (g[a] < g[b]);
}

typedef struct {
    const void *base;
    int (*cmp)(const void *base, size_t a, size_t b);
} order_ctx;

static int by_value_then_index(const void *pa, const void *pb, void *ctx)
{
    const order_ctx *o = ctx;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    int c = o->cmp(o->base, a, b);
    return c ? c : (a > b) - (a < b);
}

/* The indices 0..n-1 of base's values in sorted order (malloc'd; NULL when
 * out of memory), and in *dup the smallest index whose value equals an
 * earlier one's (n when all are distinct). */
static size_t *sorted_order(const void *base, size_t n,
                            int (*cmp)(const void *base, size_t a, size_t b), size_t *dup)
{
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!order) return NULL;
    for (size_t i = 0; i < n; i++) order[i] = i;
    order_ctx o = {base, cmp};
    qsort_r(order, n, sizeof *order, by_value_then_index, &o);
    *dup = n;
    for (size_t k = 1; k < n; k++)
        if (!cmp(base, order[k - 1], order[k]) && order[k] < *dup) *dup = order[k];
    return order;
}

/* Checks that base's n values are distinct; the first repeat is refused at
 * path[index] with msg. */
static int check_distinct(const void *base, size_t n,
                          int (*cmp)(const void *base, size_t a, size_t b), const char *path,
                          const char *msg, kerror *err)
{
    size_t dup;
    size_t *order = sorted_order(base, n, cmp, &dup);
    if (!order) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    free(order);
    if (dup == n) return KE_OK;
    char ep[KERROR_PATH_MAX];
    field_join_index(ep, path, dup);
    return field_invalid(err, ep, msg);
}

/* The index of q's choice that the JSON string or number v denotes, or -1;
 * order is q's choices sorted (sorted_order). */
static int find_choice(const space_param *q, const size_t *order, const json_t *v)
{
    param_value key = {.is_text = json_is_string(v), .num = json_number_value(v),
                       .text = (char *)json_string_value(v)};
    size_t lo = 0, hi = (size_t)q->n_choices;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (value_cmp(&q->choices[order[mid]], &key) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < (size_t)q->n_choices && !value_cmp(&q->choices[order[lo]], &key)
           ? (int)order[lo] : -1;
}

static int parse_choices(space_param *p, const json_t *def, const char *path, kerror *err)
{
    json_t *arr;
    char ap[KERROR_PATH_MAX], ep[KERROR_PATH_MAX];
    int rc = field_get(def, path, "choices", FIELD_ARRAY, 1, &arr, err);
    if (rc < 0) return rc;
    field_join(ap, path, "choices");
    size_t n = json_array_size(arr);
    if (n == 0) return field_invalid(err, ap, "must not be empty");
    if (n > MAX_CHOICES) return kerror_set(err, KE_INVALID, ap, "at most %d choices", MAX_CHOICES);
    p->choices = calloc(n, sizeof *p->choices);
    if (!p->choices) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        field_join_index(ep, ap, i);
        if ((rc = parse_value(&p->choices[i], json_array_get(arr, i), ep, err)) < 0) return rc;
        p->n_choices = (int)i + 1;
    }
    return check_distinct(p->choices, n, choice_cmp, ap, "duplicate choice", err);
}

static int parse_grid(space_param *p, const json_t *def, const char *path, kerror *err)
{
    json_t *arr;
    char ap[KERROR_PATH_MAX], ep[KERROR_PATH_MAX];
    int rc = field_get(def, path, "grid", FIELD_ARRAY, 0, &arr, err);
    if (rc <= 0) return rc;
    field_join(ap, path, "grid");
    size_t n = json_array_size(arr);
    if (n == 0) return field_invalid(err, ap, "must not be empty");
    if (n > MAX_GRID_POINTS)
        return kerror_set(err, KE_INVALID, ap, "at most %d values", MAX_GRID_POINTS);
    p->grid = calloc(n, sizeof *p->grid);
    if (!p->grid) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        field_join_index(ep, ap, i);
        int want = p->kind == PARAM_INT ? FIELD_INT : FIELD_NUMBER;
        if (!field_is_kind(v, want))
            return kerror_set(err, KE_INVALID, ep, "must be %s", field_kind_name(want));
        double x = json_number_value(v);
        char lo[32], hi[32], step[32];
        format_number(p->low, lo, sizeof lo);
        format_number(p->high, hi, sizeof hi);
        if (x < p->low || x > p->high)
            return kerror_set(err, KE_INVALID, ep, "must be within [%s, %s]", lo, hi);
        format_number(p->step, step, sizeof step);
        if (p->kind == PARAM_INT && fmod(x - p->low, p->step) != 0)
            return kerror_set(err, KE_INVALID, ep, "must be low + k*step (step %s)", step);
        p->grid[i] = x;
        p->n_grid = (int)i + 1;
    }
    return check_distinct(p->grid, n, grid_cmp, ap, "duplicate value", err);
}

/* 1 when an int parameter's bound v lies beyond +-2^53, as it is written:
 * 2^53 + 1 reads back as the double 2^53, and 1e17 is an integer too, just
 * not one a double holds exactly ("out of range", not "not an integer"). */
static int beyond_int_limit(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) > (json_int_t)FIELD_INT_LIMIT ||
               json_integer_value(v) < -(json_int_t)FIELD_INT_LIMIT;
    return json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
           fabs(json_real_value(v)) > FIELD_INT_LIMIT;
}

/* low/high/log/step for float and int parameters, then their grid. */
static int parse_range(space_param *p, const json_t *def, const char *path, kerror *err)
{
    int kind = p->kind == PARAM_INT ? FIELD_INT : FIELD_NUMBER;
    json_t *lo, *hi, *lg;
    char p_low[KERROR_PATH_MAX], p_high[KERROR_PATH_MAX];
    field_join(p_low, path, "low");
    field_join(p_high, path, "high");
    if (p->kind == PARAM_INT && beyond_int_limit(json_object_get(def, "low")))
        return field_invalid(err, p_low, "must be within +-2^53");
    if (p->kind == PARAM_INT && beyond_int_limit(json_object_get(def, "high")))
        return field_invalid(err, p_high, "must be within +-2^53");
    int rc = field_get(def, path, "low", kind, 1, &lo, err);
    if (rc < 0 || (rc = field_get(def, path, "high", kind, 1, &hi, err)) < 0) return rc;
    p->low = json_number_value(lo);
    p->high = json_number_value(hi);
    if (p->kind == PARAM_INT) {
        if (p->high < p->low) return field_invalid(err, p_high, "must be >= low");
        /* a value is low + k*step: exact only while k*step, at most high -
         * low, is within 2^53; past it the sum rounds, off its step (of
         * -2^53..2^53 step 3, 11 of 20 random values were) */
        if (p->high - p->low > FIELD_INT_LIMIT)
            return field_invalid(err, p_high, "high - low must be at most 2^53 = "
                                 "9007199254740992 (values past it are not exact)");
        long long step = 1;
        if ((rc = field_get_int_in(def, path, "step", 0, 1, (long long)FIELD_INT_LIMIT, &step, err)) < 0)
            return rc;
        p->step = (double)step;
    } else if (!(p->high > p->low)) {
        return field_invalid(err, p_high, "must be > low");
    } else if (!isfinite(p->high - p->low)) {
        /* low + u*(high - low) would be inf or NaN: every point at an end */
        return field_invalid(err, p_high, "high - low must be a finite number (below 1.8e308)");
    }
    if ((rc = field_get(def, path, "log", FIELD_BOOL, 0, &lg, err)) < 0) return rc;
    p->log = lg && json_is_true(lg);
    if (p->log && !(p->low > 0))
        return field_invalid(err, p_low, "must be > 0 for a log-scale parameter");
    if ((rc = parse_grid(p, def, path, err)) < 0) return rc;
    if (p->kind == PARAM_FLOAT) {
        long long gp = 0;
        if ((rc = field_get_int_in(def, path, "grid_points", 0, 2, MAX_GRID_POINTS, &gp, err)) < 0)
            return rc;
        if (gp && p->n_grid) {
            char pp[KERROR_PATH_MAX];
            field_join(pp, path, "grid_points");
            return field_invalid(err, pp, "cannot be combined with grid");
        }
        p->grid_points = (int)gp;
    }
    return KE_OK;
}

static int parse_param(space_param *p, const json_t *def, const char *path, kerror *err)
{
    static const char *const *const keys_of[] = { float_keys, int_keys, cat_keys, fixed_keys };
    json_t *t;
    if (!json_is_object(def)) return field_invalid(err, path, "must be an object");
    int rc = field_get(def, path, "type", FIELD_STRING, 1, &t, err);
    if (rc < 0) return rc;
    int kind = -1;
    for (int k = 0; k < 4; k++)
        if (!strcmp(json_string_value(t), type_names[k])) kind = k;
    if (kind < 0) {
        char tp[KERROR_PATH_MAX];
        field_join(tp, path, "type");
        return field_invalid(err, tp, "must be \"float\", \"int\", \"categorical\" or \"fixed\"");
    }
    p->kind = (param_kind)kind;
    if ((rc = field_check_keys(def, path, keys_of[kind], any_param_keys, type_names[kind], err)) < 0)
        return rc;
    if (p->kind == PARAM_FLOAT || p->kind == PARAM_INT) return parse_range(p, def, path, err);
    if (p->kind == PARAM_CATEGORICAL) return parse_choices(p, def, path, err);
    char vp[KERROR_PATH_MAX];
    field_join(vp, path, "value");
    const json_t *v = json_object_get(def, "value");
    if (!v) return field_invalid(err, vp, "required field missing");
    return parse_value(&p->fixed, v, vp, err);
}

/* Resolves param i's "when" {parent: value | [values]} into parent/when. */
static int parse_when(space *sp, int i, const json_t *w, kerror *err)
{
    space_param *p = &sp->params[i];
    char wp[KERROR_PATH_MAX], vp[KERROR_PATH_MAX], ep[KERROR_PATH_MAX];
    snprintf(wp, sizeof wp, "space.%s.when", p->name);
    if (!json_is_object(w) || json_object_size(w) != 1)
        return field_invalid(err, wp, "must be an object naming exactly one parameter");
    const char *pname = json_object_iter_key(json_object_iter((json_t *)w));
    const json_t *vals = json_object_iter_value(json_object_iter((json_t *)w));
    int j = space_find(sp, pname);
    if (j < 0) return kerror_set(err, KE_INVALID, wp, "unknown parameter '%s'", pname);
    if (sp->params[j].kind != PARAM_CATEGORICAL)
        return kerror_set(err, KE_INVALID, wp, "'%s' is not a categorical parameter", pname);
    field_join(vp, wp, pname);
    int is_arr = json_is_array(vals);
    size_t n = is_arr ? json_array_size(vals) : 1;
    if (n == 0) return field_invalid(err, vp, "must not be empty");
    p->parent = j;
    const space_param *q = &sp->params[j];
    size_t dup;
    size_t *order = sorted_order(q->choices, (size_t)q->n_choices, choice_cmp, &dup);
    unsigned char *seen = calloc((size_t)q->n_choices, 1);
    p->when = calloc(n, sizeof *p->when);
    int rc = order && seen && p->when ? KE_OK : kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (size_t k = 0; k < n && rc == KE_OK; k++) {
        const json_t *v = is_arr ? json_array_get(vals, k) : vals;
        if (is_arr) field_join_index(ep, vp, k);
        else snprintf(ep, sizeof ep, "%s", vp);
        int c = -1;
        if (!json_is_string(v) && !json_is_number(v))
            rc = field_invalid(err, ep, "must be a string, a number or an array of them");
        else if ((c = find_choice(q, order, v)) < 0)
            rc = kerror_set(err, KE_INVALID, ep, "not a choice of '%s'", pname);
        else if (seen[c]++)
            rc = field_invalid(err, ep, "duplicate value");
        else
            p->when[p->n_when++] = c;
    }
    free(order);
    free(seen);
    return rc;
}

/* Moves tmp's params into out, parents first: repeatedly takes the earliest
 * declared parameter whose parent is placed (the smallest topological order
 * by declaration index). tmp must be acyclic; it is left owning nothing. */
static void order_params(space *tmp, space *out)
{
    int placed[SPACE_MAX_PARAMS] = { 0 }, new_index[SPACE_MAX_PARAMS], order[SPACE_MAX_PARAMS];
    for (int k = 0; k < tmp->n; k++) {
        int i = 0;
        while (placed[i] || (tmp->params[i].parent >= 0 && !placed[tmp->params[i].parent])) i++;
        placed[i] = 1;
        new_index[i] = k;
        order[k] = i;
    }
    out->n = tmp->n;
    for (int k = 0; k < tmp->n; k++) {
        out->params[k] = tmp->params[order[k]];
        if (out->params[k].parent >= 0) out->params[k].parent = new_index[out->params[k].parent];
    }
    tmp->n = 0;
}

static int check_param_name(const char *name, const char *path, kerror *err)
{
    if (strlen(name) >= SPACE_NAME_MAX ||
        !field_matches_charset(name, FIELD_IDENT_FIRST, FIELD_IDENT_FIRST "0123456789"))
        return field_invalid(err, path, "parameter name must match [A-Za-z_][A-Za-z0-9_]{0,62}");
    if (!strcmp(name, "trial") || !strcmp(name, "study"))
        return field_invalid(err, path, "name reserved for the built-in placeholder");
    return KE_OK;
}

static int parse_space_into(space *tmp, const json_t *obj, kerror *err)
{
    const json_t *when[SPACE_MAX_PARAMS];
    const char *name;
    json_t *def;
    int rc;
    json_object_foreach((json_t *)obj, name, def) {
        char path[KERROR_PATH_MAX];
        field_join(path, "space", name);
        if ((rc = check_param_name(name, path, err)) < 0) return rc;
        space_param *p = &tmp->params[tmp->n];
        memset(p, 0, sizeof *p);
        p->parent = -1;
        strcpy(p->name, name);
        tmp->n++;
        if ((rc = parse_param(p, def, path, err)) < 0) return rc;
        when[tmp->n - 1] = json_object_get(def, "when");
    }
    for (int i = 0; i < tmp->n; i++)
        if (when[i] && (rc = parse_when(tmp, i, when[i], err)) < 0) return rc;
    for (int i = 0; i < tmp->n; i++) {
        int j = tmp->params[i].parent;
        for (int steps = 0; j >= 0 && steps < tmp->n; steps++, j = tmp->params[j].parent) {
            if (j == i) {
                char wp[KERROR_PATH_MAX];
                snprintf(wp, sizeof wp, "space.%s.when", tmp->params[i].name);
                return field_invalid(err, wp, "circular condition: the parameter depends on itself");
            }
        }
    }
    return KE_OK;
}

int spec_space_parse(space *out, const json_t *doc, kerror *err)
{
    json_t *obj;
    int rc = field_get(doc, "", "space", FIELD_OBJECT, 1, &obj, err);
    if (rc < 0) return rc;
    if (json_object_size(obj) == 0)
        return field_invalid(err, "space", "must define at least one parameter");
    if (json_object_size(obj) > SPACE_MAX_PARAMS)
        return kerror_set(err, KE_INVALID, "space", "at most %d parameters", SPACE_MAX_PARAMS);
    space tmp;
    tmp.n = 0;
    rc = parse_space_into(&tmp, obj, err);
    if (rc < 0) {
        space_free(&tmp);
        return rc;
    }
    order_params(&tmp, out);
    return KE_OK;
}
