/* dsnames: a CSV's column names and class labels and their stored form
 * (dsnames.h). Invariant: every array holds exactly its count of non-NULL
 * strings, so dsnames_free and the writers never meet a hole. */
#include "dsnames.h"

#include <stdlib.h>
#include <string.h>

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Copies n strings into a new array *out. */
static int copy_list(char ***out, const char *const *v, size_t n, kerror *err)
{
    *out = NULL;
    if (!n) return KE_OK;
    char **c = calloc(n, sizeof *c);
    if (!c) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!(c[i] = strdup(v[i]))) {
            free_list(c, i);
            return kerror_set(err, KE_NOMEM, NULL, "out of memory");
        }
    *out = c;
    return KE_OK;
}

int dsnames_set_columns(dsnames *o, const char *const *features, size_t n, const char *label,
                        kerror *err)
{
    char **f, *l = NULL;
    int rc = copy_list(&f, features, n, err);
    if (rc) return rc;
    if (label && !(l = strdup(label))) {
        free_list(f, n);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    free_list(o->features, o->n_features);
    free(o->label);
    o->features = f;
    o->n_features = n;
    o->label = l;
    return KE_OK;
}

int dsnames_set_classes(dsnames *o, const char *const *classes, size_t k, kerror *err)
{
    char **c;
    int rc = copy_list(&c, classes, k, err);
    if (rc) return rc;
    free_list(o->classes, o->n_classes);
    o->classes = c;
    o->n_classes = k;
    return KE_OK;
}

int dsnames_check_same(const dsnames *model, const dsnames *data, const char *path,
                       const char *who, kerror *err)
{
    if (model->n_features && data->n_features) {
        if (model->n_features != data->n_features)
            return kerror_set(err, KE_CONFLICT, path, "%s takes %zu feature columns; this run's data "
                              "has %zu", who, model->n_features, data->n_features);
        for (size_t i = 0; i < model->n_features; i++)
            if (strcmp(model->features[i], data->features[i]))
                return kerror_set(err, KE_CONFLICT, path, "%s's feature %zu is column '%s'; this "
                                  "run's is '%s' (the columns must be the same, in the same order)",
                                  who, i + 1, model->features[i], data->features[i]);
    }
    if (model->n_classes && data->n_classes)
        for (size_t i = 0; i < model->n_classes && i < data->n_classes; i++)
            if (strcmp(model->classes[i], data->classes[i]))
                return kerror_set(err, KE_CONFLICT, path, "%s's class %zu is '%s'; this run's is "
                                  "'%s' (the class labels must be the same)", who, i,
                                  model->classes[i], data->classes[i]);
    return KE_OK;
}

static json_t *list_to_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(v[i]))) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

json_t *dsnames_to_json(const dsnames *o)
{
    json_t *j = json_object();
    /* json_object_set_new takes the value even when it fails (NULL included) */
    int bad = !j || json_object_set_new(j, "features", list_to_json(o->features, o->n_features)) ||
              (o->label && json_object_set_new(j, "label", json_string(o->label))) ||
              (o->n_classes &&
               json_object_set_new(j, "classes", list_to_json(o->classes, o->n_classes)));
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The strings of array a (absent: none) as a borrowed list *v of *n; -1
 * when a is not an array of strings. */
static int json_list(json_t *a, const char ***v, size_t *n)
{
    *v = NULL;
    *n = a ? json_array_size(a) : 0;
    if (a && !json_is_array(a)) return -1;
    if (!*n) return 0;
    if (!(*v = malloc(*n * sizeof **v))) return -1;
    for (size_t i = 0; i < *n; i++)
        if (!((*v)[i] = json_string_value(json_array_get(a, i)))) return -1;
    return 0;
}

int dsnames_from_json(dsnames *o, const char *text, size_t len, kerror *err)
{
    memset(o, 0, sizeof *o);
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je), *label = json_object_get(j, "label");
    const char **f = NULL, **c = NULL;
    size_t nf = 0, nc = 0;
    int rc = KE_OK;
    if (!json_is_object(j))
        rc = kerror_set(err, KE_INVALID, "checkpoint", "corrupt column names: %s",
                        j ? "not an object" : je.text);
    else if (json_list(json_object_get(j, "features"), &f, &nf) ||
             json_list(json_object_get(j, "classes"), &c, &nc) || (label && !json_is_string(label)))
        rc = kerror_set(err, KE_INVALID, "checkpoint", "corrupt column names (features, label or "
                        "classes)");
    if (!rc) rc = dsnames_set_columns(o, f, nf, json_string_value(label), err);
    if (!rc) rc = dsnames_set_classes(o, c, nc, err);
    free(f);
    free(c);
    json_decref(j);
    if (rc) dsnames_free(o);
    return rc;
}

void dsnames_free(dsnames *o)
{
    if (!o) return;
    free_list(o->features, o->n_features);
    free(o->label);
    free_list(o->classes, o->n_classes);
    memset(o, 0, sizeof *o);
}
