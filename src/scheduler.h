/* scheduler: runs one study: takes its lock, creates or resumes it in
 * storage, reclaims trials a dead runner left RUNNING, asks the strategy for
 * suggestions, launches trials through the runner up to max_parallel, records
 * every report and outcome, and stops at the budget, on request or when the
 * strategy is exhausted. It drives everything through storage.h, strategy.h
 * and runner.h: it knows no SQL, no HTTP and no training. Step-driven
 * (scheduler_step) so a CLI loop or a server thread can run it. */
#ifndef KESTREL_SCHEDULER_H
#define KESTREL_SCHEDULER_H

#include <signal.h>

#include "kerror.h"
#include "runner.h"
#include "spec.h"
#include "storage.h"
#include "trial.h"

typedef enum { SCHED_EV_STARTED, SCHED_EV_REPORTED, SCHED_EV_FINISHED } scheduler_event_kind;

typedef struct {
    scheduler_event_kind kind;
    int number;
    trial_state state;          /* FINISHED: the final state */
    int has_value;
    double value;               /* objective as reported */
    int step;                   /* REPORTED: the step */
    const char *failure;        /* FINISHED: reason when FAILED/PRUNED */
    int fresh;                  /* a new configuration: neither a promotion nor a retry */
    const storage_trial *trial; /* STARTED: the trial as stored (params, budget, retry_of...);
                                 * valid during the callback only */
} scheduler_event;

typedef void (*scheduler_event_fn)(const scheduler_event *ev, void *ctx);

/* A remote run a restarted server keeps (its worker still runs it): the
 * lease's tag and the trial's number. */
typedef struct {
    int64_t tag;
    int number;
} scheduler_kept;

typedef struct {
    const char *db_path;        /* for the study lock */
    const char *self_exe;       /* the kestrel binary, for function/trainer trials */
    int run_self;               /* they execute this very binary (/proc/self/exe),
                                 * even once self_exe's file is rebuilt */
    const char *work_dir;       /* per-trial dirs (checkpoints): a --work-dir, stored
                                 * with the study (scheduler_open); NULL: the one
                                 * stored, else "<db>.trials" */
    const char *cache_dir;      /* decoded-dataset cache, default "<db dir>/.kestrel-cache" */
    int force;                  /* run a study whose stored spec differs */
    int retry_failed;           /* retry every FAILED trial once on this run */
    int cores;                  /* to divide among parallel trials (0 = cores_usable()) */
    scheduler_event_fn on_event;
    void *ctx;
    /* RUNNING trials that are remote runs again from the open on (the
     * leases a restarted server kept, up to max_parallel): not reclaimed,
     * their reports and ends taken through scheduler_remote_* */
    const scheduler_kept *kept;
    int n_kept;
    int dry;                    /* scheduler_probe's open: writes nothing */
} scheduler_opts;

typedef struct {
    int64_t study_id;
    int max_trials;
    int n_trials, n_running, n_complete, n_pruned;
    int n_local;                /* of n_running: children of this process */
    int n_failed;               /* failed by themselves */
    int n_interrupted;          /* FAILED by a stop, signal or dead runner (re-run) */
    int n_retryable;            /* of n_failed, those no retry followed: a resume runs
                                 * them again only with retry_failed (--retry-failed) */
    int n_configs;              /* fresh trials finished: what max_trials counts */
    int n_suggested;            /* suggestions the strategy made since open (under GP,
                                   a model fit each); enqueued configurations need none */
    int reclaimed;              /* RUNNING trials of a dead runner marked FAILED at open */
    int n_asked;                /* strategy suggest() calls since open (a batch is one) */
    int has_best;
    double best_value;
    int best_number;
    double elapsed;             /* seconds since open */
    int finished;               /* 1 once step returned 0 */
    int completed;              /* budget reached, strategy exhausted or goal
                                 * reached, and a trial completed */
    int goal_reached;           /* a COMPLETE trial reached objective.goal */
    int failed;                 /* budget.max_failures trials in a row failed, or
                                 * the budget ran out with none complete */
    const char *failure;        /* why it failed (stored as its state_reason), or NULL */
    const char *stop_reason;    /* why it stopped early (not failed), or NULL */
} scheduler_status;

typedef struct scheduler scheduler;

