/* fleet_calls: the workers' calls on the fleet (fleet_calls.h): register,
 * heartbeat, lease, report, finish, the listing and a lease's folder, each
 * run on the engine thread. Each reads and checks its body (fleet_req.h),
 * then acts on the registry (fleet.c, through fleet_impl.h's fl_ helpers). */
#define _GNU_SOURCE
#include "fleet_calls.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "field.h"
#include "fleet.h"
#include "fleet_impl.h"
#include "fleet_req.h"
#include "idmap.h"
#include "klog.h"
#include "monotime.h"
#include "runner.h"
#include "sched_trial.h"
#include "scheduler.h"
#include "sha256.h"
#include "storage.h"
#include "trial.h"

/* A new key as 32 hex digits (128 random bits: its hash, all the history
 * keeps, cannot be reversed by trying keys) into hex, its SHA-256 into
 * digest. */
static int random_key(char hex[33], unsigned char digest[SHA256_BYTES], kerror *err)
{
    unsigned char b[16];
    /* one call, where opening /dev/urandom was three a registration */
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        return kerror_set(err, KE_IO, NULL, "cannot read random bytes: %s", strerror(errno));
    for (int i = 0; i < 16; i++) sprintf(hex + 2 * i, "%02x", b[i]);
    sha256(hex, 32, digest);
    return KE_OK;
}

/* Whether key is w's, compared by hash in a time that does not tell where
 * they differ: without a server token the key is all that keeps one worker
 * from finishing another's trials. */
static int key_matches(const fl_worker *w, const char *key)
{
    unsigned char digest[SHA256_BYTES];
    sha256(key, strlen(key), digest);
    return sha256_equal(digest, w->key_sha256);
}

static fl_worker *find_worker(fleet *fl, int64_t id, const json_t *req)
{
    const char *key = json_string_value(json_object_get(req, "key"));
    fl_worker *w = idmap_get(&fl->worker_ids, id);
    return w && key && key_matches(w, key) ? w : NULL;
}

/* The worker a worker-scoped call names (id in the path, key in the body),
 * seen now; NULL (err set: KE_NOTFOUND, register again) when unknown. */
static fl_worker *caller(fleet *fl, int64_t id, const json_t *req, kerror *err)
{
    fl_worker *w = find_worker(fl, id, req);
    if (!w) {
        kerror_set(err, KE_NOTFOUND, NULL, "no worker %lld with that key (the server may have "
                   "restarted): register again", (long long)id);
        return NULL;
    }
    fl_seen(fl, w);
    return w;
}

/* A call on lease id by a worker that does not hold it: the worker ends
 * the trial's process. */
static int not_held(int64_t id, kerror *err)
{
    return kerror_set(err, KE_CONFLICT, NULL, "lease %lld is not running for this worker (it "
                      "expired, ended, or belongs to another)", (long long)id);
}

int fleet_lease_check(fleet *fl, int64_t lease, int64_t worker, const char *key, kerror *err)
{
    int ok = 0;
    if (fl && key) {
        pthread_mutex_lock(&fl->ids_mu);
        const fl_worker *w = idmap_get(&fl->worker_ids, worker);
        ok = w && key_matches(w, key);
        pthread_mutex_unlock(&fl->ids_mu);
    }
    return ok ? KE_OK : not_held(lease, err);
}

/* ---- requests, on the engine thread ---- */

/* c->req, read from c->text when the caller handed the body over as text. */
static int call_req(fleet_call *c, kerror *err)
{
    if (c->req) return KE_OK;
    json_error_t je;
    json_t *o = json_loadb(c->text ? c->text : "", c->len, JSON_REJECT_DUPLICATES, &je);   /* as api.c */
    if (!json_is_object(o)) {
        json_decref(o);
        return kerror_set(err, KE_INVALID, NULL, "expected a JSON object: %s",
                          o ? "not an object" : je.text);
    }
    c->req = o;
    return KE_OK;
}

static int lease_any(service *sv, fleet *fl, fleet_call *c, fl_worker *w, int gpus_free,
                     kerror *err);

