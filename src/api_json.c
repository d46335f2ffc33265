/* api_json: encodes storage structs for the HTTP API; see api_json.h.
 * Invariant: the JSON shapes here are the ones docs/openapi.yaml describes;
 * absent values are JSON null (never -1 or NaN). */
#include "api_json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "utf8.h"

json_t *api_number(double v)
{
    if (!isfinite(v)) return json_null();
    /* Integral values (int parameters, counts) print as integers. */
    if (v == floor(v) && fabs(v) < 9007199254740992.0) return json_integer((json_int_t)v);
    return json_real(v);
}

static json_t *int_or_null(int v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

json_t *api_text(const char *s)
{
    if (!s) return json_null();
    json_t *j = json_string(s);
    if (j) return j;
    /* a history written before text was stored as valid UTF-8 */
    char *fixed = utf8_fix(s);
    j = fixed ? json_string(fixed) : NULL;
    free(fixed);
    return j;
}

json_t *api_param_names(const char *spec_json)
{
    json_t *doc = json_loads(spec_json, 0, NULL);
    json_t *names = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(doc, "space"), key, v) json_array_append_new(names, json_string(key));
    json_decref(doc);
    return names;
}

json_t *api_study_json(const storage_study *s, int with_spec)
{
    json_t *doc = json_loads(s->spec_json, 0, NULL);
    json_t *best = s->has_best ? json_pack("{s:i, s:o}", "number", s->best_number, "value",
                                           api_number(s->best_value))
                               : json_null();
    json_t *o = json_pack(
        "{s:s, s:s, s:s?, s:s?, s:s, s:s, s:O?, s:f, s:f, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i}, "
        "s:O?, s:o, s:o}",
        "name", s->name, "state", study_state_name(s->state), "state_reason", s->state_reason,
        "note", s->note,
        "direction", s->maximize ? "maximize" : "minimize",
        "metric", s->metric, "strategy", json_object_get(json_object_get(doc, "strategy"), "name"),
        "created_at", s->created_at, "updated_at", s->updated_at, "counts", "total", s->n_trials,
        "running", s->n_running, "complete", s->n_complete, "pruned", s->n_pruned, "failed",
        s->n_failed, "interrupted", s->n_interrupted, "configs", s->n_configs,
        "max_trials", json_object_get(json_object_get(doc, "budget"), "max_trials"),
        "best", best, "params", api_param_names(s->spec_json));
    if (o && with_spec && doc) json_object_set(o, "spec", doc);
    json_decref(doc);
    return o;
}

