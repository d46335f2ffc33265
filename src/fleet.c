/* fleet: workers and their leases; see fleet.h. Invariant: a lease is in
 * fl->leases iff its trial is a remote run of an active study's scheduler
 * tagged with the lease id, or that study has since stopped (then no
 * scheduler of the study, a resumed one included, knows the tag, and the
 * next call on the lease drops it), and in its worker's w->leases alike;
 * every lease that leaves the lists has its row ended (again, after a
 * failed pass rolled that back). A worker or lease stays only once the
 * pass that stored it committed (fleet_pass_end). A worker is in
 * fl->free_first's list iff it has a free slot, ordered by last_seen. */
#define _GNU_SOURCE
#include "fleet.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "field.h"
#include "fleet_req.h"
#include "idmap.h"
#include "klog.h"
#include "lock.h"
#include "runner.h"
#include "sched_trial.h"
#include "scheduler.h"
#include "sha256.h"
#include "storage.h"
#include "trial.h"

enum { FLEET_LOST = 8 };

typedef struct fl_worker {
    int64_t id;
    /* the SHA-256 of its key: only the worker knows the key, which the
     * server answers once, to its registration, and never keeps */
    unsigned char key_sha256[SHA256_BYTES];
    char name[160];             /* stored as the trial's worker */
    json_t *info;               /* as registered */
    double last_seen;           /* CLOCK_REALTIME seconds */
    int running, slots;
    /* the last trials it lost (lease expired, given up): their retries go
     * to another worker when one is free; a ring, oldest overwritten */
    struct {
        char *study;
        int number;
    } lost[FLEET_LOST];
    int n_lost;
    struct fl_lease *leases;    /* its own, newest first: a heartbeat or a
                                 * listing walks a worker's, not the fleet's */
    struct fl_worker *fnext, *fprev;    /* in fl->free_first while running < slots */
    int in_free;
    unsigned long pass;         /* the engine pass that registered it */
    unsigned long heard;        /* fl->walk at its last call */
    struct fl_worker *next;
} fl_worker;

typedef struct fl_lease {
    int64_t id;
    fl_worker *w;
    char *study;
    int number;
    double expires;             /* CLOCK_MONOTONIC seconds */
    int unlisted;               /* heartbeats in a row that did not name it */
    int restored;               /* kept from the server before this one, its
                                 * worker not heard from since */
    int offered;                /* handed to its study's scheduler (fleet_kept) */
    unsigned long pass;         /* the engine pass that began it */
    struct fl_lease *next, *prev;
    struct fl_lease *wnext, *wprev;     /* in w->leases */
} fl_lease;

struct fleet {
    service *sv;
    double lease_s;
    double last_tick;           /* CLOCK_MONOTONIC seconds */
    double first_expiry;        /* no lease expires before it: the engine's
                                 * loop walks the leases only past it (a walk
                                 * of a thousand at every pass was 6% of it) */
    int64_t last_lease;
    lock_handle coord;          /* LOCK_COORDINATOR, unless passive */
    int passive;                /* another server coordinates: no workers here */
    /* The engine pass under way: a worker or lease whose pass it is has no
     * committed row yet. A number, not a mark to clear, so that a pass's end
     * walks nothing unless its commit failed (a walk of every lease and
     * worker at every pass was a tenth of the engine with a thousand). */
    unsigned long pass;
    int n_uncommitted;          /* workers and leases of the pass under way */
    /* leases dropped in the pass under way, and those whose end a failed
     * pass rolled back, to be stored again: ids */
    struct {
        int64_t *id;
        int n, cap;
    } ended, to_end;
    /* Workers that stopped calling (a job that ended, a machine gone) are
     * forgotten after FLEET_FORGET_WALKS walks, one a lease's length apart,
     * without a call from them: counted in walks of a running engine, not
     * in seconds, so a server that was stopped or starved forgets no one
     * for the gap. One that calls again is told to register again. */
    double next_walk;           /* CLOCK_MONOTONIC seconds */
    unsigned long walk;
    unsigned rr;                /* which study a lease asks first */
    fl_worker *workers;
    /* the workers with a free slot, the last heard from first: whether
     * another worker is free is a look at its first two (a walk of every
     * worker at each lease of one that lost trials was quadratic) */
    fl_worker *free_first;
    fl_lease *leases;
    idmap worker_ids, lease_ids;    /* every call names one: a walk of thousands
                                     * was a tenth of the engine's time */
    /* worker_ids is written under ids_mu, which other threads take to read
     * it (fleet_worker_check, at an HTTP request's headers); the engine, its
     * only writer, reads it without. A worker's key hash is set before it
     * enters the map and never changes, and it is freed only once out. */
    pthread_mutex_t ids_mu;
    atomic_int n_workers, n_leases;     /* read by any thread (fleet_counts) */
    atomic_long n_registered;           /* every registration so far, as n_workers */
};