static int do_register(service *sv, void *arg, kerror *err)
{
    fleet_call *c = arg;
    if (call_req(c, err) != KE_OK) return err->code;
    fleet *fl = service_fleet(sv);
    if (fl->passive)
        return kerror_set(err, KE_CONFLICT, NULL, "another kestrel serve coordinates this "
                          "database's workers: register with it");
    fleet_req_reg r;
    if (fleet_req_register(c->req, &r, err) != KE_OK) return err->code;
    fl_worker *w = calloc(1, sizeof *w);
    if (!w) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    snprintf(w->name, sizeof w->name, "%s:%lld%s%s", r.host, r.pid, r.slurm_job ? " slurm:" : "",
             r.slurm_job ? r.slurm_job : "");
    /* O takes a reference of its own: the defaults are let go after */
    json_t *no_gpus = r.gpus ? NULL : json_array(), *no_labels = r.labels ? NULL : json_object();
    w->info = json_pack("{s:s, s:I, s:I, s:O, s:O, s:s?}", "host", r.host, "pid",
                        (json_int_t)r.pid, "slots", (json_int_t)r.slots, "gpus",
                        r.gpus ? r.gpus : no_gpus, "labels", r.labels ? r.labels : no_labels,
                        "slurm_job", r.slurm_job);
    json_decref(no_gpus);
    json_decref(no_labels);
    /* the row keeps the lease time answered too: a server restarted with
     * shorter leases gives the leases it keeps time for this worker's
     * next beat, at the pace this answer sets (restore_worker) */
    json_t *row = w->info ? json_copy(w->info) : NULL;
    if (row) json_object_set_new(row, "lease_seconds", json_real(fl->lease_s));
    char *info = row ? json_dumps(row, JSON_COMPACT) : NULL;
    json_decref(row);
    char key[33];
    int rc = info ? random_key(key, w->key_sha256, err)
                  : kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (rc == KE_OK)
        rc = storage_worker_add(service_storage(sv), w->name, info, w->key_sha256, &w->id, err);
    if (rc == KE_OK && fl_ids_put(fl, w) != KE_OK)
        rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    free(info);
    if (rc != KE_OK) {
        json_decref(w->info);
        free(w);
        return rc;
    }
    w->slots = (int)r.slots;
    w->lease_s = fl->lease_s;
    w->pass = fl->pass;
    fl->n_uncommitted++;
    fl_worker_link(fl, w);
    atomic_fetch_add(&fl->n_registered, 1);
    klog(stderr, "worker %lld registered: %s", (long long)w->id, w->name);
    json_t *out = json_pack("{s:I, s:s, s:f}", "id", (json_int_t)w->id, "key", key,
                            "lease_seconds", fl->lease_s);
    if (!out) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    /* A first trial in the same answer: a thousand workers starting at once
     * send half the requests. The registration is stored whatever the lease
     * meets, so a lease that fails leaves the worker to ask again. */
    if (r.lease) {
        kerror lerr;
        kerror_clear(&lerr);
        if (lease_any(sv, fl, c, w, (int)r.gpus_free, &lerr) != KE_OK)
            klog(stderr, "worker %lld: no first lease with its registration: %s", (long long)w->id,
                 lerr.msg);
        else if (c->out)
            json_object_set_new(out, "lease", c->out);
    }
    c->out = out;
    return KE_OK;
}

