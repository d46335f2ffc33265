/* spec: parses and validates a study spec (the format is docs/spec.md) into a
 * spec_study (spec_command.c expands its command template for one trial).
 * Invariant: spec_parse either returns KE_OK with every field validated (the
 * space ordered parents-first, the strategy's options accepted by the
 * strategy itself) or fails with a JSON path and leaves nothing allocated. */
#define _GNU_SOURCE   /* qsort_r, asprintf */
#include "spec.h"

#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nearest.h"
#include "spec_command.h"
#include "testfn.h"
#include "../trainer/train.h"
#include "../search/pruner.h"
#include "../search/strategy.h"

#define NAME_MAX_LEN 128
#define METRIC_MAX_LEN 63
#define MAX_TRIALS 1000000
#define MAX_PARALLEL 256
#define MAX_RETRIES 100
#define MAX_GRID_POINTS 1000000
#define MAX_CHOICES 1000
#define INT_PARAM_LIMIT 9007199254740992.0   /* 2^53: ints stay exact as doubles */
#define KILL_GRACE_DEFAULT 5.0

enum { F_STRING, F_NUMBER, F_INT, F_BOOL, F_OBJECT, F_ARRAY };
static const char *const kind_names[] = {
    "a string", "a number", "an integer", "a boolean", "an object", "an array",
};

/* out = a b c, cut at KERROR_PATH_MAX: a path to an absurdly long key is
 * shortened rather than refused, the message still says what is wrong. */
static void path_cat(char *out, const char *a, const char *b, const char *c)
{
    const char *parts[3] = { a, b, c };
    size_t n = 0;
    for (int k = 0; k < 3; k++)
        for (const char *s = parts[k]; *s && n < KERROR_PATH_MAX - 1; s++) out[n++] = *s;
    out[n] = '\0';
}

static void join(char *out, const char *base, const char *key)
{
    path_cat(out, base, base[0] ? "." : "", key);
}

static void join_index(char *out, const char *base, size_t i)
{
    char idx[32];
    snprintf(idx, sizeof idx, "[%zu]", i);
    path_cat(out, base, idx, "");
}

/* "a, b, c" from a registry's name_at(i) (NULL past the last name). */
static const char *registry_names(const char *(*name_at)(int), char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; name_at(i) && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? ", " : "", name_at(i));
    return out;
}

static int invalid(kerror *err, const char *path, const char *msg)
{
    return kerror_set(err, KE_INVALID, path, "%s", msg);
}

static int is_kind(const json_t *v, int kind)
{
    switch (kind) {
    case F_STRING: return json_is_string(v);
    case F_NUMBER: return json_is_number(v);
    case F_INT:
        if (json_is_integer(v)) return 1;
        return json_is_real(v) && json_real_value(v) == floor(json_real_value(v))
               && fabs(json_real_value(v)) <= INT_PARAM_LIMIT;
    case F_BOOL: return json_is_boolean(v);
    case F_OBJECT: return json_is_object(v);
    default: return json_is_array(v);
    }
}

static long long int_value(const json_t *v)
{
    return json_is_integer(v) ? (long long)json_integer_value(v)
                              : (long long)json_real_value(v);
}

/* Looks up obj.key: 1 when present and of the wanted kind, 0 when absent and
 * optional, KE_INVALID otherwise. */
static int get(const json_t *obj, const char *path, const char *key, int kind,
               int required, json_t **out, kerror *err)
{
    char p[KERROR_PATH_MAX];
    join(p, path, key);
    *out = json_object_get(obj, key);
    if (!*out)
        return required ? invalid(err, p, "required field missing") : 0;
    if (!is_kind(*out, kind))
        return kerror_set(err, KE_INVALID, p, "must be %s", kind_names[kind]);
    return 1;
}

static int in_list(const char *key, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(*list, key)) return 1;
    return 0;
}

/* Rejects keys of obj outside allowed; a key that belongs to other_of (the
 * fields of some other parameter type) gets a message naming the type. */
static int check_keys(const json_t *obj, const char *path, const char *const *allowed,
                      const char *const *other_of, const char *type, kerror *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (in_list(key, allowed)) continue;
        char p[KERROR_PATH_MAX];
        join(p, path, key);
        if (other_of && in_list(key, other_of))
            return kerror_set(err, KE_INVALID, p, "not allowed for type %s", type);
        const char *near = nearest_name(key, allowed);
        if (near) return kerror_set(err, KE_INVALID, p, "unknown field (did you mean '%s'?)", near);
        return invalid(err, p, "unknown field");
    }
    return KE_OK;
}

static int dup_string(char **out, const json_t *v, kerror *err)
{
    *out = strdup(json_string_value(v));
    return *out ? KE_OK : kerror_set(err, KE_NOMEM, NULL, "out of memory");
}