json_t *api_study_event_json(const storage_study *s)
{
    json_t *o = api_study_json(s, 0);
    if (o && json_object_set_new(o, "study", json_string(s->name)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *params_json(const storage_trial *t)
{
    json_t *p = json_object();
    for (int i = 0; p && i < t->n_params; i++)
        json_object_set_new(p, t->params[i].name, t->params[i].is_text
                                                      ? api_text(t->params[i].text)
                                                      : api_number(t->params[i].num));
    return p;
}

/* Seconds the trial ran, or has been running so far. */
static double duration(const storage_trial *t)
{
    if (t->finished_at > 0) return t->finished_at - t->started_at;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9 - t->started_at;
}

json_t *api_trial_json(const storage_trial *t)
{
    return json_pack("{s:i, s:s, s:o, s:o, s:f, s:o, s:f, s:o, s:i, s:o, s:o, s:o, s:o, s:b, s:b}",
                     "number", t->number, "state", trial_state_name(t->state), "value",
                     t->has_value ? api_number(t->value) : json_null(), "params", params_json(t),
                     "started_at", t->started_at, "finished_at",
                     t->finished_at > 0 ? json_real(t->finished_at) : json_null(), "duration",
                     duration(t), "last_step", int_or_null(t->last_step), "budget", t->budget,
                     "resumed_from", int_or_null(t->resumed_from), "retry_of",
                     int_or_null(t->retry_of), "worker", api_text(t->worker), "failure",
                     api_text(t->failure), "interrupted",
                     t->state == TRIAL_FAILED && trial_interrupted(t->failure), "enqueued",
                     t->enqueued_id > 0);
}

/* The column named key of cols, holding `rows` values: nulls for the rows
 * before that did not have the key (a parameter that a conditional space
 * gave some trials only), made when new. */
static json_t *column(json_t *cols, const char *key, size_t rows)
{
    json_t *c = json_object_get(cols, key);
    int fresh = !c;
    if (fresh) c = json_array();
    while (c && json_array_size(c) < rows)
        if (json_array_append_new(c, json_null()) != 0) {
            if (fresh) json_decref(c);
            return NULL;
        }
    return c && (!fresh || json_object_set_new(cols, key, c) == 0) ? c : NULL;
}

/* Pads every array of cols (and of its "params") with nulls to n rows. */
static int pad_columns(json_t *cols, size_t n)
{
    const char *key;
    json_t *c;
    json_object_foreach(cols, key, c) {
        if (json_is_object(c) && pad_columns(c, n) != 0) return -1;
        while (json_is_array(c) && json_array_size(c) < n)
            if (json_array_append_new(c, json_null()) != 0) return -1;
    }
    return 0;
}

/* Built from the objects rather than from storage_trial, so the two forms
 * cannot drift apart: one encoding of a trial, two layouts. */
json_t *api_trials_columns(const json_t *trials)
{
    json_t *cols = json_object(), *params = json_object();
    /* every field's column, even in an empty page: a blank trial's fields */
    json_t *blank = api_trial_json(&(storage_trial){0});
    int ok = cols && params && blank;
    const char *key;
    json_t *v;
    json_object_foreach(blank, key, v) {
        if (!ok) break;
        ok = !strcmp(key, "params") ? json_object_set(cols, key, params) == 0 : column(cols, key, 0) != NULL;
    }
    json_decref(blank);
    size_t i;
    json_t *t;
    json_array_foreach(trials, i, t) {
        json_object_foreach(t, key, v) {
            int p = !strcmp(key, "params");
            const char *pk;
            json_t *pv;
            if (!ok) break;
            if (p) {
                json_object_foreach(v, pk, pv) {
                    json_t *c = column(params, pk, i);
                    ok = ok && c && json_array_append(c, pv) == 0;
                }
                continue;
            }
            json_t *c = column(cols, key, i);
            ok = c && json_array_append(c, v) == 0;
        }
    }
    json_decref(params);
    if (ok && pad_columns(cols, json_array_size(trials)) == 0) return cols;
    json_decref(cols);
    return NULL;
}

int api_trial_metrics(storage *st, const storage_trial *t, json_t *trial, kerror *err)
{
    storage_metric *m = NULL;
    int nm = 0, rc = storage_trial_metrics(st, t->id, &m, &nm, err);
    json_t *metrics = rc == KE_OK ? json_object() : NULL;
    for (int i = 0; metrics && i < nm; i++)
        if (json_object_set_new(metrics, m[i].name, api_number(m[i].value)) != 0) rc = KE_NOMEM;
    storage_metrics_free(m, nm);
    if (rc == KE_OK && (!metrics || json_object_set_new(trial, "metrics", metrics) != 0))
        rc = KE_NOMEM;
    return rc == KE_NOMEM ? kerror_set(err, KE_NOMEM, NULL, "out of memory") : rc;
}

static int add_detail(json_t *trial, const storage_value *v, int nv, const char *stdout_tail,
                      const char *stderr_tail)
{
    json_t *values = json_array(), *cur = NULL;
    int rc = values ? 0 : -1;
    for (int i = 0; rc == 0 && i < nv; i++) {   /* v is ordered by step */
        if (i == 0 || v[i].step != v[i - 1].step) {
            cur = json_object();
            json_array_append_new(values, json_pack("{s:i, s:o}", "step", v[i].step, "metrics", cur));
        }
        if (json_object_set_new(cur, v[i].name, api_number(v[i].value)) != 0) rc = -1;
    }
    json_object_set_new(trial, "values", values);
    json_object_set_new(trial, "stdout_tail", api_text(stdout_tail));
    json_object_set_new(trial, "stderr_tail", api_text(stderr_tail));
    return rc;
}

int api_trial_detail(storage *st, const storage_trial *t, json_t *trial, kerror *err)
{
    storage_value *v = NULL;
    char *out = NULL, *errt = NULL;
    int nv = 0;
    int rc = storage_trial_values(st, t->id, &v, &nv, err);
    if (rc == KE_OK) rc = api_trial_metrics(st, t, trial, err);
    if (rc == KE_OK) rc = storage_trial_logs(st, t->id, &out, &errt, err);
    if (rc == KE_OK && add_detail(trial, v, nv, out, errt) != 0)
        rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    storage_values_free(v, nv);
    free(out);
    free(errt);
    return rc;
}

static const char *const csv_head[] = {"number", "state", "value"};
static const char *const csv_tail[] = {"started_at", "finished_at", "duration", "last_step",
                                       "budget", "resumed_from", "retry_of", "enqueued", "worker",
                                       "failure"};

/* Whether label is a column's name already, or one of the fixed columns'. */
static int csv_taken(const api_csv *c, const char *label)
{
    for (int i = 0; i < c->ncols; i++)
        if (!strcmp(c->cols[i], label)) return 1;
    for (size_t i = 0; i < sizeof csv_tail / sizeof *csv_tail; i++)
        if (!strcmp(csv_tail[i], label)) return 1;
    return 0;
}

/* The label of a column for name: name itself, or name behind as many
 * prefixes as make it one no column has yet (a parameter called value is
 * param_value; one called value beside one called param_value is
 * param_param_value: a reader keyed by name, csv.DictReader or pandas, lost
 * or renamed one of two columns of the same name). A label that differs
 * from name is allocated, of any length (a fixed buffer left a name too
 * long for it bare, a second column of that name), and *own holds it for
 * the caller to free. NULL when out of memory. */
static const char *csv_label(const api_csv *c, const char *prefix, const char *name, char **own)
{
    size_t lp = strlen(prefix), ln = strlen(name);
    *own = NULL;
    if (!csv_taken(c, name)) return name;
    /* ends: each prefix makes a longer label, and the columns are finite */
    for (size_t k = 1;; k++) {
        char *label = realloc(*own, k * lp + ln + 1);
        if (!label) {
            free(*own);
            *own = NULL;
            return NULL;
        }
        *own = label;
        for (size_t i = 0; i < k; i++) memcpy(label + i * lp, prefix, lp);
        memcpy(label + k * lp, name, ln + 1);
        if (!csv_taken(c, label)) return label;
    }
}

/* Appends to names (the space's) the parameters the study's trials ran
 * with that its space no longer has: a `run --force` that removed one kept
 * the old trials and their values, which an export must not drop. */
static int add_past_params(json_t *names, storage *st, int64_t study_id, kerror *err)
{
    storage_metric *past = NULL;
    int n = 0, rc = storage_study_param_names(st, study_id, &past, &n, err);
    for (int i = 0; rc == KE_OK && i < n; i++) {
        size_t j;
        json_t *v;
        int known = 0;
        json_array_foreach(names, j, v) known = known || !strcmp(json_string_value(v),
                                                                 past[i].name);
        if (!known && json_array_append_new(names, json_string(past[i].name)) != 0)
            rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    storage_metrics_free(past, n);
    return rc;
}

int api_study_removed_params(storage *st, const storage_study *s, json_t *study, kerror *err)
{
    json_t *names = api_param_names(s->spec_json), *removed = json_array();
    size_t in_space = json_array_size(names);
    int rc = names && removed ? add_past_params(names, st, s->id, err)
                              : kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (size_t i = in_space; rc == KE_OK && i < json_array_size(names); i++)
        if (json_array_append(removed, json_array_get(names, i)) != 0)
            rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (rc == KE_OK && json_object_set(study, "removed_params", removed) != 0)
        rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    json_decref(removed);
    json_decref(names);
    return rc;
}

int api_csv_open(api_csv *c, storage *st, const storage_study *s, kerror *err)
{
    memset(c, 0, sizeof *c);
    c->params = api_param_names(s->spec_json);
    int rc = c->params ? add_past_params(c->params, st, s->id, err)
                       : kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (rc == KE_OK)
        rc = storage_study_metric_names(st, s->id, &c->metrics, &c->n_metrics, err);
    c->np = (int)json_array_size(c->params);
    size_t most = API_CSV_FIXED + (size_t)c->np + (size_t)c->n_metrics;
    if (rc == KE_OK) {
        c->cols = calloc(most, sizeof *c->cols);
        c->labels = calloc(most, sizeof *c->labels);
        c->metric_of = calloc((size_t)c->n_metrics + 1, sizeof *c->metric_of);
        if (!c->cols || !c->labels || !c->metric_of)
            rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; rc == KE_OK && i < sizeof csv_head / sizeof *csv_head; i++)
        c->cols[c->ncols++] = csv_head[i];
    /* a parameter called value or state read as the objective or the state
     * by a reader keyed by name (csv.DictReader, pandas) */
    for (int i = 0; rc == KE_OK && i < c->np; i++) {
        const char *name = json_string_value(json_array_get(c->params, (size_t)i));
        const char *label = csv_label(c, "param_", name, &c->labels[c->ncols]);
        if (!label) rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
        else c->cols[c->ncols++] = label;
    }
    /* final metrics besides the objective (the value column), named as
     * reported unless a parameter has that name */
    for (int i = 0; rc == KE_OK && i < c->n_metrics; i++) {
        const char *name = c->metrics[i].name;
        if (!strcmp(name, s->metric)) continue;
        const char *label = csv_label(c, "metric_", name, &c->labels[c->ncols]);
        if (!label) {
            rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
            break;
        }
        c->metric_of[c->nm++] = name;
        c->cols[c->ncols++] = label;
    }
    for (size_t i = 0; rc == KE_OK && i < sizeof csv_tail / sizeof *csv_tail; i++)
        c->cols[c->ncols++] = csv_tail[i];
    if (rc != KE_OK) api_csv_close(c);
    return rc;
}

void api_csv_close(api_csv *c)
{
    for (int i = 0; c->labels && i < c->ncols; i++) free(c->labels[i]);
    free(c->labels);
    free(c->cols);
    free(c->metric_of);
    json_decref(c->params);
    storage_metrics_free(c->metrics, c->n_metrics);
    memset(c, 0, sizeof *c);
}

static format_cell num_cell(int has, double v)
{
    return has && isfinite(v) ? (format_cell){CELL_NUM, v, NULL} : (format_cell){CELL_NULL, 0, NULL};
}

static format_cell int_cell(int v)
{
    return v >= 0 ? (format_cell){CELL_INT, v, NULL} : (format_cell){CELL_NULL, 0, NULL};
}

static format_cell text_cell(const char *s)
{
    return s ? (format_cell){CELL_TEXT, 0, s} : (format_cell){CELL_NULL, 0, NULL};
}


int api_csv_cells(const api_csv *c, storage *st, const storage_trial *t, format_cell *cells,
                  kerror *err)
{
    storage_metric *m = NULL;
    int nm = 0, k = 0;
    int rc = c->nm ? storage_trial_metrics(st, t->id, &m, &nm, err) : KE_OK;
    if (rc != KE_OK) return rc;
    cells[k++] = int_cell(t->number);
    cells[k++] = text_cell(trial_state_name(t->state));
    cells[k++] = num_cell(t->has_value, t->value);
    for (int i = 0; i < c->np; i++, k++) {
        const char *name = json_string_value(json_array_get(c->params, (size_t)i));
        cells[k] = text_cell(NULL);
        for (int j = 0; name && j < t->n_params; j++) {
            const storage_param *p = &t->params[j];
            if (strcmp(p->name, name) == 0)
                cells[k] = p->is_text ? text_cell(p->text) : num_cell(1, p->num);
        }
    }
    for (int i = 0; i < c->nm; i++, k++) {
        cells[k] = text_cell(NULL);
        for (int j = 0; j < nm; j++)
            if (!strcmp(m[j].name, c->metric_of[i])) cells[k] = num_cell(1, m[j].value);
    }
    storage_metrics_free(m, nm);
    cells[k++] = num_cell(1, t->started_at);
    cells[k++] = num_cell(t->finished_at > 0, t->finished_at);
    cells[k++] = num_cell(t->finished_at > 0, t->finished_at - t->started_at);
    cells[k++] = int_cell(t->last_step);
    cells[k++] = int_cell(t->budget);
    cells[k++] = int_cell(t->resumed_from);
    cells[k++] = int_cell(t->retry_of);
    cells[k++] = int_cell(t->enqueued_id > 0);
    cells[k++] = text_cell(t->worker);
    cells[k++] = text_cell(t->failure);
    return KE_OK;
}

/* ---- cursors: where a client's next page starts ---- */

void api_cursor_text(const storage_trial *t, int best_first, char *buf)
{
    if (!best_first || !t->has_value) {
        snprintf(buf, API_CURSOR_MAX, "%c%d", best_first ? 'u' : 'n', t->number);
        return;
    }
    /* the value's bits, not a decimal: the next page starts exactly after it */
    uint64_t bits;
    memcpy(&bits, &t->value, sizeof bits);
    snprintf(buf, API_CURSOR_MAX, "v%016" PRIx64 ".%d", bits, t->number);
}

/* A trial number in digits at *p (up to 1000000000, as ?offset=), as
 * printf writes it: no leading zero, so a cursor has one text (the answers
 * are kept by it); *p moves past it. */
static int cursor_number(const char **p, int *out)
{
    long v = 0;
    const char *s = *p;
    if (s[0] == '0' && s[1] >= '0' && s[1] <= '9') return -1;
    for (; *s >= '0' && *s <= '9'; s++)
        if ((v = v * 10 + (*s - '0')) > 1000000000) return -1;
    if (s == *p) return -1;
    *p = s;
    *out = (int)v;
    return 0;
}

/* A value as api_cursor_text writes it, 16 lowercase hex digits; never NaN
 * (no trial's value is: it would have no place in the order). */
static int cursor_value(const char **p, double *out)
{
    uint64_t bits = 0;
    const char *s = *p;
    for (int i = 0; i < 16; i++, s++) {
        int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : -1;
        if (d < 0) return -1;
        bits = bits << 4 | (uint64_t)d;
    }
    memcpy(out, &bits, sizeof *out);
    *p = s;
    return isnan(*out) ? -1 : 0;
}

int api_cursor_parse(const char *text, int best_first, storage_cursor *out, kerror *err)
{
    char kind = *text;
    const char *p = kind ? text + 1 : text;
    *out = (storage_cursor){.has_value = kind == 'v'};
    int ok = (kind == 'n' || kind == 'u' || kind == 'v') &&
             (kind != 'v' || (cursor_value(&p, &out->value) == 0 && *p++ == '.')) &&
             cursor_number(&p, &out->number) == 0 && *p == '\0';
    if (!ok)
        return kerror_set(err, KE_INVALID, "after", "not a cursor: '%.40s%s' (pass a page's "
                          "\"next\" back as it came)", text, strlen(text) > 40 ? "..." : "");
    if ((kind == 'n') == (best_first != 0))
        return kerror_set(err, KE_INVALID, "after", "a cursor of a listing by sort=%s, not of "
                          "this one by sort=%s", best_first ? "number" : "best",
                          best_first ? "best" : "number");
    return KE_OK;
}