static int do_list(service *sv, void *arg, kerror *err)
{
    fleet_call *c = arg;
    fleet *fl = service_fleet(sv);
    json_t *arr = json_array();
    for (fl_worker *w = fl->workers; arr && w; w = w->next) {
        json_t *o = json_deep_copy(w->info);
        json_t *leases = json_array();
        for (fl_lease *l = w->leases; leases && l; l = l->wnext)
            json_array_append_new(leases, json_pack("{s:I, s:s, s:i}", "lease", (json_int_t)l->id,
                                                    "study", l->study, "number", l->number));
        if (!o || !leases) {
            json_decref(o);
            json_decref(leases);
            json_decref(arr);
            return kerror_set(err, KE_NOMEM, NULL, "out of memory");
        }
        json_object_set_new(o, "id", json_integer(w->id));
        json_object_set_new(o, "name", json_string(w->name));
        json_object_set_new(o, "last_seen", json_real(w->last_seen));
        json_object_set_new(o, "running", leases);
        json_array_append_new(arr, o);
    }
    c->out = arr ? json_pack("{s:o}", "workers", arr) : NULL;
    return c->out ? KE_OK : kerror_set(err, KE_NOMEM, NULL, "out of memory");
}

static int names_lease(const json_t *ids, int64_t id)
{
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
        if (json_integer_value(v) == id) return 1;
    return 0;
}

/* A worker's heartbeat names the leases it runs ("leases"; a worker that
 * sends no list keeps all of its leases alive). One it does not name is a
 * lease whose answer never reached it (the connection broke on the way):
 * the worker is alive, so that lease would never expire and its trial
 * would stay RUNNING for good. It is lost at the second heartbeat in a row
 * that leaves it out: the first may have been sent before the answer came.
 * One it names that is not its own (any more: it expired while the worker
 * was cut off or stopped, or it ended otherwise) is in the answer's stop:
 * its trial has failed and runs again elsewhere, and a trial that reports
 * nothing until its end would otherwise run on for nothing, its slot (and
 * GPU) taken, until its finish is refused. */
static int do_heartbeat(service *sv, void *arg, kerror *err)
{
    fleet_call *c = arg;
    if (call_req(c, err) != KE_OK) return err->code;
    fleet *fl = service_fleet(sv);
    fl_worker *w = caller(fl, c->id, c->req, err);
    if (!w) return err->code;
    const json_t *held = json_object_get(c->req, "leases");
    int bad = held && !json_is_array(held);
    size_t i;
    json_t *v;
    json_array_foreach(held, i, v) bad |= !json_is_integer(v);
    if (bad) return kerror_set(err, KE_INVALID, "leases", "expected an array of lease ids");
    json_t *stop = json_array();
    for (fl_lease *l = w->leases, *next; stop && l; l = next) {
        next = l->wnext;
        if (json_is_array(held) && !names_lease(held, l->id)) {
            if (++l->unlisted >= 2) {
                char reason[400];
                snprintf(reason, sizeof reason, "worker %s (id %lld) does not run it: the lease's "
                         "answer did not reach it", w->name, (long long)w->id);
                fl_lease_lose(fl, l, reason, "not received");
            }
            continue;
        }
        l->unlisted = 0;
        l->restored = 0;
        l->expires = monotime_s() + fl->lease_s;
        scheduler *s = service_study(sv, l->study);
        if (!s || scheduler_remote_stop_asked(s, l->id))
            json_array_append_new(stop, json_integer(l->id));
    }
    json_array_foreach(held, i, v) {
        const fl_lease *l = idmap_get(&fl->lease_ids, json_integer_value(v));
        if (stop && (!l || l->w != w)) json_array_append_new(stop, json_integer(json_integer_value(v)));
    }
    /* lease_seconds: a worker this server kept across a restart registered
     * with the previous one, whose leases may have been longer: it beats
     * every third of this server's from now on */
    c->out = stop ? json_pack("{s:o, s:f}", "stop", stop, "lease_seconds", fl->lease_s) : NULL;
    return c->out ? KE_OK : kerror_set(err, KE_NOMEM, NULL, "out of memory");
}

/* The lease's answer: the trial and everything a worker needs to run it
 * as a local trial would run (the spec, the point as the space holds it). */
