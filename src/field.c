/* field: the typed field readers of field.h. Invariant: every
 * rejection goes through kerror_set with the field's JSON path, at most
 * KERROR_PATH_MAX - 1 bytes (a longer one is cut, not refused). */
#include "field.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nearest.h"

static const char *const kind_names[] = {
    "a string", "a number", "an integer", "a boolean", "an object", "an array",
};

/* out = a b c, cut at KERROR_PATH_MAX: a path to an absurdly long key is
 * shortened rather than refused, the message still says what is wrong. */
void field_path_cat(char *out, const char *a, const char *b, const char *c)
{
    const char *parts[3] = { a, b, c };
    size_t n = 0;
    for (int k = 0; k < 3; k++)
        for (const char *s = parts[k]; *s && n < KERROR_PATH_MAX - 1; s++) out[n++] = *s;
    out[n] = '\0';
}

void field_join(char *out, const char *base, const char *key)
{
    field_path_cat(out, base, base[0] ? "." : "", key);
}

void field_join_index(char *out, const char *base, size_t i)
{
    char idx[32];
    snprintf(idx, sizeof idx, "[%zu]", i);
    field_path_cat(out, base, idx, "");
}

const char *field_kind_name(int kind)
{
    return kind_names[kind];
}

int field_invalid(kerror *err, const char *path, const char *msg)
{
    return kerror_set(err, KE_INVALID, path, "%s", msg);
}

int field_is_kind(const json_t *v, int kind)
{
    switch (kind) {
    case FIELD_STRING: return json_is_string(v);
    case FIELD_NUMBER: return json_is_number(v);
    case FIELD_INT:
        if (json_is_integer(v)) return 1;
        return json_is_real(v) && json_real_value(v) == floor(json_real_value(v))
               && fabs(json_real_value(v)) <= FIELD_INT_LIMIT;
    case FIELD_BOOL: return json_is_boolean(v);
    case FIELD_OBJECT: return json_is_object(v);
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
int field_get(const json_t *obj, const char *path, const char *key, int kind,
                   int required, json_t **out, kerror *err)
{
    char p[KERROR_PATH_MAX];
    field_join(p, path, key);
    *out = json_object_get(obj, key);
    if (!*out)
        return required ? field_invalid(err, p, "required field missing") : 0;
    if (!field_is_kind(*out, kind))
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
int field_check_keys(const json_t *obj, const char *path, const char *const *allowed,
                          const char *const *other_of, const char *type, kerror *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (in_list(key, allowed)) continue;
        char p[KERROR_PATH_MAX];
        field_join(p, path, key);
        if (other_of && in_list(key, other_of))
            return kerror_set(err, KE_INVALID, p, "not allowed for type %s", type);
        const char *near = nearest_name(key, allowed);
        if (near) return kerror_set(err, KE_INVALID, p, "unknown field (did you mean '%s'?)", near);
        return field_invalid(err, p, "unknown field");
    }
    return KE_OK;
}

int field_dup_string(char **out, const json_t *v, kerror *err)
{
    *out = strdup(json_string_value(v));
    return *out ? KE_OK : kerror_set(err, KE_NOMEM, NULL, "out of memory");
}

/* x's sign says which side of [lo, hi] it fell off. Without an upper bound
 * (hi LLONG_MAX) a value above can only be a real past 2^53 (1e30): a JSON
 * integer past LLONG_MAX does not parse, so the message says which
 * spellings reach which bound rather than a ">= lo" the value meets. */
static int out_of_range(const char *path, const char *key, long long lo, long long hi,
                        double x, kerror *err)
{
    char p[KERROR_PATH_MAX];
    field_join(p, path, key);
    if (hi != LLONG_MAX) return kerror_set(err, KE_INVALID, p, "must be between %lld and %lld", lo, hi);
    if (x < (double)lo) return kerror_set(err, KE_INVALID, p, "must be >= %lld", lo);
    return kerror_set(err, KE_INVALID, p,
                      "must be between %lld and %.0f (2^53) when written with a fraction or an "
                      "exponent, up to %lld in plain digits", lo, FIELD_INT_LIMIT, LLONG_MAX);
}

/* Optional integer field in [lo, hi]. */
int field_get_int_in(const json_t *obj, const char *path, const char *key, int required,
                          long long lo, long long hi, long long *out, kerror *err)
{
    /* 1e20 is an integer too, just not one a double holds exactly: out of
     * range, not "must be an integer" */
    const json_t *raw = json_object_get(obj, key);
    if (json_is_real(raw) && json_real_value(raw) == floor(json_real_value(raw)) &&
        fabs(json_real_value(raw)) > FIELD_INT_LIMIT)
        return out_of_range(path, key, lo, hi, json_real_value(raw), err);
    json_t *v;
    int rc = field_get(obj, path, key, FIELD_INT, required, &v, err);
    if (rc <= 0) return rc;
    long long x = int_value(v);
    if (x < lo || x > hi) return out_of_range(path, key, lo, hi, (double)x, err);
    *out = x;
    return KE_OK;
}

/* Optional number field, > 0 when positive is set, else >= 0. */
int field_get_nonneg(const json_t *obj, const char *path, const char *key, int positive,
                          double *out, kerror *err)
{
    json_t *v;
    int rc = field_get(obj, path, key, FIELD_NUMBER, 0, &v, err);
    if (rc <= 0) return rc;
    double x = json_number_value(v);
    if (positive ? !(x > 0) : !(x >= 0)) {
        char p[KERROR_PATH_MAX];
        field_join(p, path, key);
        return field_invalid(err, p, positive ? "must be > 0" : "must be >= 0");
    }
    *out = x;
    return KE_OK;
}

int field_matches_charset(const char *s, const char *first, const char *rest)
{
    if (!*s || !strchr(first, *s)) return 0;
    for (s++; *s; s++)
        if (!strchr(rest, *s)) return 0;
    return 1;
}

