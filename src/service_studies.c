/* service_studies: the studies the engine of `kestrel serve` runs
 * (service_studies.h): started for a submit or a resume, stopped or
 * deleted, finished once their scheduler ends, and taken off to wait and
 * resume after a transient storage error. Engine thread only; a study's
 * end answers the stop and delete requests that wait on it. */
#define _GNU_SOURCE
#include "service_studies.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_json.h"
#include "backoff.h"
#include "events.h"
#include "fleet.h"
#include "klog.h"
#include "monotime.h"
#include "scheduler.h"
#include "service_impl.h"
#include "spec_diff.h"
#include "storage.h"

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

static json_t *value_or_null(int has, double v)
{
    return has ? api_number(v) : json_null();
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
        /* the end as stored, read back on the engine's own handle (the
         * trial's row was just written): a client that stamped the event's
         * arrival was off by the event's way to it */
        storage_trial t;
        kerror terr;
        int got = storage_trial_get(sv->st, r->id, ev->number, &t, &terr) == KE_OK;
        json_object_set_new(d, "finished_at", got && t.finished_at > 0 ? json_real(t.finished_at)
                                                                        : json_null());
        if (got) storage_trial_free(&t);
    }
    svc_publish(sv, r->spec.name, type, d);
}

/* ---- studies ---- */

study_run *svc_find_active(service *sv, const char *name)
{
    for (study_run *r = sv->active; r; r = r->next)
        if (!strcmp(r->spec.name, name)) return r;
    return NULL;
}

/* Opens a scheduler for *spec (moved into the study) and makes it active;
 * work_dir: the folder to store for its trial folders (NULL: its own). */
static int start_study(service *sv, spec_study *spec, int retry_failed, const char *work_dir,
                       kerror *err)
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
                         .work_dir = work_dir, .cache_dir = sv->cache_dir,
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
    svc_publish_state(sv, r->spec.name, study_state_name(STUDY_RUNNING));
    return KE_OK;
}

static int already_active(const char *name, kerror *err)
{
    return kerror_set(err, KE_CONFLICT, NULL, "study '%s' is already running", name);
}

/* Whether stored study row, COMPLETE or FAILED, would run nothing if
 * started with spec and retry_failed: its scheduler's dry open says
 * (scheduler_probe), which sees what the start would (trials to reclaim
 * or retry under max_retries, budget left to the strategy, configurations
 * enqueued since, promotions due), where the stored counts cannot tell (a
 * storage error's interrupted trials count toward the budget, and are
 * re-run). Saying RUNNING for one that ends at once would mislead; err
 * then gets why, told as a resume (POST .../resume) or a post of its spec
 * asks it. A STOPPED study goes on, and one the probe cannot read is
 * left to the start to say why. */
#define SVC_GOAL_REACHED 2
static int nothing_to_run(service *sv, const storage_study *row, const spec_study *spec,
                          int retry_failed, int as_post, kerror *err)
{
    if (row->state != STUDY_COMPLETE && row->state != STUDY_FAILED) return 0;
    scheduler_opts so = {.db_path = sv->db_path, .retry_failed = retry_failed};
    scheduler_status ss;
    int work;
    kerror perr;
    if (scheduler_probe(sv->st, spec, &so, &work, &ss, &perr) != KE_OK || work) return 0;
    const char *name = spec->name;
    const char *is = row->state == STUDY_FAILED ? "failed" : "is complete";
    /* no budget runs it again (docs/spec.md), nor retry_failed */
    if (ss.goal_reached) {
        kerror_set(err, KE_CONFLICT, NULL, "study '%s' %s: it reached its objective.goal, so "
                   "nothing is left to run, whatever its budget.max_trials or retry_failed (a "
                   "study with another goal, under another name, runs more)", name, is);
        return SVC_GOAL_REACHED;
    }
    if (retry_failed)
        kerror_set(err, KE_CONFLICT, NULL, "study '%s' %s: no failed trial to retry (each was "
                   "retried already), nothing to resume (a larger budget.max_trials extends it)",
                   name, is);
    /* retry_failed is named only when it would run something: with no
     * failed trial left to retry it is refused too */
    else if (as_post)
        kerror_set(err, KE_CONFLICT, NULL, "study '%s' %s: nothing left to run (post its spec with "
                   "a larger budget.max_trials to extend it%s)", name, is, ss.n_retryable > 0 ?
                   "; POST .../resume?retry_failed=true re-runs its failed trials" : "");
    else
        kerror_set(err, KE_CONFLICT, NULL, "study '%s' %s: nothing to resume (%sa larger "
                   "budget.max_trials extends it)", name, is, ss.n_retryable > 0 ?
                   "retry_failed=true re-runs its failed trials; " : "");
    return 1;
}