static json_t *lease_json(const fl_lease *l, double study_created, const sched_trial *t,
                          int n_params, json_t *spec, const char *spec_dir)
{
    json_t *x = json_array(), *active = json_array();
    for (int i = 0; x && active && i < n_params; i++) {
        json_array_append_new(x, json_real(t->point.x[i]));
        json_array_append_new(active, json_boolean(t->point.active[i]));
    }
    if (!x || !active) {
        json_decref(x);
        json_decref(active);
        return NULL;
    }
    /* study_created: a study deleted and posted again under its name has
     * another, so a worker tells its old folders from the new study's */
    return json_pack("{s:I, s:s, s:f, s:O, s:s?, s:{s:i, s:i, s:i, s:i, s:o, s:o}}", "lease",
                     (json_int_t)l->id, "study", l->study, "study_created", study_created,
                     "spec", spec, "spec_dir", spec_dir,
                     "trial", "number", l->number, "budget", t->budget, "resumed_from",
                     t->resumed_from, "retry_of", t->retry_of, "x", x, "active", active);
}

/* 1 when a worker other than w has a free slot and was heard from within
 * the lease time (it is asking, or about to): the first of the free list
 * that is not w is the last heard from. */
static int other_free(const fleet *fl, const fl_worker *w)
{
    const fl_worker *o = fl->free_first == w ? w->fnext : fl->free_first;
    return o && fl_wall() - o->last_seen < fl->lease_s;
}

/* Offers the worker a trial of study i; 1 when it got one (c->out set). A
 * lease that cannot be stored or answered leaves no trace but its trial,
 * interrupted (so run again): its row is the last thing written, and it
 * joins the lists only once written. */
static int lease_from(fleet *fl, fleet_call *c, fl_worker *w, scheduler *s, const char *name,
                      int gpus_free, int batch, kerror *err)
{
    int avoid[FLEET_LOST], n_avoid = 0, keep_off = w->n_lost && other_free(fl, w);
    for (int i = 0; keep_off && i < FLEET_LOST; i++)
        if (w->lost[i].study && !strcmp(w->lost[i].study, name)) avoid[n_avoid++] = w->lost[i].number;
    scheduler_remote rem = {.tag = fl->last_lease + 1, .worker = w->name, .gpus_free = gpus_free,
                            .avoid = avoid, .n_avoid = n_avoid, .batch = batch};
    int rc = scheduler_lease(s, &rem, err);
    if (rc != KE_OK || !rem.leased) return rc;
    fl->last_lease++;
    int number = rem.trial->number;
    json_t *spec, *out = NULL;
    const char *dir;
    fl_lease *l = calloc(1, sizeof *l);
    if (!l || !(l->study = strdup(name)))
        rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (rc == KE_OK) {
        l->id = rem.tag;
        l->w = w;
        l->number = number;
        rc = scheduler_lease_spec(s, &spec, &dir, err);
    }
    if (rc == KE_OK &&
        !(out = lease_json(l, scheduler_study_created(s), rem.trial, rem.n_params, spec, dir)))
        rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (rc == KE_OK && idmap_put(&fl->lease_ids, l->id, l) != KE_OK)
        rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (rc == KE_OK) {
        rc = storage_lease_begin(service_storage(fl->sv), l->id, w->id, scheduler_study_id(s),
                                 l->number, err);
        if (rc != KE_OK) idmap_del(&fl->lease_ids, l->id);
    }
    if (rc != KE_OK) {
        json_decref(out);
        if (l) fl_lease_free(l);
        /* the trial is the scheduler's remote run: losing it now runs it again */
        char reason[720];
        kerror lerr;
        snprintf(reason, sizeof reason, TRIAL_INTERRUPTED "its lease to worker %s failed: %.500s",
                 w->name, err->msg);
        if (scheduler_remote_lost(s, rem.tag, reason, &lerr) != KE_OK)
            klog(stderr, "study %s: trial %d: %s", name, number, lerr.msg);
        return rc;
    }
    fl_lease_link(fl, l);
    l->pass = fl->pass;
    fl->n_uncommitted++;
    c->out = out;
    return 1;
}

static int do_lease(service *sv, void *arg, kerror *err);

/* Offers worker w a trial of the studies in turn (round robin); c->out is
 * the lease when it got one. A worker holds no more leases than the slots
 * it registered: one that asks past them (its own count of free slots
 * wrong, or a client of its own) is told there is none, as the server
 * would otherwise overload its machine. */
