/* dscache: the decoded-dataset cache file; see dscache.h. File layout:
 * a DSC_HEADER-byte header (dsc_header, zero padded), then the n x d float
 * features, then n int32 labels or n x t float targets, all in host byte
 * order (the header records it), then meta_len bytes of the dataset's names
 * (dsnames_to_json's text, none for a source without names). The
 * page-sized header keeps the mapped arrays page aligned. No fsync: a file
 * cut short by a crash fails the size check and is rebuilt. Version 1 files
 * (no names: a run loading one could not store the CSV's column names and
 * class labels in its model) fail the version check and are rebuilt. */
#include "dscache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DSC_MAGIC "KSTRLDS\0"
#define DSC_VERSION 2u
#define DSC_ENDIAN 0x01020304u
#define DSC_HEADER 4096

typedef struct {
    char magic[8];
    uint32_t version, endian;
    uint64_t key;        /* hash of sources + recipe: a foreign file fails it */
    uint64_t n, d, task, n_classes, t, h, w, c, test_begin;
    uint64_t payload;    /* bytes of features and labels after the header */
    uint64_t meta_len;   /* bytes of names after the payload */
    uint64_t sum;        /* FNV-1a of all the fields above */
} dsc_header;

_Static_assert(sizeof(dsc_header) <= DSC_HEADER, "header fits its page");

/* FNV-1a 64 (Fowler, Noll, Vo). */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

/* Key of the sources: recipe, then per path its name, size, mtime and inode.
 * -1 when a source cannot be stat'ed (decode then reports why). */
static int cache_key(const char *const *paths, size_t n_paths, const char *recipe,
                     uint64_t *key)
{
    uint64_t h = fnv1a(FNV_INIT, recipe, strlen(recipe) + 1);
    for (size_t i = 0; i < n_paths; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) return -1;
        int64_t facts[5] = {st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                            (int64_t)st.st_ino, (int64_t)st.st_dev};
        h = fnv1a(h, paths[i], strlen(paths[i]) + 1);
        h = fnv1a(h, facts, sizeof facts);
    }
    *key = h;
    return 0;
}

