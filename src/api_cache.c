/* api_cache: JSON bodies of study reads by (key, study stamp); see
 * api_cache.h. Direct-mapped: a key hashes to one slot, a new body replaces
 * the slot's old one. Invariant: a body's reference count counts the slot
 * that holds it plus every response still sending it; the last release
 * frees it, so replacing an entry never pulls a body from under a response. */
#include "api_cache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 128
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
} slot;

struct api_cache {
    pthread_mutex_t mu;
    slot slots[SLOTS];
    size_t bytes;   /* of the bodies in slots */
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

static slot *slot_of(api_cache *c, const char *key, const storage_stamp *stamp)
{
    uint64_t h = 1469598103934665603u ^ (uint64_t)stamp->id;   /* FNV-1a */
    for (const char *p = key; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211u;
    return &c->slots[h % SLOTS];
}

static int same_stamp(const storage_stamp *a, const storage_stamp *b)
{
    return a->id == b->id && a->created_at == b->created_at && a->version == b->version &&
           a->settled == b->settled;
}

api_body *api_cache_get(api_cache *c, const char *key, const storage_stamp *stamp)
{
    api_body *b = NULL;
    pthread_mutex_lock(&c->mu);
    slot *s = slot_of(c, key, stamp);
    if (s->body && same_stamp(&s->stamp, stamp) && !strcmp(s->key, key)) {
        b = s->body;
        __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&c->mu);
    return b;
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
    slot *s = slot_of(c, key, stamp);
    clear_slot(c, s);
    if (len <= API_CACHE_MAX_BODY && c->bytes + len <= BUDGET) {
        *s = (slot){.key = k, .stamp = *stamp, .body = b};
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