static int out_of_range(const char *path, const char *key, long long lo, long long hi,
                        kerror *err)
{
    char p[KERROR_PATH_MAX];
    join(p, path, key);
    if (hi == LLONG_MAX) return kerror_set(err, KE_INVALID, p, "must be >= %lld", lo);
    return kerror_set(err, KE_INVALID, p, "must be between %lld and %lld", lo, hi);
}

/* Optional integer field in [lo, hi]. */
static int get_int_in(const json_t *obj, const char *path, const char *key, int required,
                      long long lo, long long hi, long long *out, kerror *err)
{
    /* 1e20 is an integer too, just not one a double holds exactly: out of
     * range, not "must be an integer" */
    const json_t *raw = json_object_get(obj, key);
    if (json_is_real(raw) && json_real_value(raw) == floor(json_real_value(raw)) &&
        fabs(json_real_value(raw)) > INT_PARAM_LIMIT)
        return out_of_range(path, key, lo, hi, err);
    json_t *v;
    int rc = get(obj, path, key, F_INT, required, &v, err);
    if (rc <= 0) return rc;
    long long x = int_value(v);
    if (x < lo || x > hi) return out_of_range(path, key, lo, hi, err);
    *out = x;
    return KE_OK;
}

/* Optional number field, > 0 when positive is set, else >= 0. */
static int get_nonneg(const json_t *obj, const char *path, const char *key, int positive,
                      double *out, kerror *err)
{
    json_t *v;
    int rc = get(obj, path, key, F_NUMBER, 0, &v, err);
    if (rc <= 0) return rc;
    double x = json_number_value(v);
    if (positive ? !(x > 0) : !(x >= 0)) {
        char p[KERROR_PATH_MAX];
        join(p, path, key);
        return invalid(err, p, positive ? "must be > 0" : "must be >= 0");
    }
    *out = x;
    return KE_OK;
}

