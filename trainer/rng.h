/* rng: the trainer's one seeded pseudo-random generator (xoshiro256**,
 * seeded through splitmix64), shared by the data modules so every random
 * choice (synthetic data, splits, shuffles, augmentation) is reproducible
 * from a 64-bit seed. Invariant: a stream depends only on its seed; streams
 * for sub-tasks are derived with rng_mix, never by drawing from a shared one,
 * so the order in which threads run cannot change any result. */
#ifndef KESTREL_TRAINER_RNG_H
#define KESTREL_TRAINER_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
    double spare;    /* second Box-Muller normal, valid when has_spare */
    int has_spare;
} rng;

/* Seeds r; any seed (0 included) gives a valid, distinct stream. */
void rng_seed(rng *r, uint64_t seed);

/* Hash of (a, b) for deriving sub-stream seeds, e.g. rng_mix(seed, epoch). */
uint64_t rng_mix(uint64_t a, uint64_t b);

uint64_t rng_u64(rng *r);

/* Uniform double in [0, 1) with 53 random bits. */
double rng_uniform(rng *r);

/* Uniform integer in [0, n), unbiased (Lemire 2019); n must be >= 1. */
uint64_t rng_below(rng *r, uint64_t n);

/* Shuffles a[0..n) in place (Fisher-Yates, Knuth Alg. 3.4.2 P). */
void rng_shuffle(rng *r, size_t *a, size_t n);

/* Standard normal N(0, 1) (Box-Muller, the spare value is cached). */
double rng_normal(rng *r);

#endif
