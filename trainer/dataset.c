/* dataset: loaders (IDX, synthetic; CSV is csv.c) and the named-source entry
 * point; see dataset.h. Every loader decodes into one dataset_alloc block,
 * and the file loaders go through dscache so a cache hit skips decoding.
 * Invariant: on any failure the output dataset is left empty (zeroed). */
#include "dataset.h"
#include "csv.h"
#include "dscache.h"
#include "rng.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_IMAGES_MAGIC 0x00000803u  /* unsigned byte items, 3 dims */
#define IDX_LABELS_MAGIC 0x00000801u  /* unsigned byte items, 1 dim */
#define IDX_CHUNK (1u << 16)

void dataset_opts_init(dataset_opts *o)
{
    memset(o, 0, sizeof *o);
    o->source = "fashion-mnist";
    o->csv_task = DATASET_CLASSIFICATION;
    o->synth_n = 2000;
    o->synth_d = 16;
    o->synth_classes = 4;
    o->synth_targets = 1;
    o->synth_noise = 0.1;
    o->seed = 1;
}

int dataset_alloc(dataset *ds, dataset_task task, size_t n, size_t d,
                  size_t t, kerror *err)
{
    memset(ds, 0, sizeof *ds);
    size_t per_row = task == DATASET_CLASSIFICATION ? 1 : t;
    size_t nd, ny, total;
    if (n == 0 || d == 0 || per_row == 0)
        return kerror_set(err, KE_INVALID, NULL,
                          "dataset needs n, d and t >= 1 (n=%zu d=%zu t=%zu)",
                          n, d, per_row);
    if (__builtin_mul_overflow(n, d, &nd) || __builtin_mul_overflow(n, per_row, &ny) ||
        __builtin_add_overflow(nd, ny, &total) ||
        __builtin_mul_overflow(total, sizeof(float), &total))
        return kerror_set(err, KE_INVALID, NULL, "dataset of %zu x %zu is too large", n, d);
    /* float and int32_t share size and alignment, so labels or targets simply
     * follow the n x d features in the block. */
    _Static_assert(sizeof(float) == sizeof(int32_t), "label slot size");
    float *block = calloc(1, total);
    if (!block)
        return kerror_set(err, KE_NOMEM, NULL, "dataset: cannot allocate %zu bytes", total);
    ds->block_ = block;
    ds->n = n;
    ds->d = d;
    ds->task = task;
    ds->test_begin = n;
    ds->x = block;
    if (task == DATASET_CLASSIFICATION) {
        ds->y = (int32_t *)(block + nd);
    } else {
        ds->t = t;
        ds->targets = block + nd;
    }
    return KE_OK;
}

size_t dataset_out_dim(const dataset *ds)
{
    return ds->task == DATASET_CLASSIFICATION ? ds->n_classes : ds->t;
}

const char *dataset_feature_text(const dataset *ds, size_t j, char *out, size_t n)
{
    const dsnames *nm = &ds->names;
    size_t k = j;
    for (size_t c = 0; c < nm->n_features; c++) {
        const onehot_column *oc = onehot_find(&ds->categories, nm->features[c]);
        size_t width = oc ? oc->k : 1;
        if (k < width) {
            snprintf(out, n, "column '%s'", nm->features[c]);
            return out;
        }
        k -= width;
    }
    snprintf(out, n, "feature %zu", j + 1);
    return out;
}

void dataset_free(dataset *ds)
{
    if (!ds) return;
    if (ds->block_len_)
        munmap(ds->block_, ds->block_len_);
    else
        free(ds->block_);
    onehot_free(&ds->categories);
    dsnames_free(&ds->names);
    memset(ds, 0, sizeof *ds);
}

/* ---- IDX ---- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Opens an IDX file (gzread reads gzip and plain files alike, telling them
 * apart by the gzip magic) and reads its header: the magic, then ndim
 * big-endian u32 dimensions into dims. */