void fleet_counts(const fleet *fl, int *workers, int *leases, long *registered)
{
    *workers = fl ? atomic_load(&fl->n_workers) : 0;
    *leases = fl ? atomic_load(&fl->n_leases) : 0;
    if (registered) *registered = fl ? atomic_load(&fl->n_registered) : 0;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int restore(fleet *fl, kerror *err);

int fleet_open(fleet **out, service *sv, const char *db_path, double lease_seconds, kerror *err)
{
    fleet *fl = calloc(1, sizeof *fl);
    if (!fl) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    fl->sv = sv;
    fl->lease_s = lease_seconds > 0 ? lease_seconds : FLEET_LEASE_DEFAULT;
    fl->first_expiry = INFINITY;
    fl->pass = 1;               /* 0: the leases and workers kept at the start */
    fl->coord.fd = -1;
    pthread_mutex_init(&fl->ids_mu, NULL);
    int rc = lock_study(&fl->coord, db_path, LOCK_COORDINATOR, err);
    if (rc == KE_BUSY) {
        kerror_clear(err);
        rc = KE_OK;
        fl->passive = 1;
        klog(stderr, "another kestrel serve coordinates the workers of %s: this one takes none "
             "(it runs its own studies' trials as usual)", db_path);
    }
    /* leases still open were a stopped or killed server's (no live one
     * holds the lock): those whose trials still run are kept, the rest
     * (their trials ended or reclaimed meanwhile) are over */
    int ended = 0;
    if (rc == KE_OK && !fl->passive)
        rc = storage_lease_last(service_storage(sv), &fl->last_lease, err);
    if (rc == KE_OK && !fl->passive)
        rc = storage_lease_end_unkept(service_storage(sv), "server restarted", &ended, err);
    if (rc == KE_OK && ended) klog(stderr, "ended %d leases of the previous server", ended);
    if (rc == KE_OK && !fl->passive) rc = restore(fl, err);
    if (rc != KE_OK) {
        fleet_close(fl);
        return rc;
    }
    *out = fl;
    return KE_OK;
}

static void lease_free(fl_lease *l)
{
    free(l->study);
    free(l);
}

static void worker_free(fl_worker *w)
{
    for (int i = 0; i < FLEET_LOST; i++) free(w->lost[i].study);
    json_decref(w->info);
    free(w);
}

void fleet_close(fleet *fl)
{
    if (!fl) return;
    while (fl->leases) {
        fl_lease *l = fl->leases;
        fl->leases = l->next;
        lease_free(l);
    }
    idmap_free(&fl->lease_ids);
    idmap_free(&fl->worker_ids);
    free(fl->ended.id);
    free(fl->to_end.id);
    while (fl->workers) {
        fl_worker *w = fl->workers;
        fl->workers = w->next;
        worker_free(w);
    }
    lock_release(&fl->coord);
    pthread_mutex_destroy(&fl->ids_mu);
    free(fl);
}

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

static void free_unlink(fleet *fl, fl_worker *w)
{
    if (!w->in_free) return;
    if (w->fprev) w->fprev->fnext = w->fnext;
    else fl->free_first = w->fnext;
    if (w->fnext) w->fnext->fprev = w->fprev;
    w->fnext = w->fprev = NULL;
    w->in_free = 0;
}

/* Puts w in its place in the free list after its slots or last_seen
 * changed: out when it is full, else by last_seen (a worker just heard from
 * goes first at once; one whose lease expired walks past the fresher ones). */
static void free_place(fleet *fl, fl_worker *w)
{
    free_unlink(fl, w);
    if (w->running >= w->slots) return;
    fl_worker *prev = NULL, *next = fl->free_first;
    while (next && next->last_seen > w->last_seen) {
        prev = next;
        next = next->fnext;
    }
    w->fprev = prev;
    w->fnext = next;
    if (prev) prev->fnext = w;
    else fl->free_first = w;
    if (next) next->fprev = w;
    w->in_free = 1;
}

static void seen(fleet *fl, fl_worker *w)
{
    w->last_seen = wall();
    w->heard = fl->walk;
    free_place(fl, w);
}

/* Makes w, whose id is in worker_ids, one of the fleet's, seen now. */
static void worker_link(fleet *fl, fl_worker *w)
{
    seen(fl, w);
    w->next = fl->workers;
    fl->workers = w;
    atomic_fetch_add(&fl->n_workers, 1);
}

/* Makes l, whose id is in lease_ids, one of the fleet's and its worker's,
 * with a whole lease time from now. */
static void lease_link(fleet *fl, fl_lease *l)
{
    fl_worker *w = l->w;
    l->expires = mono() + fl->lease_s;
    if (l->expires < fl->first_expiry) fl->first_expiry = l->expires;
    l->next = fl->leases;
    if (l->next) l->next->prev = l;
    fl->leases = l;
    l->wnext = w->leases;
    if (l->wnext) l->wnext->wprev = l;
    w->leases = l;
    w->running++;
    free_place(fl, w);
    atomic_fetch_add(&fl->n_leases, 1);
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
    seen(fl, w);
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

/* worker_ids' writes, under ids_mu for the other threads' reads */
static int ids_put(fleet *fl, fl_worker *w)
{
    pthread_mutex_lock(&fl->ids_mu);
    int rc = idmap_put(&fl->worker_ids, w->id, w);
    pthread_mutex_unlock(&fl->ids_mu);
    return rc;
}

static void ids_del(fleet *fl, const fl_worker *w)
{
    pthread_mutex_lock(&fl->ids_mu);
    if (idmap_get(&fl->worker_ids, w->id) == w) idmap_del(&fl->worker_ids, w->id);
    pthread_mutex_unlock(&fl->ids_mu);
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
    char *info = w->info ? json_dumps(w->info, JSON_COMPACT) : NULL;
    char key[33];
    int rc = info ? random_key(key, w->key_sha256, err)
                  : kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (rc == KE_OK)
        rc = storage_worker_add(service_storage(sv), w->name, info, w->key_sha256, &w->id, err);
    if (rc == KE_OK && ids_put(fl, w) != KE_OK)
        rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    free(info);
    if (rc != KE_OK) {
        json_decref(w->info);
        free(w);
        return rc;
    }
    w->slots = (int)r.slots;
    w->pass = fl->pass;
    fl->n_uncommitted++;
    worker_link(fl, w);
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

/* Takes l out of the lists. */
static void lease_unlink(fleet *fl, fl_lease *l)
{
    if (l->prev) l->prev->next = l->next;
    else fl->leases = l->next;
    if (l->next) l->next->prev = l->prev;
    if (l->wprev) l->wprev->wnext = l->wnext;
    else l->w->leases = l->wnext;
    if (l->wnext) l->wnext->wprev = l->wprev;
    idmap_del(&fl->lease_ids, l->id);
    l->w->running--;
    free_place(fl, l->w);
    atomic_fetch_sub(&fl->n_leases, 1);
}

/* Appends id to one of the fleet's lists of lease ids; 0, or -1 when out
 * of memory. */
static int ids_add(int64_t **ids, int *n, int *cap, int64_t id)
{
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 16;
        int64_t *grown = realloc(*ids, (size_t)c * sizeof *grown);
        if (!grown) return -1;
        *ids = grown;
        *cap = c;
    }
    (*ids)[(*n)++] = id;
    return 0;
}

/* Takes l out of the lists and ends its row (a failure to store that is
 * logged: the trial's own outcome is what matters and is stored apart);
 * lost: its worker lost the trial, whose retry goes to another if it can. */
static void lease_drop(fleet *fl, fl_lease *l, const char *outcome, int lost)
{
    lease_unlink(fl, l);
    if (ids_add(&fl->ended.id, &fl->ended.n, &fl->ended.cap, l->id) < 0)
        klog(stderr, "lease %lld: out of memory: a failed commit would leave its row open",
             (long long)l->id);
    if (lost) {
        fl_worker *w = l->w;
        int i = w->n_lost++ % FLEET_LOST;
        free(w->lost[i].study);
        w->lost[i].study = l->study;    /* moved: the lease frees no more */
        w->lost[i].number = l->number;
        l->study = NULL;
    }
    kerror err;
    if (storage_lease_end(service_storage(fl->sv), l->id, outcome, &err) != KE_OK)
        klog(stderr, "lease %lld: cannot record its end: %s", (long long)l->id, err.msg);
    lease_free(l);
}

/* Fails the lease's trial (retried under max_retries) and ends the lease. */
static void lease_lose(fleet *fl, fl_lease *l, const char *reason, const char *outcome)
{
    scheduler *s = service_study(fl->sv, l->study);
    kerror err;
    /* KE_CONFLICT: the trial ended another way (its study stopped, maybe
     * to resume with a scheduler of its own): the worker lost nothing */
    int rc = s ? scheduler_remote_lost(s, l->id, reason, &err) : KE_CONFLICT;
    if (rc != KE_OK && rc != KE_CONFLICT)
        klog(stderr, "study %s: trial %d: %s", l->study, l->number, err.msg);
    lease_drop(fl, l, outcome, rc != KE_CONFLICT);
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
 * that leaves it out: the first may have been sent before the answer came. */
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
                lease_lose(fl, l, reason, "not received");
            }
            continue;
        }
        l->unlisted = 0;
        l->restored = 0;
        l->expires = mono() + fl->lease_s;
        scheduler *s = service_study(sv, l->study);
        if (!s || scheduler_remote_stop_asked(s, l->id))
            json_array_append_new(stop, json_integer(l->id));
    }
    c->out = stop ? json_pack("{s:o}", "stop", stop) : NULL;
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
    return o && wall() - o->last_seen < fl->lease_s;
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
        if (l) lease_free(l);
        /* the trial is the scheduler's remote run: losing it now runs it again */
        char reason[720];
        kerror lerr;
        snprintf(reason, sizeof reason, TRIAL_INTERRUPTED "its lease to worker %s failed: %.500s",
                 w->name, err->msg);
        if (scheduler_remote_lost(s, rem.tag, reason, &lerr) != KE_OK)
            klog(stderr, "study %s: trial %d: %s", name, number, lerr.msg);
        return rc;
    }
    lease_link(fl, l);
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
    seen(fl, w);
    *s = service_study(fl->sv, l->study);
    /* a study resumed since it stopped runs a scheduler that never had it */
    if (!*s || !scheduler_remote_runs(*s, l->id)) {
        lease_drop(fl, l, "dropped", 0);
        kerror_set(err, KE_CONFLICT, NULL, "lease %lld: its study stopped", (long long)c->id);
        return NULL;
    }
    l->restored = 0;
    l->expires = mono() + fl->lease_s;
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
    lease_drop(fl, l, released ? "released" : "finished", released != NULL);
    c->out = json_pack("{s:b}", "ok", 1);
    return c->out ? KE_OK : kerror_set(err, KE_NOMEM, NULL, "out of memory");
}

