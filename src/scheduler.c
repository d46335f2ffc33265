/* scheduler: the study loop behind `kestrel run` and the service; see
 * scheduler.h. Invariant: trials[k] is the trial numbered k, and every trial
 * that is RUNNING in storage while the lock is held has a live child in
 * runs[]; a child's outcome is written to storage before its slot is freed,
 * so nothing a trial reported is lost short of a crash of this process, which
 * the next open reclaims. How a run's reports and exit become its trial's
 * outcome is sched_outcome's; what starts in a free slot, sched_fill's;
 * trials that workers run, sched_remote's. */
#define _GNU_SOURCE
#include "scheduler_impl.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cores.h"
#include "enqueue.h"
#include "monotime.h"
#include "sched_dir.h"
#include "sched_fill.h"
#include "sched_outcome.h"
#include "sched_remote.h"
#include "spec_diff.h"

void sched_run_stop(sched_run *r)
{
    if (r->proc) runner_terminate(r->proc);
    else r->stop_asked = 1;
}

int sched_run_busy(const sched_run *r)
{
    return r->proc || r->tag > 0;
}

/* Empties slot r for a run of trial number. Field by field: the two report
 * lines' metric arrays (9 KB a slot) are read only up to their counts, and
 * clearing them took as long as the trial's insert in a burst of leases. */
void sched_run_reset(sched_run *r, int number)
{
    r->number = number;
    r->proc = NULL;
    r->tag = 0;
    r->stop_asked = 0;
    r->final.has_step = r->final.final = r->final.n = 0;
    r->final.step = 0;
    r->last.has_step = r->last.final = r->last.n = 0;
    r->last.step = 0;
    r->has_last = 0;
    r->pruned = 0;
    r->stopped = NULL;
    r->failure[0] = '\0';
    r->n_malformed = 0;
    r->malformed[0] = '\0';
}

void scheduler_default_dirs(const char *db_path, char *work, size_t nw, char *cache, size_t nc)
{
    /* Named after the file, not the name given: through a symbolic link
     * and through its target, a study's trials went to two folders, and a
     * promotion, a delete or an export under the other name missed half
     * of them. A path that does not resolve (its folder unreadable, made
     * too long) keeps the name: storage_open says why it is no history. */
    char tmp[4096];
    kerror err;
    if (storage_path_resolve(db_path, tmp, sizeof tmp - strlen(".trials"), &err) != KE_OK)
        snprintf(tmp, sizeof tmp, "%s", db_path);
    snprintf(work, nw, "%s.trials", tmp);
    /* a name no study can have (names begin with a letter, a digit or
     * '_'), as the worker's D/.kestrel-cache: as <folder>/kestrel-cache it
     * was the folder of a study of that name run with --work-dir <folder>,
     * its trial folders among every study's decoded datasets. An old
     * kestrel-cache is left unused (the datasets are decoded again once). */
    snprintf(cache, nc, "%s/.kestrel-cache", dirname(tmp));
}

/* Whether work_dir holds a folder (or link) of study's. */
static int holds_study(const char *work_dir, const char *study)
{
    char dir[PATH_MAX + 256];
    struct stat sb;
    snprintf(dir, sizeof dir, "%s/%s", work_dir, study);
    return lstat(dir, &sb) == 0;
}

void scheduler_study_work_dir(const char *db_path, const char *stored, const char *study,
                              char *work, size_t n)
{
    char cache[PATH_MAX], named[PATH_MAX], real[PATH_MAX];
    if (stored) {
        snprintf(work, n, "%s", stored);
        return;
    }
    scheduler_default_dirs(db_path, work, n, cache, sizeof cache);
    /* Before 4e00c07 the default was named after the --db given: a study
     * run through a symbolic link has its folders in LINK.trials. Where
     * only that name holds them, they are the study's. */
    if (!study || holds_study(work, study)) return;
    if (snprintf(named, sizeof named, "%s.trials", db_path) < (int)sizeof named &&
        holds_study(named, study) && realpath(named, real))
        snprintf(work, n, "%s", real);
}

/* Picks s's trial folders' folder: the study's own (stored, else beside the
 * history), or a work_dir given, made absolute and stored, so that a resume
 * from another folder, by `kestrel serve`, a delete or an export find the
 * folders without it. One given equal to "<db>.trials" stores none: the
 * default follows the history if it is moved with its folders. */
