/* storage: the study and trial history, behind a backend-neutral interface
 * the scheduler, CLI and HTTP service call. The SQLite backend
 * (storage_sqlite.c) is the default; a URL scheme ("postgres://") would pick
 * another. Every multi-row change is one transaction, so a kill -9 at any
 * moment leaves a consistent history. Ownership: structs filled by storage_*
 * own their strings; release them with the matching *_free function. */
#ifndef KESTREL_STORAGE_H
#define KESTREL_STORAGE_H

#include <stdint.h>

#include "kerror.h"
#include "sha256.h"
#include "study.h"
#include "trial.h"

typedef struct storage storage;

typedef struct {
    int64_t id;
    char *name;
    char *spec_json;
    char *spec_hash;
    char *metric;
    int maximize;
    study_state state;
    char *state_reason;     /* why it is in that state (a FAILED study), or NULL */
    char *spec_dir;         /* folder of the spec file it was last run from, or NULL */
    char *note;             /* a person's free-text note on it, or NULL */
    char *work_dir;         /* absolute folder of its trial folders, when it was
                               first run with --work-dir; NULL: "<db>.trials" */
    double created_at;      /* Unix seconds */
    double updated_at;
    int n_trials, n_running, n_complete, n_pruned;
    int n_failed;           /* FAILED by themselves: not counting n_interrupted */
    int n_interrupted;      /* FAILED because a stop, signal or dead runner ended them
                               (trial_interrupted); re-run on resume */
    int n_configs;          /* finished trials that are neither promotions nor
                               retries: the count budget.max_trials bounds */
    int has_best;
    double best_value;
    int best_number;
} storage_study;

typedef struct {
    char *name;
    int is_text;
    double num;
    char *text;
} storage_param;

typedef struct {
    char *name;
    double value;
} storage_metric;

typedef struct {
    int64_t id;
    int64_t study_id;
    int number;             /* 0-based, per study */
    trial_state state;
    int has_value;
    double value;           /* objective as reported (not sign-normalized) */
    double started_at, finished_at;   /* finished_at 0 while running */
    char *worker;           /* "host:pid" of the runner that ran it */
    char *failure;          /* reason when FAILED (or PRUNED), else NULL */
    int last_step;          /* last reported step, -1 if none */
    int budget;             /* resource given, 0 = full */
    int resumed_from;       /* trial number continued, -1 */
    int retry_of;           /* trial number retried, -1 */
    int64_t enqueued_id;    /* the enqueued configuration it ran (storage_enqueue_add), 0 none */
    int n_params;
    storage_param *params;
} storage_trial;

typedef struct {            /* one intermediate report value */
    int step;
    char *name;
    double value;
} storage_value;

/* A place in a listing: the trial just before it, by number or (best
 * first) by its value, then number; a trial without a value (running,
 * failed) sorts after every one with a value, by number. */
typedef struct {
    int number;
    int has_value;
    double value;           /* when has_value; never NaN */
} storage_cursor;

typedef struct {
    int state;              /* trial_state, or -1 for all */
    int offset, limit;      /* limit 0 = no limit */
    int best_first;         /* order by objective (direction-aware), else by number */
    const storage_cursor *after;   /* the trials after it only; NULL: from the first */
} storage_filter;

/* The file a location names: PATH, sqlite:PATH or sqlite://PATH (a pointer
 * into location); NULL, with err set (KE_INVALID), for another backend's
 * URL scheme, a sqlite: prefix with no path, or a path longer than SQLite
 * opens (made absolute). */
const char *storage_location_file(const char *location, kerror *err);
/* The history file at path as out (n bytes) names it: absolute, with the
 * symbolic links of its folders and of itself resolved, so every name that
 * reaches one file gives one path (a file not made yet: its folder's, with
 * its last part as given). What is named after a history (its default
 * trial folders and dataset cache) is named after this. KE_IO when a
 * folder cannot be resolved, KE_INVALID when out is too short. */
int storage_path_resolve(const char *path, char *out, size_t n, kerror *err);
/* Opens (creating and migrating to the current schema) the history at path.
 * The SQLite backend uses WAL, a busy timeout and foreign keys. */