/* Frees w, already out of fl->workers, and its leases; a call naming it
 * is then answered "register again". */
static void worker_forget(fleet *fl, fl_worker *w)
{
    for (fl_lease *l = w->leases, *next; l; l = next) {
        next = l->wnext;
        lease_unlink(fl, l);
        lease_free(l);
    }
    free_unlink(fl, w);
    ids_del(fl, w);
    atomic_fetch_sub(&fl->n_workers, 1);
    worker_free(w);
}

/* One walk of the workers: those without a lease that made no call in the
 * last FLEET_FORGET_WALKS walks are forgotten (their rows stay). A walk of
 * every worker a lease's length apart, not at every pass. */
static void forget_silent(fleet *fl, double now)
{
    if (now < fl->next_walk) return;
    fl->next_walk = now + fl->lease_s;
    fl->walk++;
    for (fl_worker **p = &fl->workers, *w; (w = *p);) {
        if (w->leases || w->pass == fl->pass || fl->walk - w->heard <= FLEET_FORGET_WALKS) {
            p = &w->next;
            continue;
        }
        klog(stderr, "worker %lld forgotten: %s made no call in %d leases' time", (long long)w->id,
             w->name, FLEET_FORGET_WALKS);
        *p = w->next;
        worker_forget(fl, w);
    }
}

