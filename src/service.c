/* service: the engine of `kestrel serve`; see service.h. Invariant: every
 * request queued before `closing` is set is completed exactly once (by the
 * engine, or with KE_INTERRUPTED at shutdown), and a request's struct is
 * never touched after its `done` flag is set, since the requester's stack
 * frame that holds it may be gone by then. Failures the engine meets on its
 * own (a study that cannot resume, a study whose scheduler fails) have no
 * caller to return to: they go to stderr, the server's log. */
#define _GNU_SOURCE
#include "service.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "api_json.h"
#include "backoff.h"
#include "cores.h"
#include "events.h"
#include "fleet.h"
#include "format.h"
#include "klog.h"
#include "lock.h"
#include "scheduler.h"
#include "spec_diff.h"
#include "storage.h"
#include "watch.h"

#define TICK_MS 30                      /* one round over all studies */
#define WATCH_S 0.5                     /* between looks for other processes' changes */
#define STALL_AFTER_DEFAULT 60.0        /* seconds; a GP fit takes a few at most */
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
    cmd *waiters;               /* stop/delete requests done when it finishes */
    struct study_run *next;
} study_run;

struct service {
    char *db_path, *self_exe;
    int run_self;
    int max_parallel;
    int cores;                  /* cores_usable(), shared among all the studies' trials */
    int no_local;
    long long checkpoint_max;
    fleet *fleet;               /* engine thread */
    char work_dir[4096], cache_dir[4096];
    storage *st;                /* the engine's handle: engine thread only */
    watch *others;              /* what other processes change (engine thread) */
    double next_watch;
    pthread_t engine;
    study_run *active;
    int n_active;
    /* studies a transient storage error took off the engine, stored
     * RUNNING, each waiting to resume (engine thread) */
    backoff_list waiting;
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

static void log_error(const char *study, const char *what, const kerror *err)
{
    char buf[KERROR_PATH_MAX + KERROR_MSG_MAX + 4];
    klog(stderr, "study %s: %s: %s", study, what, kerror_text(err, buf, sizeof buf));
}

/* The server's log line for a study that starts or ends. */
static void log_study(const char *study, const char *state, const scheduler_status *ss,
                      const char *why)
{
    char best[96] = "";
    if (ss->has_best)
        snprintf(best, sizeof best, ", best %.10g at trial %d", ss->best_value, ss->best_number);
    klog(stderr, "study %s: %s, %d trials (%d complete, %d pruned, %d failed, %d interrupted)%s%s%s",
         study, state, ss->n_trials, ss->n_complete, ss->n_pruned, ss->n_failed,
         ss->n_interrupted, best, why ? ": " : "", why ? why : "");
}

/* ---- events ---- */

static long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Adds an event (takes the reference to data). Dropped when out of memory:
 * events are a view, storage is the record. In a batch it waits for the
 * commit, so a reader that fetches what an event announces finds it. */
static void publish(service *sv, const char *study, const char *type, json_t *data)
{
    char *json = data ? format_json(data, JSON_COMPACT) : NULL;
    json_decref(data);
    if (sv->batching) events_hold(sv->ev, study, type, json);
    else events_put(sv->ev, study, type, json);
}

static void publish_state(service *sv, const char *study, const char *state)
{
    publish(sv, study, "study_state", json_pack("{s:s, s:s}", "study", study, "state", state));
}

static json_t *value_or_null(int has, double v)
{
    return has ? json_real(v) : json_null();
}

static void on_sched_event(const scheduler_event *ev, void *ctx)
{
    study_run *r = ctx;
    service *sv = r->sv;
    if (ev->kind == SCHED_EV_STARTED) {
        atomic_fetch_add(&sv->suggestions, 1);
        atomic_fetch_add(&sv->running, 1);
    } else if (ev->kind != SCHED_EV_REPORTED) {
        atomic_fetch_sub(&sv->running, 1);
        if (ev->state == TRIAL_FAILED && !trial_interrupted(ev->failure))
            klog(stderr, "study %s: trial %d FAILED: %s", r->spec.name, ev->number,
                 ev->failure ? ev->failure : "");
    }
    /* a fleet's coordinator with no dashboard open spent a tenth of its
     * engine on trial events nobody read */
    if (!events_wanted(sv->ev)) return;
    json_t *d = json_pack("{s:s, s:i}", "study", r->spec.name, "number", ev->number);
    const char *type = "trial_started";
    if (ev->kind == SCHED_EV_STARTED) {
        /* the whole trial as GET .../trials gives it, so a client needs no
         * fetch per start */
        json_t *t = api_trial_json(ev->trial);
        json_object_update(d, t);
        json_decref(t);
    } else if (ev->kind == SCHED_EV_REPORTED) {
        type = "trial_reported";
        json_object_set_new(d, "step", json_integer(ev->step));
        json_object_set_new(d, "value", value_or_null(ev->has_value, ev->value));
    } else {
        type = "trial_finished";
        json_object_set_new(d, "state", json_string(trial_state_name(ev->state)));
        json_object_set_new(d, "value", value_or_null(ev->has_value, ev->value));
        json_object_set_new(d, "failure", api_text(ev->failure));
        json_object_set_new(d, "interrupted", json_boolean(ev->state == TRIAL_FAILED &&
                                                           trial_interrupted(ev->failure)));
    }
    publish(sv, r->spec.name, type, d);
}

events *service_events(service *sv)
{
    return sv->ev;
}

/* ---- studies ---- */

static study_run *find_active(service *sv, const char *name)
{
    for (study_run *r = sv->active; r; r = r->next)
        if (!strcmp(r->spec.name, name)) return r;
    return NULL;
}

/* Opens a scheduler for *spec (moved into the study) and makes it active. */
static int start_study(service *sv, spec_study *spec, int retry_failed, kerror *err)
{
    study_run *r = calloc(1, sizeof *r);
    if (!r) {
        spec_free(spec);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    r->sv = sv;
    r->spec = *spec;
    memset(spec, 0, sizeof *spec);
    scheduler_opts so = {.db_path = sv->db_path, .self_exe = sv->self_exe, .run_self = sv->run_self,
                         .work_dir = sv->work_dir, .cache_dir = sv->cache_dir,
                         .retry_failed = retry_failed, .on_event = on_sched_event, .ctx = r};
    /* the trials workers ran on through a restart go on as remote runs */
    scheduler_kept *kept;
    int rc = fleet_kept(sv->fleet, r->spec.name, &kept, &so.n_kept);
    so.kept = kept;
    if (rc != KE_OK) kerror_set(err, rc, NULL, "out of memory");
    else rc = scheduler_open(&r->s, sv->st, &r->spec, &so, err);
    free(kept);
    if (rc != KE_OK) {
        spec_free(&r->spec);
        free(r);
        return rc;
    }
    scheduler_status ss;
    scheduler_get_status(r->s, &ss);
    r->id = ss.study_id;
    backoff_entry *waiting = backoff_find(&sv->waiting, r->spec.name);
    if (waiting) backoff_remove(&sv->waiting, waiting);
    atomic_store(&sv->n_waiting_pub, sv->waiting.n);
    log_study(r->spec.name, study_state_name(STUDY_RUNNING), &ss, NULL);
    r->next = sv->active;
    sv->active = r;
    sv->n_active++;
    atomic_store(&sv->n_active_pub, sv->n_active);
    publish_state(sv, r->spec.name, study_state_name(STUDY_RUNNING));
    return KE_OK;
}

static int already_active(const char *name, kerror *err)
{
    return kerror_set(err, KE_CONFLICT, NULL, "study '%s' is already running", name);
}

static int do_submit(service *sv, spec_study *spec, int *created, kerror *err)
{
    int running = find_active(sv, spec->name) != NULL;
    storage_study row;
    int rc = storage_study_get(sv->st, spec->name, &row, err);
    *created = rc == KE_NOTFOUND;
    if (rc == KE_OK) {
        /* a changed budget (a larger max_trials, say) extends the study;
         * any other change is refused, running or not, naming the field,
         * so that a user told to stop it is not refused again after */
        char diff[512];
        int budget_only = 1, changed = 0;
        if (strcmp(row.spec_hash, spec->hash) != 0)
            changed = spec_diff(row.spec_json, spec->doc, diff, sizeof diff, &budget_only) > 0;
        if (!budget_only)
            rc = kerror_set(err, KE_CONFLICT, NULL, "study '%s' already exists with a different "
                            "spec (%s); only its budget may change: delete it or choose another "
                            "name", spec->name, diff);
        /* its scheduler and strategy were made for the budget they hold
         * (Hyperband's brackets, the GP's last share): a new one takes a
         * fresh start, which a stop gives without losing a trial */
        else if (running && changed)
            rc = kerror_set(err, KE_CONFLICT, NULL, "study '%s' is already running: to change "
                            "its budget, stop it (POST .../stop), then post the spec again",
                            spec->name);
        else if (running)
            rc = already_active(spec->name, err);
        storage_study_free(&row);
    } else if (rc == KE_NOTFOUND) {
        kerror_clear(err);
        rc = running ? already_active(spec->name, err) : KE_OK;
    }
    if (rc != KE_OK) {
        spec_free(spec);
        return rc;
    }
    return start_study(sv, spec, 0, err);
}

/* The stored spec of study name, parsed; KE_NOTFOUND if none. */
static int stored_spec(service *sv, const char *name, spec_study *spec, kerror *err)
{
    storage_study row;
    int rc = storage_study_get(sv->st, name, &row, err);
    if (rc != KE_OK) return rc;
    rc = spec_parse(spec, row.spec_json, err);
    if (rc != KE_OK) rc = kerror_set(err, KE_INTERNAL, err->path, "stored spec of study '%s' "
                                     "does not parse: %s", name, err->msg);
    else if (row.spec_dir && (rc = spec_set_dir(spec, row.spec_dir, err)) != KE_OK)
        spec_free(spec);
    storage_study_free(&row);
    return rc;
}

static int do_resume(service *sv, const char *name, int retry_failed, kerror *err)
{
    if (find_active(sv, name)) return already_active(name, err);
    storage_study row;
    int rc = storage_study_get(sv->st, name, &row, err);
    if (rc != KE_OK) return rc;
    spec_study spec;
    rc = stored_spec(sv, name, &spec, err);
    if (rc != KE_OK) {
        storage_study_free(&row);
        return rc;
    }
    /* a complete study has nothing left to run, saying 202 would mislead,
     * unless configurations were enqueued since and its budget has room
     * (a grid that ran every point runs them) */
    int pending = 0;
    if (!retry_failed && row.state == STUDY_COMPLETE && row.n_configs < spec.budget.max_trials) {
        storage_enqueued *e = NULL;
        kerror lerr;
        if (storage_enqueue_list(sv->st, row.id, 1, &e, &pending, &lerr) != KE_OK) pending = 0;
        storage_enqueue_free(e, pending);
    }
    if (!retry_failed && row.state == STUDY_COMPLETE && !pending)
        rc = kerror_set(err, KE_CONFLICT, NULL, "study '%s' is complete: nothing to resume "
                        "(retry_failed=true re-runs its failed trials; a larger "
                        "budget.max_trials extends it)", name);
    storage_study_free(&row);
    if (rc != KE_OK) {
        spec_free(&spec);
        return rc;
    }
    return start_study(sv, &spec, retry_failed, err);
}

/* A study that is not active here: 404 if unknown, else it cannot stop. One
 * stored RUNNING is run by another process (this one resumed the rest at
 * start). */
static int stop_inactive(service *sv, const char *name, kerror *err)
{
    storage_study row;
    int rc = storage_study_get(sv->st, name, &row, err);
    if (rc != KE_OK) return rc;
    if (row.state == STUDY_RUNNING)
        rc = kerror_set(err, KE_BUSY, NULL, "study '%s' is being run by another kestrel process; "
                        "stop it there", name);
    else
        rc = kerror_set(err, KE_CONFLICT, NULL, "study '%s' is not running (it is %s)", name,
                        study_state_name(row.state));
    storage_study_free(&row);
    return rc;
}

/* After a study's rows are gone: its trial folders. Failing to remove them
 * does not undo the delete; it is logged. */
static void remove_study_dirs(service *sv, const char *name, int n_trials)
{
    kerror err;
    if (scheduler_remove_study_dirs(sv->work_dir, name, n_trials, &err) != KE_OK)
        log_error(name, "deleted, but its trial folders stay", &err);
}

/* Deletes a study no scheduler here runs, unless another process runs it. */
static int delete_inactive(service *sv, const char *name, kerror *err)
{
    storage_study row;
    int rc = storage_study_get(sv->st, name, &row, err);
    if (rc != KE_OK) return rc;
    lock_handle h;
    rc = lock_study(&h, sv->db_path, row.id, err);
    if (rc == KE_OK) {
        rc = storage_study_delete(sv->st, row.id, err);
        if (rc == KE_OK) remove_study_dirs(sv, name, row.n_trials);
        lock_release(&h);
    }
    if (rc == KE_OK) publish_state(sv, name, "DELETED");
    storage_study_free(&row);
    return rc;
}

/* Wakes c's requester (its rc and err set), or tells its done_fn. */
static void answer(service *sv, cmd *c)
{
    if (c->done_fn) {
        c->done_fn(c->done_ctx, c->rc, &c->err);
        free(c);
        return;
    }
    pthread_mutex_lock(&sv->mu);
    /* the condition is the requester's too: it is destroyed once the
     * requester sees done, which needs the lock this call still holds */
    pthread_cond_t *cv = c->done_cv;
    c->done = 1;
    if (cv) pthread_cond_signal(cv);
    pthread_mutex_unlock(&sv->mu);
}

/* c's outcome; in a batch its requester hears it once the batch commits (a
 * COMPLETE acknowledged is a COMPLETE stored). A call made inline on the
 * engine thread (no requester waiting) has its outcome at once. */
static void complete(service *sv, cmd *c, int rc, const kerror *err)
{
    c->rc = rc;
    if (rc != KE_OK) c->err = *err;
    if (sv->batching && (c->done_cv || c->done_fn)) {
        c->next = sv->answered;
        sv->answered = c;
        return;
    }
    answer(sv, c);
}

/* After a storage error the scheduler's counts may hold what a failed
 * commit rolled back, and the study's FAILED may not be stored (the disk
 * still full): its state and counts as the history holds them replace
 * *state and ss's, so the log and the event say what a reader finds. Left
 * as they are when the history cannot be read either. */
static void stored_outcome(service *sv, int64_t id, study_state *state, scheduler_status *ss)
{
    storage_study row;
    kerror err;
    if (storage_study_get_id(sv->st, id, &row, &err) != KE_OK) return;
    *state = row.state;
    ss->n_trials = row.n_trials;
    ss->n_complete = row.n_complete;
    ss->n_pruned = row.n_pruned;
    ss->n_failed = row.n_failed;
    ss->n_interrupted = row.n_interrupted;
    ss->has_best = row.has_best;
    ss->best_value = row.best_value;
    ss->best_number = row.best_number;
    storage_study_free(&row);
}

/* Takes r out of the active list and frees it. */
static void drop_active(service *sv, study_run *r)
{
    study_run **p = &sv->active;
    while (*p != r) p = &(*p)->next;
    *p = r->next;
    sv->n_active--;
    atomic_store(&sv->n_active_pub, sv->n_active);
    spec_free(&r->spec);
    free(r);
}

static double mono_s(void)
{
    return (double)mono_ns() * 1e-9;
}

/* A storage error a later try may not meet (a full disk, an I/O error) hit
 * r: its scheduler, whose memory may count writes the error rolled back,
 * is closed, its running trials are marked interrupted (a resume runs them
 * again), and it waits, stored RUNNING with the reason, to be resumed from
 * the history (retry_waiting). */
static void suspend_study(service *sv, study_run *r, const kerror *step_err)
{
    scheduler_status ss;
    scheduler_get_status(r->s, &ss);
    double now = mono_s();
    char reason[KERROR_MSG_MAX + 64];
    backoff_entry *e = NULL;
    if (backoff_add(&sv->waiting, r->spec.name, r->id, step_err->msg, now) == KE_OK) {
        e = backoff_find(&sv->waiting, r->spec.name);
        backoff_waiting_reason(e, now, reason, sizeof reason);
    }
    kerror err;
    /* without an entry it stays RUNNING as it is: the next start resumes it */
    if (scheduler_suspend(r->s, step_err, e ? reason : NULL, &err) != KE_OK)
        log_error(r->spec.name, "cannot store its interrupted trials or its wait yet", &err);
    if (!e) {
        klog(stderr, "study %s: out of memory: it resumes when the server next starts",
             r->spec.name);
    } else {
        study_state state;
        stored_outcome(sv, r->id, &state, &ss);
        log_study(r->spec.name, "WAITING", &ss, reason);
    }
    publish_state(sv, r->spec.name, study_state_name(STUDY_RUNNING));
    atomic_store(&sv->n_waiting_pub, sv->waiting.n);
    drop_active(sv, r);
}

/* Takes a finished (or failed, rc < 0) study out of the active list. */
static void finish_study(service *sv, study_run *r, int rc, const kerror *step_err)
{
    if (rc < 0 && storage_error_transient(step_err) && sv->waiting.give_up_s > 0 &&
        !sv->shutting_down && !r->deleting && !r->waiters) {
        suspend_study(sv, r, step_err);
        return;
    }
    scheduler_status ss;
    scheduler_get_status(r->s, &ss);
    char failure[KERROR_MSG_MAX];   /* ss.failure is the scheduler's, freed with it */
    if (ss.failure) {
        snprintf(failure, sizeof failure, "%s", ss.failure);
        ss.failure = failure;
    }
    scheduler_close(r->s);
    study_state state = ss.failed ? STUDY_FAILED : ss.completed ? STUDY_COMPLETE : STUDY_STOPPED;
    kerror err;
    kerror_clear(&err);
    int wrc = KE_OK;
    if (rc < 0) {
        log_error(r->spec.name, "failed", step_err);
        state = STUDY_FAILED;
        char why[KERROR_MSG_MAX + 64];
        snprintf(why, sizeof why, "%s%s", step_err->code == KE_DB &&
                 !storage_error_transient(step_err) ? "a storage error that retrying cannot mend: "
                 : "", step_err->msg);
        wrc = storage_study_set_state(sv->st, r->id, state, why, &err);
        /* trials whose end could not be stored (the storage error itself)
         * get another try now; failing that, the next start reclaims them */
        char reason[KERROR_MSG_MAX + 64];
        snprintf(reason, sizeof reason, TRIAL_INTERRUPTED "the study failed: %s", step_err->msg);
        int n;
        kerror rerr;
        if (scheduler_reclaim(sv->st, sv->db_path, r->id, reason, &n, &rerr) != KE_OK)
            log_error(r->spec.name, "cannot mark its running trials failed", &rerr);
        stored_outcome(sv, r->id, &state, &ss);
    } else if (!ss.completed && ss.stop_reason && !strcmp(ss.stop_reason, SHUTDOWN_REASON)) {
        state = STUDY_RUNNING;       /* resumed by the next start */
        wrc = storage_study_set_state(sv->st, r->id, state, NULL, &err);
    }
    if (wrc != KE_OK) log_error(r->spec.name, "cannot store its state", &err);
    if (r->deleting) {
        wrc = storage_study_delete(sv->st, r->id, &err);
        if (wrc == KE_OK) remove_study_dirs(sv, r->spec.name, ss.n_trials);
    }
    /* DELETED is no stored state: the event tells watchers the row is gone */
    const char *shown = r->deleting ? "DELETED" : study_state_name(state);
    log_study(r->spec.name, shown, &ss, ss.failure ? ss.failure : ss.stop_reason);
    publish_state(sv, r->spec.name, shown);
    while (r->waiters) {
        cmd *c = r->waiters;
        r->waiters = c->next;
        complete(sv, c, c->kind == CMD_DELETE ? wrc : KE_OK, &err);
    }
    drop_active(sv, r);
}

/* Stores a given-up study's FAILED (its reason in e->why) and reclaims the
 * trials it could not end; a transient error keeps it waiting to try
 * again, so the server does not forget a study it stored RUNNING. A study
 * that another process resumed meanwhile (KE_BUSY) is that one's to run. */
static void store_given_up(service *sv, backoff_entry *e, double now)
{
    kerror err;
    int rc = scheduler_fail_stored(sv->st, sv->db_path, e->id, e->why, &err);
    if (rc == KE_BUSY || rc == KE_NOTFOUND) {
        /* e->id is no other study's: ids are never given again (sql/011) */
        if (rc == KE_BUSY)
            klog(stderr, "study %s: not marked FAILED: another kestrel process resumed it and runs "
                 "it now (this server had given it up: %s); watch or stop it there", e->name, e->why);
        else
            klog(stderr, "study %s: not marked FAILED: it was deleted meanwhile (this server had "
                 "given it up: %s)", e->name, e->why);
        backoff_remove(&sv->waiting, e);
        return;
    }
    if (rc != KE_OK) {
        int again = storage_error_transient(&err);
        log_error(e->name, again ? "cannot store its FAILED yet" : "cannot store its FAILED", &err);
        if (again) backoff_later(&sv->waiting, e, now);
        else backoff_remove(&sv->waiting, e);
        return;
    }
    klog(stderr, "study %s: FAILED: %s", e->name, e->why);
    publish_state(sv, e->name, study_state_name(STUDY_FAILED));
    backoff_remove(&sv->waiting, e);
}

/* Gives up on a waiting study: FAILED with why, unless the error says it
 * is not this server's to fail (another process runs it, it is gone). */
static void give_up(service *sv, backoff_entry *e, const kerror *why, int transient, double now)
{
    if (why->code != KE_DB) {
        klog(stderr, "study %s: not resumed: %s", e->name, why->msg);
        backoff_remove(&sv->waiting, e);
        return;
    }
    backoff_give_up(e, why->msg, transient, now);
    store_given_up(sv, e, now);
}

/* Resumes the waiting studies whose try is due, from the history (or
 * stores the FAILED of those given up). */
static void retry_waiting(service *sv)
{
    double now = mono_s();
    backoff_entry *e;
    while ((e = backoff_due(&sv->waiting, now))) {
        if (e->given_up) {
            store_given_up(sv, e, now);
            continue;
        }
        kerror err;
        kerror_clear(&err);
        klog(stderr, "study %s: resuming after a storage error (%s)", e->name, e->why);
        /* once resumed, it waits no more: start_study took e out */
        if (do_resume(sv, e->name, 0, &err) == KE_OK) continue;
        if (!storage_error_transient(&err)) {
            give_up(sv, e, &err, 0, now);
        } else if (!backoff_again(&sv->waiting, e, err.msg, now)) {
            give_up(sv, e, &err, 1, now);
        } else {
            char what[96];
            snprintf(what, sizeof what, "cannot resume yet (next try in %.0f s)",
                     backoff_wait(e, now));
            log_error(e->name, what, &err);
        }
    }
    atomic_store(&sv->n_waiting_pub, sv->waiting.n);
}

/* A stop or delete of a study that waits: it waits no more. */
static int stop_waiting(service *sv, const char *name, kerror *err)
{
    backoff_entry *e = backoff_find(&sv->waiting, name);
    if (!e) return KE_NOTFOUND;
    int64_t id = e->id;
    backoff_remove(&sv->waiting, e);
    atomic_store(&sv->n_waiting_pub, sv->waiting.n);
    int rc = storage_study_set_state(sv->st, id, STUDY_STOPPED, STOP_REASON, err);
    if (rc == KE_OK) publish_state(sv, name, study_state_name(STUDY_STOPPED));
    return rc;
}

static void exec_cmd(service *sv, cmd *c)
{
    kerror err;
    kerror_clear(&err);
    int rc;
    study_run *r;
    switch (c->kind) {
    case CMD_SUBMIT: rc = do_submit(sv, &c->spec, &c->created, &err); break;
    case CMD_RESUME: rc = do_resume(sv, c->name, c->retry_failed, &err); break;
    case CMD_CALL: rc = c->fn(sv, c->arg, &err); break;
    case CMD_STOP:
    case CMD_DELETE:
        if ((r = find_active(sv, c->name))) {
            if (c->kind == CMD_DELETE) r->deleting = 1;
            scheduler_stop(r->s, c->kind == CMD_DELETE ? DELETE_REASON : STOP_REASON);
            c->next = r->waiters;
            r->waiters = c;
            return;     /* done once its trials are gone */
        }
        rc = stop_waiting(sv, c->name, &err);
        if (rc != KE_NOTFOUND && c->kind == CMD_STOP) break;
        rc = c->kind == CMD_STOP ? stop_inactive(sv, c->name, &err)
                                 : delete_inactive(sv, c->name, &err);
        break;
    default: rc = kerror_set(&err, KE_INTERNAL, NULL, "unknown request %d", (int)c->kind);
    }
    complete(sv, c, rc, &err);
}

/* Queues c for the engine (sv->mu held); KE_INTERRUPTED once closing. */
static int enqueue(service *sv, cmd *c, kerror *err)
{
    if (sv->closing) {
        if (c->kind == CMD_SUBMIT) spec_free(&c->spec);
        return kerror_set(err, KE_INTERRUPTED, NULL, "the server is shutting down");
    }
    c->next = NULL;
    if (sv->queue_tail) sv->queue_tail->next = c;
    else sv->queue = c;
    sv->queue_tail = c;
    pthread_cond_signal(&sv->wake);
    return KE_OK;
}

/* Queues c for the engine and waits for it; inline on the engine thread. */
static int request(service *sv, cmd *c, kerror *err)
{
    if (pthread_equal(pthread_self(), sv->engine)) {
        if (c->kind == CMD_STOP || c->kind == CMD_DELETE)
            return kerror_set(err, KE_INTERNAL, NULL, "stop/delete from the engine thread");
        exec_cmd(sv, c);
    } else {
        pthread_cond_t done;
        pthread_cond_init(&done, NULL);
        c->done_cv = &done;
        pthread_mutex_lock(&sv->mu);
        int rc = enqueue(sv, c, err);
        while (rc == KE_OK && !c->done) pthread_cond_wait(&done, &sv->mu);
        pthread_mutex_unlock(&sv->mu);
        pthread_cond_destroy(&done);
        if (rc != KE_OK) return rc;
    }
    if (c->rc != KE_OK && err) *err = c->err;
    return c->rc;
}

int service_submit(service *sv, spec_study *spec, int *created, kerror *err)
{
    cmd c = {.kind = CMD_SUBMIT, .spec = *spec};
    memset(spec, 0, sizeof *spec);
    int rc = request(sv, &c, err);
    if (created) *created = c.created;
    return rc;
}

int service_call(service *sv, service_fn fn, void *arg, kerror *err)
{
    cmd c = {.kind = CMD_CALL, .fn = fn, .arg = arg};
    return request(sv, &c, err);
}

int service_call_async(service *sv, service_fn fn, void *arg, service_done_fn done, void *ctx,
                       kerror *err)
{
    if (pthread_equal(pthread_self(), sv->engine))
        return kerror_set(err, KE_INTERNAL, NULL, "an asynchronous call from the engine thread");
    cmd *c = calloc(1, sizeof *c);
    if (!c) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    *c = (cmd){.kind = CMD_CALL, .fn = fn, .arg = arg, .done_fn = done, .done_ctx = ctx};
    pthread_mutex_lock(&sv->mu);
    int rc = enqueue(sv, c, err);
    pthread_mutex_unlock(&sv->mu);
    if (rc != KE_OK) free(c);
    return rc;
}

storage *service_storage(service *sv)
{
    return sv->st;
}

const char *service_work_dir(const service *sv)
{
    return sv->work_dir;
}

long long service_checkpoint_max(const service *sv)
{
    return sv->checkpoint_max;
}

fleet *service_fleet(service *sv)
{
    return sv->fleet;
}

scheduler *service_study(service *sv, const char *name)
{
    study_run *r = find_active(sv, name);
    return r ? r->s : NULL;
}

scheduler *service_study_at(service *sv, int i, const char **name)
{
    study_run *r = sv->active;
    while (r && i-- > 0) r = r->next;
    if (r) *name = r->spec.name;
    return r ? r->s : NULL;
}

static int named_request(service *sv, cmd_kind kind, const char *name, kerror *err)
{
    cmd c = {.kind = kind, .name = name};
    return request(sv, &c, err);
}

int service_resume(service *sv, const char *name, int retry_failed, kerror *err)
{
    cmd c = {.kind = CMD_RESUME, .name = name, .retry_failed = retry_failed};
    return request(sv, &c, err);
}

int service_stop(service *sv, const char *name, kerror *err)
{
    return named_request(sv, CMD_STOP, name, err);
}

int service_delete(service *sv, const char *name, kerror *err)
{
    return named_request(sv, CMD_DELETE, name, err);
}

/* The engine finished a round: /healthz sees it alive. */
static void beat(service *sv)
{
    atomic_store(&sv->beat_ns, mono_ns());
}

void service_get_stats(service *sv, service_stats *out)
{
    out->suggestions = atomic_load(&sv->suggestions);
    out->running = atomic_load(&sv->running);
    out->active = atomic_load(&sv->n_active_pub);
    out->waiting = atomic_load(&sv->n_waiting_pub);
    out->engine_idle_s = (double)(mono_ns() - atomic_load(&sv->beat_ns)) * 1e-9;
    out->stalled = out->engine_idle_s > sv->stall_after;
    fleet_counts(sv->fleet, &out->workers, &out->remote, &out->registrations);
}

/* ---- the engine loop ---- */

/* Ends the batch: commits it, then lets its events out and answers its
 * requesters. A failed commit lost every write of the batch that the
 * schedulers and the fleet already count: the requesters get the error,
 * the fleet forgets the workers and leases the batch stored, and the
 * active studies fail (their trials reclaimed; a resume reloads the
 * history). */
static void end_batch(service *sv)
{
    kerror err;
    kerror_clear(&err);
    int rc = storage_batch_end(sv->st, &err);
    sv->batching = 0;
    fleet_pass_end(sv->fleet, rc == KE_OK);
    events_release(sv->ev, rc == KE_OK);
    while (sv->answered) {
        cmd *c = sv->answered;
        sv->answered = c->next;
        if (rc != KE_OK) {
            c->rc = rc;
            c->err = err;
        }
        answer(sv, c);
    }
    if (rc == KE_OK) return;
    log_error("*", "cannot commit the history", &err);
    while (sv->active) finish_study(sv, sv->active, rc, &err);
}

/* fn's index in sv->pass_left, or -1. */
static int pass_fn(const service *sv, service_fn fn)
{
    for (int i = 0; i < sv->n_pass_fns; i++)
        if (sv->pass_left[i].fn == fn) return i;
    return -1;
}

/* Runs the requests queued so far, in one transaction: a thousand workers'
 * leases and reports cost one commit per pass, not two each. */
static void run_requests(service *sv)
{
    pthread_mutex_lock(&sv->mu);
    cmd *c = sv->queue;
    sv->queue = sv->queue_tail = NULL;
    pthread_mutex_unlock(&sv->mu);
    int any = c != NULL;
    kerror err;
    /* unbatched (each call commits alone) when the batch cannot start */
    sv->batching = c && storage_batch_begin(sv->st, &err) == KE_OK;
    sv->n_pass_fns = sv->pass_overflow = 0;
    for (const cmd *k = c; k; k = k->next) {
        if (k->kind != CMD_CALL) continue;
        int i = pass_fn(sv, k->fn);
        if (i < 0 && sv->n_pass_fns < (int)(sizeof sv->pass_left / sizeof *sv->pass_left)) {
            i = sv->n_pass_fns++;
            sv->pass_left[i].fn = k->fn;
            sv->pass_left[i].n = 0;
        }
        if (i >= 0) sv->pass_left[i].n++;
        else sv->pass_overflow = 1;
    }
    while (c) {
        cmd *next = c->next;
        sv->pass_rest = next;
        int i = c->kind == CMD_CALL ? pass_fn(sv, c->fn) : -1;
        if (i >= 0) sv->pass_left[i].n--;
        exec_cmd(sv, c);
        c = next;
    }
    sv->n_pass_fns = 0;
    if (sv->batching) end_batch(sv);
    else if (any) fleet_pass_end(sv->fleet, 1);   /* each call committed on its own */
    for (study_run *r = sv->active; r; r = r->next) scheduler_drop_ready(r->s);
}

int service_pass_waiting(service *sv, service_fn fn)
{
    int i = pass_fn(sv, fn), n = 0;
    if (i >= 0) return sv->pass_left[i].n;
    if (!sv->pass_overflow) return 0;   /* none in this pass: no walk of it */
    for (const cmd *c = sv->pass_rest; c; c = c->next) n += c->kind == CMD_CALL && c->fn == fn;
    return n;
}

/* Splits the global cap among the studies: each gets an equal share (up to
 * its own max_parallel, or to the trials it runs and those it can start
 * now: slots it cannot use go to the others), and may start trials only while
 * the total running stays under the cap; trials above a shrunken share
 * finish normally. */
static void share_slots(service *sv)
{
    if (sv->no_local)
        for (study_run *r = sv->active; r; r = r->next) scheduler_set_parallel(r->s, 0);
    if (sv->no_local || sv->max_parallel <= 0 || sv->n_active == 0) return;
    int n = sv->n_active, free_slots = sv->max_parallel;
    study_run *runs[n];
    int share[n], running[n], want[n], k = 0;
    for (study_run *r = sv->active; r; r = r->next, k++) {
        runs[k] = r;
        /* the cap is this machine's: workers bring their own */
        running[k] = scheduler_n_local(r->s);
        int more = scheduler_startable(r->s), max = r->spec.budget.max_parallel;
        want[k] = more >= max - running[k] ? max : running[k] + more;
        share[k] = 0;
        free_slots -= running[k];
    }
    unsigned start = sv->rr++;
    for (int left = sv->max_parallel, given = 1; left > 0 && given;) {
        given = 0;
        for (int j = 0; j < n && left > 0; j++) {
            int i = (int)((start + (unsigned)j) % (unsigned)n);
            if (share[i] >= want[i]) continue;
            share[i]++;
            left--;
            given = 1;
        }
    }
    for (int j = 0; j < n; j++) {
        int i = (int)((start + (unsigned)j) % (unsigned)n);
        int grant = share[i] - running[i];
        if (grant > free_slots) grant = free_slots;
        if (grant < 0) grant = 0;
        free_slots -= grant;
        scheduler_set_parallel(runs[i]->s, running[i] + grant);
    }
}


/* Divides this machine's CPUs among the trials all the active studies may
 * run at once (their max_parallel, capped by --max-parallel), so that two
 * studies of 4 trials on 8 cores give each trial 1 thread, not 2. */
static void share_cores(service *sv)
{
    int total = 0;
    for (study_run *r = sv->active; r; r = r->next) total += r->spec.budget.max_parallel;
    if (sv->max_parallel > 0 && total > sv->max_parallel) total = sv->max_parallel;
    if (total < 1) return;
    for (study_run *r = sv->active; r; r = r->next) scheduler_set_threads(r->s, sv->cores / total);
}

/* One round: each active study steps for its slice of the tick. */
static void tick(service *sv, int tick_ms)
{
    share_slots(sv);
    share_cores(sv);
    int slice = sv->n_active ? tick_ms / sv->n_active : 0;
    if (slice < 1) slice = 1;
    study_run *r = sv->active;
    while (r) {
        study_run *next = r->next;
        kerror err;
        kerror_clear(&err);
        int rc = scheduler_step(r->s, slice, &err);
        if (rc <= 0) finish_study(sv, r, rc, &err);
        r = next;
    }
}

/* Waits for a request for up to ms (a round where nobody waited on trials). */
static void idle_wait(service *sv, int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += (long)ms * 1000000L;
    t.tv_sec += t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&sv->mu);
    if (!sv->queue) pthread_cond_timedwait(&sv->wake, &sv->mu, &t);
    pthread_mutex_unlock(&sv->mu);
}

/* How long an idle round may wait for a request: a round's length while
 * studies run or wait to retry, or workers are registered; with none of
 * them, until the next look at other processes' changes, so an idle server
 * wakes twice a second instead of 33 times, but never past half the stall
 * limit, which the health check would report. */
static int idle_ms(service *sv)
{
    int workers, leases;
    fleet_counts(sv->fleet, &workers, &leases, NULL);
    if (sv->active || sv->waiting.n || workers) return TICK_MS;
    double ms = (sv->next_watch - mono_s()) * 1e3;
    if (ms > sv->stall_after * 500) ms = sv->stall_after * 500;
    return ms > TICK_MS ? (int)ms : TICK_MS;
}

/* Studies a previous server (or a dead `kestrel run`) left RUNNING, and
 * trials left RUNNING in studies that are not. */
static void resume_stored(service *sv)
{
    storage_study *list;
    int n;
    kerror err;
    if (storage_study_list(sv->st, &list, &n, &err) != KE_OK) {
        log_error("*", "cannot list studies", &err);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (find_active(sv, list[i].name)) continue;
        kerror_clear(&err);
        if (list[i].state == STUDY_RUNNING) {
            if (do_resume(sv, list[i].name, 0, &err) != KE_OK)
                log_error(list[i].name, "cannot resume", &err);
            continue;
        }
        /* a study that ended on an error may hold trials nobody will end:
         * it is not resumed, so they are reclaimed here (unless a live
         * `kestrel run` holds the study) */
        int reclaimed;
        if (list[i].n_running > 0 &&
            scheduler_reclaim_dead(sv->st, sv->db_path, list[i].id, &reclaimed, &err) != KE_OK &&
            err.code != KE_BUSY)
            log_error(list[i].name, "cannot mark its running trials failed", &err);
    }
    storage_study_list_free(list, n);
}

/* Stops every study, waits for their trials, and ends the event streams. */
static void shut_down(service *sv)
{
    pthread_mutex_lock(&sv->mu);
    sv->closing = 1;
    pthread_mutex_unlock(&sv->mu);
    run_requests(sv);   /* queued before closing: they get their answer */
    sv->shutting_down = 1;
    /* the trials workers run go on: the next start keeps their leases */
    for (study_run *r = sv->active; r; r = r->next) scheduler_detach(r->s, SHUTDOWN_REASON);
    while (sv->active) {
        tick(sv, TICK_MS);
        beat(sv);
    }
    events_end(sv->ev);
}

/* A study another process changed, created (s) or deleted (s NULL): its
 * event, so dashboards show a `kestrel run --db` beside the server live. */
static void on_other(const storage_study *s, const char *name, void *ctx)
{
    service *sv = ctx;
    if (find_active(sv, name)) return;     /* its own events tell */
    if (!s) {
        publish_state(sv, name, "DELETED");
        return;
    }
    publish(sv, name, "study_changed", api_study_json(s, 0));
}

static void watch_others(service *sv)
{
    double now = (double)mono_ns() * 1e-9;
    if (now < sv->next_watch) return;
    sv->next_watch = now + WATCH_S;
    kerror err;
    kerror_clear(&err);
    if (!sv->others && watch_open(&sv->others, sv->st, &err) != KE_OK)
        log_error("*", "cannot watch the history", &err);
    else if (sv->others && watch_poll(sv->others, sv->st, on_other, sv, &err) != KE_OK)
        log_error("*", "cannot watch the history", &err);
}

int service_run(service *sv, volatile sig_atomic_t *stop, kerror *err)
{
    (void)err;
    resume_stored(sv);
    while (!*stop) {
        beat(sv);
        run_requests(sv);
        retry_waiting(sv);
        fleet_tick(sv->fleet);
        watch_others(sv);
        long long t0 = mono_ns();
        tick(sv, TICK_MS);
        if (mono_ns() - t0 < 2000000) idle_wait(sv, idle_ms(sv));
    }
    shut_down(sv);
    return KE_OK;
}

int service_open(service **out, const service_opts *o, kerror *err)
{
    *out = NULL;
    service *sv = calloc(1, sizeof *sv);
    if (!sv) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    sv->db_path = strdup(o->db_path);
    sv->self_exe = strdup(o->self_exe ? o->self_exe : "kestrel");
    sv->run_self = o->run_self;
    sv->max_parallel = o->max_parallel;
    sv->cores = cores_usable();
    sv->no_local = o->no_local;
    sv->checkpoint_max = o->checkpoint_max > 0 ? o->checkpoint_max : 1LL << 30;
    sv->stall_after = o->stall_after > 0 ? o->stall_after : STALL_AFTER_DEFAULT;
    sv->waiting.give_up_s = o->storage_retry == 0 ? BACKOFF_GIVE_UP_S : o->storage_retry;
    beat(sv);
    sv->engine = pthread_self();
    pthread_mutex_init(&sv->mu, NULL);
    pthread_cond_init(&sv->wake, NULL);
    sv->ev = events_new();
    if (!sv->db_path || !sv->self_exe || !sv->ev) {
        service_close(sv);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    /* Trial dirs beside the database and a dataset cache in its folder, as
     * `kestrel run` uses, so either can resume the other's studies. */
    scheduler_default_dirs(o->db_path, sv->work_dir, sizeof sv->work_dir, sv->cache_dir,
                           sizeof sv->cache_dir);
    int rc = storage_open(&sv->st, o->db_path, err);
    /* the engine's commits answer a pass of callers: none waits for a checkpoint */
    if (rc == KE_OK) rc = storage_wal_background(sv->st, err);
    if (rc == KE_OK) rc = fleet_open(&sv->fleet, sv, o->db_path, o->lease_seconds, err);
    if (rc != KE_OK) {
        service_close(sv);
        return rc;
    }
    *out = sv;
    return KE_OK;
}

void service_close(service *sv)
{
    if (!sv) return;
    while (sv->active) {
        study_run *r = sv->active;
        scheduler_detach(r->s, SHUTDOWN_REASON);
        finish_study(sv, r, 0, NULL);
    }
    backoff_free(&sv->waiting);
    watch_close(sv->others);
    fleet_close(sv->fleet);
    storage_close(sv->st);
    pthread_mutex_destroy(&sv->mu);
    pthread_cond_destroy(&sv->wake);
    events_free(sv->ev);
    free(sv->db_path);
    free(sv->self_exe);
    free(sv);
}