int storage_open(storage **out, const char *path, kerror *err);
void storage_close(storage *st);
/* From now on st's commits never checkpoint the WAL (copy it into the
 * database and fsync both, tens of ms on a busy disk): a thread with its
 * own connection does, whenever a commit of st's leaves the WAL past
 * SQLite's mark. For the one writer that answers many waiting callers (the
 * server's engine); storage_close stops it. */
typedef struct storage_wal storage_wal;
int storage_wal_background(storage *st, kerror *err);
/* Whether st's checkpoints run on that thread. */
int storage_wal_is_background(const storage *st);
/* Schema version the database is at. */
int storage_schema_version(storage *st);
/* A number that changes when another connection (another process, or
 * another handle) commits to the history; this handle's own writes leave it
 * as it is. */
int storage_data_version(storage *st, int64_t *version, kerror *err);

/* Studies. storage_study_get returns KE_NOTFOUND for an unknown name. */
int storage_study_create(storage *st, const char *name, const char *spec_json,
                         const char *spec_hash, const char *metric, int maximize,
                         int64_t *id, kerror *err);
int storage_study_get(storage *st, const char *name, storage_study *out, kerror *err);
int storage_study_get_id(storage *st, int64_t id, storage_study *out, kerror *err);
/* What the content of a study's trials is at: equal stamps, equal trials,
 * but for the last_step of RUNNING trials (the version moves with every
 * write to them, by any process, except a report's), in the same best-first
 * order (maximize: the direction, which a new spec may turn without a
 * trial write). One small row: for readers that keep what they answered
 * about finished trials. settled
 * moves only with a write that can change a page of finished trials by
 * number or their reports (never with Kestrel's own: new trials take the
 * next number, and only RUNNING rows and their reports change; sql/008,
 * sql/010): equal (id, created_at, settled), equal finished trials and
 * curves at each offset by number. KE_NOTFOUND for an unknown name. */
typedef struct {
    int64_t id;
    double created_at;   /* with id: no two studies share both (ids are never given
                          * again since schema version 11; before, a deleted study's
                          * could be) */
    int64_t version;
    int64_t settled;
    int maximize;
} storage_stamp;
int storage_study_stamp(storage *st, const char *name, storage_stamp *out, kerror *err);
/* A new spec (a larger budget, or anything with --force), and its
 * objective's metric and direction, which the queries' best-first order and
 * best_trials follow. */
int storage_study_update_spec(storage *st, int64_t id, const char *spec_json,
                              const char *spec_hash, const char *metric, int maximize,
                              kerror *err);
/* 1 when err is a storage error that a later try may not meet (a busy or
 * locked database, an I/O error, a full disk, no memory), 0 for one it
 * would (a damaged or read-only file) and for every other error. */
int storage_error_transient(const kerror *err);
/* Sets the state and its reason (NULL for none); KE_INVALID for a value
 * outside the enum. */
int storage_study_set_state(storage *st, int64_t id, study_state state, const char *reason,
                            kerror *err);
/* Sets a study's note (NULL or "": none). */
int storage_study_set_note(storage *st, int64_t id, const char *note, kerror *err);
/* Records the folder of the spec file a study is run from (NULL: none). */
int storage_study_set_dir(storage *st, int64_t id, const char *dir, kerror *err);
/* Records the folder of a study's trial folders (NULL: "<db>.trials"). */
int storage_study_set_work_dir(storage *st, int64_t id, const char *dir, kerror *err);
int storage_study_delete(storage *st, int64_t id, kerror *err);
/* All studies with their counts and best value, by id. *out is an array of
 * *n studies; free with storage_study_list_free. */
int storage_study_list(storage *st, storage_study **out, int *n, kerror *err);
void storage_study_free(storage_study *s);
void storage_study_list_free(storage_study *list, int n);

/* Enqueued configurations (storage_queue.c): points given to run before
 * the strategy's own suggestions. One stays pending until a trial inserted
 * with its id in enqueued_id consumes it (in the trial's transaction). */
typedef struct {
    int64_t id;
    char *params_json;      /* {name: value} */
    char *origin;           /* "spec", "cli" or "api" */
    double created_at;
    int trial_number;       /* the trial that ran it, -1 while pending */
} storage_enqueued;
/* Adds n (each params_json a JSON object the caller validated), all or
 * none, in one transaction; KE_NOTFOUND when no study has study_id (one
 * deleted since the caller read it). */
