/* api_json: the HTTP API's encoding of the history (docs/openapi.yaml):
 * studies, trials and trial details as JSON objects, and trials as CSV
 * cells. Pure functions of storage structs (api_trial_detail also reads a
 * trial's details), so the handlers, the streamed exports and the CLI share
 * one encoding. Every json_t returned is a new reference (NULL when out of
 * memory); the caller owns it. */
#ifndef KESTREL_API_JSON_H
#define KESTREL_API_JSON_H

#include <jansson.h>

#include "format.h"
#include "storage.h"

#define API_CSV_FIXED 13        /* CSV columns besides the parameters and metrics */

/* The columns of a study's trials as a table (the CSV export, `kestrel
 * trials`): number, state, value, the parameters (the stored spec's order,
 * then, sorted, those of its trials that the space no longer has since a
 * `run --force` changed it; one named as a fixed column gets "param_"), the final metrics its trials
 * reported besides the objective (sorted; a name a parameter or a fixed
 * column has gets "metric_"), then started_at, finished_at, duration,
 * last_step, budget, resumed_from, retry_of, enqueued (1 or 0), worker,
 * failure: every column's name differs, as a CSV reader keyed by name
 * needs. Every parameter and metric is a column, however many (the arrays
 * are sized by the study's names: fixed ones of 64 dropped the rest). */
typedef struct {
    const char **cols;                  /* the ncols column names */
    int ncols;
    json_t *params;                     /* parameter names, np of them */
    int np;
    storage_metric *metrics;            /* the study's final metric names */
    int n_metrics;
    const char **metric_of;             /* metric of each of the nm columns */
    int nm;
    char **labels;                      /* a column's "param_NAME" or "metric_NAME", when it
                                         * needs one (owned), else NULL; ncols of them */
} api_csv;

/* A number, or null when not finite (JSON has no NaN). */
json_t *api_number(double v);
/* A string, or null for NULL; text that is not valid UTF-8 (a trial's output
 * in an old history) with U+FFFD for each bad byte. NULL when out of memory. */
json_t *api_text(const char *s);
/* The study object; with_spec adds "spec" (the stored spec document). */
json_t *api_study_json(const storage_study *s, int with_spec);
/* Adds "removed_params" to the study object: the parameters s's trials
 * ran with that its space no longer has (a `run --force` removed them),
 * sorted, as the CSV export's and `kestrel trials`' columns after the
 * space's; [] when none. Reads every trial's parameter names, so only the
 * one study's answer carries it (GET .../studies/NAME), not the list or
 * the events. Errors: storage's, KE_NOMEM. */
int api_study_removed_params(storage *st, const storage_study *s, json_t *study, kerror *err);
/* The study as a study_changed event's data: its object plus "study", its
 * name, the field every event names its study by. */
json_t *api_study_event_json(const storage_study *s);
/* The trial object. */
json_t *api_trial_json(const storage_trial *t);
/* Trial objects (an array of api_trial_json's) as columns: an object with
 * one array per field of a trial, in the trials' order, and "params" an
 * object with one array per parameter name (in the order first seen; null
 * where a trial has no such parameter). Values are shared with the
 * objects'. NULL when out of memory. */
json_t *api_trials_columns(const json_t *trials);
/* Adds the detail fields to a trial object, read from storage: "values"
 * grouped by step, final "metrics" and the output tails (GET .../trials/N,
 * `kestrel trial`). Errors: storage's, KE_NOMEM. */
int api_trial_detail(storage *st, const storage_trial *t, json_t *trial, kerror *err);
/* Adds "metrics", the trial's final metrics read from storage (the
 * JSON export). Errors: storage's, KE_NOMEM. */
int api_trial_metrics(storage *st, const storage_trial *t, json_t *trial, kerror *err);
/* The space's parameter names from a stored spec, in its order (new array). */
json_t *api_param_names(const char *spec_json);

/* A page's `next` (docs/openapi.yaml, ?after=): the place after trial t in
 * its listing, by number or (best_first) by value and number, as opaque
 * URL-safe text in buf (API_CURSOR_MAX bytes): "n" NUMBER by number;
 * best-first "v" the value's 16 hex digits (its exact bits) "." NUMBER, or
 * "u" NUMBER for a trial without a value. */
#define API_CURSOR_MAX 40
void api_cursor_text(const storage_trial *t, int best_first, char *buf);
/* Reads a cursor api_cursor_text wrote into *out, for a listing in the
 * order best_first says; KE_INVALID naming "after" when text is no such
 * cursor or one of the other order. */
int api_cursor_parse(const char *text, int best_first, storage_cursor *out, kerror *err);

/* Lays out the columns of study s (reads its metric names from st); free
 * with api_csv_close (also after an error). Errors: storage's, KE_NOMEM. */
int api_csv_open(api_csv *c, storage *st, const storage_study *s, kerror *err);
/* One trial's c->ncols cells, into cells of c->ncols (reads its final
 * metrics from st); cells borrow from t and c. */
int api_csv_cells(const api_csv *c, storage *st, const storage_trial *t, format_cell *cells,
                  kerror *err);
void api_csv_close(api_csv *c);

#endif
