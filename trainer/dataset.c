/* dataset: loaders (IDX, CSV, synthetic) and the named-source entry point;
 * see dataset.h. Every loader decodes into one dataset_alloc block, and the
 * file loaders go through dscache so a cache hit skips decoding entirely.
 * Invariant: on any failure the output dataset is left empty (zeroed). */
#include "dataset.h"
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

void dataset_free(dataset *ds)
{
    if (!ds) return;
    if (ds->block_len_)
        munmap(ds->block_, ds->block_len_);
    else
        free(ds->block_);
    memset(ds, 0, sizeof *ds);
}

/* Loads through the cache (dscache.h): a hit maps the cache file; on a miss
 * decode(ctx, ds, err) runs, the result is written to the cache and, when
 * that worked, replaced by the mapping of the file just written, so first
 * and later loads behave alike. A cache that cannot be written leaves the
 * decoded dataset in place (mapped = 0). Errors: those of decode. */
static int load_cached(const char *cache_dir, const char *const *paths, size_t n_paths,
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
    return load_cached(cache_dir, paths, 2 * (size_t)c.parts, "idx-ubyte v1", idx_decode, &c,
                       ds, err);
}

/* ---- CSV ---- */

static int read_whole(const char *path, char **out, kerror *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return kerror_set(err, KE_IO, NULL, "%s: cannot open: %s", path, strerror(errno));
    int rc = KE_OK;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = kerror_set(err, KE_IO, NULL, "%s: cannot size: %s", path, strerror(errno));
    } else if (!(*out = malloc((size_t)len + 1))) {
        rc = kerror_set(err, KE_NOMEM, NULL, "%s: cannot allocate %ld bytes", path, len);
    } else if (fread(*out, 1, (size_t)len, f) != (size_t)len) {
        rc = kerror_set(err, KE_IO, NULL, "%s: read failed", path);
    } else {
        (*out)[len] = '\0';
    }
    fclose(f);
    if (rc != KE_OK) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* Cuts the next line off *cur (NUL-terminated, without "\r\n"); NULL at the
 * end of the text. */
static char *next_line(char **cur)
{
    char *s = *cur;
    if (!*s) return NULL;
    char *e = strchr(s, '\n');
    if (e) {
        *e = '\0';
        *cur = e + 1;
    } else {
        *cur = s + strlen(s);
        e = *cur;
    }
    if (e > s && e[-1] == '\r') e[-1] = '\0';
    return s;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

/* Splits line at commas in place (quoted fields may not contain commas);
 * stores at most max trimmed fields and returns how many there were. */
static size_t split_fields(char *line, char **fields, size_t max)
{
    size_t k = 0;
    for (char *s = line;; k++) {
        char *comma = strchr(s, ',');
        if (comma) *comma = '\0';
        if (k < max) fields[k] = trim(s);
        if (!comma) return k + 1;
        s = comma + 1;
    }
}

/* The spellings of a missing value in CSV exports (pandas' na_values). */
static int is_missing(const char *s)
{
    static const char *const na[] = {"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?", "-", NULL};
    for (int i = 0; na[i]; i++)
        if (!strcmp(s, na[i])) return 1;
    return 0;
}

static int is_blank(const char *s)
{
    return s[strspn(s, " \t")] == '\0';
}

/* A finite float spelled fully by s. */
static int parse_float(const char *s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || fabs(v) > 3.4e38)
        return -1;
    *out = (float)v;
    return 0;
}

typedef struct {
    const char *s;
    float v;
} csv_label;

static int label_cmp_num(const void *a, const void *b)
{
    float x = ((const csv_label *)a)->v, y = ((const csv_label *)b)->v;
    return (x > y) - (x < y);
}

static int label_cmp_str(const void *a, const void *b)
{
    return strcmp(((const csv_label *)a)->s, ((const csv_label *)b)->s);
}

/* Maps the n label strings to 0..k-1 in sorted order (numeric when every
 * label is a number, so "10" sorts after "9"). */
