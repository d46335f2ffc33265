/* strategy: the registry of search strategies and the helpers they share
 * (a seedable generator, per-suggestion seeds, option checking); see
 * strategy.h. Invariant: every helper is a pure function of its arguments, so
 * a strategy rebuilt from (seed, options, history) repeats itself exactly. */
#include "strategy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asha.h"
#include "bo.h"
#include "grid.h"
#include "hyperband.h"
#include "random.h"
#include "sobol.h"
#include "../common/nearest.h"

static const strategy_ops *const registry[] = {
    &grid_strategy,
    &random_strategy,
    &sobol_strategy,
    &gp_strategy,
    &hyperband_strategy,
    &asha_strategy,
};

#define N_STRATEGIES (int)(sizeof registry / sizeof registry[0])

const strategy_ops *strategy_find(const char *name)
{
    for (int i = 0; i < N_STRATEGIES; i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

const char *strategy_name_at(int i)
{
    return i >= 0 && i < N_STRATEGIES ? registry[i]->name : NULL;
}

/* splitmix64 (Steele, Lea & Flood 2014; constants as in Vigna's reference). */
uint64_t strategy_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

double strategy_rng_uniform(uint64_t *state)
{
    return (double)(strategy_rng_next(state) >> 11) * 0x1.0p-53;
}

/* Two splitmix rounds: the first scrambles the seed, the second mixes in k.
 * k * (odd constant) is a bijection, so distinct k give distinct seeds. */
uint64_t strategy_seed_for(uint64_t seed, uint64_t k)
{
    uint64_t s = seed;
    uint64_t t = strategy_rng_next(&s) + k * 0xD1B54A32D192ED03ULL;
    return strategy_rng_next(&t);
}

void strategy_counts_add(strategy_counts *c, const strategy_obs *o)
{
    int fresh = o->retry_of < 0 && o->resumed_from < 0;
    c->fresh += fresh;
    c->fresh_enqueued += fresh && o->enqueued;
}

strategy_counts strategy_history_counts(const strategy_history *h)
{
    strategy_counts c = {0, 0};
    if (h && h->counts) return *h->counts;
    for (int i = 0; h && i < h->n_obs; i++) strategy_counts_add(&c, &h->obs[i]);
    return c;
}

int strategy_history_fresh(const strategy_history *h)
{
    return strategy_history_counts(h).fresh;
}

int strategy_history_retried(const strategy_history *h, unsigned char **out, kerror *err)
{
    int max_num = -1, any = 0;
    *out = NULL;
    for (int i = 0; i < h->n_obs; i++) {
        if (h->obs[i].number > max_num) max_num = h->obs[i].number;
        any |= h->obs[i].retry_of >= 0;
    }
    if (!any) return KE_OK;
    unsigned char *m = calloc((size_t)max_num + 1, 1);
    if (!m) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (int i = 0; i < h->n_obs; i++) {
        int t = h->obs[i].retry_of;
        if (t >= 0 && t <= max_num) m[t] = 1;   /* one of a trial h lacks: none */
    }
    *out = m;
    return KE_OK;
}

int strategy_option_int(const json_t *v, long long lo, long long hi, long long *out)
{
    if (json_is_integer(v)) {
        long long i = json_integer_value(v);
        if (i < lo || i > hi) return 0;
        *out = i;
        return 1;
    }
    if (!json_is_real(v)) return 0;
    /* compared as a double first: 1e300 must not reach the cast */
    double d = json_real_value(v);
    if (d != floor(d) || d < (double)lo || d > (double)hi) return 0;
    *out = (long long)d;
    return 1;
}

int strategy_options_check(const json_t *options, const char *root, const char *const *known,
                           kerror *err)
{
    if (!options) return KE_OK;
    if (!json_is_object(options)) return kerror_set(err, KE_INVALID, root, "must be an object");
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)options, key, value) {
        int k = 0;
        while (known[k] && strcmp(known[k], key) != 0) k++;
        if (!known[k]) {
            char path[KERROR_PATH_MAX];
            snprintf(path, sizeof path, "%s.%s", root, key);
            const char *near = nearest_name(key, known);
            if (near) return kerror_set(err, KE_INVALID, path, "unknown option (did you mean '%s'?)", near);
            return kerror_set(err, KE_INVALID, path, "unknown option");
        }
    }
    return KE_OK;
}