/* KE_BUSY when study row is stored RUNNING with a reason and this server
 * does not wait to resume it itself: another process (kestrel run, another
 * server) does, holding no lock meanwhile, and would run it again beside a
 * resume here, or after a stop of it here (scheduler_waits_elsewhere). */
static int waits_elsewhere(service *sv, const storage_study *row, kerror *err)
{
    if (row->state != STUDY_RUNNING || !row->state_reason ||
        backoff_find(&sv->waiting, row->name))
        return KE_OK;
    return scheduler_waits_elsewhere(row->name, row->state_reason, "resume", NULL, err);
}

int svc_submit(service *sv, spec_study *spec, int *created, kerror *err)
{
    int running = svc_find_active(sv, spec->name) != NULL;
    storage_study row;
    int rc = storage_study_get(sv->st, spec->name, &row, err);
    *created = rc == KE_NOTFOUND;
    if (rc == KE_OK) {
        /* a changed budget (a larger max_trials, say) extends the study;
         * any other change is refused, running or not, naming the field,
         * so that a user told to stop it is not refused again after */
        char diff[512];
        int budget_only = 1, changed = 0, idle;
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
        /* as a resume, with the budget posted (a larger one extends it) */
        else if ((rc = waits_elsewhere(sv, &row, err)) == KE_OK &&
                 (idle = nothing_to_run(sv, &row, spec, 0, 1, err)) != 0) {
            *created = idle == SVC_GOAL_REACHED ? SERVICE_GOAL_REACHED
                       : row.state == STUDY_FAILED ? SERVICE_FAILED : SERVICE_COMPLETE;
            rc = KE_CONFLICT;
        }
        storage_study_free(&row);
    } else if (rc == KE_NOTFOUND) {
        kerror_clear(err);
        rc = running ? already_active(spec->name, err) : KE_OK;
    }
    if (rc != KE_OK) {
        spec_free(spec);
        return rc;
    }
    /* --work-dir is for the studies this server makes: one that exists
     * keeps the folder its trials are in */
    return start_study(sv, spec, 0, *created ? sv->work_dir : NULL, err);
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

int svc_resume(service *sv, const char *name, int retry_failed, int asked, kerror *err)
{
    if (svc_find_active(sv, name)) return already_active(name, err);
    storage_study row;
    int rc = storage_study_get(sv->st, name, &row, err);
    if (rc != KE_OK) return rc;
    if (asked && (rc = waits_elsewhere(sv, &row, err)) != KE_OK) {
        storage_study_free(&row);
        return rc;
    }
    spec_study spec;
    rc = stored_spec(sv, name, &spec, err);
    if (rc != KE_OK) {
        storage_study_free(&row);
        return rc;
    }
    if (nothing_to_run(sv, &row, &spec, retry_failed, 0, err)) rc = KE_CONFLICT;
    storage_study_free(&row);
    if (rc != KE_OK) {
        spec_free(&spec);
        return rc;
    }
    return start_study(sv, &spec, retry_failed, NULL, err);
}

/* A study that is not active here: 404 if unknown, else it cannot stop
 * unless stored RUNNING. Then another process runs it (this one resumed the
 * rest at start), or ran it and died meanwhile (kill -9) with nobody to
 * store its stop: this one stores it, its trials interrupted. */
int svc_stop_inactive(service *sv, const char *name, kerror *err)
{
    storage_study row;
    int rc = storage_study_get(sv->st, name, &row, err);
    if (rc != KE_OK) return rc;
    int n;
    if (row.state == STUDY_RUNNING &&
        (rc = scheduler_stop_dead(sv->st, sv->db_path, name, row.id, STOP_REASON, &n, err)) ==
            KE_OK) {
        klog(stderr, "study %s: STOPPED: the kestrel process that ran it died; the trials it "
             "left RUNNING (%d) are interrupted (a resume runs them again)", name, n);
        svc_publish_state(sv, name, study_state_name(STUDY_STOPPED));
    } else if (row.state != STUDY_RUNNING)
        rc = kerror_set(err, KE_CONFLICT, NULL, "study '%s' is not running (it is %s)", name,
                        study_state_name(row.state));
    storage_study_free(&row);
    return rc;
}

/* Deletes a study no scheduler here runs, unless another process runs it
 * (read again under its lock: scheduler_delete_stored). */
int svc_delete_inactive(service *sv, const char *name, kerror *err)
{
    int n_trials, rows_gone;
    int rc = scheduler_delete_stored(sv->st, sv->db_path, name, NULL, &n_trials, &rows_gone, err);
    if (rc != KE_OK && rows_gone) {
        svc_log_error(name, "deleted, but its trial folders stay", err);
        rc = KE_OK;
    }
    if (rc == KE_OK) svc_publish_state(sv, name, "DELETED");
    return rc;
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

/* A storage error a later try may not meet (a full disk, an I/O error) hit
 * r: its scheduler, whose memory may count writes the error rolled back,
 * is closed, its running trials are marked interrupted (a resume runs them
 * again), and it waits, stored RUNNING with the reason, to be resumed from
 * the history (svc_retry_waiting). */
static void suspend_study(service *sv, study_run *r, const kerror *step_err)
{
    scheduler_status ss;
    scheduler_get_status(r->s, &ss);
    double now = monotime_s();
    char reason[KERROR_MSG_MAX + 64];
    backoff_entry *e = NULL;
    if (backoff_add(&sv->waiting, r->spec.name, r->id, step_err->msg, now) == KE_OK) {
        e = backoff_find(&sv->waiting, r->spec.name);
        backoff_waiting_reason(e, now, reason, sizeof reason);
    }
    kerror err;
    /* without an entry it stays RUNNING as it is: the next start resumes it */
    if (scheduler_suspend(r->s, step_err, e ? reason : NULL, &err) != KE_OK)
        svc_log_error(r->spec.name, "cannot store its interrupted trials or its wait yet", &err);
    if (!e) {
        klog(stderr, "study %s: out of memory: it resumes when the server next starts",
             r->spec.name);
    } else {
        study_state state;
        stored_outcome(sv, r->id, &state, &ss);
        log_study(r->spec.name, "WAITING", &ss, reason);
    }
    svc_publish_state(sv, r->spec.name, study_state_name(STUDY_RUNNING));
    atomic_store(&sv->n_waiting_pub, sv->waiting.n);
    drop_active(sv, r);
}

/* Takes a finished (or failed, rc < 0) study out of the active list. */
void svc_finish_study(service *sv, study_run *r, int rc, const kerror *step_err)
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
    study_state state = ss.failed ? STUDY_FAILED : ss.completed ? STUDY_COMPLETE : STUDY_STOPPED;
    kerror err, derr;   /* derr: the delete's, told its requesters */
    kerror_clear(&err);
    kerror_clear(&derr);
    int wrc = KE_OK, drc = KE_OK, gone = 0;
    if (r->deleting) {
        /* under the lock the study was run with, up to the delete's end */
        int n;
        drc = scheduler_close_delete(r->s, &n, &gone, &derr);
        if (drc != KE_OK && gone) {
            svc_log_error(r->spec.name, "deleted, but its trial folders stay", &derr);
            drc = KE_OK;
        }
    } else {
        scheduler_close(r->s);
    }
    if (gone) {
        /* its rows are gone: no state to store */
    } else if (rc < 0) {
        svc_log_error(r->spec.name, "failed", step_err);
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
            svc_log_error(r->spec.name, "cannot mark its running trials failed", &rerr);
        stored_outcome(sv, r->id, &state, &ss);
    } else if (!ss.completed && ss.stop_reason && !strcmp(ss.stop_reason, SHUTDOWN_REASON)) {
        state = STUDY_RUNNING;       /* resumed by the next start */
        wrc = storage_study_set_state(sv->st, r->id, state, NULL, &err);
    }
    if (wrc != KE_OK) svc_log_error(r->spec.name, "cannot store its state", &err);
    /* DELETED is no stored state: the event tells watchers the row is gone */
    const char *shown = gone ? "DELETED" : study_state_name(state);
    log_study(r->spec.name, shown, &ss, ss.failure ? ss.failure : ss.stop_reason);
    svc_publish_state(sv, r->spec.name, shown);
    while (r->waiters) {
        cmd *c = r->waiters;
        r->waiters = c->next;
        svc_complete(sv, c, c->kind == CMD_DELETE ? drc : KE_OK, &derr);
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
        svc_log_error(e->name, again ? "cannot store its FAILED yet" : "cannot store its FAILED", &err);
        if (again) backoff_later(&sv->waiting, e, now);
        else backoff_remove(&sv->waiting, e);
        return;
    }
    klog(stderr, "study %s: FAILED: %s", e->name, e->why);
    svc_publish_state(sv, e->name, study_state_name(STUDY_FAILED));
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
void svc_retry_waiting(service *sv)
{
    double now = monotime_s();
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
        if (svc_resume(sv, e->name, 0, 0, &err) == KE_OK) continue;
        if (!storage_error_transient(&err)) {
            give_up(sv, e, &err, 0, now);
        } else if (!backoff_again(&sv->waiting, e, err.msg, now)) {
            give_up(sv, e, &err, 1, now);
        } else {
            char what[96];
            snprintf(what, sizeof what, "cannot resume yet (next try in %.0f s)",
                     backoff_wait(e, now));
            svc_log_error(e->name, what, &err);
        }
    }
    atomic_store(&sv->n_waiting_pub, sv->waiting.n);
}

/* A stop or delete of a study that waits: it waits no more, once its
 * STOPPED is stored. Until then it waits on: forgotten, it stayed RUNNING
 * with its wait's reason, resumed by nobody, and taken for one another
 * process waits to resume (the storage error that made it wait often
 * refuses the stop's write too, or the commit of the pass's batch). */
int svc_stop_waiting(service *sv, const char *name, kerror *err)
{
    backoff_entry *e = backoff_find(&sv->waiting, name);
    if (!e) return KE_NOTFOUND;
    int rc = storage_study_set_state(sv->st, e->id, STUDY_STOPPED, STOP_REASON, err);
    if (rc != KE_OK) {
        int cause = err->cause;     /* a full disk's, which kerror_set clears */
        kerror_set(err, rc, NULL, "study '%s' waits to resume after a storage error, and its "
                   "stop cannot be stored either: %s (it still waits: stop it again once "
                   "storage works)", name, err->msg);
        err->cause = cause;
        return rc;
    }
    /* out of waiting, into stopping until the write is committed */
    backoff_entry **p = &sv->waiting.head;
    while (*p != e) p = &(*p)->next;
    *p = e->next;
    sv->waiting.n--;
    e->next = sv->stopping.head;
    sv->stopping.head = e;
    sv->stopping.n++;
    if (!sv->batching) svc_stops_end(sv, 1);
    atomic_store(&sv->n_waiting_pub, sv->waiting.n);
    svc_publish_state(sv, name, study_state_name(STUDY_STOPPED));
    return rc;
}

void svc_stops_end(service *sv, int committed)
{
    if (committed) {
        backoff_free(&sv->stopping);
        return;
    }
    while (sv->stopping.head) {
        backoff_entry *e = sv->stopping.head;
        sv->stopping.head = e->next;
        sv->stopping.n--;
        e->next = sv->waiting.head;
        sv->waiting.head = e;
        sv->waiting.n++;
        klog(stderr, "study %s: its stop was not stored (the history's commit failed): it still "
             "waits to resume", e->name);
    }
    atomic_store(&sv->n_waiting_pub, sv->waiting.n);
}

typedef struct {
    const char *name;
    char *out;
    size_t n;
} work_dir_call;

static int do_work_dir(service *sv, void *arg, kerror *err)
{
    work_dir_call *c = arg;
    scheduler *s = service_study(sv, c->name);
    if (s) {
        snprintf(c->out, c->n, "%s", scheduler_work_dir(s));
        return KE_OK;
    }
    /* a study not in the history: its folders, if any, are where they would be */
    storage_study row = {0};
    int rc = storage_study_get(sv->st, c->name, &row, err);
    if (rc != KE_OK && rc != KE_NOTFOUND) return rc;
    scheduler_study_work_dir(sv->db_path, row.work_dir, c->name, c->out, c->n);
    storage_study_free(&row);
    return KE_OK;
}

int service_study_work_dir(service *sv, const char *name, char *out, size_t n, kerror *err)
{
    work_dir_call c = {.name = name, .out = out, .n = n};
    return service_call(sv, do_work_dir, &c, err);
}