static int choose_work_dir(scheduler *s, kerror *err)
{
    storage_study row;
    int rc = storage_study_get_id(s->st, s->study_id, &row, err);
    if (rc != KE_OK) return rc;
    char deflt[PATH_MAX], old[PATH_MAX], cwd[PATH_MAX], given[PATH_MAX];
    scheduler_study_work_dir(s->o.db_path, NULL, NULL, deflt, sizeof deflt);
    scheduler_study_work_dir(s->o.db_path, row.work_dir, s->spec->name, old, sizeof old);
    snprintf(s->work_dir, sizeof s->work_dir, "%s", old);
    s->moved_from[0] = '\0';
    kerror ignored;
    const char *w = s->o.work_dir;
    /* "DIR/" and "DIR" are one folder, the same stored whether made yet or not */
    size_t len = w ? strlen(w) : 0;
    while (len > 1 && w[len - 1] == '/') len--;
    if (w && len < sizeof given) {
        memcpy(given, w, len);
        given[len] = '\0';
        w = given;
    }
    /* a folder whose parent is not made yet keeps the name given, made absolute */
    if (w && storage_path_resolve(w, s->work_dir, sizeof s->work_dir, &ignored) != KE_OK &&
        (size_t)snprintf(s->work_dir, sizeof s->work_dir, "%s%s%s", w[0] == '/' ? "" :
                         getcwd(cwd, sizeof cwd) ? cwd : ".", w[0] == '/' ? "" : "/", w) >=
            sizeof s->work_dir)
        rc = kerror_set(err, KE_INVALID, "work-dir", "--work-dir '%.60s...': the path is too "
                        "long made absolute", w);
    /* the folder a link's name gave before 4e00c07 is stored: found
     * under any name of the history from now on */
    int legacy = !row.work_dir && strcmp(old, deflt) != 0;
    if (rc == KE_OK && (strcmp(s->work_dir, old) != 0 || legacy))
        rc = storage_study_set_work_dir(s->st, s->study_id, strcmp(s->work_dir, deflt) ? s->work_dir
                                        : NULL, err);
    if (strcmp(s->work_dir, old) != 0 && holds_study(old, s->spec->name))
        snprintf(s->moved_from, sizeof s->moved_from, "%s", old);
    s->o.work_dir = s->work_dir;
    storage_study_free(&row);
    return rc;
}

const char *scheduler_work_dir(const scheduler *s)
{
    return s->work_dir;
}

const char *scheduler_moved_from(const scheduler *s)
{
    return s->moved_from[0] ? s->moved_from : NULL;
}

int scheduler_remove_study_dirs(const char *work_dir, const char *study, int n_trials,
                                kerror *err)
{
    /* spec names cannot hold these; a path that climbs out must never be removed */
    if (!study[0] || study[0] == '.' || strchr(study, '/'))
        return kerror_set(err, KE_INVALID, "name", "not a study name: '%s'", study);
    char dir[PATH_MAX];
    /* a study folder that is a link (to another study's folder, or to one
     * moved by hand) is not followed: what it points to is not this
     * study's to remove, and sched_dir_remove checks only the last part.
     * Its trial folders' paths are longer: a cut one sched_dir_remove
     * refuses (its mark's path would not fit). */
    struct stat st;
    int rc = sched_dir_path(dir, sizeof dir, err, "%s/%s", work_dir, study);
    if (rc != KE_OK) return rc;
    if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode)) {
        if (unlink(dir) < 0)
            return kerror_set(err, KE_IO, NULL, "cannot remove %s: %s", dir, strerror(errno));
        return KE_OK;
    }
    /* each trial's folder, and the one beside it that a worker's upload
     * is unpacked in (sched_dir_unpack), left there by a server that died
     * while it unpacked */
    for (int k = 0; k < 2 * n_trials; k++) {
        snprintf(dir, sizeof dir, "%s/%s/%d%s", work_dir, study, k / 2, k % 2 ? ".unpack" : "");
        /* a folder Kestrel did not make is left where it is */
        rc = sched_dir_remove(dir, err);
        if (rc == KE_CONFLICT) kerror_clear(err);
        else if (rc != KE_OK) return rc;
    }
    snprintf(dir, sizeof dir, "%s/%s", work_dir, study);
    /* ENOTDIR: a file where the work folder was, which none of it can be under */
    if (rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST &&
        errno != ENOTDIR)
        return kerror_set(err, KE_IO, NULL, "cannot remove %s: %s", dir, strerror(errno));
    return KE_OK;
}

/* KE_BUSY for study name stored RUNNING with a reason: a process waits to
 * resume it after a storage error (kestrel run's wait_to_resume, another
 * server's), holding no lock meanwhile, and would resume it after a stop
 * or a delete stored here (a deleted one made anew, from its first trial),
 * or run it beside a resume here. The way out when no process waits any
 * more is `kestrel run` of its spec, which resumes it (a resume over HTTP
 * is refused the same way). what: the action refused ("stop", "delete",
 * "resume"); where: how to stop it (NULL for a resume). */
int scheduler_waits_elsewhere(const char *name, const char *reason, const char *what,
                              const char *where, kerror *err)
{
    if (!where)
        return kerror_set(err, KE_BUSY, NULL, "study '%s' is being run by another kestrel "
                          "process, which waits to resume it (%s), and resumes it itself (if "
                          "none does any more, `kestrel run` of its spec resumes it)", name,
                          reason);
    return kerror_set(err, KE_BUSY, NULL, "study '%s' is being run by another kestrel process, "
                      "which waits to resume it (%s); stop it %s (if none does any more, resume "
                      "the study with `kestrel run` of its spec, then %s it)", name, reason,
                      where, what);
}

/* The study of id read again under its lock (*row): one deleted, or
 * deleted and made anew under its name, meanwhile is said so by name, not
 * as "no study with id N", an id its deleter never gave. */
static int study_under_lock(storage *st, const char *name, int64_t id, storage_study *row,
                            kerror *err)
{
    int rc = storage_study_get_id(st, id, row, err);   /* ids are never given again: 011 */
    if (rc != KE_NOTFOUND) return rc;
    storage_study now;
    kerror ignored;
    if (storage_study_get(st, name, &now, &ignored) != KE_OK)
        return kerror_set(err, KE_NOTFOUND, NULL, "study '%s' was deleted meanwhile by another "
                          "kestrel process", name);
    storage_study_free(&now);
    return kerror_set(err, KE_CONFLICT, NULL, "study '%s' was deleted and made anew meanwhile by "
                      "another kestrel process; the new one is kept: delete it again to remove "
                      "it", name);
}