static int map_labels(csv_label *lab, size_t n, const char *path, dataset *ds, kerror *err)
{
    int numeric = 1;
    for (size_t i = 0; i < n && numeric; i++)
        numeric = parse_float(lab[i].s, &lab[i].v) == 0;
    int (*cmp)(const void *, const void *) = numeric ? label_cmp_num : label_cmp_str;
    csv_label *uniq = malloc(n * sizeof *uniq);
    if (!uniq)
        return kerror_set(err, KE_NOMEM, NULL, "%s: cannot allocate labels", path);
    memcpy(uniq, lab, n * sizeof *uniq);
    qsort(uniq, n, sizeof *uniq, cmp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || cmp(&uniq[k - 1], &uniq[i]) != 0)
            uniq[k++] = uniq[i];
    for (size_t i = 0; i < n; i++) {
        const csv_label *hit = bsearch(&lab[i], uniq, k, sizeof *uniq, cmp);
        ds->y[i] = (int32_t)(hit - uniq);
    }
    free(uniq);
    if (k < 2)
        return kerror_set(err, KE_INVALID, NULL,
                          "%s: the label column has %zu distinct value(s), need >= 2", path, k);
    ds->n_classes = k;
    return KE_OK;
}

typedef struct {
    const char *path, *label;
    dataset_task task;
} csv_ctx;

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* DATASET_AUTO's rule (dataset.h): labels that read as a continuous
 * target. A classifier would make each distinct value a class of its own
 * and report an accuracy near 0 without a word. */
static int looks_continuous(csv_label *lab, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (parse_float(lab[i].s, &lab[i].v) != 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (lab[i].v != floorf(lab[i].v)) return 1;
    float *v = malloc(n * sizeof *v);
    if (!v) return 0;
    for (size_t i = 0; i < n; i++) v[i] = lab[i].v;
    qsort(v, n, sizeof *v, cmp_float);
    size_t k = n > 0;
    for (size_t i = 1; i < n; i++) k += v[i] != v[i - 1];
    free(v);
    return k > 100 && 2 * k > n;
}

/* The classification dataset ds, its labels read as one regression
 * target. */
static int to_regression(dataset *ds, const csv_label *lab, kerror *err)
{
    dataset r;
    int rc = dataset_alloc(&r, DATASET_REGRESSION, ds->n, ds->d, 1, err);
    if (rc) return rc;
    memcpy(r.x, ds->x, ds->n * ds->d * sizeof *r.x);
    for (size_t i = 0; i < ds->n; i++) r.targets[i] = lab[i].v;
    dataset_free(ds);
    *ds = r;
    return KE_OK;
}

/* 1 when a name still starts or ends with a quote: trim() strips whole
 * quotes, so this is a quoted name that split_fields cut at its comma. */
static int cut_quote(char *const *names, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        size_t len = strlen(names[j]);
        if (len && (names[j][0] == '"' || names[j][len - 1] == '"')) return 1;
    }
    return 0;
}

/* Parses the data rows after the header into ds (allocated for them).
 * lab receives the label strings for classification. */
static int csv_rows(char *cur, size_t first_line, char **fields, char **names, size_t ncol,
                    size_t label_col, const csv_ctx *c, csv_label *lab, dataset *ds,
                    kerror *err)
{
    size_t row = 0, lineno = first_line;
    for (char *line; (line = next_line(&cur)); lineno++) {
        if (is_blank(line)) continue;
        size_t k = split_fields(line, fields, ncol);
        if (k != ncol)
            return kerror_set(err, KE_INVALID, NULL, "%s:%zu: %zu fields, the header has %zu",
                              c->path, lineno, k, ncol);
        float *xr = ds->x + row * ds->d;
        for (size_t j = 0, f = 0; j < ncol; j++) {
            if (j == label_col) continue;
            if (parse_float(fields[j], &xr[f++]) != 0)
                return kerror_set(err, KE_INVALID, NULL,
                                  "%s:%zu: column %zu ('%s'): %s '%s'%s", c->path, lineno, j + 1,
                                  names[j], is_missing(fields[j]) ? "missing value" : "non-numeric value",
                                  fields[j], is_missing(fields[j]) ? " (not imputed: fill or drop the row)" : "");
        }
        if (lab)
            lab[row].s = fields[label_col];
        else if (label_col < ncol && parse_float(fields[label_col], &ds->targets[row]) != 0)
            return kerror_set(err, KE_INVALID, NULL,
                              "%s:%zu: label column %zu ('%s'): non-numeric target '%s'",
                              c->path, lineno, label_col + 1, names[label_col],
                              fields[label_col]);
        row++;
    }
    return KE_OK;
}