static int idx_open(const char *path, uint32_t magic, int ndim, uint32_t *dims,
                    gzFile *out, kerror *err)
{
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return kerror_set(err, KE_IO, NULL, "%s: cannot open: %s", path,
                          strerror(errno ? errno : ENOMEM));
    *out = f;
    gzbuffer(f, 1u << 17);
    unsigned char hdr[16];
    unsigned want = 4u + 4u * (unsigned)ndim;
    int got = gzread(f, hdr, want);
    if (got < 0) {
        int zerr;
        return kerror_set(err, KE_IO, NULL, "%s: read failed: %s", path, gzerror(f, &zerr));
    }
    uint32_t m = got >= 4 ? be32(hdr) : 0;
    if (m != magic)
        return kerror_set(err, KE_INVALID, NULL,
                          "%s: IDX magic is 0x%08x, expected 0x%08x (%s)", path, m, magic,
                          magic == IDX_IMAGES_MAGIC ? "idx3-ubyte images" : "idx1-ubyte labels");
    if ((unsigned)got < want)
        return kerror_set(err, KE_INVALID, NULL, "%s: too short for an IDX header", path);
    for (int i = 0; i < ndim; i++) {
        dims[i] = be32(hdr + 4 + 4 * i);
        if (dims[i] == 0)
            return kerror_set(err, KE_INVALID, NULL, "%s: IDX dimension %d is 0", path, i);
    }
    return KE_OK;
}

/* Reads exactly count data bytes of f, converting them to floats byte / 255
 * (fx) or to int32 labels (iy), then checks the file ends there. */
static int idx_read(gzFile f, const char *path, size_t count, float *fx,
                    int32_t *iy, kerror *err)
{
    unsigned char buf[IDX_CHUNK];
    size_t done = 0;
    while (done < count) {
        unsigned want = count - done < IDX_CHUNK ? (unsigned)(count - done) : IDX_CHUNK;
        int got = gzread(f, buf, want);
        if (got < 0) {
            int zerr;
            return kerror_set(err, KE_IO, NULL, "%s: read failed: %s", path, gzerror(f, &zerr));
        }
        if (got == 0)
            return kerror_set(err, KE_INVALID, NULL,
                              "%s: truncated: %zu data bytes, header promises %zu",
                              path, done, count);
        for (int i = 0; i < got; i++) {
            if (fx)
                fx[done + i] = buf[i] / 255.0f;
            else
                iy[done + i] = buf[i];
        }
        done += (size_t)got;
    }
    if (gzread(f, buf, 1) != 0)
        return kerror_set(err, KE_INVALID, NULL,
                          "%s: more data than the header's %zu bytes", path, count);
    return KE_OK;
}

typedef struct {
    const char *img[2], *lbl[2];
    int parts;   /* 1: training files only, 2: plus the test files */
} idx_ctx;