/* Deletes study name (id), whose lock the caller holds, read again by id
 * (study_under_lock), and its trial folders (in work when given, else its
 * own): scheduler_delete_stored's and scheduler_close_delete's. */
static int delete_locked(storage *st, const char *db_path, const char *name, int64_t id,
                         const char *work, int *n_trials, int *rows_gone, kerror *err)
{
    storage_study row;
    int rc = study_under_lock(st, name, id, &row, err);
    if (rc == KE_OK && row.state == STUDY_RUNNING && row.state_reason) {
        rc = scheduler_waits_elsewhere(name, row.state_reason, "delete", "first", err);
        storage_study_free(&row);
    }
    if (rc == KE_OK) {
        char own[PATH_MAX];
        scheduler_study_work_dir(db_path, row.work_dir, name, own, sizeof own);
        *n_trials = row.n_trials;
        rc = storage_study_delete(st, id, err);
        *rows_gone = rc == KE_OK;
        if (rc == KE_OK) rc = scheduler_remove_study_dirs(work ? work : own, name, row.n_trials, err);
        storage_study_free(&row);
    }
    return rc;
}

int scheduler_delete_stored(storage *st, const char *db_path, const char *name, const char *work,
                            int *n_trials, int *rows_gone, kerror *err)
{
    *n_trials = 0;
    *rows_gone = 0;
    storage_study row;
    int rc = storage_study_get(st, name, &row, err);
    if (rc != KE_OK) return rc;
    int64_t id = row.id;
    storage_study_free(&row);
    lock_handle h = {.fd = -1};
    rc = lock_study(&h, db_path, id, err);
    if (rc == KE_BUSY)
        kerror_set(err, KE_BUSY, NULL, "study '%s' is being run by another kestrel process; stop "
                   "it first", name);
    /* what the first read said may be stale by now: a run that ended
     * between it and the lock added trials, or stored another --work-dir,
     * whose folders would be left (or looked for in the wrong place) */
    if (rc == KE_OK) rc = delete_locked(st, db_path, name, id, work, n_trials, rows_gone, err);
    lock_release(&h);
    return rc;
}

int scheduler_close_delete(scheduler *s, int *n_trials, int *rows_gone, kerror *err)
{
    storage *st = s->st;
    int64_t id = s->study_id;
    char db_path[PATH_MAX], name[256], work[sizeof s->work_dir];   /* names: 128 at most */
    snprintf(db_path, sizeof db_path, "%s", s->o.db_path);
    snprintf(name, sizeof name, "%s", s->spec->name);
    snprintf(work, sizeof work, "%s", s->work_dir);
    /* The lock goes on being held through the delete: released between
     * the close and the delete, a `kestrel run` of the study could take
     * it, and its study was deleted under it. */
    lock_handle h = s->lock;
    s->lock.fd = -1;
    scheduler_close(s);
    *n_trials = 0;
    *rows_gone = 0;
    int rc = delete_locked(st, db_path, name, id, work, n_trials, rows_gone, err);
    lock_release(&h);
    return rc;
}

int scheduler_reclaim(storage *st, const char *db_path, int64_t study_id, const char *reason,
                      int *n, kerror *err)
{
    lock_handle h = {.fd = -1};
    *n = 0;
    int rc = lock_study(&h, db_path, study_id, err);
    if (rc == KE_OK) rc = storage_trials_reclaim(st, study_id, reason, n, err);
    lock_release(&h);
    return rc;
}

/* Reclaims the study's RUNNING trials but those numbered in keep. */
static int reclaim_dead(storage *st, int64_t study_id, const int *keep, int n_keep, int *n,
                        kerror *err)
{
    storage_reclaim how = {.reason = SCHEDULER_RUNNER_DIED, .leased_before = SCHEDULER_LEASE_DIED,
                           .leased_after = SCHEDULER_LEASE_DIED_END, .keep = keep,
                           .n_keep = n_keep};
    return storage_trials_reclaim_runs(st, study_id, &how, n, err);
}

int scheduler_reclaim_dead(storage *st, const char *db_path, int64_t study_id, int *n,
                           kerror *err)
{
    lock_handle h = {.fd = -1};
    *n = 0;
    int rc = lock_study(&h, db_path, study_id, err);
    if (rc == KE_OK) rc = reclaim_dead(st, study_id, NULL, 0, n, err);
    lock_release(&h);
    return rc;
}

int scheduler_stop_dead(storage *st, const char *db_path, const char *name, int64_t study_id,
                        const char *reason, int *n, kerror *err)
{
    lock_handle h = {.fd = -1};
    *n = 0;
    int rc = lock_study(&h, db_path, study_id, err);
    storage_study row;
    /* read again under the lock: the caller's read may be older than a run
     * that ended meanwhile, its own state stored */
    if (rc == KE_OK && (rc = storage_study_get_id(st, study_id, &row, err)) == KE_OK) {
        if (row.state != STUDY_RUNNING)
            rc = kerror_set(err, KE_CONFLICT, NULL, "study '%s' is not running (it is %s)",
                            name, study_state_name(row.state));
        else if (row.state_reason)
            rc = scheduler_waits_elsewhere(name, row.state_reason, "stop", "there", err);
        storage_study_free(&row);
    } else if (rc == KE_BUSY) {
        kerror_set(err, KE_BUSY, NULL, "study '%s' is being run by another kestrel process; "
                   "stop it there", name);
    }
    if (rc == KE_OK) rc = reclaim_dead(st, study_id, NULL, 0, n, err);
    if (rc == KE_OK) rc = storage_study_set_state(st, study_id, STUDY_STOPPED, reason, err);
    lock_release(&h);
    return rc;
}