static int csv_decode(void *vctx, dataset *ds, kerror *err)
{
    const csv_ctx *c = vctx;
    char *text, *cur, *header;
    int rc = read_whole(c->path, &text, err);
    if (rc != KE_OK) return rc;
    cur = text;
    if (!strncmp(cur, "\xEF\xBB\xBF", 3)) cur += 3;   /* UTF-8 byte order mark */
    if (!(header = next_line(&cur))) {
        free(text);
        return kerror_set(err, KE_INVALID, NULL, "%s: empty file, expected a header line", c->path);
    }
    size_t ncol = 1, rows = 0;
    for (const char *s = header; (s = strchr(s, ',')); s++)
        ncol++;
    for (const char *s = cur; *s;) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (strspn(s, " \t\r") < len) rows++;
        s += len + (e != NULL);
    }
    char **cols = malloc(2 * ncol * sizeof *cols);
    csv_label *lab = NULL;
    if (!cols) {
        free(text);
        return kerror_set(err, KE_NOMEM, NULL, "%s: cannot allocate %zu columns", c->path, ncol);
    }
    char **names = cols, **fields = cols + ncol;
    split_fields(header, names, ncol);
    int unlabeled = c->task == DATASET_UNLABELED;
    size_t label_col = unlabeled ? ncol : ncol - 1;
    if (c->label && !unlabeled) {
        for (label_col = 0; label_col < ncol && strcmp(names[label_col], c->label); label_col++)
            ;
    }
    if (cut_quote(names, ncol))
        rc = kerror_set(err, KE_INVALID, NULL, "%s:1: a quoted column name holds a comma "
                        "(not supported: it shifts every column); rename it", c->path);
    else if (label_col == ncol && !unlabeled)
        rc = kerror_set(err, KE_INVALID, "label_column", "%s: no column named '%s' in the header",
                        c->path, c->label);
    else if (ncol < 2 && !unlabeled)
        rc = kerror_set(err, KE_INVALID, NULL,
                        "%s: need a label column and at least one feature column", c->path);
    else if (rows == 0)
        rc = kerror_set(err, KE_INVALID, NULL, "%s: no data rows after the header", c->path);
    dataset_task read = c->task == DATASET_REGRESSION ? DATASET_REGRESSION : DATASET_CLASSIFICATION;
    if (rc == KE_OK)
        rc = dataset_alloc(ds, read, rows, ncol - !unlabeled, 1, err);
    if (rc == KE_OK && read == DATASET_CLASSIFICATION && !unlabeled && !(lab = malloc(rows * sizeof *lab)))
        rc = kerror_set(err, KE_NOMEM, NULL, "%s: cannot allocate labels", c->path);
    if (rc == KE_OK)
        rc = csv_rows(cur, 2, fields, names, ncol, label_col, c, lab, ds, err);
    if (rc == KE_OK && lab)
        rc = c->task == DATASET_AUTO && looks_continuous(lab, rows) ? to_regression(ds, lab, err)
                                                                     : map_labels(lab, rows, c->path, ds, err);
    free(lab);
    free(cols);
    free(text);
    if (rc != KE_OK) dataset_free(ds);
    return rc;
}

int dataset_load_csv(const char *path, const char *label_column,
                     dataset_task task, const char *cache_dir,
                     dataset *ds, kerror *err)
{
    memset(ds, 0, sizeof *ds);
    if (!path || !*path)
        return kerror_set(err, KE_INVALID, "source", "CSV source needs a path");
    csv_ctx c = {path, label_column, task};
    char recipe[512];
    int len = snprintf(recipe, sizeof recipe, "csv v1 task=%d last=%d label=%s", (int)task,
                       label_column == NULL, label_column ? label_column : "");
    if (len < 0 || (size_t)len >= sizeof recipe)
        return kerror_set(err, KE_INVALID, "label_column", "label column name too long");
    const char *paths[1] = {path};
    return load_cached(cache_dir, paths, 1, recipe, csv_decode, &c, ds, err);
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
        return dataset_load_csv(src + 4, o->label_column, o->csv_task, o->cache_dir, ds, err);
    if (!strcmp(src, "synthetic-classification"))
        return dataset_synthetic(o, DATASET_CLASSIFICATION, ds, err);
    if (!strcmp(src, "synthetic-regression"))
        return dataset_synthetic(o, DATASET_REGRESSION, ds, err);
    return kerror_set(err, KE_INVALID, "source",
                      "unknown data source '%s' (expected fashion-mnist, mnist, csv:PATH, "
                      "synthetic-classification or synthetic-regression)", src);
}
