/* checkpoint: the binary checkpoint format of checkpoint.h. Invariant: a
 * checkpoint struct exists only for a file whose magic, version, sizes and
 * CRC all checked out, so the restore functions never see a torn file. */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define ENDIAN_WORD 0x01020304u

typedef struct {
    char magic[8];
    uint32_t version, endian;
    uint64_t config_len, n_params, n_state;
    int64_t optim_kind;      /* -1: no optimizer state stored */
    uint64_t optim_n_state;
    int64_t optim_t;
    int64_t epoch, step, best_epoch, bad_epochs, stopped;
    double best_val_loss;
    uint64_t rng[MLP_RNG_WORDS];
    /* version 2; a version 1 header ends here and reads these as 0 */
    double best_val_accuracy;
    uint64_t n_best, n_scaler;
    int64_t scaler_kind;
    uint64_t n_in, n_out;    /* the model's input and output widths */
    int64_t regression;      /* 1: the outputs are regression targets */
    uint64_t reserved;
    /* version 3; a version 2 header ends here */
    int64_t plateau_cuts, plateau_wait, plateau_cooldown;
    /* version 4; a version 3 header ends here */
    uint64_t categories_len;
    /* version 5; a version 4 header ends here */
    uint64_t columns_len;
} checkpoint_header;

#define HEADER_V1_SIZE 144
#define HEADER_V2_SIZE 208
#define HEADER_V3_SIZE 232
#define HEADER_V4_SIZE 240

_Static_assert(sizeof(checkpoint_header) == CHECKPOINT_HEADER_SIZE, "header layout");

struct checkpoint {
    checkpoint_header h;
    checkpoint_state st;
    char *config;            /* config_len bytes + NUL */
    float *model;            /* n_state */
    float *optim;            /* optim_n_state */
    float *best;             /* n_best */
    float *scaler;           /* n_scaler: shift, then scale */
    const char *categories;  /* categories_len bytes of JSON, in block */
    const char *columns;     /* columns_len bytes of JSON, in block */
    void *block;             /* the file's bytes, which the pointers above index */
};

static int write_all(int fd, const void *p, size_t n, uLong *crc)
{
    const char *c = p;
    /* zlib's crc32(crc, NULL, 0) returns the initial value 0, not crc: an
     * empty part (plain SGD has no optimizer state) must leave it alone. */
    if (n) *crc = crc32(*crc, p, (uInt)n);
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int write_body(int fd, const checkpoint_header *h, const char *json, const float *model,
                      const optim *o, const checkpoint_extra *x, const char *cats,
                      const char *cols)
{
    uLong crc = crc32(0, Z_NULL, 0);
    size_t d = h->n_scaler / 2;
    if (write_all(fd, h, sizeof *h, &crc) || write_all(fd, json, h->config_len, &crc) ||
        write_all(fd, model, h->n_state * sizeof(float), &crc) ||
        (o && write_all(fd, o->state, o->n_state * sizeof(float), &crc)) ||
        write_all(fd, h->n_best ? x->best : NULL, h->n_best * sizeof(float), &crc) ||
        (d && (write_all(fd, x->scaler->shift, d * sizeof(float), &crc) ||
               write_all(fd, x->scaler->scale, d * sizeof(float), &crc))) ||
        write_all(fd, cats, h->categories_len, &crc) || write_all(fd, cols, h->columns_len, &crc))
        return -1;
    uint32_t sum = (uint32_t)crc;
    return write_all(fd, &sum, sizeof sum, &crc);
}

static void fill_header(checkpoint_header *h, size_t config_len, size_t categories_len,
                        size_t columns_len, mlp *m, const optim *o, const checkpoint_state *st,
                        const checkpoint_extra *x)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, CHECKPOINT_MAGIC, 8);
    h->version = CHECKPOINT_VERSION;
    h->endian = ENDIAN_WORD;
    h->config_len = config_len;
    h->n_params = mlp_n_params(m);
    h->n_state = mlp_n_state(m);
    h->optim_kind = o ? (int64_t)o->cfg.kind : -1;
    h->optim_n_state = o ? o->n_state : 0;
    h->optim_t = o ? o->t : 0;
    h->epoch = st->epoch;
    h->step = st->step;
    h->best_epoch = st->best_epoch;
    h->bad_epochs = st->bad_epochs;
    h->stopped = st->stopped;
    h->best_val_loss = st->best_val_loss;
    memcpy(h->rng, st->dropout_rng, sizeof h->rng);
    h->best_val_accuracy = st->best_val_accuracy;
    h->n_best = x && x->best ? h->n_state : 0;
    h->n_scaler = x && x->scaler ? 2 * (uint64_t)x->scaler->d : 0;
    h->scaler_kind = x && x->scaler ? (int64_t)x->scaler->kind : 0;
    h->n_in = (uint64_t)mlp_get_config(m)->n_in;
    h->n_out = (uint64_t)mlp_get_config(m)->n_out;
    h->regression = x ? x->regression : 0;
    h->plateau_cuts = st->plateau_cuts;
    h->plateau_wait = st->plateau_wait;
    h->plateau_cooldown = st->plateau_cooldown;
    h->categories_len = categories_len;
    h->columns_len = columns_len;
}

