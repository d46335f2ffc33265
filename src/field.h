/* field: reads the fields of a spec document's JSON objects for the
 * spec parsers (spec.c, spec_space.c): a typed lookup, the allowed keys (with
 * "did you mean"), integer and number ranges, and the JSON paths the errors
 * name ("budget.max_trials", "space.lr.low", "enqueue[2]"). */
#ifndef KESTREL_FIELD_H
#define KESTREL_FIELD_H

#include <stddef.h>
#include <jansson.h>

#include "kerror.h"

/* The kinds a field may be asked to have. */
enum { FIELD_STRING, FIELD_NUMBER, FIELD_INT, FIELD_BOOL, FIELD_OBJECT, FIELD_ARRAY };

#define FIELD_INT_LIMIT 9007199254740992.0   /* 2^53: ints stay exact as doubles */
#define FIELD_IDENT_FIRST "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"

/* out (KERROR_PATH_MAX bytes) = a b c, cut to fit. */
void field_path_cat(char *out, const char *a, const char *b, const char *c);
/* out = base.key (key alone when base is ""). */
void field_join(char *out, const char *base, const char *key);
/* out = base[i]. */
void field_join_index(char *out, const char *base, size_t i);

/* "a string", "an integer", ...: kind as a message names it. */
const char *field_kind_name(int kind);
/* KE_INVALID with path and msg. */
int field_invalid(kerror *err, const char *path, const char *msg);
/* 1 when v is of kind (FIELD_INT: an integer, or a real with an integral
 * value up to FIELD_INT_LIMIT). */
int field_is_kind(const json_t *v, int kind);
/* obj.key (path: obj's) into *out (borrowed): 1 when present and of kind, 0
 * when absent and not required, KE_INVALID otherwise. */
int field_get(const json_t *obj, const char *path, const char *key, int kind,
                   int required, json_t **out, kerror *err);
/* KE_INVALID for a key of obj outside allowed (NULL-terminated), naming
 * the nearest allowed one; a key of other_of (the fields of some other
 * parameter type) is "not allowed for type <type>". */
int field_check_keys(const json_t *obj, const char *path, const char *const *allowed,
                          const char *const *other_of, const char *type, kerror *err);
/* *out = a copy of string v (the caller frees it). Errors: KE_NOMEM. */
int field_dup_string(char **out, const json_t *v, kerror *err);
/* Integer field in [lo, hi] (hi LLONG_MAX: no upper bound) into *out, left
 * alone when absent and not required. */
int field_get_int_in(const json_t *obj, const char *path, const char *key, int required,
                          long long lo, long long hi, long long *out, kerror *err);
/* Optional number field, > 0 when positive is set, else >= 0. */
int field_get_nonneg(const json_t *obj, const char *path, const char *key, int positive,
                          double *out, kerror *err);
/* 1 when s is non-empty, starts with a byte of first and goes on with
 * bytes of rest. */
int field_matches_charset(const char *s, const char *first, const char *rest);

#endif
