/* service: the engine behind `kestrel serve`. One thread (the one that calls
 * service_open and service_run) owns every scheduler and every storage write:
 * it ticks the active studies, shares one global limit of running trials
 * among them, and executes the requests other threads (HTTP) queue, each of
 * which blocks until the engine has done it. What happens is published as
 * numbered events in a bounded ring that any thread can read (SSE).
 * Invariant: a study is active (has a scheduler) in this process iff its run
 * lock is held here, and only the engine thread touches schedulers or the
 * engine's storage handle. */
#ifndef KESTREL_SERVICE_H
#define KESTREL_SERVICE_H

#include <signal.h>
#include <stdint.h>

#include "kerror.h"
#include "spec.h"

typedef struct service service;

typedef struct {
    const char *db_path;        /* the history; the engine opens its own handle */
    const char *self_exe;       /* the kestrel binary, for function/trainer trials */
    int run_self;               /* they execute this very binary (scheduler.h) */
    int max_parallel;           /* running trials across all studies, 0 = no cap */
    double stall_after;         /* seconds without an engine round that make it
                                 * "stalled" (service_get_stats); 0 = 60 */
    int no_local;               /* run no trial here: only workers do (a pure coordinator) */
    double lease_seconds;       /* a worker's lease without a call from it; 0 = 30 */
    long long checkpoint_max;   /* bytes of a trial folder a worker may upload; 0 = 1 GiB */
    const char *work_dir;       /* the folder of the trial folders of the studies it
                                 * creates, stored with each (scheduler_opts.work_dir:
                                 * made absolute); NULL: "<db>.trials". A study
                                 * that exists keeps its own */
    double storage_retry;       /* seconds a study hit by a transient storage error
                                 * (full disk, I/O error, busy file) keeps trying
                                 * to resume before it is FAILED; 0 = 600, < 0 =
                                 * none (FAILED at once) */
} service_opts;

typedef struct {
    uint64_t suggestions;       /* trials started since the server started */
    int running;                /* trials running now */
    int active;                 /* studies with a scheduler now */
    double engine_idle_s;       /* since the engine last finished a round */
    int stalled;                /* engine_idle_s is above stall_after: one
                                 * engine step blocks every study */
    int workers;                /* registered and not forgotten (idle and silent) */
    long registrations;         /* every registration since the server started */
    int remote;                 /* trials workers run now (leases) */
    int waiting;                /* studies waiting to resume after a storage error */
} service_stats;

/* Opens the engine's storage handle. The calling thread becomes the engine
 * thread: it must be long-lived (trial children die with the thread that
 * spawned them) and must be the one that calls service_run. */
int service_open(service **out, const service_opts *o, kerror *err);
/* The engine loop: first resumes every stored study whose state is RUNNING
 * (studies a dead or stopped server was running), then ticks studies and runs
 * requests until *stop is set. It then stops every study (running trials end
 * "interrupted: the server shut down") and stores them as RUNNING again, so
 * the next start resumes them; queued and later requests fail with
 * KE_INTERRUPTED, and event readers are woken to end their streams. */
int service_run(service *sv, volatile sig_atomic_t *stop, kerror *err);
/* Frees everything; call after service_run returned and no other thread
 * uses the service any more. */
void service_close(service *sv);

/* Requests, from any thread (the engine thread too, before service_run).
 * Each blocks until done and returns KE_OK or a KE_* code with err filled.
 *
 * service_submit takes ownership of *spec (it is moved out, the caller's copy
 * zeroed) in every case: a new study is created and started (*created = 1); a
 * stored one with the same spec that is not active is resumed (*created = 0);
 * KE_CONFLICT if it is active or its stored spec differs, KE_BUSY if another
 * process runs it. KE_CONFLICT too, with *created = SERVICE_COMPLETE (or
 * SERVICE_FAILED, SERVICE_GOAL_REACHED), for the spec of a study that is COMPLETE (FAILED) and
 * would run nothing (no budget left, no trial to retry or reclaim, no
 * configuration enqueued since), as service_resume refuses it. */
#define SERVICE_COMPLETE (-1)
#define SERVICE_FAILED (-2)
#define SERVICE_GOAL_REACHED (-3)   /* COMPLETE, its objective.goal reached: no budget runs more */
int service_submit(service *sv, spec_study *spec, int *created, kerror *err);
/* Resumes a stored study: KE_NOTFOUND, KE_CONFLICT when active, KE_BUSY.
 * retry_failed: re-run every FAILED trial once more, as `kestrel run
 * --retry-failed` does (besides budget.max_retries and interrupted trials).
 * KE_CONFLICT too for a COMPLETE or FAILED study that would run nothing
 * (with retry_failed: no failed trial left to retry), err saying so. */
int service_resume(service *sv, const char *name, int retry_failed, kerror *err);
/* Stops an active study; returns once its trials are gone and it is stored
 * STOPPED. KE_NOTFOUND if stored nowhere, KE_CONFLICT if not active. */
int service_stop(service *sv, const char *name, kerror *err);
/* Deletes a study and its trials, stopping it first if active. KE_BUSY when
 * another process runs it. */
int service_delete(service *sv, const char *name, kerror *err);

void service_get_stats(service *sv, service_stats *out);

/* For modules that extend the engine (fleet_calls.c): runs fn(sv, arg, err) on the
 * engine thread and returns its code, as the requests above do. */
typedef int (*service_fn)(service *sv, void *arg, kerror *err);
int service_call(service *sv, service_fn fn, void *arg, kerror *err);
/* The same without waiting, from any thread but the engine's: queues the
 * call and returns KE_OK, and done(ctx, rc, err) then runs once on the
 * engine thread with its outcome (after the commit of its writes, as a
 * waiting caller hears it; err is valid during the call only). Or returns
 * KE_INTERRUPTED (the server is shutting down) or KE_NOMEM at once, and
 * done never runs. A thousand workers then hold no thread each. */
typedef void (*service_done_fn)(void *ctx, int rc, const kerror *err);
int service_call_async(service *sv, service_fn fn, void *arg, service_done_fn done, void *ctx,
                       kerror *err);
/* Engine thread only, from inside such a call: how many more calls of fn
 * the engine's current pass holds (requests queued together: a batch). */
int service_pass_waiting(service *sv, service_fn fn);
/* Engine thread only, from inside such a call: the engine's storage handle,
 * its fleet, the scheduler of active study `name` (NULL if none), and the
 * i-th active study (NULL past the last; *name set). */
struct storage;
struct scheduler;
struct fleet;
struct storage *service_storage(service *sv);
/* Any thread: the upload limit (constant). */
long long service_checkpoint_max(const service *sv);
/* Any thread: the folder of study name's trial folders, its scheduler's
 * when it runs, else the one its row keeps (scheduler_study_work_dir;
 * "<db>.trials" for no such study). */
int service_study_work_dir(service *sv, const char *name, char *out, size_t n, kerror *err);
struct fleet *service_fleet(service *sv);
struct scheduler *service_study(service *sv, const char *name);
struct scheduler *service_study_at(service *sv, int i, const char **name);

/* Any thread: the server's live feed (events.h). */
struct events;
struct events *service_events(service *sv);

#endif