int scheduler_suspend(scheduler *s, const kerror *why, const char *reason, kerror *err)
{
    storage *st = s->st;
    const char *db_path = s->o.db_path;     /* the caller's */
    int64_t id = s->study_id;
    scheduler_close(s);
    char trials[KERROR_MSG_MAX + 64];
    snprintf(trials, sizeof trials, TRIAL_INTERRUPTED "a storage error: %s", why->msg);
    int n;
    int rc = scheduler_reclaim(st, db_path, id, trials, &n, err);
    if (!reason) return rc;
    kerror serr;
    int src = storage_study_set_state(st, id, STUDY_RUNNING, reason, rc == KE_OK ? err : &serr);
    return rc != KE_OK ? rc : src;
}

int scheduler_fail_stored(storage *st, const char *db_path, int64_t study_id, const char *why,
                          kerror *err)
{
    /* the lock first: a study another process resumed is that one's */
    lock_handle h = {.fd = -1};
    int rc = lock_study(&h, db_path, study_id, err);
    if (rc == KE_OK) {
        /* one transaction: a full disk that let the study's FAILED through
         * but not its trials' left them RUNNING under a FAILED study */
        char trials[KERROR_MSG_MAX + 64];
        snprintf(trials, sizeof trials, TRIAL_INTERRUPTED "the study failed: %s", why);
        int n;
        rc = storage_study_fail(st, study_id, why, trials, &n, err);
    }
    lock_release(&h);
    return rc;
}

void sched_emit(scheduler *s, scheduler_event_kind kind, int number, trial_state state,
                int has_value, double value, int step, const char *failure,
                const storage_trial *row)
{
    if (!s->o.on_event) return;
    const sched_trial *t = &s->hist.t[number];
    scheduler_event ev = {kind, number, state, has_value, value, step, failure,
                          t->retry_of < 0 && t->resumed_from < 0, row};
    s->o.on_event(&ev, s->o.ctx);
}

/* Creates the study row (create) or replaces its stored spec. */
static int store_spec(scheduler *s, int create, kerror *err)
{
    const spec_study *sp = s->spec;
    /* Stored as written, so parameter columns keep the spec's order; the
     * hash is taken on sorted keys, so key order never makes a spec differ. */
    char *json = json_dumps(sp->doc, JSON_COMPACT);
    if (!json) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int rc = create ? storage_study_create(s->st, sp->name, json, sp->hash, sp->metric,
                                           sp->maximize, &s->study_id, err)
                    : storage_study_update_spec(s->st, s->study_id, json, sp->hash, sp->metric,
                                                sp->maximize, err);
    free(json);
    return rc;
}

/* The study row: created on the first run, checked against the spec after.
 * *respec: the stored spec differs and --force lets this run replace it,
 * which waits for the lock, so a refused run changes nothing. */
static int open_study(scheduler *s, int *respec, kerror *err)
{
    const spec_study *sp = s->spec;
    *respec = 0;
    storage_study row;
    int rc = storage_study_get(s->st, sp->name, &row, err);
    if (rc == KE_NOTFOUND && s->o.dry) return rc;     /* a probe makes no study */
    if (rc == KE_NOTFOUND) {
        kerror_clear(err);
        rc = store_spec(s, 1, err);
        if (rc == KE_OK && (rc = storage_study_get(s->st, sp->name, &row, err)) == KE_OK) {
            s->created_at = row.created_at;
            storage_study_free(&row);
        }
        return rc;
    }
    if (rc != KE_OK) return rc;
    s->study_id = row.id;
    s->created_at = row.created_at;
    if (strcmp(row.spec_hash, sp->hash) != 0) {
        /* a changed budget (a larger max_trials, say) extends the study */
        char diff[512];
        int budget_only;
        spec_diff(row.spec_json, sp->doc, diff, sizeof diff, &budget_only);
        if (!s->o.force && !budget_only)
            rc = kerror_set(err, KE_CONFLICT, NULL,
                            "study '%s' already exists with a different spec (%s); use "
                            "--force to continue it with the new spec", sp->name, diff);
        else if (strcmp(row.metric, sp->metric) != 0 && row.n_trials > 0)
            /* its trials' values are of the old metric: ranking them against
             * the new one would mix two objectives */
            rc = kerror_set(err, KE_CONFLICT, "objective.metric",
                            "'%s' -> '%s': study '%s' has %d trials valued by '%s', even "
                            "--force cannot change it; give the study another name, or "
                            "kestrel delete it first", row.metric, sp->metric, sp->name,
                            row.n_trials, row.metric);
        else
            *respec = 1;
    }
    storage_study_free(&row);
    return rc;
}

/* KE_NOTFOUND when s's study, read by name before its lock was taken, is
 * gone now that it is held. */
static int still_stored(scheduler *s, kerror *err)
{
    storage_study row;
    int rc = storage_study_get_id(s->st, s->study_id, &row, err);
    if (rc == KE_OK) storage_study_free(&row);
    return rc;
}