static int idx_decode(void *vctx, dataset *ds, kerror *err)
{
    idx_ctx *c = vctx;
    gzFile fi[2] = {NULL, NULL}, fl[2] = {NULL, NULL};
    uint32_t idims[2][3], ldims[2][1];
    size_t n = 0;
    int rc = KE_OK;
    for (int p = 0; p < c->parts && rc == KE_OK; p++) {
        rc = idx_open(c->img[p], IDX_IMAGES_MAGIC, 3, idims[p], &fi[p], err);
        if (rc == KE_OK)
            rc = idx_open(c->lbl[p], IDX_LABELS_MAGIC, 1, ldims[p], &fl[p], err);
        if (rc == KE_OK && ldims[p][0] != idims[p][0])
            rc = kerror_set(err, KE_INVALID, NULL, "%s has %u images but %s has %u labels",
                            c->img[p], idims[p][0], c->lbl[p], ldims[p][0]);
        if (rc == KE_OK && p > 0 && (idims[p][1] != idims[0][1] || idims[p][2] != idims[0][2]))
            rc = kerror_set(err, KE_INVALID, NULL, "%s has %ux%u images but %s has %ux%u",
                            c->img[p], idims[p][1], idims[p][2], c->img[0], idims[0][1],
                            idims[0][2]);
        if (rc == KE_OK)
            n += idims[p][0];
    }
    size_t d = rc == KE_OK ? (size_t)idims[0][1] * idims[0][2] : 0;
    if (rc == KE_OK)
        rc = dataset_alloc(ds, DATASET_CLASSIFICATION, n, d, 0, err);
    size_t row = 0;
    for (int p = 0; p < c->parts && rc == KE_OK; p++) {
        size_t np = idims[p][0];
        rc = idx_read(fi[p], c->img[p], np * d, ds->x + row * d, NULL, err);
        if (rc == KE_OK)
            rc = idx_read(fl[p], c->lbl[p], np, NULL, ds->y + row, err);
        row += np;
        if (p == 0)
            ds->test_begin = row;
    }
    for (int p = 0; p < 2; p++) {
        if (fi[p]) gzclose(fi[p]);
        if (fl[p]) gzclose(fl[p]);
    }
    if (rc != KE_OK) {
        dataset_free(ds);
        return rc;
    }
    int32_t max = 0;
    for (size_t i = 0; i < n; i++)
        if (ds->y[i] > max) max = ds->y[i];
    ds->n_classes = (size_t)max + 1;
    ds->h = idims[0][1];
    ds->w = idims[0][2];
    ds->c = 1;
    return KE_OK;
}

/* A largest label isolated above classes no row has, and this many times
 * rarer than the median class, is taken for a corrupt byte (see
 * check_labels). */
#define IDX_STRAY_RATIO 100

static int by_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* IDX classes are 0 to the largest label: one corrupt byte (a 42 among
 * 0..9) makes a 43-class model whose run succeeds, 33 outputs for classes
 * no row has. Refused when the largest label has an empty class just below
 * it and fewer than 1/IDX_STRAY_RATIO of the median class's rows. Labels
 * that start above 0 (EMNIST letters, 1..26), a class left out of a subset,
 * and a high class held by enough rows to be meant are kept. Runs on the
 * decoded data, so also on a cache's. */
static int check_labels(const dataset *ds, const char *labels, const char *test_labels,
                        kerror *err)
{
    size_t C = ds->n_classes, top = C - 1, *count = calloc(2 * C, sizeof *count);
    if (!count) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    size_t *sizes = count + C;   /* the non-empty classes' counts below top */
    for (size_t i = 0; i < ds->n; i++) count[ds->y[i]]++;
    size_t k = 0, below = top;
    for (size_t c = 0; c < top; c++)
        if (count[c]) sizes[k++] = count[c];
    while (below > 0 && !count[below - 1]) below--;
    int rc = KE_OK;
    if (k > 0 && below < top) {
        qsort(sizes, k, sizeof *sizes, by_size);
        size_t median = sizes[k / 2], first = 0, stray = count[top];
        if (stray * IDX_STRAY_RATIO < median) {
            while (ds->y[first] != (int32_t)top) first++;
            int in_test = first >= ds->test_begin;
            const char *file = in_test ? test_labels : labels;
            size_t at = in_test ? first - ds->test_begin : first;
            rc = kerror_set(err, KE_INVALID, NULL, "%s: label %zu (%zu row%s, the first at index "
                            "%zu) stands beyond labels %zu to %zu, which no row has, while the "
                            "other classes hold %zu rows (median): a corrupt label? Every label up "
                            "to the largest becomes a class (%zu here)", file, top, stray,
                            stray == 1 ? "" : "s", at, below, top - 1, median, C);
        }
    }
    free(count);
    return rc;
}