/* j's compact text (NULL when j is NULL or out of memory); j is released. */
static char *dump(json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return text;
}

/* Creates path.XXXXXX, the file a save writes and renames to path: *tmp its
 * name (the caller frees it) and *fd open for writing. */
static int open_temp(const char *path, char **tmp, int *fd, kerror *err)
{
    size_t plen = strlen(path);
    if (!(*tmp = malloc(plen + 8))) return kerror_set(err, KE_NOMEM, path, "out of memory");
    memcpy(*tmp, path, plen);
    memcpy(*tmp + plen, ".XXXXXX", 8);
    if ((*fd = mkstemp(*tmp)) < 0)
        return kerror_set(err, KE_IO, path, "cannot create a file in its folder: %s",
                          strerror(errno));
    return KE_OK;
}

int checkpoint_check_writable(const char *path, kerror *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return kerror_set(err, KE_INVALID, "checkpoint", "'%s' is a directory: name a file in it",
                          path);
    char *tmp = NULL;
    int fd = -1;
    int rc = open_temp(path, &tmp, &fd, err);
    if (!rc) {
        close(fd);
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

int checkpoint_save(const char *path, const train_config *cfg, mlp *m, const optim *o,
                    const checkpoint_state *st, const checkpoint_extra *x, kerror *err)
{
    json_t *j = train_config_to_json(cfg);
    char *json = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    int has_cats = x && x->categories && x->categories->n;
    int has_cols = x && x->names && x->names->n_features;
    char *cats = has_cats ? dump(onehot_to_json(x->categories)) : NULL;
    char *cols = has_cols ? dump(dsnames_to_json(x->names)) : NULL;
    if (!json || (has_cats && !cats) || (has_cols && !cols)) {
        free(json);
        free(cats);
        free(cols);
        return kerror_set(err, KE_NOMEM, path, "cannot serialise the config");
    }
    checkpoint_header h;
    fill_header(&h, strlen(json), cats ? strlen(cats) : 0, cols ? strlen(cols) : 0, m, o, st, x);

    char *tmp = NULL;
    int fd = -1;
    int rc = open_temp(path, &tmp, &fd, err);
    if (!rc) {
        if (write_body(fd, &h, json, mlp_params(m), o, x, cats, cols) || fsync(fd))
            rc = kerror_set(err, KE_IO, path, "write failed: %s", strerror(errno));
        if (close(fd) && !rc) rc = kerror_set(err, KE_IO, path, "close failed: %s", strerror(errno));
        if (!rc && rename(tmp, path))
            rc = kerror_set(err, KE_IO, path, "rename failed: %s", strerror(errno));
        if (rc) unlink(tmp);
    }
    free(tmp);
    free(json);
    free(cats);
    free(cols);
    return rc;
}

static int read_file(const char *path, char **buf, size_t *len, kerror *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return kerror_set(err, KE_IO, path, "cannot open: %s", strerror(errno));
    int rc = KE_OK;
    long n = -1;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {   /* a folder "sizes" as LONG_MAX */
        fclose(f);
        return kerror_set(err, KE_IO, path, "cannot read: %s", strerror(EISDIR));
    }
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET)) {
        rc = kerror_set(err, KE_IO, path, "cannot size the file");
    } else if (!(*buf = malloc((size_t)n + 1))) {
        rc = kerror_set(err, KE_NOMEM, path, "checkpoint of %ld bytes", n);
    } else if (fread(*buf, 1, (size_t)n, f) != (size_t)n) {
        rc = kerror_set(err, KE_IO, path, "short read");
        free(*buf);
    }
    *len = (size_t)n;
    fclose(f);
    return rc;
}