/* Lineage depth: how many retries led to trial k. */
static int retry_depth(const sched_trials *h, int k)
{
    int d = 0;
    while (k >= 0 && k < h->n && h->t[k].retry_of >= 0) {
        k = h->t[k].retry_of;
        d++;
    }
    return d;
}

/* Failed trials to re-run now: those the runner's death or a stop interrupted
 * (not their fault), and others while their lineage has retries left. */
static int plan_retries(scheduler *s, kerror *err)
{
    s->cap_retry = s->hist.n ? s->hist.n : 1;
    s->retry_queue = calloc(s->cap_retry, sizeof *s->retry_queue);
    if (!s->retry_queue) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (int k = 0; k < s->hist.n; k++) {
        const sched_trial *t = &s->hist.t[k];
        if (t->state != TRIAL_FAILED || t->retried || t->foreign) continue;
        int interrupted = trial_interrupted(t->failure);
        int left = retry_depth(&s->hist, k) < s->spec->budget.max_retries;
        if (interrupted || left || s->o.retry_failed) s->retry_queue[s->n_retry++] = k;
    }
    return KE_OK;
}

/* Queues trial k for another run when it was interrupted or its lineage
 * has retries left. */
int sched_queue_retry(scheduler *s, int k, kerror *err)
{
    if (!trial_interrupted(s->hist.t[k].failure) &&
        retry_depth(&s->hist, k) >= s->spec->budget.max_retries)
        return KE_OK;
    if (s->n_retry == s->cap_retry) {
        int cap = s->cap_retry * 2;
        int *q = realloc(s->retry_queue, cap * sizeof *q);
        if (!q) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
        s->retry_queue = q;
        s->cap_retry = cap;
    }
    s->retry_queue[s->n_retry++] = k;
    return KE_OK;
}

int scheduler_open(scheduler **out, storage *st, const spec_study *spec,
                   const scheduler_opts *o, kerror *err)
{
    scheduler *s = calloc(1, sizeof *s);
    if (!s) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    s->st = st;
    s->spec = spec;
    s->o = *o;
    s->lock.fd = -1;
    s->best = -1;
    s->supply = -1;
    s->t0 = monotime_s();
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(s->worker, sizeof s->worker, "%s:%ld", host, (long)getpid());
    int cores = o->cores > 0 ? o->cores : cores_usable();
    s->parallel = spec->budget.max_parallel;
    s->threads = cores / spec->budget.max_parallel;
    if (s->threads < 1) s->threads = 1;

    int respec, rc;
    /* A study deleted between open_study's read and the lock (kestrel
     * delete, the API's DELETE, each under the lock) is read again: made
     * anew, as a run after the delete makes it, where its old id got "no
     * study with id N" at the first write. Deleted again each time: said. */
    for (int tries = 0;; tries++) {
        rc = open_study(s, &respec, err);
        if (rc == KE_OK) rc = lock_study(&s->lock, o->db_path, s->study_id, err);
        if (rc != KE_OK || (rc = still_stored(s, err)) != KE_NOTFOUND) break;
        lock_release(&s->lock);
        if (tries == 2) {
            rc = kerror_set(err, KE_NOTFOUND, NULL, "study '%s' was deleted meanwhile by another "
                            "kestrel process, each time it was read", spec->name);
            break;
        }
    }
    if (rc == KE_BUSY)
        kerror_set(err, KE_BUSY, NULL,
                   "study '%s' is being run by another kestrel process right now", spec->name);
    /* a dry open (scheduler_probe) writes nothing: its study exists with
     * this spec, and the RUNNING trials a real open would reclaim stay so
     * in its history, where scheduler_probe counts them */
    if (rc == KE_OK && respec && !o->dry) rc = store_spec(s, 0, err);
    if (rc == KE_OK && spec->dir && !o->dry) rc = storage_study_set_dir(st, s->study_id, spec->dir, err);
    if (rc == KE_OK && !o->dry) rc = choose_work_dir(s, err);
    if (rc == KE_OK && !o->dry) rc = enqueue_sync_spec(st, s->study_id, spec, err);
    /* the remote runs a restarted server kept go on; their workers report */
    int n_kept = o->n_kept < spec->budget.max_parallel ? o->n_kept : spec->budget.max_parallel;
    int kept[n_kept > 0 ? n_kept : 1];
    for (int i = 0; i < n_kept; i++) kept[i] = o->kept[i].number;
    if (rc == KE_OK && !o->dry) rc = reclaim_dead(st, s->study_id, kept, n_kept, &s->reclaimed, err);
    if (rc == KE_OK) {
        s->ops = strategy_find(spec->strategy);
        if (!s->ops) rc = kerror_set(err, KE_INVALID, "strategy.name", "unknown strategy");
    }
    if (rc == KE_OK)
        rc = s->ops->create(&s->strat, &spec->space, spec->strategy_options, spec->seed, err);
    if (rc == KE_OK && spec->pruner) {
        s->pops = pruner_find(spec->pruner);
        if (!s->pops) rc = kerror_set(err, KE_INVALID, "pruner.name", "unknown pruner");
        else rc = s->pops->create(&s->prun, spec->pruner_options, err);
    }
    if (rc == KE_OK)
        rc = sched_trials_load(&s->hist, st, s->study_id, &spec->space, spec->metric, spec->maximize,
                               s->pops != NULL, err);
    for (int k = 0; rc == KE_OK && k < s->hist.n; k++) {
        sched_outcome_consider(s, k);
        sched_outcome_observe(s, k);
    }
    if (rc == KE_OK) rc = plan_retries(s, err);
    if (rc == KE_OK)
        sched_ckpt_init(&s->ckpt, s->work_dir, spec->name,
                        spec->run.kind != RUN_TRAINER || spec->run.keep_all_checkpoints,
                        sched_outcome_best(s, NULL));
    for (int k = 0; rc == KE_OK && k < s->hist.n; k++) s->multifid |= s->hist.t[k].budget > 0;
    double best;
    if (rc == KE_OK && sched_outcome_best(s, &best) >= 0)
        s->goal_reached = sched_outcome_goal(s, best);
    s->ended_since_ask = 1;   /* a resumed study may have promotions due */
    if (rc == KE_OK) {
        s->runs = malloc((size_t)spec->budget.max_parallel * sizeof *s->runs);
        s->ready = calloc(spec->budget.max_parallel, sizeof *s->ready);
        if (!s->runs || !s->ready) rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
        /* every slot's pages touched now, not at the lease of a burst */
        for (int i = 0; s->runs && i < spec->budget.max_parallel; i++) sched_run_reset(&s->runs[i], -1);
    }
    for (int i = 0; rc == KE_OK && !o->dry && i < n_kept; i++)
        rc = sched_remote_adopt(s, &o->kept[i], err);
    if (rc == KE_OK && !o->dry) rc = storage_study_set_state(st, s->study_id, STUDY_RUNNING, NULL, err);
    if (rc != KE_OK) {
        scheduler_close(s);
        return rc;
    }
    *out = s;
    return KE_OK;
}