/* How long the engine may go unscheduled before fleet_tick takes the gap
 * off every lease: a coordinator that was itself frozen (SIGSTOP, a VM
 * paused, a disk stall) could not hear its workers, so their silence then
 * is no sign that they died. */
#define FLEET_STALL_S 1.0

void fleet_tick(fleet *fl)
{
    double now = mono();
    double gap = fl->last_tick > 0 ? now - fl->last_tick : 0;
    fl->last_tick = now;
    if (gap > FLEET_STALL_S)
        for (fl_lease *l = fl->leases; l; l = l->next) l->expires += gap;
    forget_silent(fl, now);
    /* expiries only move later (heartbeats, the gap above), so the bound
     * stays true until a walk sets it again */
    if (now <= fl->first_expiry) return;
    fl->first_expiry = INFINITY;
    fl_lease *l = fl->leases;
    while (l) {
        fl_lease *next = l->next;
        if (now > l->expires) {
            char reason[400];
            snprintf(reason, sizeof reason, "lease expired: worker %s (id %lld) was not heard from "
                     "for %g s%s", l->w->name, (long long)l->w->id, fl->lease_s,
                     l->restored ? " since the server restarted" : "");
            lease_lose(fl, l, reason, "expired");
        } else if (l->expires < fl->first_expiry) {
            fl->first_expiry = l->expires;
        }
        l = next;
    }
}