/* The default folders beside the database file (db_path resolved by
 * storage_path_resolve, so every name of one history gives the same):
 * work = "<db>.trials" (per-trial checkpoint folders), cache = "<db's
 * folder>/.kestrel-cache" (decoded data; a name no study's folder can
 * have). Both absolute. */
void scheduler_default_dirs(const char *db_path, char *work, size_t nw, char *cache, size_t nc);
/* The folder of study's trial folders: stored, the absolute --work-dir it
 * was run with (storage_study.work_dir), else "<db>.trials" as above; but
 * when that holds no folder of study and "<db_path as given>.trials" does
 * (a study run through a symbolic link before 4e00c07), that one, absolute.
 * study NULL: the default alone. */
void scheduler_study_work_dir(const char *db_path, const char *stored, const char *study,
                              char *work, size_t n);

/* Marks FAILED, with reason, the trials still RUNNING in a study that no
 * process runs now (its lock is free), so none stays RUNNING for ever after
 * its runner died or its study failed on a storage error; *n gets how many.
 * KE_BUSY when a live process runs the study (nothing is changed). */
int scheduler_reclaim(storage *st, const char *db_path, int64_t study_id, const char *reason,
                      int *n, kerror *err);
#define SCHEDULER_RUNNER_DIED TRIAL_INTERRUPTED "the kestrel process running it died"
/* A trial a stopped server had leased, reclaimed all the same (by `kestrel
 * run`, or a server that did not keep the lease): "...worker NAME (id N)..." */
#define SCHEDULER_LEASE_DIED TRIAL_INTERRUPTED "the kestrel serve that leased it to worker "
#define SCHEDULER_LEASE_DIED_END " stopped, and no server kept the lease"
/* scheduler_reclaim with SCHEDULER_RUNNER_DIED, and SCHEDULER_LEASE_DIED
 * for the trials a stopped server had leased to workers. */
int scheduler_reclaim_dead(storage *st, const char *db_path, int64_t study_id, int *n,
                           kerror *err);

/* KE_BUSY, err saying so, for study name stored RUNNING with reason (a
 * process waits to resume it after a storage error, holding no lock): the
 * refusal of what ("stop", "delete", "resume"); where: how to stop it
 * ("there", "first"; NULL for a resume). */
int scheduler_waits_elsewhere(const char *name, const char *reason, const char *what,
                              const char *where, kerror *err);

/* Stops study name (id study_id), stored RUNNING, that no process runs
 * (the one that ran it died: kill -9, out of memory): under its lock, its
 * trials left RUNNING are reclaimed as scheduler_reclaim_dead does (*n of
 * them; a resume runs them again) and it is stored STOPPED with reason.
 * KE_BUSY when a live process runs it, or may (its stored reason says a
 * process waits to resume it after a storage error, which holds no lock),
 * KE_CONFLICT when it is no longer RUNNING, KE_NOTFOUND when it is gone;
 * err names the study, and nothing is changed. */
int scheduler_stop_dead(storage *st, const char *db_path, const char *name, int64_t study_id,
                        const char *reason, int *n, kerror *err);

/* After a storage error that a later try may not meet (why): closes s,
 * whose memory may count writes the error rolled back (the caller resumes
 * the study from its history with a new scheduler_open), marks the trials
 * it left RUNNING FAILED, interrupted by the error (that open runs them
 * again), and stores the study RUNNING with reason (NULL: its state is left
 * as it is). s is closed whatever the result; err gets the first error. */
int scheduler_suspend(scheduler *s, const kerror *why, const char *reason, kerror *err);
/* Stores the study FAILED with why and marks the trials it left RUNNING
 * FAILED, interrupted: "the study failed: <why>", in one transaction (both
 * or neither). Doing it again is safe:
 * a caller whose try failed tries the whole again. KE_BUSY when a live
 * process runs the study (it resumed it): nothing is changed. */
int scheduler_fail_stored(storage *st, const char *db_path, int64_t study_id, const char *why,
                          kerror *err);

/* Removes the trial folders "<work_dir>/<study>/<k>", k < n_trials, of a
 * deleted study (checkpoints, whatever its trials saved there), and the
 * "<k>.unpack" folders an upload's unpack left (sched_dir_unpack), then the
 * study's folder if that leaves it empty: only what Kestrel made goes (trial
 * folders holding SCHED_DIR_MARK), even under a --work-dir that holds
 * other files. Missing folders are not an error; symbolic links are
 * removed, not followed. Errors: KE_INVALID (not a study name), KE_IO. */
