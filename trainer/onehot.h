/* onehot: the categories of a CSV file's categorical columns and their
 * one-hot encoding (the trainer's `categorical` option). A column of k
 * categories becomes k features in its place, 1 for the row's category and 0
 * for the others. The training file fixes the categories; the model file
 * stores them (onehot_to_json) so predict and evaluate encode their rows the
 * same way, and a category training never saw is an error there.
 * Invariant: a column's values are distinct and sorted bytewise (strcmp), so
 * the feature order is the sorted order and lookups are binary searches. */
#ifndef KESTREL_TRAINER_ONEHOT_H
#define KESTREL_TRAINER_ONEHOT_H

#include <stddef.h>

#include <jansson.h>

#include "../common/kerror.h"

typedef struct {
    char *name;       /* the column's header name */
    size_t k;         /* categories, >= 1 */
    char **values;    /* k distinct values, sorted by strcmp */
} onehot_column;

/* Owns every string and array in it. A zeroed onehot is empty and valid. */
typedef struct {
    size_t n;              /* categorical columns */
    onehot_column *cols;   /* n, in the CSV's column order */
} onehot;

/* Appends column name with the distinct values among values[0..n) (copied;
 * n >= 1). Errors: KE_NOMEM. */
int onehot_add(onehot *o, const char *name, const char *const *values, size_t n, kerror *err);

/* The column called name, or NULL. */
const onehot_column *onehot_find(const onehot *o, const char *name);

/* The position of value among c's categories, or -1 when training never saw
 * it. */
long onehot_index(const onehot_column *c, const char *value);

/* 1 when spec, the option's text (comma-separated column names), names
 * name. */
int onehot_selects(const char *spec, const char *name);

/* The stored form, [{"column": NAME, "categories": [...]}, ...]: a new
 * reference, NULL when out of memory. */
json_t *onehot_to_json(const onehot *o);

/* Reads the stored form from text[0..len) into *o (overwritten; free with
 * onehot_free). Errors: KE_INVALID (path "checkpoint"), KE_NOMEM. */
int onehot_from_json(onehot *o, const char *text, size_t len, kerror *err);

/* KE_CONFLICT (err's path `path`) when a model's categories (model, e.g. a
 * teacher's) and a dataset's (data) encode a column both one-hot encode
 * with other categories: the same width, other meanings. `who` names the
 * model in the text ("the teacher"). Either without categories (no
 * categorical column, or an older model file) is no conflict. */
int onehot_check_same(const onehot *model, const onehot *data, const char *path, const char *who,
                      kerror *err);

/* Frees what o holds and empties it. NULL is fine. */
void onehot_free(onehot *o);

#endif