/* Stores again, as dropped, the ends of leases that failed passes rolled
 * back (each on its own now; one that fails again waits for the end of the
 * next pass that holds requests, so a full disk sees no tries of its own;
 * an end stored meanwhile is kept, as a row's end is stored once). */
static void end_again(fleet *fl)
{
    for (int i = 0; i < fl->to_end.n;) {
        kerror err;
        if (storage_lease_end(service_storage(fl->sv), fl->to_end.id[i], "dropped", &err) == KE_OK)
            fl->to_end.id[i] = fl->to_end.id[--fl->to_end.n];
        else
            i++;
    }
}

void fleet_pass_end(fleet *fl, int committed)
{
    for (int i = 0; !committed && i < fl->ended.n; i++)
        if (ids_add(&fl->to_end.id, &fl->to_end.n, &fl->to_end.cap, fl->ended.id[i]) < 0)
            klog(stderr, "lease %lld: out of memory: its row stays open until the server "
                 "restarts", (long long)fl->ended.id[i]);
    fl->ended.n = 0;
    end_again(fl);
    unsigned long pass = fl->pass++;
    int stored = committed || !fl->n_uncommitted;
    fl->n_uncommitted = 0;
    if (stored) return;
    for (fl_lease *l = fl->leases, *next; l; l = next) {
        next = l->next;
        if (l->pass != pass) continue;
        /* its row is gone; its trial's, and its study's scheduler, too */
        lease_unlink(fl, l);
        lease_free(l);
    }
    for (fl_worker **p = &fl->workers, *w; (w = *p);) {
        if (w->pass != pass) {
            p = &w->next;
            continue;
        }
        /* its row is gone: it registers again, maybe under the same id */
        *p = w->next;
        worker_forget(fl, w);
    }
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
    snprintf(d->dir, d->n, "%s/%s/%d", service_work_dir(sv), l->study, l->number);
    return KE_OK;
}

