/* dsnames: the names a CSV file gives its data, which a dataset's numbers
 * lose: the feature columns' header names, the label column's name and the
 * class labels as the file spells them. The model file stores them
 * (dsnames_to_json) so predict and evaluate take a file's columns by name
 * and map its labels onto the classes training numbered; the decoded-dataset
 * cache keeps them beside the numbers, so a run that loads from the cache
 * has them too.
 * Invariant: classes[i] is class i's label (the distinct labels in the
 * order the CSV loader numbered them), and a zeroed dsnames is empty and
 * valid (IDX and synthetic data have no names). */
#ifndef KESTREL_TRAINER_DSNAMES_H
#define KESTREL_TRAINER_DSNAMES_H

#include <stddef.h>

#include <jansson.h>

#include "../common/kerror.h"

/* Owns every string and array in it. */
typedef struct {
    size_t n_features;   /* feature columns (a categorical column counts once) */
    char **features;     /* their header names, in the dataset's feature order */
    char *label;         /* the label column's name; NULL: none */
    size_t n_classes;    /* classification: the classes; 0 otherwise */
    char **classes;      /* n_classes labels, class i's at [i] */
} dsnames;

/* Sets o's feature names (n, copied) and label column (NULL: none),
 * replacing what it held; the classes stay. Errors: KE_NOMEM. */
int dsnames_set_columns(dsnames *o, const char *const *features, size_t n, const char *label,
                        kerror *err);

/* Sets o's class labels (k, copied), replacing its classes. Errors:
 * KE_NOMEM. */
int dsnames_set_classes(dsnames *o, const char *const *classes, size_t k, kerror *err);

/* The stored form, {"features": [...], "label": NAME, "classes": [...]}
 * ("label" and "classes" only when set): a new reference, NULL when out of
 * memory. */
json_t *dsnames_to_json(const dsnames *o);

/* Reads the stored form from text[0..len) into *o (overwritten; free with
 * dsnames_free). Errors: KE_INVALID (path "checkpoint"), KE_NOMEM. */
int dsnames_from_json(dsnames *o, const char *text, size_t len, kerror *err);

/* KE_CONFLICT (err's path `path`) when a model's names (model, e.g. a
 * teacher's) and a dataset's (data) differ in what both hold: the feature
 * columns, in order, or the class labels; `who` names the model in the
 * text ("the teacher"). Either without names (IDX or synthetic data, an
 * older model file) is no conflict. */
int dsnames_check_same(const dsnames *model, const dsnames *data, const char *path,
                       const char *who, kerror *err);

/* Frees what o holds and empties it. NULL is fine. */
void dsnames_free(dsnames *o);

#endif