typedef struct {
    scheduler *s;
    kerror *err;
    int rc;
} poll_ctx;

static void on_event(const runner_event *ev, void *ctx)
{
    poll_ctx *pc = ctx;
    scheduler *s = pc->s;
    sched_run *r = ev->user;
    if (ev->kind == RUNNER_EXIT) {
        /* The runner has reaped the child, so its slot is freed even after an
         * earlier failure in this poll; its trial, not recorded then, stays
         * RUNNING in storage and the next open reclaims it. */
        if (pc->rc == KE_OK)
            pc->rc = sched_outcome_exit(s, r, ev, runner_stdout_tail(r->proc),
                                        runner_stderr_tail(r->proc), pc->err);
        runner_free(r->proc);
        r->proc = NULL;
        s->n_running--;
        s->n_local--;
        return;
    }
    if (pc->rc == KE_OK) pc->rc = sched_outcome_line(s, r, ev->line, ev->cut, pc->err);
}

int64_t scheduler_study_id(const scheduler *s)
{
    return s->study_id;
}

double scheduler_study_created(const scheduler *s)
{
    return s->created_at;
}

int scheduler_n_local(const scheduler *s)
{
    return s->n_local;
}

int scheduler_enqueued_refresh(scheduler *s, kerror *err)
{
    /* with none running the count does not bound scheduler_startable */
    if (s->finished || s->stop_reason || s->goal_reached || s->n_running == 0) return KE_OK;
    int64_t version;
    int n, rc = storage_data_version(s->st, &version, err);
    if (rc != KE_OK || (s->enq_known && version == s->enq_version)) return rc;
    if ((rc = enqueue_pending(s->st, s->study_id, &s->spec->space, NULL, NULL, 0, &n, err)) != KE_OK)
        return rc;
    s->n_enqueued = n;
    s->enq_version = version;
    s->enq_known = 1;
    return KE_OK;
}

int scheduler_startable(const scheduler *s)
{
    if (s->finished || s->stop_reason || s->goal_reached) return 0;
    int left = s->spec->budget.max_trials - s->hist.n_fresh;
    /* a strategy that promotes is asked past its fresh budget only once a
     * trial has ended since it was last asked (sched_fill) */
    int fresh = s->multifid && (left > 0 || s->ended_since_ask) ? INT_MAX : left > 0 ? left : 0;
    /* suggest() is a function of the history, which grows by a trial's
     * end: a strategy that is done, or gave fewer than it was asked for (a
     * grid's last points, Hyperband waiting for a rung), has no more until
     * one ends. With none running, sched_fill is let ask (and run what was
     * enqueued) so that the study can end. */
    if (s->n_running > 0 && (s->exhausted || (s->supply >= 0 && !s->ended_since_ask))) {
        int now = s->exhausted ? 0 : s->supply;
        int enq = s->n_enqueued < left ? s->n_enqueued : left > 0 ? left : 0;
        /* sched_fill starts enqueued configurations before it asks the
         * strategy, within max_trials; one that gives budgets runs them in
         * its suggestions' places first, the rest in the next fresh places */
        if (!s->ops->gives_budgets) now += enq;
        else if (enq > now) now = enq;
        if (fresh > now) fresh = now;
    }
    return fresh > INT_MAX - s->n_retry ? INT_MAX : fresh + s->n_retry;
}

int scheduler_lease_spec(scheduler *s, json_t **spec, const char **dir, kerror *err)
{
    if (!s->lease_spec) {
        storage_study row;
        int rc = storage_study_get_id(s->st, s->study_id, &row, err);
        if (rc != KE_OK) return rc;
        json_t *doc = json_loads(row.spec_json, 0, NULL);
        char *d = row.spec_dir ? strdup(row.spec_dir) : NULL;
        storage_study_free(&row);
        if (!doc || (row.spec_dir && !d)) {
            json_decref(doc);
            free(d);
            return kerror_set(err, KE_NOMEM, NULL, "out of memory");
        }
        s->lease_spec = doc;
        s->lease_dir = d;
    }
    *spec = s->lease_spec;
    *dir = s->lease_dir;
    return KE_OK;
}

