/* events: the server's live feed. Numbered Server-Sent-Events frames
 * ("id: N\nevent: TYPE\ndata: JSON\n\n", from events_last + 1) in a ring of the last
 * EVENTS_RING, the frames a pass of the engine holds back until its commit,
 * and whether any stream listens. Any thread, but events_hold and
 * events_release, which are the engine thread's. */
#ifndef KESTREL_EVENTS_H
#define KESTREL_EVENTS_H

#include <stdint.h>

#define EVENTS_RING 4096        /* events kept for Last-Event-ID resumes */

typedef struct events events;

/* NULL when out of memory. Its numbers start after the wall clock's
 * microseconds at the call, so those of a later run (a server restarted)
 * are above every id of this one, and a reader resuming from an old id is
 * told from one of this run (events_next). */
events *events_new(void);
void events_free(events *e);

/* Adds a frame of study's (json taken; NULL, or out of memory: dropped,
 * since events are a view and storage the record). */
void events_put(events *e, const char *study, const char *type, char *json);
/* The same, held until events_release: a reader that fetches what an event
 * announces must find it committed. type is a literal. */
void events_hold(events *e, const char *study, const char *type, char *json);
/* The held frames go to the ring (publish) or are dropped (their changes
 * were rolled back). */
void events_release(events *e, int publish);

/* The number of the latest event (the start's, one below the first, before
 * the first). */
uint64_t events_last(events *e);
/* Waits up to timeout_ms for the first event numbered above `after` (of
 * study `study` when non-NULL). Returns 1 with *frame (malloc'd, the caller
 * frees) and *seq set, 0 on timeout, KE_NOMEM, or KE_INTERRUPTED once
 * events_end was called. A reader that fell behind the ring gets 2 and no
 * frame: the events up to *seq are gone (of any study), and it may go on
 * from *seq, the oldest held less one. One whose `after` is not of this
 * run (below its start: a previous run's, or 0; beyond the newest: a run's
 * whose clock was ahead) gets them all. */
int events_next(events *e, uint64_t after, const char *study, int timeout_ms, char **frame,
                uint64_t *seq);
/* Readers waiting or to come get KE_INTERRUPTED (the server stops). */
void events_end(events *e);

/* A stream starts (on) or stops reading. */
void events_listen(events *e, int on);
/* Whether per-trial events are worth making: a stream reads, or one stopped
 * less than EVENTS_KEEP_S ago (a dashboard that reconnects with
 * Last-Event-ID finds what it missed). A reader that comes later starts
 * from the latest event; one that resumes after longer may find a gap, as
 * it does once the ring has turned over. */
#define EVENTS_KEEP_S 60.0
int events_wanted(events *e);

#endif