/* The worker of a kept lease: one kept already, else made from its row
 * (known by its key's hash; its slots as it registered them). NULL when out
 * of memory or the row is unusable (then its lease is not kept). */
static fl_worker *restore_worker(fleet *fl, const storage_lease *k)
{
    fl_worker *w = idmap_get(&fl->worker_ids, k->worker_id);
    if (w) return w;
    json_t *info = json_loads(k->info, 0, NULL);
    json_int_t slots = json_integer_value(json_object_get(info, "slots"));
    unsigned char digest[SHA256_BYTES];
    if (!info || slots < 1 || sha256_from_hex(k->key_sha256, digest) != 0 ||
        !(w = calloc(1, sizeof *w))) {
        json_decref(info);
        return NULL;
    }
    w->id = k->worker_id;
    memcpy(w->key_sha256, digest, sizeof digest);   /* before the map: see ids_mu */
    if (ids_put(fl, w) != KE_OK) {
        json_decref(info);
        free(w);
        return NULL;
    }
    w->info = info;
    w->slots = (int)slots;
    snprintf(w->name, sizeof w->name, "%s", k->worker);
    worker_link(fl, w);
    return w;
}

/* Takes back the leases a stopped or killed server left open whose trials
 * still run (storage_lease_kept), with their workers: a worker that calls
 * again goes on as if the server had never stopped. Each gets a whole
 * lease time from now, so the trial of a worker that is gone too still
 * fails (expired) and is retried. pass 0: they are committed rows. */
static int restore(fleet *fl, kerror *err)
{
    storage_lease *kept;
    int n, n_kept = 0;
    int rc = storage_lease_kept(service_storage(fl->sv), &kept, &n, err);
    for (int i = 0; rc == KE_OK && i < n; i++) {
        fl_worker *w = restore_worker(fl, &kept[i]);
        fl_lease *l = w ? calloc(1, sizeof *l) : NULL;
        if (!l || !(l->study = strdup(kept[i].study)) || idmap_put(&fl->lease_ids, kept[i].id, l)) {
            /* not kept: its trial is reclaimed as its study resumes */
            if (l) lease_free(l);
            klog(stderr, "lease %lld of worker %s: cannot keep it (out of memory, or the "
                 "worker's row is unusable)", (long long)kept[i].id, kept[i].worker);
            continue;
        }
        l->id = kept[i].id;
        l->w = w;
        l->number = kept[i].number;
        l->restored = 1;
        lease_link(fl, l);
        n_kept++;
    }
    storage_leases_free(kept, n);
    if (n_kept) klog(stderr, "kept %d leases of the previous server: their workers run them on",
                     n_kept);
    return rc;
}

int fleet_kept(fleet *fl, const char *study, scheduler_kept **out, int *n)
{
    *out = NULL;
    *n = 0;
    int cap = 0;
    for (fl_lease *l = fl->leases; l; l = l->next) {
        if (!l->restored || l->offered || strcmp(l->study, study)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            scheduler_kept *bigger = realloc(*out, (size_t)cap * sizeof *bigger);
            if (!bigger) return KE_NOMEM;
            *out = bigger;
        }
        (*out)[(*n)++] = (scheduler_kept){.tag = l->id, .number = l->number};
        l->offered = 1;
    }
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
