/* enqueue: see enqueue.h. Stored params are the canonical JSON of the
 * checked point (space_point_to_json), so every reader sees the values the
 * space gives them (a categorical's declared value, an int as an integer). */
#include "enqueue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_json.h"

/* The canonical JSON text of p; NULL when memory ran out. */
static char *point_text(const space *sp, const space_point *p)
{
    json_t *obj = space_point_to_json(sp, p);
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    return text;
}

/* Stores the n points pts[k] for k in idx (all of them when idx is NULL)
 * with origin, all or none. */
static int store_points(storage *st, int64_t study_id, const space *sp, const space_point *pts,
                        const int *idx, int n, const char *origin, kerror *err)
{
    if (n == 0) return KE_OK;
    char **text = calloc((size_t)n, sizeof *text);
    int rc = text ? KE_OK : kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (int k = 0; rc == KE_OK && k < n; k++)
        if (!(text[k] = point_text(sp, &pts[idx ? idx[k] : k])))
            rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (rc == KE_OK)
        rc = storage_enqueue_add(st, study_id, (const char *const *)text, n, origin, err);
    for (int k = 0; text && k < n; k++) free(text[k]);
    free(text);
    return rc;
}

int enqueue_add(storage *st, int64_t study_id, const space *sp, const json_t *configs,
                const char *path, const char *origin, int *added, kerror *err)
{
    *added = 0;
    size_t n = json_is_array(configs) ? json_array_size(configs) : 1;
    if (json_is_array(configs) && n == 0)
        return kerror_set(err, KE_INVALID, path, "no configuration given");
    space_point *pts = calloc(n, sizeof *pts);
    if (!pts) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int rc = KE_OK;
    for (size_t i = 0; rc == KE_OK && i < n; i++) {
        char p[KERROR_PATH_MAX];
        if (json_is_array(configs)) snprintf(p, sizeof p, "%s[%zu]", path, i);
        else snprintf(p, sizeof p, "%s", path);
        const json_t *c = json_is_array(configs) ? json_array_get(configs, i) : configs;
        rc = space_point_from_json(sp, c, p, &pts[i], err);
    }
    if (rc == KE_OK && (rc = store_points(st, study_id, sp, pts, NULL, (int)n, origin, err)) == KE_OK)
        *added = (int)n;
    free(pts);
    return rc;
}

/* Reads stored params text as a point of sp; 0 when it does not fit. */
static int stored_point(const space *sp, const char *text, space_point *p)
{
    json_t *obj = json_loads(text, 0, NULL);
    int ok = obj && space_point_from_json(sp, obj, "", p, NULL) == KE_OK;
    json_decref(obj);
    return ok;
}

/* The spec's "enqueue" configurations the history does not hold yet from
 * the spec: their indices into fresh (spec->n_enqueue of room), *n_fresh. */
static int spec_unstored(storage *st, int64_t study_id, const spec_study *spec, int *fresh,
                         int *n_fresh, kerror *err)
{
    *n_fresh = 0;
    storage_enqueued *rows;
    int n, rc = storage_enqueue_list(st, study_id, 0, &rows, &n, err);
    if (rc != KE_OK) return rc;
    unsigned char *used = calloc((size_t)n + 1, 1);
    if (!used) rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (int i = 0; rc == KE_OK && i < spec->n_enqueue; i++) {
        int j = 0;
        space_point p;
        for (; j < n; j++)
            if (!used[j] && strcmp(rows[j].origin, "spec") == 0 &&
                stored_point(&spec->space, rows[j].params_json, &p) &&
                space_point_equal(&spec->space, &p, &spec->enqueue[i]))
                break;
        if (j < n) used[j] = 1;
        else fresh[(*n_fresh)++] = i;
    }
    free(used);
    storage_enqueue_free(rows, n);
    return rc;
}

int enqueue_sync_spec(storage *st, int64_t study_id, const spec_study *spec, kerror *err)
{
    if (spec->n_enqueue == 0) return KE_OK;
    int *fresh = malloc((size_t)spec->n_enqueue * sizeof *fresh), n_fresh;
    if (!fresh) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int rc = spec_unstored(st, study_id, spec, fresh, &n_fresh, err);
    if (rc == KE_OK)
        rc = store_points(st, study_id, &spec->space, spec->enqueue, fresh, n_fresh, "spec", err);
    free(fresh);
    return rc;
}

int enqueue_spec_unstored(storage *st, int64_t study_id, const spec_study *spec, int *n,
                          kerror *err)
{
    *n = 0;
    if (spec->n_enqueue == 0) return KE_OK;
    int *fresh = malloc((size_t)spec->n_enqueue * sizeof *fresh);
    if (!fresh) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int rc = spec_unstored(st, study_id, spec, fresh, n, err);
    free(fresh);
    return rc;
}

int enqueue_pending(storage *st, int64_t study_id, const space *sp, space_point *pts,
                    int64_t *ids, int max, int *n, kerror *err)
{
    storage_enqueued *rows;
    int nr, rc = storage_enqueue_list(st, study_id, 1, &rows, &nr, err);
    *n = 0;
    if (rc != KE_OK) return rc;
    space_point p;
    for (int i = 0; i < nr && (!pts || *n < max); i++)
        if (stored_point(sp, rows[i].params_json, pts ? &pts[*n] : &p)) {
            if (ids) ids[*n] = rows[i].id;
            (*n)++;
        }
    storage_enqueue_free(rows, nr);
    return KE_OK;
}

/* The stored point's numbers written as the trials list writes them (a
 * float parameter's 1 is stored as the real 1.0): api_number's form. */
static void integral_numbers(json_t *params)
{
    const char *key;
    json_t *v;
    json_object_foreach(params, key, v)
        if (json_is_real(v)) json_object_set_new(params, key, api_number(json_real_value(v)));
}

int enqueue_list_json(storage *st, int64_t study_id, const space *sp, json_t **out, int *n_unfit,
                      kerror *err)
{
    storage_enqueued *rows;
    int n, rc = storage_enqueue_list(st, study_id, 1, &rows, &n, err);
    *n_unfit = 0;
    if (rc != KE_OK) return rc;
    json_t *arr = json_array();
    for (int i = 0; arr && i < n; i++) {
        space_point p;
        /* as enqueue_pending skips it: listed, it was counted pending forever */
        if (!stored_point(sp, rows[i].params_json, &p)) {
            (*n_unfit)++;
            continue;
        }
        json_t *params = json_loads(rows[i].params_json, 0, NULL);
        integral_numbers(params);
        json_t *e = json_pack("{s:I, s:o, s:s, s:f}", "id", (json_int_t)rows[i].id, "params",
                              params ? params : json_object(), "origin", rows[i].origin,
                              "created_at", rows[i].created_at);
        if (!e || json_array_append_new(arr, e) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    storage_enqueue_free(rows, n);
    if (!arr) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    *out = arr;
    return KE_OK;
}