static int lease_any(service *sv, fleet *fl, fleet_call *c, fl_worker *w, int gpus_free,
                     kerror *err)
{
    if (w->running >= w->slots) return KE_OK;
    int n = 0;
    const char *name;
    while (service_study_at(sv, n, &name)) n++;
    /* the leases queued with this one (registrations may ask for one too)
     * spread over the studies as this one does (round robin): each study's
     * share of them makes one batch */
    int waiting = service_pass_waiting(sv, do_lease) + service_pass_waiting(sv, do_register);
    int batch = n ? 1 + waiting / n : 1;
    unsigned start = fl->rr++;
    for (int j = 0; j < n; j++) {
        scheduler *s = service_study_at(sv, (int)((start + (unsigned)j) % (unsigned)n), &name);
        int rc = lease_from(fl, c, w, s, name, gpus_free, batch, err);
        if (rc != KE_OK) return rc < 0 ? rc : KE_OK;
    }
    return KE_OK;
}

static int do_lease(service *sv, void *arg, kerror *err)
{
    fleet_call *c = arg;
    long long gpus_free;
    if (call_req(c, err) != KE_OK || fleet_req_lease(c->req, &gpus_free, err) != KE_OK)
        return err->code;
    fleet *fl = service_fleet(sv);
    fl_worker *w = caller(fl, c->id, c->req, err);
    if (!w) return err->code;
    /* as at registration: GPUs it never registered would be given out */
    size_t n_gpus = json_array_size(json_object_get(w->info, "gpus"));
    if (gpus_free > (long long)n_gpus)
        return kerror_set(err, KE_INVALID, "gpus_free", "expected at most %zu, the GPUs this "
                          "worker registered", n_gpus);
    return lease_any(sv, fl, c, w, (int)gpus_free, err);
}

/* The running lease c->id of the worker the request names, and its
 * scheduler; NULL (err set, KE_CONFLICT) when there is none. */
static fl_lease *held_lease(fleet *fl, fleet_call *c, scheduler **s, kerror *err)
{
    json_int_t wid = json_integer_value(json_object_get(c->req, "worker"));
    fl_lease *l = idmap_get(&fl->lease_ids, c->id);
    fl_worker *w = find_worker(fl, wid, c->req);
    if (!l || !w || l->w != w) {
        not_held(c->id, err);
        return NULL;
    }
    fl_seen(fl, w);
    *s = service_study(fl->sv, l->study);
    /* a study resumed since it stopped runs a scheduler that never had it */
    if (!*s || !scheduler_remote_runs(*s, l->id)) {
        fl_lease_drop(fl, l, "dropped", 0);
        kerror_set(err, KE_CONFLICT, NULL, "lease %lld: its study stopped", (long long)c->id);
        return NULL;
    }
    l->restored = 0;
    l->expires = monotime_s() + fl->lease_s;
    return l;
}

/* The lines of a request fleet_req_lease_call passed. */
static int relay_lines(scheduler *s, fl_lease *l, const json_t *req, kerror *err)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(req, "lines"), i, v) {
        int rc = scheduler_remote_line(s, l->id, json_string_value(v), err);
        if (rc != KE_OK) return rc;
    }
    return KE_OK;
}

static int do_report(service *sv, void *arg, kerror *err)
{
    fleet_call *c = arg;
    if (call_req(c, err) != KE_OK || fleet_req_lease_call(c->req, err) != KE_OK) return err->code;
    scheduler *s;
    fl_lease *l = held_lease(service_fleet(sv), c, &s, err);
    if (!l) return err->code;
    int rc = relay_lines(s, l, c->req, err);
    if (rc != KE_OK) return rc;
    c->out = json_pack("{s:b}", "stop", scheduler_remote_stop_asked(s, l->id));
    return c->out ? KE_OK : kerror_set(err, KE_NOMEM, NULL, "out of memory");
}