int scheduler_remove_study_dirs(const char *work_dir, const char *study, int n_trials,
                                kerror *err);

/* Deletes stored study name, its trials and their folders (in work when
 * given, else the study's own, scheduler_study_work_dir), under its run
 * lock: `kestrel delete` and the API's DELETE of a study no scheduler of
 * theirs runs. The study is read again under the lock, by id, so trials or
 * a --work-dir a run stored meanwhile are the ones removed. *n_trials gets
 * its trials' count; *rows_gone is set once its rows are deleted, after
 * which an error is its folders' (scheduler_remove_study_dirs). Errors:
 * KE_NOTFOUND (no such study, or deleted meanwhile), KE_CONFLICT (deleted
 * and made anew under its name meanwhile: the new one is kept), KE_BUSY
 * (another process runs it). */
int scheduler_delete_stored(storage *st, const char *db_path, const char *name, const char *work,
                            int *n_trials, int *rows_gone, kerror *err);

/* Closes s (as scheduler_close: running trials ended) and deletes its
 * study, read again by id, and its trial folders, the study's lock held
 * from s's open to the end of the delete, so that no other process opens
 * the study in between; the service's DELETE of a study it runs. s is
 * freed whatever the result; *n_trials, *rows_gone and the errors as
 * scheduler_delete_stored's. */
int scheduler_close_delete(scheduler *s, int *n_trials, int *rows_gone, kerror *err);

/* The folder of s's trial folders, and the one its study kept them in
 * before this open's work_dir moved it, when that one holds a folder of
 * the study (NULL otherwise). Both absolute, owned by s. */
const char *scheduler_work_dir(const scheduler *s);
const char *scheduler_moved_from(const scheduler *s);

/* Locks and opens the study (creating it on first run). KE_BUSY when another
 * process runs it; KE_CONFLICT when the stored spec differs and !force. The
 * caller keeps st and spec alive until scheduler_close. */
int scheduler_open(scheduler **out, storage *st, const spec_study *spec,
                   const scheduler_opts *o, kerror *err);
/* Whether a scheduler_open of the stored study with spec and o (its
 * retry_failed, kept) would start anything: a trial to retry or reclaim,
 * budget left to a strategy that is not done, a configuration enqueued
 * within it, a promotion due; *work = 0 when it would end at once, run
 * nothing. *ss: the status the open would begin with (goal_reached,
 * n_retryable; no failure or stop_reason). A dry open: under the study's
 * lock (KE_BUSY as scheduler_open), writing nothing; the study must
 * exist (KE_NOTFOUND). */
int scheduler_probe(storage *st, const spec_study *spec, const scheduler_opts *o, int *work,
                    scheduler_status *ss, kerror *err);
/* Does one round: launches what the budget allows, waits up to timeout_ms
 * for reports and exits. Returns 1 while the study goes on, 0 once it is
 * finished (completed or stopped), or a negative KE_* code. */
int scheduler_step(scheduler *s, int timeout_ms, kerror *err);
/* Asks for a clean stop: running trials are ended and recorded as
 * interrupted (retried on resume); later steps return 0 once they are gone. */
void scheduler_stop(scheduler *s, const char *reason);
/* A server's stop: scheduler_stop, but its remote runs are left to their
 * workers, which go on: their trials stay RUNNING in storage and their
 * leases open, for the next start to keep (scheduler_opts.kept). */
void scheduler_detach(scheduler *s, const char *reason);
/* Caps the trials it starts from now on at n (clamped to 0..max_parallel):
 * the service shares one global limit among its studies. Running trials
 * above a lowered cap finish normally. */
void scheduler_set_parallel(scheduler *s, int n);
/* Gives each trial it starts from now on n threads (KESTREL_THREADS and
 * BLAS's; at least 1): the service divides the machine's CPUs among the
 * trials of all its studies, where a study alone divides them among its own
 * max_parallel. */
void scheduler_set_threads(scheduler *s, int n);
void scheduler_get_status(const scheduler *s, scheduler_status *out);
/* Remote runs: trials that a worker on another machine runs for this
 * scheduler. The scheduler knows them only by the caller's tag (a lease);
 * what the worker relays goes through the same paths as a local child's
 * report lines and exit, so a remote trial ends exactly as a local one. */