/* Checks the header and sizes against the file length, then the CRC;
 * *hsize gets the header's size in the file (version 1: shorter). */
static int verify(const char *path, const char *buf, size_t len, checkpoint_header *h,
                  size_t *hsize, kerror *err)
{
    memset(h, 0, sizeof *h);
    if (len < 8 || memcmp(buf, CHECKPOINT_MAGIC, 8))
        return kerror_set(err, KE_INVALID, path, "not a Kestrel checkpoint");
    if (len < HEADER_V1_SIZE + 4)   /* a copy cut short, not another kind of file */
        return kerror_set(err, KE_INVALID, path, "truncated (no header)");
    memcpy(h, buf, HEADER_V1_SIZE);
    if (h->endian != ENDIAN_WORD)
        return kerror_set(err, KE_INVALID, path, "written on a machine of another byte order");
    if (h->version < 1 || h->version > CHECKPOINT_VERSION)
        return kerror_set(err, KE_INVALID, path, "format version %u, this build reads 1 to %u",
                          h->version, CHECKPOINT_VERSION);
    *hsize = h->version == 1 ? HEADER_V1_SIZE : h->version == 2 ? HEADER_V2_SIZE
             : h->version == 3 ? HEADER_V3_SIZE : h->version == 4 ? HEADER_V4_SIZE : sizeof *h;
    if (len < *hsize + 4) return kerror_set(err, KE_INVALID, path, "truncated (no header)");
    memcpy(h, buf, *hsize);
    uint64_t floats = h->n_state + h->optim_n_state + h->n_best + h->n_scaler;
    if (h->n_params > h->n_state || (h->n_best && h->n_best != h->n_state) || h->n_scaler % 2 ||
        (uint64_t)h->scaler_kind > SPLIT_SCALE_MINMAX ||
        h->n_in > INT32_MAX || h->n_out > INT32_MAX ||
        h->n_best > len || h->n_scaler > len || h->optim_n_state > len ||
        floats > len / sizeof(float) || h->config_len > len || h->categories_len > len ||
        h->columns_len > len ||
        *hsize + h->config_len + floats * sizeof(float) + h->categories_len + h->columns_len + 4 != len)
        return kerror_set(err, KE_INVALID, path, "truncated or corrupt (sizes do not add up)");
    uint32_t stored;
    memcpy(&stored, buf + len - 4, 4);
    if ((uint32_t)crc32(crc32(0, Z_NULL, 0), (const Bytef *)buf, (uInt)(len - 4)) != stored)
        return kerror_set(err, KE_INVALID, path, "checksum mismatch (corrupt file)");
    return KE_OK;
}

