/* service: the engine of `kestrel serve`; see service.h. Invariant: every
 * request queued before `closing` is set is completed exactly once (by the
 * engine, or with KE_INTERRUPTED at shutdown), and a request's struct is
 * never touched after its `done` flag is set, since the requester's stack
 * frame that holds it may be gone by then. Failures the engine meets on its
 * own (a study that cannot resume, a study whose scheduler fails) have no
 * caller to return to: they go to stderr, the server's log. This file: the
 * requests' queue and the engine loop; the studies it runs are
 * service_studies.c's. */
#define _GNU_SOURCE
#include "service.h"

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
#include "monotime.h"
#include "scheduler.h"
#include "service_impl.h"
#include "service_studies.h"
#include "storage.h"
#include "watch.h"

#define TICK_MS 30                      /* one round over all studies */
#define WATCH_S 0.5                     /* between looks for other processes' changes */
#define STALL_AFTER_DEFAULT 60.0        /* seconds; a GP fit takes a few at most */

void svc_log_error(const char *study, const char *what, const kerror *err)
{
    char buf[KERROR_PATH_MAX + KERROR_MSG_MAX + 4];
    klog(stderr, "study %s: %s: %s", study, what, kerror_text(err, buf, sizeof buf));
}

/* ---- events ---- */

/* Adds an event (takes the reference to data). Dropped when out of memory:
 * events are a view, storage is the record. In a batch it waits for the
 * commit, so a reader that fetches what an event announces finds it. */
void svc_publish(service *sv, const char *study, const char *type, json_t *data)
{
    char *json = data ? format_json(data, JSON_COMPACT) : NULL;
    json_decref(data);
    if (sv->batching) events_hold(sv->ev, study, type, json);
    else events_put(sv->ev, study, type, json);
}

void svc_publish_state(service *sv, const char *study, const char *state)
{
    svc_publish(sv, study, "study_state", json_pack("{s:s, s:s}", "study", study, "state", state));
}