typedef struct {
    int64_t tag;                /* > 0, unique for ever: identifies the run */
    const char *worker;         /* stored as the trial's worker */
    int gpus_free;              /* the worker's free GPUs (run.resources.gpus) */
    const int *avoid;           /* trials this worker lost: their retries wait for */
    int n_avoid;                /* another (the caller knows one is free) */
    int batch;                  /* leases asking at once (this one included): one
                                 * suggest() makes that many, kept for the next */
    int leased;                 /* out: 1 when a trial was handed over */
    const struct sched_trial *trial; /* out: that trial (number, point, budget...), valid
                                 * until the next call on the scheduler */
    int n_params;               /* out: parameters in its point */
} scheduler_remote;

/* Starts one trial (a retry first, else a suggestion) as a remote run when
 * the study has a free slot (budget.max_parallel counts local and remote
 * runs) and the worker's GPUs suffice; rem->leased = 0 when none is due. */
int scheduler_lease(scheduler *s, scheduler_remote *rem, kerror *err);
/* Forgets the suggestions a batch made that no lease took, so the next
 * suggest() sees the outcomes that came in since (the service calls it at
 * the end of each pass over its queued requests). */
void scheduler_drop_ready(scheduler *s);
/* The study's stored spec (*spec, borrowed: never changed, so HTTP threads
 * may read it while the engine shares it, jansson's counts being atomic)
 * and folder (*dir, NULL when none) that a lease hands out. */
int scheduler_lease_spec(scheduler *s, json_t **spec, const char **dir, kerror *err);
/* The study's id in storage (scheduler_get_status counts the history: O(trials)). */
int64_t scheduler_study_id(const scheduler *s);
/* When the study row was made: a study deleted and made again under its
 * name may get the same id, never the same time. */
double scheduler_study_created(const scheduler *s);
/* Its trials running as children of this process: scheduler_get_status's
 * n_local, without the count of the history, for a caller that asks every
 * tick. */
int scheduler_n_local(const scheduler *s);
/* How many trials it could start now beyond those it runs (INT_MAX: no
 * bound but budget.max_parallel): none once it stops or ends, or reaches
 * objective.goal; else its queued retries and the fresh trials
 * budget.max_trials leaves (a strategy that promotes may start one past
 * it once a trial has ended), while trials run no more than its strategy
 * has left to suggest before one ends (a grid's last points; none while
 * Hyperband waits for a rung to fill, or once the strategy is done) and
 * its pending enqueued configurations as scheduler_enqueued_refresh last
 * counted them (under Hyperband and ASHA they take its suggestions' places
 * first, so the larger of the two counts). The service gives a study no
 * more of --max-parallel than it can fill. */
int scheduler_startable(const scheduler *s);
/* Counts the study's pending enqueued configurations again when another
 * connection (an HTTP request's, `kestrel enqueue`) has committed since
 * the last count, or a launch took one (which the count lost already, so
 * one that fails leaves a lower bound): one PRAGMA otherwise, for a
 * caller that asks every tick before scheduler_startable. Nothing while
 * no trial runs (the count bounds nothing then). */
int scheduler_enqueued_refresh(scheduler *s, kerror *err);
/* A line the remote trial's child wrote on its report channel. KE_CONFLICT
 * when no remote run has that tag (it ended, or its study stopped). */
int scheduler_remote_line(scheduler *s, int64_t tag, const char *line, kerror *err);
/* Whether the worker should end the trial (pruned, stopped, or gone). */
int scheduler_remote_stop_asked(const scheduler *s, int64_t tag);
/* 1 when a remote run of s has that tag (a scheduler opened again for the
 * same study, after a stop, knows none of the old one's). */
int scheduler_remote_runs(const scheduler *s, int64_t tag);
/* The remote child exited (ev as runner_poll gives it, with its tails). */
int scheduler_remote_exit(scheduler *s, int64_t tag, const runner_event *ev, const char *out_tail,
                          const char *err_tail, kerror *err);
/* The remote run ended without an exit (its lease expired, its worker gave
 * it up): FAILED with reason, and run again when reason is an interruption
 * (trial_interrupted) or the lineage has budget.max_retries left; never
 * counted among budget.max_failures' failures in a row. */
int scheduler_remote_lost(scheduler *s, int64_t tag, const char *reason, kerror *err);

/* Ends running trials if any, releases the lock and frees. */
void scheduler_close(scheduler *s);

#endif