int checkpoint_read(checkpoint **out, const char *path, kerror *err)
{
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len, err);
    if (rc) return rc;
    checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck) {
        free(buf);
        return kerror_set(err, KE_NOMEM, path, "out of memory");
    }
    ck->block = buf;
    size_t hsize = 0;
    if ((rc = verify(path, buf, len, &ck->h, &hsize, err))) {
        checkpoint_free(ck);
        return rc;
    }
    /* The JSON text is moved one byte down over the header's tail so it can
     * be NUL-terminated in place; the header was already copied out. */
    ck->config = buf + hsize - 1;
    memmove(ck->config, buf + hsize, ck->h.config_len);
    ck->config[ck->h.config_len] = '\0';
    /* Float arrays may sit at any byte offset after the JSON: copy them to an
     * aligned block rather than cast. */
    size_t floats = ck->h.n_state + ck->h.optim_n_state + ck->h.n_best + ck->h.n_scaler;
    ck->model = malloc((floats ? floats : 1) * sizeof(float));
    if (!ck->model) {
        checkpoint_free(ck);
        return kerror_set(err, KE_NOMEM, path, "out of memory");
    }
    memcpy(ck->model, buf + hsize + ck->h.config_len, floats * sizeof(float));
    ck->optim = ck->model + ck->h.n_state;
    ck->best = ck->optim + ck->h.optim_n_state;
    ck->scaler = ck->best + ck->h.n_best;
    ck->categories = buf + hsize + ck->h.config_len + floats * sizeof(float);
    ck->columns = ck->categories + ck->h.categories_len;
    checkpoint_state *st = &ck->st;
    st->epoch = ck->h.epoch;
    st->step = ck->h.step;
    st->best_val_loss = ck->h.best_val_loss;
    st->best_val_accuracy = ck->h.best_val_accuracy;
    st->best_epoch = ck->h.best_epoch;
    st->bad_epochs = ck->h.bad_epochs;
    st->stopped = ck->h.stopped;
    st->plateau_cuts = ck->h.plateau_cuts;
    st->plateau_wait = ck->h.plateau_wait;
    st->plateau_cooldown = ck->h.plateau_cooldown;
    memcpy(st->dropout_rng, ck->h.rng, sizeof st->dropout_rng);
    *out = ck;
    return KE_OK;
}

void checkpoint_free(checkpoint *ck)
{
    if (!ck) return;
    free(ck->model);
    free(ck->block);
    free(ck);
}

const checkpoint_state *checkpoint_get_state(const checkpoint *ck)
{
    return &ck->st;
}

int checkpoint_config(const checkpoint *ck, train_config *cfg, kerror *err)
{
    json_error_t je;
    json_t *j = json_loads(ck->config, 0, &je);
    if (!j) return kerror_set(err, KE_INVALID, "checkpoint", "stored config: %s", je.text);
    train_config_defaults(cfg);
    int rc = train_config_apply_json(cfg, j, err);
    json_decref(j);
    return rc;
}

int checkpoint_restore_model(const checkpoint *ck, mlp *m, kerror *err)
{
    if (ck->h.n_params != mlp_n_params(m) || ck->h.n_state != mlp_n_state(m))
        return kerror_set(err, KE_CONFLICT, "checkpoint",
                          "model has %zu parameters, the checkpoint %llu", mlp_n_state(m),
                          (unsigned long long)ck->h.n_state);
    memcpy(mlp_params(m), ck->model, ck->h.n_state * sizeof(float));
    mlp_rng_set(m, ck->st.dropout_rng);
    return KE_OK;
}

int checkpoint_restore_final(const checkpoint *ck, mlp *m, kerror *err)
{
    int rc = checkpoint_restore_model(ck, m, err);
    if (!rc && ck->h.n_best) memcpy(mlp_params(m), ck->best, ck->h.n_best * sizeof(float));
    return rc;
}

