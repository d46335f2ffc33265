/* api_cache: JSON bodies of study reads by (key, study stamp); see
 * api_cache.h. Set-associative: a key hashes to a set of WAYS slots and a
 * new body takes the slot of its key's older body, or an empty one, or the
 * set's least recently used (direct-mapped, two of a dashboard's twelve kept
 * pages of a 10,000-trial study shared a slot, and each load built both
 * again); past the byte budget, the least recently used of any set go.
 * Invariant: a body's reference count counts the slot that holds it
 * plus every response still sending it; the last release frees it, so
 * replacing an entry never pulls a body from under a response. */
#include "api_cache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 128
#define WAYS 8               /* slots of a set */
#define BUDGET (64u << 20)   /* bytes of bodies kept at most */

struct api_body {
    int refs;   /* atomic */
    size_t len;
    char *text;
};

typedef struct {
    char *key;
    storage_stamp stamp;
    api_body *body;
    uint64_t used;   /* the cache's clock at its last get or put */
} slot;

struct api_cache {
    pthread_mutex_t mu;
    slot slots[SLOTS];
    size_t bytes;   /* of the bodies in slots */
    uint64_t clock;   /* counts gets and puts */
};

api_cache *api_cache_new(void)
{
    api_cache *c = calloc(1, sizeof *c);
    if (c) pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void clear_slot(api_cache *c, slot *s)
{
    if (s->body) {
        c->bytes -= s->body->len;
        api_body_release(s->body);
    }
    free(s->key);
    memset(s, 0, sizeof *s);
}

void api_cache_free(api_cache *c)
{
    if (!c) return;
    for (int i = 0; i < SLOTS; i++) clear_slot(c, &c->slots[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* The first slot of key's set. */
static slot *set_of(api_cache *c, const char *key, const storage_stamp *stamp)
{
    uint64_t h = 1469598103934665603u ^ (uint64_t)stamp->id;   /* FNV-1a */
    for (const char *p = key; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211u;
    return &c->slots[h % (SLOTS / WAYS) * WAYS];
}

static int same_stamp(const storage_stamp *a, const storage_stamp *b)
{
    return a->id == b->id && a->created_at == b->created_at && a->version == b->version &&
           a->settled == b->settled && a->maximize == b->maximize;
}

api_body *api_cache_get(api_cache *c, const char *key, const storage_stamp *stamp)
{
    api_body *b = NULL;
    pthread_mutex_lock(&c->mu);
    slot *set = set_of(c, key, stamp);
    for (slot *s = set; s < set + WAYS && !b; s++)
        if (s->body && same_stamp(&s->stamp, stamp) && !strcmp(s->key, key)) {
            b = s->body;
            s->used = ++c->clock;
            __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
        }
    pthread_mutex_unlock(&c->mu);
    return b;
}

/* Where key's new body goes in its set: its older body's slot, else an
 * empty one, else the least recently used. */
static slot *victim(slot *set, const char *key)
{
    slot *v = set;
    for (slot *s = set; s < set + WAYS; s++) {
        if (s->body && !strcmp(s->key, key)) return s;
        if (v->body && (!s->body || s->used < v->used)) v = s;
    }
    return v;
}

/* The least recently used slot holding a body (the cache holds one). */
static slot *oldest(api_cache *c)
{
    slot *v = NULL;
    for (slot *s = c->slots; s < c->slots + SLOTS; s++)
        if (s->body && (!v || s->used < v->used)) v = s;
    return v;
}

api_body *api_cache_put(api_cache *c, const char *key, const storage_stamp *stamp, char *text,
                        size_t len)
{
    api_body *b = malloc(sizeof *b);
    char *k = strdup(key);
    if (!b || !k) {
        free(b);
        free(k);
        free(text);
        return NULL;
    }
    *b = (api_body){.refs = 1, .len = len, .text = text};
    pthread_mutex_lock(&c->mu);
    slot *s = victim(set_of(c, key, stamp), key);
    clear_slot(c, s);
    if (len <= API_CACHE_MAX_BODY) {
        /* bodies no longer asked for, in other sets, would hold the budget
         * for ever: the least recently used of any set make room */
        while (c->bytes + len > BUDGET) clear_slot(c, oldest(c));
        *s = (slot){.key = k, .stamp = *stamp, .body = b, .used = ++c->clock};
        b->refs++;
        c->bytes += len;
        k = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    free(k);
    return b;
}

const char *api_body_text(const api_body *b, size_t *len)
{
    *len = b->len;
    return b->text;
}

void api_body_release(void *p)
{
    api_body *b = p;
    if (!b || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    free(b->text);
    free(b);
}
