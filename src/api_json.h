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

#define API_CSV_FIXED 11        /* CSV columns besides the parameters */
#define API_CSV_MAX_PARAMS 64

/* A number, or null when not finite (JSON has no NaN). */
json_t *api_number(double v);
/* The study object; with_spec adds "spec" (the stored spec document). */
json_t *api_study_json(const storage_study *s, int with_spec);
/* The trial object. */
json_t *api_trial_json(const storage_trial *t);
/* Adds the detail fields to a trial object, read from storage: "values"
 * grouped by step, final "metrics" and the output tails (GET .../trials/N,
 * `kestrel trial`). Errors: storage's, KE_NOMEM. */
int api_trial_detail(storage *st, const storage_trial *t, json_t *trial, kerror *err);
/* The space's parameter names from a stored spec, in its order (new array). */
json_t *api_param_names(const char *spec_json);

/* CSV export: column names (number, state, value, the parameters, then
 * started_at, finished_at, duration, last_step, budget, retry_of, worker,
 * failure) and one trial's cells. names is the api_param_names array
 * (at most API_CSV_MAX_PARAMS are used); cols must hold
 * API_CSV_FIXED + API_CSV_MAX_PARAMS entries, cells as many. Cells borrow
 * from t and names. Both return the column count. */
int api_csv_columns(json_t *names, const char **cols);
int api_csv_cells(const storage_trial *t, json_t *names, format_cell *cells);

#endif