static int matches_charset(const char *s, const char *first, const char *rest)
{
    if (!*s || !strchr(first, *s)) return 0;
    for (s++; *s; s++)
        if (!strchr(rest, *s)) return 0;
    return 1;
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define IDENT_FIRST "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"

static int parse_header(spec_study *s, const json_t *doc, kerror *err)
{
    static const char *const objective_keys[] = { "metric", "direction", "goal", NULL };
    json_t *v, *obj;
    int rc = get(doc, "", "name", F_STRING, 1, &v, err);
    if (rc < 0) return rc;
    const char *name = json_string_value(v);
    /* The name becomes a directory under the work dir: no "." or "..". */
    if (strlen(name) > NAME_MAX_LEN || !matches_charset(name, ALNUM "_", ALNUM "_.-"))
        return invalid(err, "name", "must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
    if ((rc = dup_string(&s->name, v, err)) < 0) return rc;

    if ((rc = get(doc, "", "objective", F_OBJECT, 1, &obj, err)) < 0) return rc;
    if ((rc = check_keys(obj, "objective", objective_keys, NULL, NULL, err)) < 0) return rc;
    if ((rc = get(obj, "objective", "metric", F_STRING, 1, &v, err)) < 0) return rc;
    size_t len = strlen(json_string_value(v));
    if (len == 0 || len > METRIC_MAX_LEN)
        return invalid(err, "objective.metric", "must be 1 to 63 characters");
    if ((rc = dup_string(&s->metric, v, err)) < 0) return rc;
    if ((rc = get(obj, "objective", "direction", F_STRING, 0, &v, err)) < 0) return rc;
    if (v) {
        const char *d = json_string_value(v);
        if (strcmp(d, "minimize") && strcmp(d, "maximize"))
            return invalid(err, "objective.direction", "must be \"minimize\" or \"maximize\"");
        s->maximize = !strcmp(d, "maximize");
    }
    if ((rc = get(obj, "objective", "goal", F_NUMBER, 0, &v, err)) < 0) return rc;
    if (v) {
        s->goal = json_number_value(v);
        if (!isfinite(s->goal)) return invalid(err, "objective.goal", "must be a finite number");
        s->has_goal = 1;
    }
    return KE_OK;
}

/* ---- space ---- */

static const char *const type_names[] = { "float", "int", "categorical", "fixed" };
static const char *const float_keys[] = { "type", "low", "high", "log", "grid", "grid_points", "when", NULL };
static const char *const int_keys[] = { "type", "low", "high", "step", "log", "grid", "when", NULL };
static const char *const cat_keys[] = { "type", "choices", "when", NULL };
static const char *const fixed_keys[] = { "type", "value", "when", NULL };
static const char *const any_param_keys[] = {
    "type", "low", "high", "step", "log", "grid", "grid_points", "choices", "value", "when", NULL,
};

static int parse_value(param_value *out, const json_t *v, const char *path, kerror *err)
{
    if (json_is_number(v)) {
        out->num = json_number_value(v);
        return KE_OK;
    }
    if (!json_is_string(v)) return invalid(err, path, "must be a string or a number");
    if (json_string_length(v) > SPEC_TEXT_VALUE_MAX)
        return kerror_set(err, KE_INVALID, path, "must be at most %d bytes", SPEC_TEXT_VALUE_MAX);
    out->is_text = 1;
    return dup_string(&out->text, v, err);
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
    join_index(ep, path, dup);
    return invalid(err, ep, msg);
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
    int rc = get(def, path, "choices", F_ARRAY, 1, &arr, err);
    if (rc < 0) return rc;
    join(ap, path, "choices");
    size_t n = json_array_size(arr);
    if (n == 0) return invalid(err, ap, "must not be empty");
    if (n > MAX_CHOICES) return kerror_set(err, KE_INVALID, ap, "at most %d choices", MAX_CHOICES);
    p->choices = calloc(n, sizeof *p->choices);
    if (!p->choices) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        join_index(ep, ap, i);
        if ((rc = parse_value(&p->choices[i], json_array_get(arr, i), ep, err)) < 0) return rc;
        p->n_choices = (int)i + 1;
    }
    return check_distinct(p->choices, n, choice_cmp, ap, "duplicate choice", err);
}

static int parse_grid(space_param *p, const json_t *def, const char *path, kerror *err)
{
    json_t *arr;
    char ap[KERROR_PATH_MAX], ep[KERROR_PATH_MAX];
    int rc = get(def, path, "grid", F_ARRAY, 0, &arr, err);
    if (rc <= 0) return rc;
    join(ap, path, "grid");
    size_t n = json_array_size(arr);
    if (n == 0) return invalid(err, ap, "must not be empty");
    if (n > MAX_GRID_POINTS)
        return kerror_set(err, KE_INVALID, ap, "at most %d values", MAX_GRID_POINTS);
    p->grid = calloc(n, sizeof *p->grid);
    if (!p->grid) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        join_index(ep, ap, i);
        int want = p->kind == PARAM_INT ? F_INT : F_NUMBER;
        if (!is_kind(v, want)) return kerror_set(err, KE_INVALID, ep, "must be %s", kind_names[want]);
        double x = json_number_value(v);
        if (x < p->low || x > p->high)
            return kerror_set(err, KE_INVALID, ep, "must be within [%.17g, %.17g]", p->low, p->high);
        if (p->kind == PARAM_INT && fmod(x - p->low, p->step) != 0)
            return kerror_set(err, KE_INVALID, ep, "must be low + k*step (step %.17g)", p->step);
        p->grid[i] = x;
        p->n_grid = (int)i + 1;
    }
    return check_distinct(p->grid, n, grid_cmp, ap, "duplicate value", err);
}

/* low/high/log/step for float and int parameters, then their grid. */
static int parse_range(space_param *p, const json_t *def, const char *path, kerror *err)
{
    int kind = p->kind == PARAM_INT ? F_INT : F_NUMBER;
    json_t *lo, *hi, *lg;
    char p_low[KERROR_PATH_MAX], p_high[KERROR_PATH_MAX];
    join(p_low, path, "low");
    join(p_high, path, "high");
    int rc = get(def, path, "low", kind, 1, &lo, err);
    if (rc < 0 || (rc = get(def, path, "high", kind, 1, &hi, err)) < 0) return rc;
    p->low = json_number_value(lo);
    p->high = json_number_value(hi);
    if (p->kind == PARAM_INT) {
        if (fabs(p->low) > INT_PARAM_LIMIT) return invalid(err, p_low, "must be within +-2^53");
        if (fabs(p->high) > INT_PARAM_LIMIT) return invalid(err, p_high, "must be within +-2^53");
        if (p->high < p->low) return invalid(err, p_high, "must be >= low");
        long long step = 1;
        if ((rc = get_int_in(def, path, "step", 0, 1, (long long)INT_PARAM_LIMIT, &step, err)) < 0)
            return rc;
        p->step = (double)step;
    } else if (!(p->high > p->low)) {
        return invalid(err, p_high, "must be > low");
    } else if (!isfinite(p->high - p->low)) {
        /* low + u*(high - low) would be inf or NaN: every point at an end */
        return invalid(err, p_high, "high - low must be a finite number (below 1.8e308)");
    }
    if ((rc = get(def, path, "log", F_BOOL, 0, &lg, err)) < 0) return rc;
    p->log = lg && json_is_true(lg);
    if (p->log && !(p->low > 0)) return invalid(err, p_low, "must be > 0 for a log-scale parameter");
    if ((rc = parse_grid(p, def, path, err)) < 0) return rc;
    if (p->kind == PARAM_FLOAT) {
        long long gp = 0;
        if ((rc = get_int_in(def, path, "grid_points", 0, 2, MAX_GRID_POINTS, &gp, err)) < 0)
            return rc;
        if (gp && p->n_grid) {
            char pp[KERROR_PATH_MAX];
            join(pp, path, "grid_points");
            return invalid(err, pp, "cannot be combined with grid");
        }
        p->grid_points = (int)gp;
    }
    return KE_OK;
}

