/* pruner: the registry of pruners and the helpers they share; see pruner.h.
 * Invariant: the helpers are pure functions of their arguments. */
#include "pruner.h"

#include <stdio.h>
#include <string.h>

#include "asha_pruner.h"
#include "median.h"

static const pruner_ops *const registry[] = {
    &median_pruner,
    &asha_pruner,
};

#define N_PRUNERS (int)(sizeof registry / sizeof registry[0])

const pruner_ops *pruner_find(const char *name)
{
    for (int i = 0; i < N_PRUNERS; i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

const char *pruner_name_at(int i)
{
    return i >= 0 && i < N_PRUNERS ? registry[i]->name : NULL;
}

int pruner_option_int(const json_t *options, const char *key, int lo, int hi, int *out,
                      kerror *err)
{
    json_t *v = options ? json_object_get(options, key) : NULL;
    if (!v) return KE_OK;
    long long i;
    if (!strategy_option_int(v, lo, hi, &i)) {
        char path[KERROR_PATH_MAX];
        snprintf(path, sizeof path, PRUNER_OPTIONS ".%s", key);
        return kerror_set(err, KE_INVALID, path, "must be an integer in [%d, %d]", lo, hi);
    }
    *out = (int)i;
    return KE_OK;
}

const strategy_obs *pruner_find_obs(const strategy_history *h, int number)
{
    if (!h) return NULL;
    /* Numbers are dense unless trials foreign to the space were left out. */
    if (number >= 0 && number < h->n_obs && h->obs[number].number == number) return &h->obs[number];
    for (int i = 0; i < h->n_obs; i++)
        if (h->obs[i].number == number) return &h->obs[i];
    return NULL;
}