events *service_events(service *sv)
{
    return sv->ev;
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
void svc_complete(service *sv, cmd *c, int rc, const kerror *err)
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

static void exec_cmd(service *sv, cmd *c)
{
    kerror err;
    kerror_clear(&err);
    int rc;
    study_run *r;
    switch (c->kind) {
    case CMD_SUBMIT: rc = svc_submit(sv, &c->spec, &c->created, &err); break;
    case CMD_RESUME: rc = svc_resume(sv, c->name, c->retry_failed, 1, &err); break;
    case CMD_CALL: rc = c->fn(sv, c->arg, &err); break;
    case CMD_STOP:
    case CMD_DELETE:
        if ((r = svc_find_active(sv, c->name))) {
            if (c->kind == CMD_DELETE) r->deleting = 1;
            scheduler_stop(r->s, c->kind == CMD_DELETE ? DELETE_REASON : STOP_REASON);
            c->next = r->waiters;
            r->waiters = c;
            return;     /* done once its trials are gone */
        }
        /* a delete goes on once the wait is stopped; not when its stop
         * failed, or the study, still RUNNING with its wait's reason, was
         * refused as one another process waits to resume */
        rc = svc_stop_waiting(sv, c->name, &err);
        if (rc != KE_NOTFOUND && (c->kind == CMD_STOP || rc != KE_OK)) break;
        rc = c->kind == CMD_STOP ? svc_stop_inactive(sv, c->name, &err)
                                 : svc_delete_inactive(sv, c->name, &err);
        break;
    default: rc = kerror_set(&err, KE_INTERNAL, NULL, "unknown request %d", (int)c->kind);
    }
    svc_complete(sv, c, rc, &err);
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
    study_run *r = svc_find_active(sv, name);
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
    atomic_store(&sv->beat_ns, monotime_ns());
}

void service_get_stats(service *sv, service_stats *out)
{
    out->suggestions = atomic_load(&sv->suggestions);
    out->running = atomic_load(&sv->running);
    out->active = atomic_load(&sv->n_active_pub);
    out->waiting = atomic_load(&sv->n_waiting_pub);
    out->engine_idle_s = (double)(monotime_ns() - atomic_load(&sv->beat_ns)) * 1e-9;
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
    svc_stops_end(sv, rc == KE_OK);
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
    svc_log_error("*", "cannot commit the history", &err);
    while (sv->active) svc_finish_study(sv, sv->active, rc, &err);
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

/* Counts r's enqueued configurations again for its share. One that cannot
 * be read keeps the last count less those started since (a lower bound:
 * the share holds no slot for one already run), said once a stretch: the
 * engine reads it every tick, and the study's own reads report a lasting
 * storage error. */
static void enqueued_refresh(study_run *r)
{
    kerror err;
    kerror_clear(&err);
    int rc = scheduler_enqueued_refresh(r->s, &err);
    if (rc != KE_OK && !r->enq_unread)
        svc_log_error(r->spec.name, "cannot count its enqueued configurations (its share of "
                      "--max-parallel counts those it knew of until it can)", &err);
    else if (rc == KE_OK && r->enq_unread)
        klog(stderr, "study %s: its enqueued configurations are counted again", r->spec.name);
    r->enq_unread = rc != KE_OK;
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
        enqueued_refresh(r);
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
        if (rc <= 0) svc_finish_study(sv, r, rc, &err);
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
    double ms = (sv->next_watch - monotime_s()) * 1e3;
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
        svc_log_error("*", "cannot list studies", &err);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (svc_find_active(sv, list[i].name)) continue;
        kerror_clear(&err);
        if (list[i].state == STUDY_RUNNING) {
            if (svc_resume(sv, list[i].name, 0, 0, &err) != KE_OK)
                svc_log_error(list[i].name, "cannot resume", &err);
            continue;
        }
        /* a study that ended on an error may hold trials nobody will end:
         * it is not resumed, so they are reclaimed here (unless a live
         * `kestrel run` holds the study) */
        int reclaimed;
        if (list[i].n_running > 0 &&
            scheduler_reclaim_dead(sv->st, sv->db_path, list[i].id, &reclaimed, &err) != KE_OK &&
            err.code != KE_BUSY)
            svc_log_error(list[i].name, "cannot mark its running trials failed", &err);
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
    if (svc_find_active(sv, name)) return;     /* its own events tell */
    if (!s) {
        svc_publish_state(sv, name, "DELETED");
        return;
    }
    svc_publish(sv, name, "study_changed", api_study_event_json(s));
}

static void watch_others(service *sv)
{
    double now = monotime_s();
    if (now < sv->next_watch) return;
    sv->next_watch = now + WATCH_S;
    kerror err;
    kerror_clear(&err);
    if (!sv->others && watch_open(&sv->others, sv->st, &err) != KE_OK)
        svc_log_error("*", "cannot watch the history", &err);
    else if (sv->others && watch_poll(sv->others, sv->st, on_other, sv, &err) != KE_OK)
        svc_log_error("*", "cannot watch the history", &err);
}

int service_run(service *sv, volatile sig_atomic_t *stop, kerror *err)
{
    (void)err;
    resume_stored(sv);
    while (!*stop) {
        beat(sv);
        run_requests(sv);
        svc_retry_waiting(sv);
        fleet_tick(sv->fleet);
        watch_others(sv);
        long long t0 = monotime_ns();
        tick(sv, TICK_MS);
        if (monotime_ns() - t0 < 2000000) idle_wait(sv, idle_ms(sv));
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
    sv->work_dir = o->work_dir ? strdup(o->work_dir) : NULL;
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
    if (!sv->db_path || !sv->self_exe || !sv->ev || (o->work_dir && !sv->work_dir)) {
        service_close(sv);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    /* A dataset cache in the database's folder, as `kestrel run` uses, so
     * either can resume the other's studies; each study's trial folders
     * are its own (scheduler_open: the stored --work-dir, or beside the
     * database) */
    char work[4096];
    scheduler_default_dirs(o->db_path, work, sizeof work, sv->cache_dir, sizeof sv->cache_dir);
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
        svc_finish_study(sv, r, 0, NULL);
    }
    backoff_free(&sv->waiting);
    backoff_free(&sv->stopping);
    watch_close(sv->others);
    fleet_close(sv->fleet);
    storage_close(sv->st);
    pthread_mutex_destroy(&sv->mu);
    pthread_cond_destroy(&sv->wake);
    events_free(sv->ev);
    free(sv->db_path);
    free(sv->self_exe);
    free(sv->work_dir);
    free(sv);
}