static int parse_param(space_param *p, const json_t *def, const char *path, kerror *err)
{
    static const char *const *const keys_of[] = { float_keys, int_keys, cat_keys, fixed_keys };
    json_t *t;
    if (!json_is_object(def)) return invalid(err, path, "must be an object");
    int rc = get(def, path, "type", F_STRING, 1, &t, err);
    if (rc < 0) return rc;
    int kind = -1;
    for (int k = 0; k < 4; k++)
        if (!strcmp(json_string_value(t), type_names[k])) kind = k;
    if (kind < 0) {
        char tp[KERROR_PATH_MAX];
        join(tp, path, "type");
        return invalid(err, tp, "must be \"float\", \"int\", \"categorical\" or \"fixed\"");
    }
    p->kind = (param_kind)kind;
    if ((rc = check_keys(def, path, keys_of[kind], any_param_keys, type_names[kind], err)) < 0)
        return rc;
    if (p->kind == PARAM_FLOAT || p->kind == PARAM_INT) return parse_range(p, def, path, err);
    if (p->kind == PARAM_CATEGORICAL) return parse_choices(p, def, path, err);
    char vp[KERROR_PATH_MAX];
    join(vp, path, "value");
    const json_t *v = json_object_get(def, "value");
    if (!v) return invalid(err, vp, "required field missing");
    return parse_value(&p->fixed, v, vp, err);
}

/* Resolves param i's "when" {parent: value | [values]} into parent/when. */
static int parse_when(space *sp, int i, const json_t *w, kerror *err)
{
    space_param *p = &sp->params[i];
    char wp[KERROR_PATH_MAX], vp[KERROR_PATH_MAX], ep[KERROR_PATH_MAX];
    snprintf(wp, sizeof wp, "space.%s.when", p->name);
    if (!json_is_object(w) || json_object_size(w) != 1)
        return invalid(err, wp, "must be an object naming exactly one parameter");
    const char *pname = json_object_iter_key(json_object_iter((json_t *)w));
    const json_t *vals = json_object_iter_value(json_object_iter((json_t *)w));
    int j = space_find(sp, pname);
    if (j < 0) return kerror_set(err, KE_INVALID, wp, "unknown parameter '%s'", pname);
    if (sp->params[j].kind != PARAM_CATEGORICAL)
        return kerror_set(err, KE_INVALID, wp, "'%s' is not a categorical parameter", pname);
    join(vp, wp, pname);
    int is_arr = json_is_array(vals);
    size_t n = is_arr ? json_array_size(vals) : 1;
    if (n == 0) return invalid(err, vp, "must not be empty");
    p->parent = j;
    const space_param *q = &sp->params[j];
    size_t dup;
    size_t *order = sorted_order(q->choices, (size_t)q->n_choices, choice_cmp, &dup);
    unsigned char *seen = calloc((size_t)q->n_choices, 1);
    p->when = calloc(n, sizeof *p->when);
    int rc = order && seen && p->when ? KE_OK : kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (size_t k = 0; k < n && rc == KE_OK; k++) {
        const json_t *v = is_arr ? json_array_get(vals, k) : vals;
        if (is_arr) join_index(ep, vp, k);
        else snprintf(ep, sizeof ep, "%s", vp);
        int c = -1;
        if (!json_is_string(v) && !json_is_number(v))
            rc = invalid(err, ep, "must be a string, a number or an array of them");
        else if ((c = find_choice(q, order, v)) < 0)
            rc = kerror_set(err, KE_INVALID, ep, "not a choice of '%s'", pname);
        else if (seen[c]++)
            rc = invalid(err, ep, "duplicate value");
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
    if (strlen(name) >= SPACE_NAME_MAX || !matches_charset(name, IDENT_FIRST, IDENT_FIRST "0123456789"))
        return invalid(err, path, "parameter name must match [A-Za-z_][A-Za-z0-9_]{0,62}");
    if (!strcmp(name, "trial") || !strcmp(name, "study"))
        return invalid(err, path, "name reserved for the built-in placeholder");
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
        join(path, "space", name);
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
                return invalid(err, wp, "circular condition: the parameter depends on itself");
            }
        }
    }
    return KE_OK;
}

