/* backoff: studies waiting to resume after a transient storage error; see
 * backoff.h. Invariant: an entry's due time only moves forward, and no try
 * to resume after the first is due past first + give_up_s (backoff_again
 * says stop); only storing a given-up study's FAILED goes on past it. */
#include "backoff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_S 1.0     /* the first try: a moment's full disk or lock is gone */
#define STAGGER_S 0.25  /* between the tries of studies that failed together */
#define SLOTS 8

/* Seconds between try k (0-based) and the one before it, or the error. */
static double delay(const backoff_entry *e, int k)
{
    double d = FIRST_S;
    for (int i = 0; i < k && d < BACKOFF_MAX_S; i++) d *= 2;
    return (d < BACKOFF_MAX_S ? d : BACKOFF_MAX_S) + STAGGER_S * e->slot;
}

int backoff_add(backoff_list *l, const char *name, int64_t id, const char *why, double now)
{
    backoff_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->name = strdup(name))) {
        free(e);
        return KE_NOMEM;
    }
    e->id = id;
    e->first = now;
    e->slot = l->n % SLOTS;
    e->due = now + delay(e, 0);
    snprintf(e->why, sizeof e->why, "%s", why);
    e->next = l->head;
    l->head = e;
    l->n++;
    return KE_OK;
}

backoff_entry *backoff_due(const backoff_list *l, double now)
{
    for (backoff_entry *e = l->head; e; e = e->next)
        if (e->due <= now) return e;
    return NULL;
}

int backoff_again(backoff_list *l, backoff_entry *e, const char *why, double now)
{
    snprintf(e->why, sizeof e->why, "%s", why);
    double deadline = e->first + l->give_up_s;
    if (now >= deadline) return 0;
    backoff_later(l, e, now);
    /* a wait that would pass the bound ends on it: the last try is at S s,
     * as --storage-retry S says ("trying for up to S seconds"), where a
     * wait of 4 s left 2 gave up after 1 s with S = 3 */
    if (e->due > deadline) e->due = deadline;
    return 1;
}

void backoff_later(backoff_list *l, backoff_entry *e, double now)
{
    (void)l;
    e->due = now + delay(e, ++e->tries);
}

double backoff_wait(const backoff_entry *e, double now)
{
    return e->due > now ? e->due - now : 0;
}

void backoff_waiting_reason(const backoff_entry *e, double now, char *buf, size_t n)
{
    snprintf(buf, n, "a storage error; resuming in %.0f s: %s", backoff_wait(e, now), e->why);
}

void backoff_give_up(backoff_entry *e, const char *why, int transient, double now)
{
    /* cut to what the entry holds: the reason as stored */
    if (transient)
        snprintf(e->why, sizeof e->why, "storage errors for %.0f s (given up): %s",
                 now - e->first, why);
    else
        snprintf(e->why, sizeof e->why, "cannot resume after a storage error: %s", why);
    e->given_up = 1;
}

backoff_entry *backoff_find(const backoff_list *l, const char *name)
{
    for (backoff_entry *e = l->head; e; e = e->next)
        if (!strcmp(e->name, name)) return e;
    return NULL;
}

void backoff_remove(backoff_list *l, backoff_entry *e)
{
    backoff_entry **p = &l->head;
    while (*p && *p != e) p = &(*p)->next;
    if (!*p) return;
    *p = e->next;
    l->n--;
    free(e->name);
    free(e);
}

void backoff_free(backoff_list *l)
{
    while (l->head) backoff_remove(l, l->head);
}
