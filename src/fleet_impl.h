/* fleet_impl: private to the fleet; only fleet.c (the registry of workers
 * and leases, and its life in the engine) and fleet_calls.c (the workers'
 * calls) include it. It defines the workers, the leases and the fleet, and
 * the registry's helpers the calls use (fl_ names, internal). fleet.c says
 * the invariants they keep. */
#ifndef KESTREL_FLEET_IMPL_H
#define KESTREL_FLEET_IMPL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "fleet.h"
#include "idmap.h"
#include "lock.h"
#include "service.h"
#include "sha256.h"

enum { FLEET_LOST = 8 };

typedef struct fl_worker {
    int64_t id;
    /* the SHA-256 of its key: only the worker knows the key, which the
     * server answers once, to its registration, and never keeps */
    unsigned char key_sha256[SHA256_BYTES];
    char name[160];             /* stored as the trial's worker */
    json_t *info;               /* as registered */
    double lease_s;             /* the lease time its registration was answered
                                 * (a kept worker's: the previous server's),
                                 * whose third it beats at until told ours */
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
     * it (fleet_lease_check, at an HTTP request's headers); the engine, its
     * only writer, reads it without. A worker's key hash is set before it
     * enters the map and never changes, and it is freed only once out. */
    pthread_mutex_t ids_mu;
    atomic_int n_workers, n_leases;     /* read by any thread (fleet_counts) */
    atomic_long n_registered;           /* every registration so far, as n_workers */
};

/* CLOCK_REALTIME seconds (the monotonic clock is monotime_s). */
double fl_wall(void);
/* Frees a lease out of the lists (fl_lease_drop frees those in them). */
void fl_lease_free(fl_lease *l);
/* w made a call now: last_seen, heard and its place in the free list. */
void fl_seen(fleet *fl, fl_worker *w);
/* Makes w, whose id is in worker_ids, one of the fleet's, seen now. */
void fl_worker_link(fleet *fl, fl_worker *w);
/* Makes l, whose id is in lease_ids, one of the fleet's and its worker's,
 * with a whole lease time from now. */
void fl_lease_link(fleet *fl, fl_lease *l);
/* Puts w in worker_ids under ids_mu (w's key hash set before); KE_OK or
 * idmap_put's error. */
int fl_ids_put(fleet *fl, fl_worker *w);
/* Takes l out of the lists, ends its row and frees it; lost: its worker
 * lost the trial, whose retry goes to another if it can. */
void fl_lease_drop(fleet *fl, fl_lease *l, const char *outcome, int lost);
/* Fails the lease's trial (retried under max_retries) and drops the lease. */
void fl_lease_lose(fleet *fl, fl_lease *l, const char *reason, const char *outcome);

#endif