static int parse_space(spec_study *s, const json_t *doc, kerror *err)
{
    json_t *obj;
    int rc = get(doc, "", "space", F_OBJECT, 1, &obj, err);
    if (rc < 0) return rc;
    if (json_object_size(obj) == 0) return invalid(err, "space", "must define at least one parameter");
    if (json_object_size(obj) > SPACE_MAX_PARAMS)
        return kerror_set(err, KE_INVALID, "space", "at most %d parameters", SPACE_MAX_PARAMS);
    space tmp;
    tmp.n = 0;
    rc = parse_space_into(&tmp, obj, err);
    if (rc < 0) {
        space_free(&tmp);
        return rc;
    }
    order_params(&tmp, &s->space);
    return KE_OK;
}

/* ---- budget, strategy ---- */

static int parse_budget(spec_study *s, const json_t *doc, kerror *err)
{
    static const char *const keys[] = {
        "max_trials", "max_parallel", "max_seconds", "trial_timeout", "max_retries",
        "max_failures", NULL,
    };
    json_t *b;
    long long trials = 0, parallel = 1, retries = 0, failures = SPEC_MAX_FAILURES_DEFAULT;
    int rc = get(doc, "", "budget", F_OBJECT, 1, &b, err);
    if (rc < 0) return rc;
    if ((rc = check_keys(b, "budget", keys, NULL, NULL, err)) < 0 ||
        (rc = get_int_in(b, "budget", "max_trials", 1, 1, MAX_TRIALS, &trials, err)) < 0 ||
        (rc = get_int_in(b, "budget", "max_parallel", 0, 1, MAX_PARALLEL, &parallel, err)) < 0 ||
        (rc = get_nonneg(b, "budget", "max_seconds", 0, &s->budget.max_seconds, err)) < 0 ||
        (rc = get_nonneg(b, "budget", "trial_timeout", 0, &s->budget.trial_timeout, err)) < 0 ||
        (rc = get_int_in(b, "budget", "max_retries", 0, 0, MAX_RETRIES, &retries, err)) < 0 ||
        (rc = get_int_in(b, "budget", "max_failures", 0, 0, MAX_TRIALS, &failures, err)) < 0)
        return rc;
    s->budget.max_trials = (int)trials;
    s->budget.max_parallel = (int)parallel;
    s->budget.max_retries = (int)retries;
    s->budget.max_failures = (int)failures;
    return KE_OK;
}

/* "enqueue": configurations of the space to run before the strategy's own
 * suggestions, each checked like a point given by hand. */
static int parse_enqueue(spec_study *s, const json_t *doc, kerror *err)
{
    json_t *arr;
    int rc = get(doc, "", "enqueue", F_ARRAY, 0, &arr, err);
    if (rc <= 0) return rc;
    if (json_array_size(arr) > MAX_TRIALS)
        return kerror_set(err, KE_INVALID, "enqueue", "at most %d configurations", MAX_TRIALS);
    if (json_array_size(arr) == 0) return KE_OK;
    s->enqueue = calloc(json_array_size(arr), sizeof *s->enqueue);
    if (!s->enqueue) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        char p[KERROR_PATH_MAX];
        snprintf(p, sizeof p, "enqueue[%zu]", i);
        if ((rc = space_point_from_json(&s->space, v, p, &s->enqueue[i], err)) < 0) return rc;
        s->n_enqueue++;
    }
    return KE_OK;
}

/* Makes a path from a strategy or space relative to the spec root. */
static void root_path(kerror *err, const char *prefix)
{
    if (!err || !strncmp(err->path, "strategy", 8) || !strncmp(err->path, "space", 5)) return;
    char p[KERROR_PATH_MAX];
    path_cat(p, prefix, err->path[0] && err->path[0] != '[' ? "." : "", err->path);
    memcpy(err->path, p, sizeof p);
}

static int parse_strategy(spec_study *s, const json_t *doc, kerror *err)
{
    static const char *const keys[] = { "name", "seed", "options", NULL };
    json_t *obj, *v, *opts;
    long long seed = 0;
    int rc = get(doc, "", "strategy", F_OBJECT, 1, &obj, err);
    if (rc < 0 || (rc = check_keys(obj, "strategy", keys, NULL, NULL, err)) < 0 ||
        (rc = get(obj, "strategy", "name", F_STRING, 1, &v, err)) < 0 ||
        (rc = get_int_in(obj, "strategy", "seed", 0, 0, LLONG_MAX, &seed, err)) < 0 ||
        (rc = get(obj, "strategy", "options", F_OBJECT, 0, &opts, err)) < 0)
        return rc;
    const strategy_ops *ops = strategy_find(json_string_value(v));
    char known[256];
    if (!ops)
        return kerror_set(err, KE_INVALID, "strategy.name", "unknown strategy '%s' (known: %s)",
                          json_string_value(v), registry_names(strategy_name_at, known, sizeof known));
    if ((rc = dup_string(&s->strategy, v, err)) < 0) return rc;
    s->seed = (uint64_t)seed;
    s->strategy_options = opts ? json_incref(opts) : NULL;

    strategy *st = NULL;
    rc = ops->create(&st, &s->space, opts, s->seed, err);
    if (rc < 0) {
        root_path(err, "strategy.options");
        return rc;
    }
    ops->destroy(st);
    if (!strcmp(ops->name, "grid")) {
        long count;
        if ((rc = space_grid_size(&s->space, &count, err)) < 0) {
            root_path(err, "space");
            return rc;
        }
    }
    return KE_OK;
}