int storage_enqueue_add(storage *st, int64_t study_id, const char *const *params_json, int n,
                        const char *origin, kerror *err);
/* A study's enqueued configurations by id, the pending ones only when
 * pending_only; free with storage_enqueue_free. */
int storage_enqueue_list(storage *st, int64_t study_id, int pending_only,
                         storage_enqueued **out, int *n, kerror *err);
void storage_enqueue_free(storage_enqueued *e, int n);

/* Trials. insert assigns t->id and t->number (next free number) and stores
 * the params, state RUNNING, started_at now, all in one transaction;
 * refused (KE_DB) when t->enqueued_id names a configuration a trial ran. */
int storage_trial_insert(storage *st, int64_t study_id, storage_trial *t, kerror *err);
/* Records the values of one intermediate report (one transaction). */
int storage_trial_report(storage *st, int64_t trial_id, int step,
                         const storage_metric *m, int n, kerror *err);
/* Ends a trial: state, objective (has_value), final metrics, failure reason
 * and output tails, in one transaction. Only a RUNNING trial can end. */
int storage_trial_finish(storage *st, int64_t trial_id, trial_state state,
                         int has_value, double value,
                         const storage_metric *final, int n_final,
                         const char *failure, const char *stdout_tail,
                         const char *stderr_tail, kerror *err);
/* Marks every RUNNING trial of the study FAILED with reason; *count = how many. */
int storage_trials_reclaim(storage *st, int64_t study_id, const char *reason,
                           int *count, kerror *err);
/* How storage_trials_reclaim_runs marks a study's RUNNING trials FAILED. */
typedef struct {
    const char *reason;
    /* with leased_before set, a trial whose lease is open (storage_lease_begin,
     * never ended) gets leased_before + "NAME (id N)" (its worker) +
     * leased_after instead of reason */
    const char *leased_before, *leased_after;
    const int *keep;        /* trial numbers left RUNNING (leases a server keeps) */
    int n_keep;
} storage_reclaim;
int storage_trials_reclaim_runs(storage *st, int64_t study_id, const storage_reclaim *how,
                                int *count, kerror *err);
/* Stores the study FAILED with why and marks its RUNNING trials FAILED with
 * trials_reason, in one transaction: never a FAILED study with a trial that
 * no process will end. *count = how many trials (0 on failure). */
int storage_study_fail(storage *st, int64_t study_id, const char *why,
                       const char *trials_reason, int *count, kerror *err);
/* Calls fn for each matching trial, params filled, in pages so a study of any
 * size streams in bounded memory; fn returns non-zero to stop early. The trial
 * passed is freed after fn returns. Each page is its own read (none is held
 * while fn runs, so fn may write and checkpoints go on), and both orders
 * go on from the last trial listed (keyset: by number, or best-first by
 * value then number): a trial never comes twice, every trial that was
 * there and finished when the listing began comes once, and one added or
 * finished meanwhile comes when its place is still ahead. With f->after
 * (offset 0: KE_INVALID otherwise) the listing starts after that place,
 * the same keyset, so a caller pages across calls (the API's ?after=);
 * the trial there need not exist. A study deleted meanwhile (its later
 * pages come back empty) is KE_NOTFOUND naming it, once the last page is
 * read: a listing that ends KE_OK was whole (or stopped by fn, or ended at
 * f->limit). */
typedef int (*storage_trial_fn)(const storage_trial *t, void *ctx);
int storage_trial_each(storage *st, int64_t study_id, const storage_filter *f,
                       storage_trial_fn fn, void *ctx, kerror *err);
/* KE_OK when study_id, read as name, is still stored; when it is gone,
 * KE_NOTFOUND "study 'NAME' was deleted while its trials were listed" (its
 * id is never given again), for a caller whose read of it by id found
 * nothing (storage_trial_each's first one, storage_trial_best); else the
 * read's error. */
int storage_study_still_there(storage *st, int64_t study_id, const char *name, kerror *err);
int storage_trial_get(storage *st, int64_t study_id, int number,
                      storage_trial *out, kerror *err);
