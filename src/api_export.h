/* api_export: GET /api/v1/studies/NAME/export.csv and export.json: every
 * trial of a study with its final metrics, streamed as it is read (never
 * built whole in memory), the CSV in kestrel trials' columns. */
#ifndef KESTREL_API_EXPORT_H
#define KESTREL_API_EXPORT_H

#include "http.h"
#include "storage.h"

/* Gives a storage handle back to its owner (the api's pool). */
typedef void (*api_export_release)(void *owner, storage *st);

/* Answers rq with the export of study s (CSV when csv is set, else a JSON
 * array) read through st. Takes st, released with release(owner, st) once
 * the last row is written or the export fails, and frees s. */
void api_export(http_req *rq, storage *st, storage_study *s, int csv, api_export_release release,
                void *owner);

#endif