/* The optional pruner, validated by building and dropping it. */
static int parse_pruner(spec_study *s, const json_t *doc, kerror *err)
{
    static const char *const keys[] = { "name", "options", NULL };
    json_t *obj, *v, *opts;
    int rc = get(doc, "", "pruner", F_OBJECT, 0, &obj, err);
    if (rc <= 0) return rc;
    if ((rc = check_keys(obj, "pruner", keys, NULL, NULL, err)) < 0 ||
        (rc = get(obj, "pruner", "name", F_STRING, 1, &v, err)) < 0 ||
        (rc = get(obj, "pruner", "options", F_OBJECT, 0, &opts, err)) < 0)
        return rc;
    const pruner_ops *ops = pruner_find(json_string_value(v));
    char known[256];
    if (!ops)
        return kerror_set(err, KE_INVALID, "pruner.name", "unknown pruner '%s' (known: %s)",
                          json_string_value(v), registry_names(pruner_name_at, known, sizeof known));
    if ((rc = dup_string(&s->pruner, v, err)) < 0) return rc;
    s->pruner_options = opts ? json_incref(opts) : NULL;
    pruner *p = NULL;
    if ((rc = ops->create(&p, opts, err)) < 0) return rc;
    ops->destroy(p);
    return KE_OK;
}

/* ---- run ---- */

static int parse_function(spec_study *s, const json_t *v, kerror *err)
{
    const char *name = json_string_value(v);
    const testfn *f = testfn_find(name);
    if (!f) {
        char known[512] = "";
        for (const testfn *const *it = testfn_all(); *it; it++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                     known[0] ? ", " : "", (*it)->name);
        return kerror_set(err, KE_INVALID, "run.function", "unknown function '%s' (known: %s)",
                          name, known);
    }
    for (int d = 1; d <= f->dim; d++) {
        char x[16], path[KERROR_PATH_MAX];
        snprintf(x, sizeof x, "x%d", d);
        int i = space_find(&s->space, x);
        if (i < 0)
            return kerror_set(err, KE_INVALID, "space", "function '%s' needs a float or int parameter '%s'",
                              name, x);
        join(path, "space", x);
        const space_param *p = &s->space.params[i];
        if (p->kind != PARAM_FLOAT && p->kind != PARAM_INT)
            return kerror_set(err, KE_INVALID, path, "must be a float or int parameter for function '%s'", name);
        if (p->parent >= 0)
            return kerror_set(err, KE_INVALID, path, "must not be conditional for function '%s'", name);
    }
    s->run.kind = RUN_FUNCTION;
    return dup_string(&s->run.function, v, err);
}

static int parse_env(spec_study *s, const json_t *run, kerror *err)
{
    json_t *env, *v;
    const char *key;
    int rc = get(run, "run", "env", F_OBJECT, 0, &env, err);
    if (rc <= 0) return rc;
    size_t n = 0;
    s->run.env = calloc(json_object_size(env) + 1, sizeof *s->run.env);
    if (!s->run.env) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    json_object_foreach(env, key, v) {
        char path[KERROR_PATH_MAX];
        join(path, "run.env", key);
        if (!matches_charset(key, IDENT_FIRST, IDENT_FIRST "0123456789"))
            return invalid(err, path, "variable name must match [A-Za-z_][A-Za-z0-9_]*");
        if (!json_is_string(v)) return invalid(err, path, "must be a string");
        size_t len = strlen(key) + json_string_length(v) + 2;
        if (!(s->run.env[n] = malloc(len))) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
        snprintf(s->run.env[n++], len, "%s=%s", key, json_string_value(v));
    }
    return KE_OK;
}