void scheduler_drop_ready(scheduler *s)
{
    s->n_ready = 0;
}

static void stop_all(scheduler *s, const char *reason)
{
    for (int i = 0; i < s->spec->budget.max_parallel; i++) {
        sched_run *r = &s->runs[i];
        if (!sched_run_busy(r) || r->stopped) continue;
        r->stopped = reason;
        sched_run_stop(r);
    }
}

void scheduler_stop(scheduler *s, const char *reason)
{
    if (!s->stop_reason) s->stop_reason = reason ? reason : "study stopped";
    stop_all(s, s->stop_reason);
}

/* No trial has completed in the whole study, and some failed by themselves;
 * *last gets the reason of the last of those (a run that started none has
 * no failure of its own to name, and said "(before this run)" in the
 * study's state_reason, over the reason stored before). */
static int nothing_completed(const scheduler *s, const char **last)
{
    *last = NULL;
    for (int k = 0; k < s->hist.n; k++) {
        if (s->hist.t[k].state == TRIAL_COMPLETE) return 0;
        if (s->hist.t[k].state == TRIAL_FAILED && !trial_interrupted(s->hist.t[k].failure))
            *last = s->hist.t[k].failure ? s->hist.t[k].failure : "";
    }
    return *last != NULL;
}

/* budget.max_failures trials failed in a row: the study fails now rather
 * than burn its budget on a command that cannot work. */
static void fail_fast(scheduler *s)
{
    int max = s->spec->budget.max_failures;
    if (s->stop_reason || max <= 0 || s->fail_streak < max) return;
    s->failed = 1;
    snprintf(s->failure, sizeof s->failure, "%d trials in a row failed (budget.max_failures "
             "= %d); the last: %s", s->fail_streak, max, s->last_failure);
    scheduler_stop(s, "the study failed: too many trials in a row failed");
}

/* Whether a promoting strategy has a promotion due once the fresh budget is
 * spent. sched_fill launches it into a free slot of this process; a study
 * with none (workers run its trials, or serve's --max-parallel lends its
 * slots to other studies) must wait for one instead of ending, or ASHA's
 * last promotions were lost whenever a step came before the next lease.
 * Asked once per trial ended (under the gp sampler an ask is a fit); the
 * suggestions are dropped: sched_fill asks again when it has a slot. */
static int promotions_due(scheduler *s, kerror *err)
{
    if (!s->multifid || s->exhausted) return 0;
    if (s->due_known) return s->due;
    strategy_history h;
    sched_trials_history(&s->hist, s->spec->budget.max_trials, &h);
    int want = s->spec->budget.max_parallel, n = 0;
    /* up to 256 suggestions of a space of 64 parameters: not the stack's */
    strategy_suggestion *sg = malloc((size_t)want * sizeof *sg);
    if (!sg) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (!s->ops->done(s->strat, &h)) n = s->ops->suggest(s->strat, &h, sg, want, err);
    s->due = 0;
    for (int i = 0; i < n; i++) s->due |= sg[i].resume_from >= 0;
    free(sg);
    if (n < 0) return n;
    s->due_known = 1;
    return s->due;
}

int scheduler_step(scheduler *s, int timeout_ms, kerror *err)
{
    if (s->finished) return 0;
    fail_fast(s);
    double limit = s->spec->budget.max_seconds;
    if (!s->stop_reason && limit > 0 && monotime_s() - s->t0 >= limit)
        scheduler_stop(s, "the study's time budget (max_seconds) ran out");
    int rc = KE_OK;
    if (!s->stop_reason) rc = sched_fill(s, s->parallel - s->n_local, NULL, err);
    else rc = sched_remote_drop(s, err);
    if (rc != KE_OK) return rc;
    if (s->n_local > 0) {
        runner_proc *procs[s->spec->budget.max_parallel];
        int n = 0;
        for (int i = 0; i < s->spec->budget.max_parallel; i++)
            if (s->runs[i].proc) procs[n++] = s->runs[i].proc;
        poll_ctx pc = {s, err, KE_OK};
        int prc = runner_poll(procs, n, timeout_ms, on_event, &pc, err);
        if (prc < 0) return prc;
        if (pc.rc != KE_OK) return pc.rc;
        return 1;
    }
    if (s->n_running > 0) return 1;     /* remote runs only: their workers call */
    int budget_done = s->hist.n_fresh >= s->spec->budget.max_trials && s->n_retry == 0;
    if (!s->stop_reason && !budget_done && !s->exhausted && !s->goal_reached) return 1;
    if (!s->stop_reason && !s->goal_reached && budget_done && (rc = promotions_due(s, err)) != 0)
        return rc < 0 ? rc : 1;
    s->finished = 1;
    const char *last;
    if (!s->stop_reason && nothing_completed(s, &last)) {
        s->failed = 1;
        snprintf(s->failure, sizeof s->failure, "no trial completed; the last failure: %s",
                 s->last_failure[0] ? s->last_failure : last);
    }
    s->completed = !s->stop_reason && !s->failed;
    if (s->completed) sched_ckpt_completed(&s->ckpt, s->hist.n, sched_outcome_best(s, NULL));
    rc = storage_study_set_state(s->st, s->study_id,
                                 s->failed ? STUDY_FAILED : s->completed ? STUDY_COMPLETE : STUDY_STOPPED,
                                 s->failed ? s->failure : NULL, err);
    return rc != KE_OK ? rc : 0;
}

