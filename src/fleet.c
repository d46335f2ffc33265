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

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet_impl.h"
#include "idmap.h"
#include "klog.h"
#include "lock.h"
#include "monotime.h"
#include "scheduler.h"
#include "sha256.h"
#include "storage.h"

void fleet_counts(const fleet *fl, int *workers, int *leases, long *registered)
{
    *workers = fl ? atomic_load(&fl->n_workers) : 0;
    *leases = fl ? atomic_load(&fl->n_leases) : 0;
    if (registered) *registered = fl ? atomic_load(&fl->n_registered) : 0;
}

double fl_wall(void)
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

void fl_lease_free(fl_lease *l)
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
        fl_lease_free(l);
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

void fl_seen(fleet *fl, fl_worker *w)
{
    w->last_seen = fl_wall();
    w->heard = fl->walk;
    free_place(fl, w);
}

/* Makes w, whose id is in worker_ids, one of the fleet's, seen now. */
void fl_worker_link(fleet *fl, fl_worker *w)
{
    fl_seen(fl, w);
    w->next = fl->workers;
    fl->workers = w;
    atomic_fetch_add(&fl->n_workers, 1);
}

/* Makes l, whose id is in lease_ids, one of the fleet's and its worker's,
 * with a whole lease time from now. */
void fl_lease_link(fleet *fl, fl_lease *l)
{
    fl_worker *w = l->w;
    l->expires = monotime_s() + fl->lease_s;
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

/* worker_ids' writes, under ids_mu for the other threads' reads */
int fl_ids_put(fleet *fl, fl_worker *w)
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
void fl_lease_drop(fleet *fl, fl_lease *l, const char *outcome, int lost)
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
    fl_lease_free(l);
}

/* Fails the lease's trial (retried under max_retries) and ends the lease. */
void fl_lease_lose(fleet *fl, fl_lease *l, const char *reason, const char *outcome)
{
    scheduler *s = service_study(fl->sv, l->study);
    kerror err;
    /* KE_CONFLICT: the trial ended another way (its study stopped, maybe
     * to resume with a scheduler of its own): the worker lost nothing */
    int rc = s ? scheduler_remote_lost(s, l->id, reason, &err) : KE_CONFLICT;
    if (rc != KE_OK && rc != KE_CONFLICT)
        klog(stderr, "study %s: trial %d: %s", l->study, l->number, err.msg);
    fl_lease_drop(fl, l, outcome, rc != KE_CONFLICT);
}

/* Frees w, already out of fl->workers, and its leases; a call naming it
 * is then answered "register again". */
static void worker_forget(fleet *fl, fl_worker *w)
{
    for (fl_lease *l = w->leases, *next; l; l = next) {
        next = l->wnext;
        lease_unlink(fl, l);
        fl_lease_free(l);
    }
    free_unlink(fl, w);
    ids_del(fl, w);
    atomic_fetch_sub(&fl->n_workers, 1);
    worker_free(w);
}

/* The last worker forgotten (last: its name): a study with trials to start
 * and none running waits for a worker, and nothing else would tell: it
 * stays RUNNING with nothing running (every worker of a batch job gone on
 * --idle-exit, say). Logged once, at the forget; a worker that registers
 * resumes it. */
static void say_none_left(fleet *fl, const char *last)
{
    const char *name;
    scheduler *s;
    for (int i = 0; (s = service_study_at(fl->sv, i, &name)); i++) {
        if (scheduler_startable(s) <= 0) continue;
        scheduler_status ss;
        scheduler_get_status(s, &ss);
        if (ss.n_running > 0) continue;
        klog(stderr, "study %s: %d trials, none running, and no worker left (the last, %s, was "
             "forgotten): its trials wait for a worker (kestrel worker --server URL)", name,
             ss.n_trials, last);
    }
}

/* One walk of the workers: those without a lease that made no call in the
 * last FLEET_FORGET_WALKS walks are forgotten (their rows stay). A walk of
 * every worker a lease's length apart, not at every pass. */
static void forget_silent(fleet *fl, double now)
{
    if (now < fl->next_walk) return;
    fl->next_walk = now + fl->lease_s;
    fl->walk++;
    char last[sizeof fl->workers->name] = "";
    for (fl_worker **p = &fl->workers, *w; (w = *p);) {
        if (w->leases || w->pass == fl->pass || fl->walk - w->heard <= FLEET_FORGET_WALKS) {
            p = &w->next;
            continue;
        }
        klog(stderr, "worker %lld forgotten: %s made no call in %d leases' time", (long long)w->id,
             w->name, FLEET_FORGET_WALKS);
        snprintf(last, sizeof last, "%s", w->name);
        *p = w->next;
        worker_forget(fl, w);
    }
    if (*last && !fl->workers) say_none_left(fl, last);
}

/* How long the engine may go unscheduled before fleet_tick takes the gap
 * off every lease: a coordinator that was itself frozen (SIGSTOP, a VM
 * paused, a disk stall) could not hear its workers, so their silence then
 * is no sign that they died. */
#define FLEET_STALL_S 1.0

void fleet_tick(fleet *fl)
{
    double now = monotime_s();
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
            /* a kept lease lasted its worker's lease time when longer */
            double lasted = l->restored && l->w->lease_s > fl->lease_s ? l->w->lease_s : fl->lease_s;
            snprintf(reason, sizeof reason, "lease expired: worker %s (id %lld) was not heard from "
                     "for %g s%s", l->w->name, (long long)l->w->id, lasted,
                     l->restored ? " since the server restarted" : "");
            fl_lease_lose(fl, l, reason, "expired");
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
        fl_lease_free(l);
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
    if (fl_ids_put(fl, w) != KE_OK) {
        json_decref(info);
        free(w);
        return NULL;
    }
    /* the lease time the worker was answered (a row written by an older
     * server has none: ours), kept out of the registry */
    w->lease_s = json_number_value(json_object_get(info, "lease_seconds"));
    if (!(w->lease_s > 0)) w->lease_s = fl->lease_s;
    json_object_del(info, "lease_seconds");
    w->info = info;
    w->slots = (int)slots;
    snprintf(w->name, sizeof w->name, "%s", k->worker);
    fl_worker_link(fl, w);
    return w;
}

/* Takes back the leases a stopped or killed server left open whose trials
 * still run (storage_lease_kept), with their workers: a worker that calls
 * again goes on as if the server had never stopped. Each gets a whole
 * lease time from now (the longer of ours and the one its worker was
 * answered at registration), so the trial of a worker that is gone too
 * still fails (expired) and is retried. pass 0: they are committed rows. */
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
            if (l) fl_lease_free(l);
            klog(stderr, "lease %lld of worker %s: cannot keep it (out of memory, or the "
                 "worker's row is unusable)", (long long)kept[i].id, kept[i].worker);
            continue;
        }
        l->id = kept[i].id;
        l->w = w;
        l->number = kept[i].number;
        l->restored = 1;
        fl_lease_link(fl, l);
        /* a worker registered with longer leases beats at a third of
         * them until its first heartbeat here tells it ours: its lease
         * lasts until that beat is due */
        if (w->lease_s > fl->lease_s) l->expires += w->lease_s - fl->lease_s;
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