static int parse_command(spec_study *s, const json_t *run, const json_t *cmd, kerror *err)
{
    json_t *cwd;
    int rc;
    s->run.kind = RUN_COMMAND;
    if (json_is_string(cmd)) {
        if (!json_string_length(cmd)) return invalid(err, "run.command", "must not be empty");
        if ((rc = spec_command_check(s, json_string_value(cmd), 1, "run.command", err)) < 0)
            return rc;
        if ((rc = dup_string(&s->run.shell, cmd, err)) < 0) return rc;
    } else if (json_is_array(cmd) && json_array_size(cmd) > 0) {
        size_t n = json_array_size(cmd);
        if (!(s->run.argv = calloc(n + 1, sizeof *s->run.argv)))
            return kerror_set(err, KE_NOMEM, NULL, "out of memory");
        for (size_t i = 0; i < n; i++) {
            const json_t *a = json_array_get(cmd, i);
            char path[KERROR_PATH_MAX];
            join_index(path, "run.command", i);
            if (!json_is_string(a)) return invalid(err, path, "must be a string");
            if (i == 0 && !json_string_length(a)) return invalid(err, path, "must not be empty");
            if ((rc = spec_command_check(s, json_string_value(a), 0, path, err)) < 0) return rc;
            if ((rc = dup_string(&s->run.argv[i], a, err)) < 0) return rc;
        }
    } else {
        return invalid(err, "run.command", "must be a string or a non-empty array of strings");
    }
    if ((rc = parse_env(s, run, err)) < 0) return rc;
    if ((rc = get(run, "run", "cwd", F_STRING, 0, &cwd, err)) <= 0) return rc;
    if (!json_string_length(cwd)) return invalid(err, "run.cwd", "must not be empty");
    return dup_string(&s->run.cwd, cwd, err);
}

/* The trainer reports a fixed set of metrics: a typo in the objective
 * ("val_acc") would fail every trial, so it is refused here. */
static int check_trainer_metric(const char *metric, kerror *err)
{
    static const char *const names[] = {TRAIN_METRIC_NAMES};
    char known[512] = "";
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (!strcmp(metric, names[i])) return KE_OK;
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                 names[i]);
    }
    return kerror_set(err, KE_INVALID, "objective.metric", "the trainer reports no metric "
                      "'%s' (it reports %s)", metric, known);
}

/* run.resources: what a worker must have free to be handed a trial. */
static int parse_resources(spec_study *s, const json_t *run, kerror *err)
{
    static const char *const keys[] = {"gpus", NULL};
    json_t *res;
    long long gpus = 0;
    int rc = get(run, "run", "resources", F_OBJECT, 0, &res, err);
    if (rc <= 0) return rc;
    if ((rc = check_keys(res, "run.resources", keys, NULL, NULL, err)) < 0 ||
        (rc = get_int_in(res, "run.resources", "gpus", 0, 0, 64, &gpus, err)) < 0)
        return rc;
    s->run.gpus = (int)gpus;
    return KE_OK;
}

static int parse_run(spec_study *s, const json_t *doc, kerror *err)
{
    static const char *const keys[] = { "function", "command", "trainer", "env", "cwd", "kill_grace",
                                        "keep_checkpoints", "resources", NULL };
    json_t *run, *fn, *tr, *keep;
    int rc = get(doc, "", "run", F_OBJECT, 1, &run, err);
    if (rc < 0 || (rc = check_keys(run, "run", keys, NULL, NULL, err)) < 0) return rc;
    if ((rc = parse_resources(s, run, err)) < 0) return rc;
    const json_t *cmd = json_object_get(run, "command");
    if (!!json_object_get(run, "function") + !!cmd + !!json_object_get(run, "trainer") != 1)
        return invalid(err, "run", "must have exactly one of \"function\", \"command\", \"trainer\"");
    s->run.kill_grace = KILL_GRACE_DEFAULT;
    if ((rc = get_nonneg(run, "run", "kill_grace", 1, &s->run.kill_grace, err)) < 0) return rc;
    if (!cmd && json_object_get(run, "env")) return invalid(err, "run.env", "only allowed with \"command\"");
    if (!cmd && json_object_get(run, "cwd")) return invalid(err, "run.cwd", "only allowed with \"command\"");
    if (!json_object_get(run, "trainer") && json_object_get(run, "keep_checkpoints"))
        return invalid(err, "run.keep_checkpoints", "only allowed with \"trainer\"");
    if (cmd) return parse_command(s, run, cmd, err);
    if ((rc = get(run, "run", "function", F_STRING, 0, &fn, err)) < 0) return rc;
    if (fn) return parse_function(s, fn, err);
    if ((rc = get(run, "run", "trainer", F_OBJECT, 1, &tr, err)) < 0) return rc;
    if ((rc = get(run, "run", "keep_checkpoints", F_STRING, 0, &keep, err)) < 0) return rc;
    if (keep && strcmp(json_string_value(keep), "best") && strcmp(json_string_value(keep), "all"))
        return invalid(err, "run.keep_checkpoints", "must be \"best\" or \"all\"");
    s->run.keep_all_checkpoints = keep && !strcmp(json_string_value(keep), "all");
    if ((rc = check_trainer_metric(s->metric, err)) < 0) return rc;
    s->run.kind = RUN_TRAINER;
    s->run.trainer = json_incref(tr);
    return KE_OK;
}

