/* enqueue: configurations a person gives a study to run before its
 * strategy's own suggestions (Optuna's enqueue_trial, "try these first"):
 * from the spec's "enqueue", `kestrel enqueue` and POST .../enqueue. Each is
 * checked against the study's space, stored in the history
 * (storage_enqueue_*) and taken, in order, by the scheduler: it takes the
 * place of the strategy's next fresh suggestion (keeping that suggestion's
 * budget, so Hyperband and ASHA run it in a bracket), counts in
 * budget.max_trials, and runs once, whatever resumes follow. */
#ifndef KESTREL_ENQUEUE_H
#define KESTREL_ENQUEUE_H

#include <jansson.h>

#include "kerror.h"
#include "spec.h"
#include "storage.h"

/* Checks configs (one {parameter: value} object or an array of them)
 * against sp, then stores them all with origin ("cli", "api"); errors name
 * path[i].parameter and store nothing. *added: how many. */
int enqueue_add(storage *st, int64_t study_id, const space *sp, const json_t *configs,
                const char *path, const char *origin, int *added, kerror *err);

/* Stores the spec's "enqueue" configurations that the history does not
 * hold yet from the spec (compared as points, each stored one matching one
 * given), so a resumed or extended study adds only what is new. */
int enqueue_sync_spec(storage *st, int64_t study_id, const spec_study *spec, kerror *err);
/* How many configurations enqueue_sync_spec would store now (*n), storing
 * none: what a dry open (scheduler_probe) counts as enqueued too. */
int enqueue_spec_unstored(storage *st, int64_t study_id, const spec_study *spec, int *n,
                          kerror *err);

/* The oldest pending configurations that fit sp (up to max): points into
 * pts, their ids into ids, *n how many. One that no longer fits (a spec
 * changed with --force) is passed over. With pts and ids NULL, *n counts
 * them all (max unused). */
int enqueue_pending(storage *st, int64_t study_id, const space *sp, space_point *pts,
                    int64_t *ids, int max, int *n, kerror *err);

/* The pending configurations of a study, as a new JSON array of
 * {"id", "params", "origin", "created_at"}: those that fit its space sp.
 * *n_unfit counts the others, enqueued before a `kestrel run --force`
 * changed the space: they do not run (enqueue_pending skips them) unless a
 * later spec's space fits them again. */
int enqueue_list_json(storage *st, int64_t study_id, const space *sp, json_t **out, int *n_unfit,
                      kerror *err);

#endif