/* Best COMPLETE trial by the study's direction; KE_NOTFOUND if none. */
int storage_trial_best(storage *st, int64_t study_id, storage_trial *out, kerror *err);
void storage_trial_free(storage_trial *t);
/* Intermediate values of a trial ordered by step, name. */
int storage_trial_values(storage *st, int64_t trial_id, storage_value **out,
                         int *n, kerror *err);
void storage_values_free(storage_value *v, int n);
/* Final metrics of a trial. */
int storage_trial_metrics(storage *st, int64_t trial_id, storage_metric **out,
                          int *n, kerror *err);
/* The names of the final metrics a study's trials reported, sorted, as
 * metrics whose values are NaN (free with storage_metrics_free). */
int storage_study_metric_names(storage *st, int64_t study_id, storage_metric **out, int *n,
                               kerror *err);
/* The names of the parameters a study's trials ran with, sorted, as
 * storage_study_metric_names gives metrics' (a space that `run --force`
 * changed leaves the names its old trials had). */
int storage_study_param_names(storage *st, int64_t study_id, storage_metric **out, int *n,
                              kerror *err);
void storage_metrics_free(storage_metric *m, int n);
/* Output tails (either may come back NULL). Caller frees both with free(). */
int storage_trial_logs(storage *st, int64_t trial_id, char **stdout_tail,
                       char **stderr_tail, kerror *err);
/* Objective curves for a page of trials: for the trials numbered in order
 * from offset (at most limit of them, 0 = all), calls fn with the trial's
 * number, state and the values of metric `metric` by step (arrays of n,
 * valid during the call; n = 0 when it reported none). One query per page,
 * not one per trial. fn runs while the query is open: it must not use st.
 * fn returns non-zero to stop early. */
typedef int (*storage_curve_fn)(int number, trial_state state, const int *steps,
                                const double *values, int n, void *ctx);
int storage_curves_each(storage *st, int64_t study_id, const char *metric, int offset,
                        int limit, storage_curve_fn fn, void *ctx, kerror *err);

/* One transaction for many calls (the engine's pass over its queued
 * requests): until storage_batch_end commits, each call's rows go in a
 * savepoint of it, all-or-nothing as alone, and nothing is durable or seen
 * by other connections. A failed commit rolls every call of the batch back.
 * Not nested; storage_batch_end without a batch is KE_OK. */
int storage_batch_begin(storage *st, kerror *err);
int storage_batch_end(storage *st, kerror *err);

/* Workers and leases (storage_workers.c): the workers `kestrel serve` has
 * registered and the trial attempts it handed them. */
/* Records a worker; *id is new and never reused. info_json: a JSON object;
 * key_sha256: the SHA-256 of the secret its calls carry, kept so that a
 * restarted server knows it again (storage_lease_kept); the secret itself
 * is never stored (migration 013). */
int storage_worker_add(storage *st, const char *name, const char *info_json,
                       const unsigned char key_sha256[SHA256_BYTES], int64_t *id, kerror *err);
/* The highest lease id ever given (0 for none): the next is above it. */
int storage_lease_last(storage *st, int64_t *id, kerror *err);
/* Records lease id (from storage_lease_last + k) of trial `number` of study
 * study_id, handed to worker_id, and ends it with outcome. */
int storage_lease_begin(storage *st, int64_t id, int64_t worker_id, int64_t study_id, int number,
                        kerror *err);
int storage_lease_end(storage *st, int64_t id, const char *outcome, kerror *err);
/* A lease a starting server keeps (the view kept_leases, migrations 012 and
 * 013): it is open, its trial RUNNING in a study stored RUNNING, its worker
 * known by its key's hash. The strings are owned (storage_leases_free). */
typedef struct {
    int64_t id, worker_id, study_id;
    int number;             /* the trial's */
    char *study, *worker;   /* the study's name; the worker's, as a trial's worker column */
    char *info;             /* the worker's registration (JSON) */
    char *key_sha256;       /* its key's SHA-256 as 64 hex digits, as stored */
} storage_lease;
/* Ends every open lease that a starting server does not keep (their trials
 * ended, or will be reclaimed) with outcome; *n: how many. */
int storage_lease_end_unkept(storage *st, const char *outcome, int *n, kerror *err);
/* The leases a starting server keeps, by id. */
int storage_lease_kept(storage *st, storage_lease **out, int *n, kerror *err);
void storage_leases_free(storage_lease *l, int n);

#endif