/* The finish's end of the attempt: its exit into ev, or the reason
 * *released it was given up for (then ev is unset). */
static int finish_end(const json_t *req, runner_event *ev, const char **released, kerror *err)
{
    json_t *v;
    int rc = field_get(req, "", "released", FIELD_STRING, 0, &v, err);
    if (rc < 0) return rc;
    *released = rc ? json_string_value(v) : NULL;
    if (*released) return KE_OK;
    if (!json_is_object(json_object_get(req, "exit")))
        return kerror_set(err, KE_INVALID, "exit", "expected the exit (an object) or a "
                          "release reason");
    return fleet_req_exit(json_object_get(req, "exit"), ev, err);
}

static int do_finish(service *sv, void *arg, kerror *err)
{
    fleet_call *c = arg;
    runner_event ev;
    const char *released;
    /* checked before the lease is touched: a refused call renews nothing */
    if (call_req(c, err) != KE_OK || fleet_req_lease_call(c->req, err) != KE_OK ||
        finish_end(c->req, &ev, &released, err) != KE_OK)
        return err->code;
    fleet *fl = service_fleet(sv);
    scheduler *s;
    fl_lease *l = held_lease(fl, c, &s, err);
    if (!l) return err->code;
    int rc = relay_lines(s, l, c->req, err);
    if (rc != KE_OK) return rc;
    if (released) {
        char reason[512];
        snprintf(reason, sizeof reason, TRIAL_INTERRUPTED "worker %s gave it up: %.300s",
                 l->w->name, released);
        rc = scheduler_remote_lost(s, l->id, reason, err);
    } else {
        rc = scheduler_remote_exit(s, l->id, &ev,
                                   json_string_value(json_object_get(c->req, "stdout_tail")),
                                   json_string_value(json_object_get(c->req, "stderr_tail")), err);
    }
    if (rc != KE_OK) return rc;
    fl_lease_drop(fl, l, released ? "released" : "finished", released != NULL);
    c->out = json_pack("{s:b}", "ok", 1);
    return c->out ? KE_OK : kerror_set(err, KE_NOMEM, NULL, "out of memory");
}

typedef struct {
    fleet_call c;
    char *dir;
    size_t n;
} dir_call;

static int do_lease_dir(service *sv, void *arg, kerror *err)
{
    dir_call *d = arg;
    scheduler *s;
    fl_lease *l = held_lease(service_fleet(sv), &d->c, &s, err);
    if (!l) return err->code;
    snprintf(d->dir, d->n, "%s/%s/%d", scheduler_work_dir(s), l->study, l->number);
    return KE_OK;
}

/* ---- the entry points: each a call on the engine thread ---- */

int fleet_list(service *sv, json_t **out, kerror *err)
{
    fleet_call c = {0};
    int rc = service_call(sv, do_list, &c, err);
    *out = c.out;
    return rc;
}

static const service_fn op_fns[] = {[FLEET_REGISTER] = do_register, [FLEET_HEARTBEAT] = do_heartbeat,
                                    [FLEET_LEASE] = do_lease, [FLEET_REPORT] = do_report,
                                    [FLEET_FINISH] = do_finish};

int fleet_call_start(service *sv, fleet_call *c, service_done_fn done, void *ctx, kerror *err)
{
    c->out = NULL;
    return service_call_async(sv, op_fns[c->op], c, done, ctx, err);
}

int fleet_call_run(service *sv, fleet_call *c, kerror *err)
{
    c->out = NULL;
    return service_call(sv, op_fns[c->op], c, err);
}

int fleet_lease_dir(service *sv, int64_t lease, int64_t worker, const char *key, char *dir,
                    size_t n, kerror *err)
{
    dir_call d = {.c = {.id = lease, .req = json_pack("{s:I, s:s}", "worker", (json_int_t)worker,
                                                      "key", key ? key : "")},
                  .dir = dir, .n = n};
    if (!d.c.req) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int rc = service_call(sv, do_lease_dir, &d, err);
    json_decref(d.c.req);
    return rc;
}
