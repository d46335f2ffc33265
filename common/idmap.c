/* idmap: a map from int64 ids to pointers; see idmap.h. Open addressing
 * with linear probing, at most half full; a deletion moves back the entries
 * that probed past its slot, so no tombstones build up. */
#include "idmap.h"

#include <stdint.h>
#include <stdlib.h>

#include "kerror.h"

static size_t idmap_home(const idmap *m, int64_t id)
{
    return (size_t)((uint64_t)id * 0x9e3779b97f4a7c15ull >> 20) & (m->cap - 1);
}

static size_t idmap_slot(const idmap *m, int64_t id)
{
    size_t i = idmap_home(m, id);
    while (m->key[i] && m->key[i] != id) i = (i + 1) & (m->cap - 1);
    return i;
}

void *idmap_get(const idmap *m, int64_t id)
{
    if (!m->cap) return NULL;
    size_t i = idmap_slot(m, id);
    return m->key[i] ? m->val[i] : NULL;
}

int idmap_put(idmap *m, int64_t id, void *v)
{
    if (2 * (m->n + 1) > m->cap) {
        idmap big = {.cap = m->cap ? 2 * m->cap : 64};
        big.key = calloc(big.cap, sizeof *big.key);
        big.val = calloc(big.cap, sizeof *big.val);
        if (!big.key || !big.val) {
            free(big.key);
            free(big.val);
            return KE_NOMEM;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->key[i]) {
                size_t j = idmap_slot(&big, m->key[i]);
                big.key[j] = m->key[i];
                big.val[j] = m->val[i];
            }
        big.n = m->n;
        free(m->key);
        free(m->val);
        *m = big;
    }
    size_t i = idmap_slot(m, id);
    m->n += !m->key[i];
    m->key[i] = id;
    m->val[i] = v;
    return KE_OK;
}

/* Takes id out, moving back the entries its slot kept from their own. */
void idmap_del(idmap *m, int64_t id)
{
    if (!m->cap) return;
    size_t i = idmap_slot(m, id), mask = m->cap - 1;
    if (!m->key[i]) return;
    m->n--;
    for (size_t j = (i + 1) & mask; m->key[j]; j = (j + 1) & mask) {
        size_t want = idmap_home(m, m->key[j]);
        /* j's entry may fill the hole at i unless its home lies in (i, j] */
        if (((j - want) & mask) >= ((j - i) & mask)) {
            m->key[i] = m->key[j];
            m->val[i] = m->val[j];
            i = j;
        }
    }
    m->key[i] = 0;
    m->val[i] = NULL;
}

void idmap_free(idmap *m)
{
    free(m->key);
    free(m->val);
}
