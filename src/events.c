/* events: the server's live feed; see events.h. Invariant: event n lives at
 * ring[n % EVENTS_RING] until event n + EVENTS_RING replaces it, and
 * next_seq only grows, so a reader holding an id finds every later event
 * the ring still has, in order, and is told when some are gone. */
#define _GNU_SOURCE
#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kerror.h"
#include "monotime.h"

typedef struct {
    char *study;
    char *frame;
} event;

typedef struct {                /* an event whose changes are not yet committed */
    char *study;
    const char *type;           /* a literal */
    char *json;
} held_event;

struct events {
    pthread_mutex_t mu;         /* ring, next_seq, ended */
    pthread_cond_t cond;
    event ring[EVENTS_RING];
    uint64_t next_seq;
    uint64_t first_seq;         /* this run's first id: every id below is another run's */
    int ended;
    held_event *held;           /* the engine thread's */
    int n_held, cap_held;
    atomic_int listeners;
    atomic_llong listened_until_ns;   /* per-trial events made until then after the last left */
};

events *events_new(void)
{
    events *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cond, NULL);
    /* Numbered from 1 in every run, an id a client kept from before a
     * restart (Last-Event-ID) named an event of the new run as soon as it
     * had that many: the reader resumed after it and missed the new run's
     * first events. The wall clock's microseconds at the start are above
     * every id of an earlier run (which made fewer events than a
     * microsecond each), and below 2^53, exact in a browser's numbers. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    e->first_seq = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u + 1;
    e->next_seq = e->first_seq;
    return e;
}

void events_free(events *e)
{
    if (!e) return;
    events_release(e, 0);
    for (int i = 0; i < EVENTS_RING; i++) {
        free(e->ring[i].study);
        free(e->ring[i].frame);
    }
    free(e->held);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cond);
    free(e);
}

void events_put(events *e, const char *study, const char *type, char *json)
{
    pthread_mutex_lock(&e->mu);
    uint64_t seq = e->next_seq;
    event ev = {strdup(study), NULL};
    if (json && asprintf(&ev.frame, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)seq,
                         type, json) < 0)
        ev.frame = NULL;
    if (ev.study && ev.frame) {
        event *slot = &e->ring[seq % EVENTS_RING];
        free(slot->study);
        free(slot->frame);
        *slot = ev;
        e->next_seq++;
        pthread_cond_broadcast(&e->cond);
    } else {
        free(ev.study);
        free(ev.frame);
    }
    pthread_mutex_unlock(&e->mu);
    free(json);
}

void events_hold(events *e, const char *study, const char *type, char *json)
{
    if (e->n_held == e->cap_held) {
        int cap = e->cap_held ? 2 * e->cap_held : 64;
        held_event *bigger = realloc(e->held, (size_t)cap * sizeof *bigger);
        if (!bigger) {
            free(json);
            return;
        }
        e->held = bigger;
        e->cap_held = cap;
    }
    char *name = json ? strdup(study) : NULL;
    if (!name) {
        free(json);
        return;
    }
    e->held[e->n_held++] = (held_event){name, type, json};
}

void events_release(events *e, int publish)
{
    for (int i = 0; i < e->n_held; i++) {
        held_event *h = &e->held[i];
        if (publish) events_put(e, h->study, h->type, h->json);
        else free(h->json);
        free(h->study);
    }
    e->n_held = 0;
}

uint64_t events_last(events *e)
{
    pthread_mutex_lock(&e->mu);
    uint64_t last = e->next_seq - 1;
    pthread_mutex_unlock(&e->mu);
    return last;
}

int events_next(events *e, uint64_t after, const char *study, int timeout_ms, char **frame,
                uint64_t *seq)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&e->mu);
    /* An id of another run (below this run's start, or beyond its newest:
     * a clock set back since): everything held is new to that reader. */
    if (after >= e->next_seq || after + 1 < e->first_seq) after = e->first_seq - 1;
    for (;;) {
        if (e->ended) {
            rc = KE_INTERRUPTED;
            break;
        }
        uint64_t oldest = e->next_seq - e->first_seq > EVENTS_RING ? e->next_seq - EVENTS_RING
                                                                   : e->first_seq;
        if (after + 1 < oldest) {
            *seq = oldest - 1;
            rc = 2;
            break;
        }
        for (uint64_t q = after + 1; q < e->next_seq; q++) {
            const event *ev = &e->ring[q % EVENTS_RING];
            if (study && strcmp(ev->study, study) != 0) continue;
            *frame = strdup(ev->frame);
            *seq = q;
            rc = *frame ? 1 : KE_NOMEM;
            break;
        }
        if (rc) break;
        after = e->next_seq - 1;
        *seq = after;
        if (pthread_cond_timedwait(&e->cond, &e->mu, &deadline) == ETIMEDOUT) break;
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

void events_end(events *e)
{
    pthread_mutex_lock(&e->mu);
    e->ended = 1;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->mu);
}

void events_listen(events *e, int on)
{
    if (on) {
        atomic_fetch_add(&e->listeners, 1);
        return;
    }
    atomic_store(&e->listened_until_ns, monotime_ns() + (long long)(EVENTS_KEEP_S * 1e9));
    atomic_fetch_sub(&e->listeners, 1);
}

int events_wanted(events *e)
{
    return atomic_load(&e->listeners) > 0 || monotime_ns() < atomic_load(&e->listened_until_ns);
}
