/* onehot: categorical columns' categories, their lookup and stored form
 * (onehot.h). Invariant: every column a onehot holds went through onehot_add,
 * which sorts and deduplicates, or onehot_from_json, which checks the stored
 * values are sorted and distinct, so onehot_index may binary-search. */
#include "onehot.h"

#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Takes name and the k values (sorted, distinct) into a new last column. */
static int push(onehot *o, const char *name, const char *const *sorted, size_t k, kerror *err)
{
    onehot_column *cols = realloc(o->cols, (o->n + 1) * sizeof *cols);
    if (!cols) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    o->cols = cols;
    onehot_column *c = &cols[o->n];
    memset(c, 0, sizeof *c);
    o->n++;
    if (!(c->name = strdup(name)) || !(c->values = calloc(k, sizeof *c->values)))
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (; c->k < k; c->k++)
        if (!(c->values[c->k] = strdup(sorted[c->k])))
            return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    return KE_OK;
}

int onehot_add(onehot *o, const char *name, const char *const *values, size_t n, kerror *err)
{
    const char **v = malloc(n * sizeof *v);
    if (!v) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    memcpy(v, values, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || strcmp(v[k - 1], v[i]) != 0) v[k++] = v[i];
    int rc = push(o, name, v, k, err);
    free(v);
    return rc;
}

const onehot_column *onehot_find(const onehot *o, const char *name)
{
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->cols[i].name, name)) return &o->cols[i];
    return NULL;
}

long onehot_index(const onehot_column *c, const char *value)
{
    char *const *hit = bsearch(&value, c->values, c->k, sizeof *c->values, cmp_str);
    return hit ? (long)(hit - c->values) : -1;
}

int onehot_selects(const char *spec, const char *name)
{
    size_t len = strlen(name);
    for (const char *s = spec; *s;) {
        size_t n = strcspn(s, ",");
        if (n == len && !strncmp(s, name, n)) return 1;
        s += n + (s[n] == ',');
    }
    return 0;
}

json_t *onehot_to_json(const onehot *o)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < o->n; i++) {
        json_t *vals = json_array();
        for (size_t j = 0; vals && j < o->cols[i].k; j++)
            if (json_array_append_new(vals, json_string(o->cols[i].values[j]))) {
                json_decref(vals);
                vals = NULL;
            }
        json_t *col = vals ? json_pack("{s:s, s:o}", "column", o->cols[i].name, "categories", vals)
                           : NULL;
        if (!col || json_array_append_new(a, col)) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

/* One stored column into a new last column of o. */
static int read_column(onehot *o, json_t *col, kerror *err)
{
    const char *name = json_string_value(json_object_get(col, "column"));
    json_t *vals = json_object_get(col, "categories");
    size_t k = json_array_size(vals);
    if (!name || !k) return kerror_set(err, KE_INVALID, "checkpoint", "corrupt categories");
    const char **v = malloc(k * sizeof *v);
    if (!v) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int rc = KE_OK;
    for (size_t j = 0; j < k && !rc; j++)
        if (!(v[j] = json_string_value(json_array_get(vals, j))) || (j && strcmp(v[j - 1], v[j]) >= 0))
            rc = kerror_set(err, KE_INVALID, "checkpoint", "corrupt categories of column '%s'", name);
    if (!rc) rc = push(o, name, v, k, err);
    free(v);
    return rc;
}

int onehot_from_json(onehot *o, const char *text, size_t len, kerror *err)
{
    memset(o, 0, sizeof *o);
    json_error_t je;
    json_t *a = json_loadb(text, len, 0, &je);
    int rc = json_is_array(a) ? KE_OK
             : kerror_set(err, KE_INVALID, "checkpoint", "corrupt categories: %s", a ? "not a list" : je.text);
    for (size_t i = 0; !rc && i < json_array_size(a); i++) rc = read_column(o, json_array_get(a, i), err);
    json_decref(a);
    if (rc) onehot_free(o);
    return rc;
}

/* "'a', 'b', ..." of c's categories into buf (n bytes), cut with "..." */
static const char *values_text(const onehot_column *c, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < c->k; i++) {
        int w = snprintf(buf + len, n - len, "%s'%s'", i ? ", " : "", c->values[i]);
        if (w < 0 || (size_t)w >= n - len) {
            snprintf(buf + (n > 4 ? n - 4 : 0), n > 4 ? 4 : n, "...");
            break;
        }
        len += (size_t)w;
    }
    return buf;
}

int onehot_check_same(const onehot *model, const onehot *data, const char *path, const char *who,
                      kerror *err)
{
    for (size_t i = 0; data->n && i < model->n; i++) {
        const onehot_column *m = &model->cols[i], *d = onehot_find(data, m->name);
        int same = d && d->k == m->k;
        for (size_t j = 0; same && j < m->k; j++) same = !strcmp(m->values[j], d->values[j]);
        if (same || !d) continue;
        char a[192], b[192];
        return kerror_set(err, KE_CONFLICT, path, "%s one-hot encodes column '%s' as %s; this "
                          "run's data as %s (the categories must be the same)", who, m->name,
                          values_text(m, a, sizeof a), values_text(d, b, sizeof b));
    }
    return KE_OK;
}

void onehot_free(onehot *o)
{
    if (!o) return;
    for (size_t i = 0; i < o->n; i++) {
        for (size_t j = 0; j < o->cols[i].k; j++) free(o->cols[i].values[j]);
        free(o->cols[i].values);
        free(o->cols[i].name);
    }
    free(o->cols);
    memset(o, 0, sizeof *o);
}