int dataset_load_idx(const char *images, const char *labels,
                     const char *test_images, const char *test_labels,
                     const char *cache_dir, dataset *ds, kerror *err)
{
    memset(ds, 0, sizeof *ds);
    if (!images || !labels || !test_images != !test_labels)
        return kerror_set(err, KE_INVALID, NULL,
                          "IDX load needs images and labels, and test images with test labels");
    idx_ctx c = {{images, test_images}, {labels, test_labels}, test_images ? 2 : 1};
    const char *paths[4] = {images, labels, test_images, test_labels};
    int rc = dscache_load(cache_dir, paths, 2 * (size_t)c.parts, "idx-ubyte v1", idx_decode, &c,
                          ds, err);
    if (!rc && (rc = check_labels(ds, labels, test_labels, err))) dataset_free(ds);
    return rc;
}

/* ---- synthetic ---- */

#define BLOB_MIN_DIST 4.0   /* between centers, in units of the blob std:
                               pairwise Bayes error <= Phi(-2) ~ 2.3% */
#define BLOB_TRIES 100
#define WAVE_TERMS 4        /* sine terms per regression target */

/* Centers (k x d) drawn N(0, spread^2), rejecting any closer than
 * BLOB_MIN_DIST to an earlier one; spread grows when a center cannot be
 * placed, so the loop ends for any k and d. */
static void blob_centers(rng *r, size_t k, size_t d, double *ctr)
{
    double spread = 3.0;
    int fails = 0;
    for (size_t a = 0; a < k;) {
        for (size_t j = 0; j < d; j++)
            ctr[a * d + j] = spread * rng_normal(r);
        int ok = 1;
        for (size_t b = 0; b < a && ok; b++) {
            double dist2 = 0;
            for (size_t j = 0; j < d; j++) {
                double u = ctr[a * d + j] - ctr[b * d + j];
                dist2 += u * u;
            }
            ok = dist2 >= BLOB_MIN_DIST * BLOB_MIN_DIST;
        }
        if (ok) {
            a++;
            fails = 0;
        } else if (++fails == BLOB_TRIES) {
            spread *= 1.1;
            fails = 0;
        }
    }
}

static int synth_blobs(const dataset_opts *o, rng *r, dataset *ds, kerror *err)
{
    size_t k = o->synth_classes, d = o->synth_d;
    double *ctr = malloc(k * d * sizeof *ctr);
    if (!ctr)
        return kerror_set(err, KE_NOMEM, NULL, "synthetic: cannot allocate centers");
    blob_centers(r, k, d, ctr);
    for (size_t i = 0; i < ds->n; i++) {
        size_t cls = i % k;   /* balanced: every prefix holds all classes */
        ds->y[i] = (int32_t)cls;
        for (size_t j = 0; j < d; j++)
            ds->x[i * d + j] = (float)(ctr[cls * d + j] + rng_normal(r));
    }
    ds->n_classes = k;
    free(ctr);
    return KE_OK;
}

/* target_k(x) = sum_m a_km sin(w_km . x + b_km) + N(0, noise^2), with
 * w_km ~ N(0, 3/d I) so w.x has unit variance for x ~ U(-1, 1)^d. */
static int synth_waves(const dataset_opts *o, rng *r, dataset *ds, kerror *err)
{
    size_t d = o->synth_d, t = o->synth_targets, stride = d + 2;
    double *coef = malloc(t * WAVE_TERMS * stride * sizeof *coef);
    if (!coef)
        return kerror_set(err, KE_NOMEM, NULL, "synthetic: cannot allocate coefficients");
    for (size_t m = 0; m < t * WAVE_TERMS; m++) {
        double *c = coef + m * stride;   /* a, b, w[0..d) */
        c[0] = rng_normal(r);
        c[1] = 2.0 * M_PI * rng_uniform(r);
        for (size_t j = 0; j < d; j++)
            c[2 + j] = sqrt(3.0 / (double)d) * rng_normal(r);
    }
    for (size_t i = 0; i < ds->n; i++) {
        float *xr = ds->x + i * d;
        for (size_t j = 0; j < d; j++)
            xr[j] = (float)(2.0 * rng_uniform(r) - 1.0);
        for (size_t k = 0; k < t; k++) {
            double v = 0;
            for (size_t m = 0; m < WAVE_TERMS; m++) {
                const double *c = coef + (k * WAVE_TERMS + m) * stride;
                double z = c[1];
                for (size_t j = 0; j < d; j++)
                    z += c[2 + j] * xr[j];
                v += c[0] * sin(z);
            }
            ds->targets[i * t + k] = (float)(v + o->synth_noise * rng_normal(r));
        }
    }
    free(coef);
    return KE_OK;
}