/* ---- whole document ---- */

/* 64-bit FNV-1a (Fowler, Noll, Vo) over the canonical text, so that key order
 * and whitespace do not change a study's identity. */
static int compute_hash(spec_study *s, kerror *err)
{
    char *text = json_dumps(s->doc, JSON_SORT_KEYS | JSON_COMPACT);
    if (!text) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        h ^= *c;
        h *= 0x100000001b3ULL;
    }
    free(text);
    snprintf(s->hash, sizeof s->hash, "%016" PRIx64, h);
    return KE_OK;
}

/* Takes over the reference to doc, which the study (or, on failure, this
 * function) releases. */
static int parse_doc(spec_study *out, json_t *doc, kerror *err)
{
    static const char *const keys[] = { "name", "objective", "space", "strategy", "pruner",
                                        "budget", "run", "enqueue", NULL };
    int rc;
    out->doc = doc;
    if (!json_is_object(doc))
        rc = invalid(err, "", "the spec must be a JSON object");
    else if ((rc = check_keys(doc, "", keys, NULL, NULL, err)) == KE_OK &&
             (rc = parse_header(out, doc, err)) == KE_OK &&
             (rc = parse_space(out, doc, err)) == KE_OK &&
             (rc = parse_strategy(out, doc, err)) == KE_OK &&
             (rc = parse_pruner(out, doc, err)) == KE_OK &&
             (rc = parse_budget(out, doc, err)) == KE_OK &&
             (rc = parse_run(out, doc, err)) == KE_OK &&
             (rc = parse_enqueue(out, doc, err)) == KE_OK)
        rc = compute_hash(out, err);
    if (rc < 0) spec_free(out);
    return rc;
}

static int syntax_error(kerror *err, const char *file, const json_error_t *je)
{
    if (file && json_error_code(je) == json_error_cannot_open_file)
        return kerror_set(err, KE_IO, NULL, "%s", je->text);
    return kerror_set(err, KE_INVALID, NULL, "%s%sinvalid JSON at line %d, column %d: %s",
                      file ? file : "", file ? ": " : "", je->line, je->column, je->text);
}

int spec_parse(spec_study *out, const char *text, kerror *err)
{
    json_error_t je;
    memset(out, 0, sizeof *out);
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!doc) return syntax_error(err, NULL, &je);
    return parse_doc(out, doc, err);
}

int spec_load_file(spec_study *out, const char *path, kerror *err)
{
    json_error_t je;
    memset(out, 0, sizeof *out);
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc) return syntax_error(err, path, &je);
    int rc = parse_doc(out, doc, err);
    if (rc != KE_OK) return rc;
    char *copy = strdup(path), *dir = copy ? realpath(dirname(copy), NULL) : NULL;
    rc = dir ? spec_set_dir(out, dir, err)
             : kerror_set(err, KE_IO, NULL, "%s: cannot resolve its folder", path);
    free(copy);
    free(dir);
    if (rc != KE_OK) spec_free(out);
    return rc;
}

void spec_argv_free(char **argv)
{
    if (!argv) return;
    for (char **a = argv; *a; a++)
        free(*a);
    free(argv);
}

int spec_set_dir(spec_study *s, const char *dir, kerror *err)
{
    char *copy = strdup(dir), *cwd = NULL;
    int resolve = s->run.kind == RUN_COMMAND && (!s->run.cwd || s->run.cwd[0] != '/');
    if (copy && resolve && asprintf(&cwd, "%s%s%s", dir, s->run.cwd ? "/" : "",
                                    s->run.cwd ? s->run.cwd : "") < 0)
        cwd = NULL;
    if (!copy || (resolve && !cwd)) {
        free(copy);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    free(s->dir);
    s->dir = copy;
    if (cwd) {
        free(s->run.cwd);
        s->run.cwd = cwd;
    }
    return KE_OK;
}

void spec_free(spec_study *s)
{
    if (!s) return;
    free(s->name);
    free(s->metric);
    space_free(&s->space);
    free(s->strategy);
    json_decref(s->strategy_options);
    free(s->pruner);
    json_decref(s->pruner_options);
    free(s->run.shell);
    spec_argv_free(s->run.argv);
    free(s->run.function);
    json_decref(s->run.trainer);
    spec_argv_free(s->run.env);
    free(s->run.cwd);
    free(s->enqueue);
    free(s->dir);
    json_decref(s->doc);
    memset(s, 0, sizeof *s);
}