int checkpoint_shape(const checkpoint *ck, int *n_in, int *n_out, int *regression, kerror *err)
{
    if (!ck->h.n_in)
        return kerror_set(err, KE_CONFLICT, "checkpoint", "does not record the model's shape "
                          "(written by an older Kestrel: train the model again)");
    *n_in = (int)ck->h.n_in;
    *n_out = (int)ck->h.n_out;
    *regression = ck->h.regression != 0;
    return KE_OK;
}

const float *checkpoint_best(const checkpoint *ck)
{
    return ck->h.n_best ? ck->best : NULL;
}

int checkpoint_scaler(const checkpoint *ck, split_scaler *sc, kerror *err)
{
    memset(sc, 0, sizeof *sc);
    if (!ck->h.n_scaler)
        return kerror_set(err, KE_CONFLICT, "checkpoint", "holds no feature scaler (written by "
                          "an older Kestrel: train the model again)");
    size_t d = (size_t)ck->h.n_scaler / 2;
    int rc = split_scaler_alloc(sc, (split_scaling)ck->h.scaler_kind, d, err);
    if (rc) return rc;
    memcpy(sc->shift, ck->scaler, d * sizeof(float));
    memcpy(sc->scale, ck->scaler + d, d * sizeof(float));
    return KE_OK;
}

int checkpoint_categories(const checkpoint *ck, onehot *o, kerror *err)
{
    memset(o, 0, sizeof *o);
    return ck->h.categories_len ? onehot_from_json(o, ck->categories, ck->h.categories_len, err)
                                : KE_OK;
}

int checkpoint_names(const checkpoint *ck, dsnames *o, kerror *err)
{
    memset(o, 0, sizeof *o);
    return ck->h.columns_len ? dsnames_from_json(o, ck->columns, ck->h.columns_len, err) : KE_OK;
}

int checkpoint_restore_optim(const checkpoint *ck, optim *o, kerror *err)
{
    if (ck->h.optim_kind < 0)
        return kerror_set(err, KE_CONFLICT, "checkpoint", "holds no optimizer state");
    if (ck->h.optim_kind != (int64_t)o->cfg.kind || ck->h.optim_n_state != o->n_state)
        return kerror_set(err, KE_CONFLICT, "optimizer", "differs from the checkpoint's");
    if (o->n_state) memcpy(o->state, ck->optim, o->n_state * sizeof(float));
    o->t = ck->h.optim_t;
    return KE_OK;
}

/* Options that limit or place a run, or say what it saves and reports,
 * without changing its trajectory. A study's trials save once, at their
 * end, and skip the test pass (checkpoint_every=0, evaluate_test=false):
 * their checkpoints, an exported best model among them, are resumed by a
 * kestrel train of the defaults (1, true), which the two options do not
 * train differently. */
static int may_differ(const char *name)
{
    static const char *const names[] = {"budget", "threads", "parallel", "report_every",
                                        "checkpoint", "checkpoint_every", "evaluate_test",
                                        "resume", "cache_dir", "data_dir", "device",
                                        "cuda_graphs", NULL};
    for (int i = 0; names[i]; i++)
        if (strcmp(name, names[i]) == 0) return 1;
    return 0;
}

int checkpoint_check_config(const checkpoint *ck, const train_config *cfg, kerror *err)
{
    train_config stored;
    int rc = checkpoint_config(ck, &stored, err);
    if (rc) return rc;
    json_t *a = train_config_to_json(&stored), *b = train_config_to_json(cfg);
    const char *key;
    json_t *va;
    if (!a || !b) rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    else json_object_foreach(a, key, va) {
        json_t *vb = json_object_get(b, key);
        if (may_differ(key) || json_equal(va, vb)) continue;
        char *sa = json_dumps(va, JSON_ENCODE_ANY), *sb = json_dumps(vb, JSON_ENCODE_ANY);
        rc = kerror_set(err, KE_CONFLICT, key, "is %s here but %s in the checkpoint",
                        sb ? sb : "?", sa ? sa : "?");
        free(sa);
        free(sb);
        break;
    }
    json_decref(a);
    json_decref(b);
    return rc;
}