static int cache_file(const char *dir, uint64_t key, char *buf, size_t n)
{
    int len = snprintf(buf, n, "%s/kds-%016" PRIx64 ".bin", dir, key);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

int dscache_load(const char *cache_dir, const char *const *paths, size_t n_paths,
                 const char *recipe, int (*decode)(void *ctx, dataset *ds, kerror *err),
                 void *ctx, dataset *ds, kerror *err)
{
    if (dscache_get(cache_dir, paths, n_paths, recipe, ds) == 0) return KE_OK;
    int rc = decode(ctx, ds, err);
    if (rc != KE_OK) return rc;
    dataset mapped;
    if (dscache_put(cache_dir, paths, n_paths, recipe, ds, &mapped) == 0) {
        dataset_free(ds);
        *ds = mapped;
    }
    return KE_OK;
}

int dscache_path(const char *cache_dir, const char *const *paths,
                 size_t n_paths, const char *recipe, char *buf, size_t n,
                 kerror *err)
{
    uint64_t key;
    if (cache_key(paths, n_paths, recipe, &key) != 0)
        return kerror_set(err, KE_IO, NULL, "cannot stat a source of the cache key");
    if (cache_file(cache_dir, key, buf, n) != 0)
        return kerror_set(err, KE_INVALID, "cache_dir", "cache path too long");
    return KE_OK;
}

/* Payload bytes for the header's shape; 0 when the shape is not sane. */
static uint64_t payload_len(const dsc_header *h)
{
    uint64_t per_row;
    if (h->task == DATASET_CLASSIFICATION)
        per_row = h->t == 0 && h->n_classes >= 1 ? 1 : 0;
    else if (h->task == DATASET_REGRESSION)
        per_row = h->n_classes == 0 ? h->t : 0;
    else
        return 0;
    uint64_t hwc = h->h * h->w * h->c, nd, ny, total;
    if (per_row == 0 || h->n == 0 || h->d == 0 || h->test_begin > h->n ||
        (hwc != 0 && hwc != h->d))
        return 0;
    if (__builtin_mul_overflow(h->n, h->d, &nd) || __builtin_mul_overflow(h->n, per_row, &ny) ||
        __builtin_add_overflow(nd, ny, &total) || __builtin_mul_overflow(total, 4, &total))
        return 0;
    return total;
}

/* Whether a cache file may be taken: a plain file of this user that no one
 * else may write. Its key and sum are FNV hashes anyone can compute and its
 * payload has no checksum, so in a shared folder (--db /tmp/x.db caches in
 * /tmp/kestrel-cache) another user's file could hand every trial other data;
 * such a file is a miss, and the rebuilt one replaces it. */
static int ours(const struct stat *st)
{
    return S_ISREG(st->st_mode) && st->st_uid == geteuid() && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

static int header_ok(const dsc_header *h, uint64_t key, uint64_t file_size)
{
    return !memcmp(h->magic, DSC_MAGIC, 8) && h->version == DSC_VERSION &&
           h->endian == DSC_ENDIAN && h->key == key &&
           h->sum == fnv1a(FNV_INIT, h, offsetof(dsc_header, sum)) &&
           h->payload == payload_len(h) && h->payload != 0 && h->payload <= file_size &&
           h->meta_len <= file_size &&
           file_size == DSC_HEADER + h->payload + h->meta_len;
}

/* MAP_POPULATE for a file of this size: a trial reads rows from all over
 * the file, and mapping every page in one call costs half the CPU of
 * taking a fault per 64 KB (a fault is dear on a VM). Not for a file larger
 * than a quarter of the memory: it would read it all before training. */
static int populate(uint64_t size)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 && size <= (uint64_t)pages * (uint64_t)page / 4 ? MAP_POPULATE : 0;
}

/* Maps a valid cache file into *ds; -1 (and *ds untouched) when the file is
 * missing or does not check out. Read-only and shared: every trial on the
 * machine maps the same page-cache pages, so N concurrent trials hold one
 * copy of the data (the loaders scale rows as they gather them). */
static int cache_map(const char *path, uint64_t key, dataset *ds)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    dsc_header h;
    void *base = MAP_FAILED;
    if (fstat(fd, &st) == 0 && ours(&st) && pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
        header_ok(&h, key, (uint64_t)st.st_size))
        base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED | populate((uint64_t)st.st_size),
                    fd, 0);
    close(fd);
    if (base == MAP_FAILED) return -1;
    float *x = (float *)((char *)base + DSC_HEADER);
    size_t nd = (size_t)(h.n * h.d);
    int bad = 0;
    if (h.task == DATASET_CLASSIFICATION) {
        const int32_t *y = (const int32_t *)(x + nd);
        for (size_t i = 0; i < h.n && !bad; i++)
            bad = y[i] < 0 || (uint64_t)y[i] >= h.n_classes;
    }
    dsnames names = {0};
    if (!bad && h.meta_len)
        bad = dsnames_from_json(&names, (const char *)base + DSC_HEADER + h.payload,
                                (size_t)h.meta_len, NULL) != KE_OK;
    if (bad) {
        munmap(base, (size_t)st.st_size);
        return -1;
    }
    memset(ds, 0, sizeof *ds);
    ds->names = names;
    ds->n = h.n;
    ds->d = h.d;
    ds->task = (dataset_task)h.task;
    ds->n_classes = h.n_classes;
    ds->t = h.t;
    ds->h = h.h;
    ds->w = h.w;
    ds->c = h.c;
    ds->test_begin = h.test_begin;
    ds->x = x;
    if (ds->task == DATASET_CLASSIFICATION)
        ds->y = (int32_t *)(x + nd);
    else
        ds->targets = x + nd;
    ds->mapped = 1;
    ds->cache_key = key;
    ds->block_ = base;
    ds->block_len_ = (size_t)st.st_size;
    return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* mkdir -p dir: a user cache such as ~/.cache/kestrel may lack parents. */
static int make_dirs(const char *dir)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* ds's names as text (*out, the caller frees it; NULL when it has none).
 * -1 when out of memory. */
static int names_text(const dataset *ds, char **out)
{
    *out = NULL;
    if (!ds->names.n_features) return 0;
    json_t *j = dsnames_to_json(&ds->names);
    *out = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return *out ? 0 : -1;
}

/* Writes ds to a temp file in dir and renames it to path, so readers see the
 * old file, no file, or the complete new one. -1 on any failure. */