/* Whether s, just opened dry, would start anything: mirrors the first
 * scheduler_step's sched_fill and its end (budget_done, exhausted,
 * promotions_due) without launching. A strategy that is not done but
 * would suggest nothing is taken as one that runs. */
static int has_work(scheduler *s, kerror *err)
{
    if (s->goal_reached) return 0;          /* sched_fill starts nothing */
    if (s->n_retry > 0) return 1;
    /* left RUNNING by a process that died (reclaimed, then re-run as
     * interrupted) or kept by a restarted server for its worker */
    for (int k = 0; k < s->hist.n; k++)
        if (s->hist.t[k].state == TRIAL_RUNNING && !s->hist.t[k].foreign) return 1;
    int left = s->spec->budget.max_trials - s->hist.n_fresh;
    if (left > 0) {
        /* stored, or in the spec's "enqueue" and stored by a real open */
        int n, fresh, rc = enqueue_pending(s->st, s->study_id, &s->spec->space, NULL, NULL, 0, &n,
                                           err);
        if (rc == KE_OK) rc = enqueue_spec_unstored(s->st, s->study_id, s->spec, &fresh, err);
        if (rc != KE_OK) return rc;
        if (n + fresh > 0) return 1;
        strategy_history h;
        sched_trials_history(&s->hist, s->spec->budget.max_trials, &h);
        if (!s->ops->done(s->strat, &h)) return 1;
        s->exhausted = 1;
    }
    return promotions_due(s, err);
}

int scheduler_probe(storage *st, const spec_study *spec, const scheduler_opts *o, int *work,
                    scheduler_status *ss, kerror *err)
{
    scheduler_opts dry = *o;
    dry.dry = 1;
    dry.on_event = NULL;
    *work = 0;
    memset(ss, 0, sizeof *ss);
    scheduler *s;
    int rc = scheduler_open(&s, st, spec, &dry, err);
    if (rc != KE_OK) return rc;
    rc = has_work(s, err);
    if (rc >= 0) {
        *work = rc > 0;
        rc = KE_OK;
    }
    scheduler_get_status(s, ss);
    ss->failure = ss->stop_reason = NULL;     /* the scheduler's, freed with it */
    scheduler_close(s);
    return rc;
}

void scheduler_set_parallel(scheduler *s, int n)
{
    int max = s->spec->budget.max_parallel;
    s->parallel = n < 0 ? 0 : n > max ? max : n;
}

void scheduler_set_threads(scheduler *s, int n)
{
    s->threads = n < 1 ? 1 : n;
}

void scheduler_get_status(const scheduler *s, scheduler_status *out)
{
    memset(out, 0, sizeof *out);
    out->study_id = s->study_id;
    out->max_trials = s->spec->budget.max_trials;
    out->reclaimed = s->reclaimed;
    out->n_suggested = s->n_suggested;
    out->elapsed = monotime_s() - s->t0;
    out->finished = s->finished;
    out->completed = s->completed;
    out->goal_reached = s->goal_reached;
    out->failed = s->failed;
    out->failure = s->failed ? s->failure : NULL;
    out->stop_reason = s->failed ? NULL : s->stop_reason;
    out->n_running = s->n_running;
    out->n_local = s->n_local;
    out->n_asked = s->n_asked;
    for (int k = 0; k < s->hist.n; k++) {
        const sched_trial *t = &s->hist.t[k];
        out->n_trials++;
        if (t->state == TRIAL_COMPLETE) out->n_complete++;
        if (t->state == TRIAL_PRUNED) out->n_pruned++;
        if (t->state == TRIAL_FAILED) {
            if (trial_interrupted(t->failure)) out->n_interrupted++;
            else out->n_failed++;
            /* a foreign one is not retried even so (plan_retries) */
            if (!trial_interrupted(t->failure) && !t->retried && !t->foreign) out->n_retryable++;
        }
        if (t->state != TRIAL_RUNNING && t->retry_of < 0 && t->resumed_from < 0) out->n_configs++;
    }
    out->best_number = sched_outcome_best(s, &out->best_value);
    out->has_best = out->best_number >= 0;
}

void scheduler_close(scheduler *s)
{
    if (!s) return;
    if (s->runs) {
        kerror err;
        if (s->n_running > 0) {
            scheduler_stop(s, s->stop_reason ? s->stop_reason : "study closed");
            while (s->n_running > 0 && scheduler_step(s, 100, &err) > 0) {}
        }
        for (int i = 0; i < s->spec->budget.max_parallel; i++)
            if (s->runs[i].proc) runner_free(s->runs[i].proc);
        free(s->runs);
        free(s->ready);
    }
    runner_guard_free(s->guard);
    if (s->strat) s->ops->destroy(s->strat);
    if (s->prun) s->pops->destroy(s->prun);
    sched_trials_free(&s->hist);
    idmap_free(&s->remote);
    free(s->retry_queue);
    json_decref(s->lease_spec);
    free(s->lease_dir);
    lock_release(&s->lock);
    free(s);
}
