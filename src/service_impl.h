/* service_impl: private to the service; only service.c (the request queue,
 * the engine loop) and service_studies.c (the studies it runs) include it.
 * It defines the service, its requests and its active studies, and the
 * helpers both share (svc_ names, internal). service.c says the invariant
 * the requests keep. */
#ifndef KESTREL_SERVICE_IMPL_H
#define KESTREL_SERVICE_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "backoff.h"
#include "events.h"
#include "fleet.h"
#include "kerror.h"
#include "scheduler.h"
#include "service.h"
#include "spec.h"
#include "storage.h"
#include "watch.h"

#define SHUTDOWN_REASON "the server shut down"
#define STOP_REASON "stopped through the API"
#define DELETE_REASON "the study was deleted"

typedef enum { CMD_SUBMIT, CMD_RESUME, CMD_STOP, CMD_DELETE, CMD_CALL } cmd_kind;

typedef struct cmd {
    cmd_kind kind;
    const char *name;           /* STOP, DELETE, RESUME */
    int retry_failed;           /* RESUME */
    spec_study spec;            /* SUBMIT: owned until a study takes it */
    service_fn fn;              /* CALL */
    void *arg;
    int created;
    int rc;
    kerror err;
    int done;
    /* its requester's own: waking all of them for each answer costs
     * O(requesters) context switches per call (a thousand workers) */
    pthread_cond_t *done_cv;
    /* or, for a call nobody waits on (service_call_async; the cmd is then
     * malloc'd and freed once told), what to tell */
    service_done_fn done_fn;
    void *done_ctx;
    struct cmd *next;           /* in the queue, then in a study's waiters */
} cmd;

typedef struct study_run {
    service *sv;
    spec_study spec;            /* owned; the scheduler points into it */
    scheduler *s;
    int64_t id;
    int deleting;               /* delete once its trials are gone */
    int enq_unread;             /* its enqueued configurations could not be
                                 * counted at the last tick (said once) */
    cmd *waiters;               /* stop/delete requests done when it finishes */
    struct study_run *next;
} study_run;

struct service {
    char *db_path, *self_exe;
    char *work_dir;             /* service_opts.work_dir, or NULL */
    int run_self;
    int max_parallel;
    int cores;                  /* cores_usable(), shared among all the studies' trials */
    int no_local;
    long long checkpoint_max;
    fleet *fleet;               /* engine thread */
    char cache_dir[4096];
    storage *st;                /* the engine's handle: engine thread only */
    watch *others;              /* what other processes change (engine thread) */
    double next_watch;
    pthread_t engine;
    study_run *active;
    int n_active;
    /* studies a transient storage error took off the engine, stored
     * RUNNING, each waiting to resume (engine thread) */
    backoff_list waiting;
    /* the waiting studies whose stop this pass's batch stored: freed once
     * it commits, back in waiting if the commit fails (svc_stops_end) */
    backoff_list stopping;
    unsigned rr;                /* rotates who gets leftover slots */
    int shutting_down;

    pthread_mutex_t mu;         /* queue, closing */
    pthread_cond_t wake;        /* to the engine: a request is queued */
    cmd *queue, *queue_tail;
    int closing;

    /* engine thread: while its queued requests run in one transaction,
     * their answers and events wait for its commit */
    int batching;
    cmd *answered;
    cmd *pass_rest;             /* the requests of this pass not run yet */
    struct {                    /* ... counted by function (a walk of them for
                                 * each lease cost O(pass^2)); overflow walks */
        service_fn fn;
        int n;
    } pass_left[8];
    int n_pass_fns;
    int pass_overflow;          /* some function of the pass is not in pass_left */

    events *ev;

    atomic_ullong suggestions;
    atomic_int running;
    atomic_int n_active_pub;
    atomic_int n_waiting_pub;   /* sv->waiting.n */
    atomic_llong beat_ns;       /* CLOCK_MONOTONIC at the end of the last round */
    double stall_after;
};

/* The server's log line for an error the engine met on study (or "*"). */
void svc_log_error(const char *study, const char *what, const kerror *err);
/* Adds an event (takes the reference to data); in a batch it waits for the
 * commit. */
void svc_publish(service *sv, const char *study, const char *type, json_t *data);
void svc_publish_state(service *sv, const char *study, const char *state);
/* c's outcome, told its requester (in a batch, once the batch commits). */
void svc_complete(service *sv, cmd *c, int rc, const kerror *err);

#endif
