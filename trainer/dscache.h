/* dscache: the decoded-dataset cache. A dataset decoded once (gunzip,
 * CSV parse) is written to <cache_dir>/kds-<hash>.bin, the hash covering the
 * source paths, their sizes and mtimes and a recipe string; later loads mmap
 * that file instead of decoding. The file keeps the dataset's names
 * (ds->names: a CSV's column names and class labels) with the numbers, so a
 * hit gives them as a decode does. dataset.c's loaders call it (it calls
 * nothing of theirs: it only reads and fills the dataset struct); the
 * trainer calls dataset_load.
 * Invariant: a cache file is complete or absent: it is written to a temp
 * file and renamed into place, and a file whose header, size, key or labels
 * do not check out is treated as a miss and replaced. Side files (below)
 * keep what later runs derive from a cached dataset. */
#ifndef KESTREL_TRAINER_DSCACHE_H
#define KESTREL_TRAINER_DSCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "../common/kerror.h"

/* paths[0..n_paths) are a dataset's source files; recipe names everything
 * else its decoding depends on (format, options). cache_dir NULL: no cache
 * (get misses, put does nothing). */

/* A hit: 0, and *ds maps the cache file (ds->mapped = 1; dataset_free
 * unmaps it). A miss (no file, or one that does not check out): -1, *ds
 * untouched. */
int dscache_get(const char *cache_dir, const char *const *paths, size_t n_paths,
                const char *recipe, dataset *ds);

/* Writes ds, decoded from those sources, to the cache and maps the file just
 * written into *mapped, so a first load behaves as later ones: 0. -1 when
 * the cache cannot be written or read back (best effort: *mapped untouched,
 * ds unchanged either way). */
int dscache_put(const char *cache_dir, const char *const *paths, size_t n_paths,
                const char *recipe, const dataset *ds, dataset *mapped);

/* Loads through the cache: a hit maps the cache file; on a miss
 * decode(ctx, ds, err) runs, the result is written to the cache and, when
 * that worked, replaced by the mapping of the file just written, so first
 * and later loads behave alike. A cache that cannot be written leaves the
 * decoded dataset in place (mapped = 0). Errors: those of decode. */
int dscache_load(const char *cache_dir, const char *const *paths, size_t n_paths,
                 const char *recipe, int (*decode)(void *ctx, dataset *ds, kerror *err),
                 void *ctx, dataset *ds, kerror *err);

/* The cache file path dscache_get and dscache_put use for these sources, into buf of size
 * n (for tests and tools). Errors: KE_INVALID (path too long). */
int dscache_path(const char *cache_dir, const char *const *paths,
                 size_t n_paths, const char *recipe, char *buf, size_t n,
                 kerror *err);

/* Side files: small results derived from a cached dataset and a recipe
 * naming everything else they depend on (a fitted scaler: its split and
 * kind), kept beside the cache file so later runs read them instead of
 * recomputing. A side file is complete or absent (written to a temp file
 * and renamed); one whose recipe, size or checksum differs is a miss.
 * Both do nothing for a dataset not mapped from the cache (cache_key 0) or
 * a NULL cache_dir; recipe is at most 255 bytes. read returns 0 and fills
 * buf[0..n) on a hit, -1 on a miss; write is best effort. */
int dscache_side_read(const char *cache_dir, const dataset *ds, const char *recipe, void *buf,
                      size_t n);
void dscache_side_write(const char *cache_dir, const dataset *ds, const char *recipe,
                        const void *buf, size_t n);

#endif