int dataset_synthetic(const dataset_opts *o, dataset_task task,
                      dataset *ds, kerror *err)
{
    memset(ds, 0, sizeof *ds);
    if (o->synth_n == 0 || o->synth_d == 0)
        return kerror_set(err, KE_INVALID, "synth_n", "synthetic data needs n >= 1 and d >= 1");
    if (task == DATASET_CLASSIFICATION && o->synth_classes < 2)
        return kerror_set(err, KE_INVALID, "synth_classes", "need >= 2 classes, got %zu",
                          o->synth_classes);
    if (task == DATASET_REGRESSION && (o->synth_targets == 0 || !(o->synth_noise >= 0)))
        return kerror_set(err, KE_INVALID, "synth_targets",
                          "need >= 1 target and noise >= 0");
    int rc = dataset_alloc(ds, task, o->synth_n, o->synth_d, o->synth_targets, err);
    if (rc != KE_OK) return rc;
    rng r;
    rng_seed(&r, o->seed);
    rc = task == DATASET_CLASSIFICATION ? synth_blobs(o, &r, ds, err)
                                        : synth_waves(o, &r, ds, err);
    if (rc != KE_OK) dataset_free(ds);
    return rc;
}

/* ---- named sources ---- */

/* dir/name.gz, else dir/name. */
static int idx_find(const char *dir, const char *name, char *buf, size_t n, kerror *err)
{
    struct stat st;
    int len = snprintf(buf, n, "%s/%s.gz", dir, name);
    if (len < 0 || (size_t)len >= n)
        return kerror_set(err, KE_INVALID, "data_dir", "path too long: %s/%s", dir, name);
    if (stat(buf, &st) == 0) return KE_OK;
    buf[len - 3] = '\0';
    if (stat(buf, &st) == 0) return KE_OK;
    return kerror_set(err, KE_IO, "data_dir", "%s: neither %s nor %s.gz found", dir, name, name);
}

int dataset_load(const dataset_opts *o, dataset *ds, kerror *err)
{
    memset(ds, 0, sizeof *ds);
    const char *src = o->source ? o->source : "";
    if (!strcmp(src, "fashion-mnist") || !strcmp(src, "mnist")) {
        const char *dir = o->dir;
        if (!dir && src[0] == 'm')
            return kerror_set(err, KE_INVALID, "data_dir", "source 'mnist' needs the IDX directory");
        if (!dir) dir = DATASET_FASHION_MNIST_DIR;
        static const char *const names[4] = {
            "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
        char p[4][PATH_MAX];
        for (int i = 0; i < 4; i++) {
            int rc = idx_find(dir, names[i], p[i], sizeof p[i], err);
            if (rc != KE_OK) return rc;
        }
        return dataset_load_idx(p[0], p[1], p[2], p[3], o->cache_dir, ds, err);
    }
    if (!strncmp(src, "csv:", 4))
        return csv_load(src + 4, o->label_column, o->csv_task, o->categorical, NULL, o->cache_dir,
                        ds, err);
    if (!strcmp(src, "synthetic-classification"))
        return dataset_synthetic(o, DATASET_CLASSIFICATION, ds, err);
    if (!strcmp(src, "synthetic-regression"))
        return dataset_synthetic(o, DATASET_REGRESSION, ds, err);
    return kerror_set(err, KE_INVALID, "source",
                      "unknown data source '%s' (expected fashion-mnist, mnist, csv:PATH, "
                      "synthetic-classification or synthetic-regression)", src);
}
