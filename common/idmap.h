/* idmap: pointers by a nonzero int64 id (a worker's, a lease's, a remote
 * run's tag), found in constant time where a list walk cost O(n) per call
 * at thousands of entries. The map owns its arrays, not the pointers. */
#ifndef KESTREL_IDMAP_H
#define KESTREL_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t *key;               /* 0: an empty slot */
    void **val;
    size_t cap, n;
} idmap;                        /* zeroed: an empty map */

/* The pointer stored for id, or NULL. */
void *idmap_get(const idmap *m, int64_t id);
/* Stores v for id (id != 0), replacing any; KE_NOMEM when it cannot grow. */
int idmap_put(idmap *m, int64_t id, void *v);
/* Takes id out, if there. */
void idmap_del(idmap *m, int64_t id);
void idmap_free(idmap *m);

#endif
