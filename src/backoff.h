/* backoff: the studies `kestrel serve` took off its engine (or the one
 * `kestrel run` closed) after a storage error that a later try may not meet
 * (a full disk, an I/O error, a busy file): when each tries to resume next
 * (1 s, then doubling up to a minute, staggered so studies do not all try
 * at once), when to give up on it, and the reasons stored meanwhile.
 * `kestrel worker` spaces its lease requests so while its server answers
 * them otherwise than it should (one entry, never given up).
 * The list owns its entries; times are the caller's (seconds, monotonic). */
#ifndef KESTREL_BACKOFF_H
#define KESTREL_BACKOFF_H

#include <stddef.h>
#include <stdint.h>

#include "kerror.h"

#define BACKOFF_GIVE_UP_S 600.0     /* --storage-retry's default, in serve and run */
#define BACKOFF_MAX_S 60.0          /* at most between tries (and a stagger) */

typedef struct backoff_entry {
    char *name;                 /* the study's; owned */
    int64_t id;
    double first;               /* when its first error came */
    double due;                 /* when it tries next */
    int tries;                  /* tries to resume so far */
    int slot;                   /* its stagger */
    int given_up;               /* 1: no more tries to resume; its FAILED
                                 * (why holds the reason) waits to be stored */
    char why[KERROR_MSG_MAX];   /* the last error, or the FAILED's reason */
    struct backoff_entry *next;
} backoff_entry;

typedef struct {
    backoff_entry *head;
    int n;
    double give_up_s;           /* no try starts this long after the first error */
} backoff_list;                 /* zeroed, then give_up_s set: an empty list */

/* Adds study name after its first error (why), due for a try soon;
 * KE_NOMEM when it cannot. */
int backoff_add(backoff_list *l, const char *name, int64_t id, const char *why, double now);
/* An entry due at now, or NULL. */
backoff_entry *backoff_due(const backoff_list *l, double now);
/* After e's try failed again (why): 1 with e due later, or 0 when the next
 * try would start past give_up_s (the caller gives up and removes e). */
int backoff_again(backoff_list *l, backoff_entry *e, const char *why, double now);
/* Makes e due at its next wait from now, whatever the bound (a given-up
 * study's FAILED, which must be stored some time). */
void backoff_later(backoff_list *l, backoff_entry *e, double now);
/* Seconds from now to e's next try. */
double backoff_wait(const backoff_entry *e, double now);
/* The state_reason of a study that waits: "a storage error; resuming in
 * N s: <e->why>". */
void backoff_waiting_reason(const backoff_entry *e, double now, char *buf, size_t n);
/* Gives e up after its try failed with why (transient: a later try may not
 * have met it, so it failed for the last time under give_up_s; else no try
 * can mend it): given_up set, e->why the reason to store its FAILED with. */
void backoff_give_up(backoff_entry *e, const char *why, int transient, double now);
backoff_entry *backoff_find(const backoff_list *l, const char *name);
void backoff_remove(backoff_list *l, backoff_entry *e);
void backoff_free(backoff_list *l);

#endif