static int cache_write(const char *dir, const char *path, uint64_t key, const dataset *ds)
{
    char tmp[PATH_MAX], *meta;
    int len = snprintf(tmp, sizeof tmp, "%s/.kds-tmp-XXXXXX", dir);
    if (len < 0 || (size_t)len >= sizeof tmp || make_dirs(dir) != 0 || names_text(ds, &meta) != 0)
        return -1;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(meta);
        return -1;
    }
    static char page[DSC_HEADER];   /* zero padding after the header */
    dsc_header h = {.version = DSC_VERSION, .endian = DSC_ENDIAN, .key = key,
                    .n = ds->n, .d = ds->d, .task = (uint64_t)ds->task,
                    .n_classes = ds->n_classes, .t = ds->t, .h = ds->h, .w = ds->w,
                    .c = ds->c, .test_begin = ds->test_begin};
    memcpy(h.magic, DSC_MAGIC, 8);
    h.payload = payload_len(&h);
    h.meta_len = meta ? strlen(meta) : 0;
    h.sum = fnv1a(FNV_INIT, &h, offsetof(dsc_header, sum));
    size_t ny = ds->n * (ds->task == DATASET_CLASSIFICATION ? 1 : ds->t);
    const void *ys = ds->task == DATASET_CLASSIFICATION ? (const void *)ds->y
                                                        : (const void *)ds->targets;
    int ok = h.payload != 0 && fchmod(fd, 0644) == 0 && write_all(fd, &h, sizeof h) == 0 &&
             write_all(fd, page, DSC_HEADER - sizeof h) == 0 &&
             write_all(fd, ds->x, ds->n * ds->d * sizeof(float)) == 0 &&
             write_all(fd, ys, ny * sizeof(float)) == 0 && write_all(fd, meta, h.meta_len) == 0;
    free(meta);
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, path) == 0) return 0;
    unlink(tmp);
    return -1;
}

/* The key and file of these sources; -1 without a cache. */
static int cache_entry(const char *cache_dir, const char *const *paths, size_t n_paths,
                       const char *recipe, uint64_t *key, char *path, size_t n)
{
    if (!cache_dir || cache_key(paths, n_paths, recipe, key) != 0) return -1;
    return cache_file(cache_dir, *key, path, n);
}

int dscache_get(const char *cache_dir, const char *const *paths, size_t n_paths,
                const char *recipe, dataset *ds)
{
    uint64_t key;
    char path[PATH_MAX];
    if (cache_entry(cache_dir, paths, n_paths, recipe, &key, path, sizeof path) != 0) return -1;
    return cache_map(path, key, ds);
}

int dscache_put(const char *cache_dir, const char *const *paths, size_t n_paths,
                const char *recipe, const dataset *ds, dataset *mapped)
{
    uint64_t key;
    char path[PATH_MAX];
    if (cache_entry(cache_dir, paths, n_paths, recipe, &key, path, sizeof path) != 0) return -1;
    if (cache_write(cache_dir, path, key, ds) != 0) return -1;
    return cache_map(path, key, mapped);
}

/* Side files: <dir>/kds-<key>-<hash of recipe>.side holding a header (the
 * recipe itself, the payload size and its FNV-1a) and the payload. */
#define SIDE_MAGIC "KSTRLSD\0"
#define SIDE_RECIPE 256

typedef struct {
    char magic[8];
    char recipe[SIDE_RECIPE];
    uint64_t n, sum;
} side_header;

static int side_file(const char *dir, uint64_t key, const char *recipe, char *buf, size_t n)
{
    uint64_t h = fnv1a(FNV_INIT, recipe, strlen(recipe));
    int len = snprintf(buf, n, "%s/kds-%016" PRIx64 "-%016" PRIx64 ".side", dir, key, h);
    return len < 0 || (size_t)len >= n || strlen(recipe) >= SIDE_RECIPE ? -1 : 0;
}

int dscache_side_read(const char *cache_dir, const dataset *ds, const char *recipe, void *buf,
                      size_t n)
{
    char path[PATH_MAX];
    if (!cache_dir || !ds->cache_key || side_file(cache_dir, ds->cache_key, recipe, path, sizeof path))
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    side_header h;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && ours(&st) && pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
             !memcmp(h.magic, SIDE_MAGIC, 8) &&
             !strncmp(h.recipe, recipe, SIDE_RECIPE) && h.n == n &&
             pread(fd, buf, n, sizeof h) == (ssize_t)n && h.sum == fnv1a(FNV_INIT, buf, n);
    close(fd);
    return ok ? 0 : -1;
}

void dscache_side_write(const char *cache_dir, const dataset *ds, const char *recipe,
                        const void *buf, size_t n)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    if (!cache_dir || !ds->cache_key || side_file(cache_dir, ds->cache_key, recipe, path, sizeof path))
        return;
    int len = snprintf(tmp, sizeof tmp, "%s/.kds-tmp-XXXXXX", cache_dir);
    if (len < 0 || (size_t)len >= sizeof tmp) return;
    int fd = mkstemp(tmp);
    if (fd < 0) return;
    side_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, SIDE_MAGIC, 8);
    snprintf(h.recipe, sizeof h.recipe, "%s", recipe);
    h.n = n;
    h.sum = fnv1a(FNV_INIT, buf, n);
    int ok = fchmod(fd, 0644) == 0 && write_all(fd, &h, sizeof h) == 0 && write_all(fd, buf, n) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) unlink(tmp);
}
