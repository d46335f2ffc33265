/* vec: 4-float vectors in GCC/Clang vector extensions (one SSE register on
 * x86-64, plain C on any target) for the trainer's element-wise loops, which
 * GCC 12 leaves scalar at -O2 (its "very-cheap" vectorizer model refuses
 * loops that need a scalar tail). Loads and stores go through memcpy, so no
 * alignment is assumed; lane-wise IEEE operations give the scalar bits. Also
 * the trainer's float arrays, allocated on cache lines (vec_alloc). */
#ifndef KESTREL_VEC_H
#define KESTREL_VEC_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef float vec_f __attribute__((vector_size(16)));
typedef int vec_i __attribute__((vector_size(16)));
#define VEC_W 4

static inline vec_f vec_load(const float *p)
{
    vec_f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void vec_store(float *p, vec_f v) { memcpy(p, &v, sizeof v); }

/* Floats per cache line: arrays and their sub-arrays start on one. */
#define VEC_LINE 16

/* n rounded up to whole cache lines of floats. */
static inline size_t vec_line_up(size_t n) { return (n + VEC_LINE - 1) / VEC_LINE * VEC_LINE; }

/* n floats starting on a cache line (zeroed when zero is set), freed with
 * free(); NULL when out of memory. An AVX-512 load from a misaligned array
 * straddles two lines: the GEMM kernels ran 12% slower on malloc's 16-byte
 * alignment. */
static inline float *vec_alloc(size_t n, int zero)
{
    if (n > (size_t)-1 / sizeof(float) - VEC_LINE) return NULL;
    size_t bytes = vec_line_up(n ? n : 1) * sizeof(float);
    float *p = aligned_alloc(VEC_LINE * sizeof(float), bytes);
    if (p && zero) memset(p, 0, bytes);
    return p;
}

/* d[i] += s[i] for i < n. */
static inline void vec_add_into(float *restrict d, const float *restrict s, size_t n)
{
    size_t i = 0;
    for (; i + VEC_W <= n; i += VEC_W) vec_store(d + i, vec_load(d + i) + vec_load(s + i));
    for (; i < n; i++) d[i] += s[i];
}

#endif
