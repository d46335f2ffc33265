/* loader: batches in two buffer slots, filled by a prefetch thread or by the
 * caller; see loader.h. With prefetch the consumer holds one slot (the batch
 * it trains on) while the worker fills the other; loader_next hands the
 * filled slot over and posts the next batch into the slot just released. At
 * most one job is outstanding. Without prefetch loader_next only hands out a
 * slot and the caller fills it (loader_fill).
 * Invariant: the worker reads perm and writes slot s only between taking a
 * job and marking slot s ready, both under the mutex; the consumer changes
 * perm only when no job is pending or running. A row's content depends only
 * on (seed, epoch, batch, row), never on who fills it or in what order. */
#include "loader.h"
#include "rng.h"
#include "vec.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define AUG_STREAM 0x61756775ULL   /* keeps augmentation draws apart from the shuffle's */

struct loader {
    const dataset *ds;
    size_t n, bs, d, ny;        /* rows, batch size, features, targets per row */
    uint64_t seed;
    int shuffle, image;
    loader_aug aug;
    const split_scaler *sc;     /* NULL: rows as stored */
    size_t *idx, *perm;         /* n each: given order, this epoch's order */
    size_t *rows[2];            /* bs each */
    float *x[2];                /* bs x d each */
    void *y[2];                 /* bs x ny each: int32 labels or float targets */
    size_t size[2];             /* rows in each slot */
    size_t batch[2];            /* the batch number each slot holds */
    size_t *iblock;
    float *fblock;

    int prefetch;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int has_job, busy, quit, ready[2];
    int job_slot;
    size_t job_batch;
    uint64_t epoch;             /* written under mu; read by the worker under mu */

    size_t n_batches, next;     /* consumer side */
    int active;
};

void loader_aug_init(loader_aug *a)
{
    a->shift_px = 0;
    a->flip_p = 0.0;
    a->noise_std = 0.0;
    a->clamp01 = 1;
}

size_t loader_batches(const loader *l)
{
    return (l->n + l->bs - 1) / l->bs;
}

/* img = src (an h x w x c image) shifted by (dx, dy) pixels, vacated
 * pixels 0 (black: the rows are scaled after augmentation). */
static void shift_image(float *img, const float *src, size_t h, size_t w, size_t c, long dx,
                        long dy)
{
    for (long r = 0; r < (long)h; r++) {
        for (long col = 0; col < (long)w; col++) {
            long sr = r - dy, sc = col - dx;
            float *dst = img + ((size_t)r * w + (size_t)col) * c;
            if (sr < 0 || sr >= (long)h || sc < 0 || sc >= (long)w)
                memset(dst, 0, c * sizeof *dst);
            else
                memcpy(dst, src + ((size_t)sr * w + (size_t)sc) * c, c * sizeof *dst);
        }
    }
}

static void flip_image(float *img, size_t h, size_t w, size_t c)
{
    for (size_t r = 0; r < h; r++) {
        for (size_t a = 0, b = w - 1; a < b; a++, b--) {
            float *pa = img + (r * w + a) * c, *pb = img + (r * w + b) * c;
            for (size_t ch = 0; ch < c; ch++) {
                float t = pa[ch];
                pa[ch] = pb[ch];
                pb[ch] = t;
            }
        }
    }
}

/* row = dataset row src, shifted and flipped as stored (pixels in their
 * own units: a vacated pixel is black), then scaled, then noised, with
 * draws from r. */
static void gather_row(const loader *l, float *row, const float *src, rng *r)
{
    const loader_aug *a = &l->aug;
    const dataset *ds = l->ds;
    long dx = 0, dy = 0;
    if (l->image && a->shift_px) {
        uint64_t span = 2 * (uint64_t)a->shift_px + 1;
        dx = (long)rng_below(r, span) - (long)a->shift_px;
        dy = (long)rng_below(r, span) - (long)a->shift_px;
    }
    int flip = l->image && a->flip_p > 0 && rng_uniform(r) < a->flip_p;
    int moved = dx || dy || flip, scaled = l->sc && l->sc->kind != SPLIT_SCALE_NONE;
    if (dx || dy)
        shift_image(row, src, ds->h, ds->w, ds->c, dx, dy);
    else if (moved || !scaled)
        memcpy(row, src, l->d * sizeof *row);
    if (flip) flip_image(row, ds->h, ds->w, ds->c);
    if (scaled) split_scaler_row(l->sc, row, moved ? row : src);
    if (a->noise_std > 0) {
        int clamp = l->image && a->clamp01;
        for (size_t j = 0; j < l->d; j++) {
            float v = row[j] + (float)(a->noise_std * rng_normal(r));
            if (clamp) v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            row[j] = v;
        }
    }
}

/* Rows in batch b. */
static size_t rows_in_batch(const loader *l, size_t b)
{
    size_t start = b * l->bs;
    return l->n - start < l->bs ? l->n - start : l->bs;
}

/* Gathers rows [lo, hi) of batch b of epoch e into slot s and augments
 * them. Row i's augmentation stream is seeded by (seed, epoch, batch, i)
 * alone, hence independent of timing and of how the rows are split. */
static void fill(loader *l, int s, uint64_t e, size_t b, size_t lo, size_t hi)
{
    const dataset *ds = l->ds;
    size_t start = b * l->bs;
    uint64_t batch_seed = rng_mix(rng_mix(l->seed ^ AUG_STREAM, e), b);
    const void *ysrc = ds->task == DATASET_CLASSIFICATION ? (const void *)ds->y
                                                          : (const void *)ds->targets;
    for (size_t i = lo; i < hi; i++) {
        size_t row = l->perm[start + i];
        rng r;
        rng_seed(&r, rng_mix(batch_seed, i));
        l->rows[s][i] = row;
        gather_row(l, l->x[s] + i * l->d, ds->x + row * l->d, &r);
        memcpy((char *)l->y[s] + i * l->ny * 4, (const char *)ysrc + row * l->ny * 4,
               l->ny * 4);
    }
}

static void *worker(void *arg)
{
    loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->quit && !l->has_job)
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->quit) break;
        int s = l->job_slot;
        size_t b = l->job_batch;
        uint64_t e = l->epoch;
        l->has_job = 0;
        l->busy = 1;
        pthread_mutex_unlock(&l->mu);
        fill(l, s, e, b, 0, rows_in_batch(l, b));
        pthread_mutex_lock(&l->mu);
        l->busy = 0;
        l->ready[s] = 1;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Caller holds mu. Without prefetch the slot is only named, for loader_fill. */
static void post(loader *l, int slot, size_t batch)
{
    l->size[slot] = rows_in_batch(l, batch);
    l->batch[slot] = batch;
    if (!l->prefetch) {
        l->ready[slot] = 1;
        return;
    }
    l->job_slot = slot;
    l->job_batch = batch;
    l->has_job = 1;
    pthread_cond_broadcast(&l->cv);
}

void loader_epoch_begin(loader *l, uint64_t epoch)
{
    pthread_mutex_lock(&l->mu);
    l->has_job = 0;
    while (l->busy)
        pthread_cond_wait(&l->cv, &l->mu);
    l->ready[0] = l->ready[1] = 0;
    pthread_mutex_unlock(&l->mu);

    memcpy(l->perm, l->idx, l->n * sizeof *l->perm);
    if (l->shuffle) {
        rng r;
        rng_seed(&r, rng_mix(l->seed, epoch));
        rng_shuffle(&r, l->perm, l->n);
    }
    l->n_batches = loader_batches(l);
    l->next = 0;
    l->active = 1;

    pthread_mutex_lock(&l->mu);
    l->epoch = epoch;
    post(l, 0, 0);
    pthread_mutex_unlock(&l->mu);
}

int loader_next(loader *l, loader_batch *b)
{
    if (!l->active || l->next >= l->n_batches) {
        l->active = 0;
        return 0;
    }
    int s = (int)(l->next % 2);
    pthread_mutex_lock(&l->mu);
    while (!l->ready[s])
        pthread_cond_wait(&l->cv, &l->mu);
    l->ready[s] = 0;
    if (l->next + 1 < l->n_batches)
        post(l, 1 - s, l->next + 1);
    b->epoch = l->epoch;
    pthread_mutex_unlock(&l->mu);

    int cls = l->ds->task == DATASET_CLASSIFICATION;
    b->x = l->x[s];
    b->y = cls ? (const int32_t *)l->y[s] : NULL;
    b->targets = cls ? NULL : (const float *)l->y[s];
    b->size = l->size[s];
    b->rows = l->rows[s];
    b->index = l->next++;
    return 1;
}

void loader_fill(loader *l, const loader_batch *b, size_t lo, size_t hi)
{
    int s = b->x == l->x[0] ? 0 : 1;
    if (hi > b->size) hi = b->size;
    if (!l->prefetch && lo < hi) fill(l, s, b->epoch, l->batch[s], lo, hi);
}

static int check_args(const dataset *ds, const size_t *idx, size_t n, size_t batch_size,
                      const loader_aug *aug, const split_scaler *sc, kerror *err)
{
    if (sc && ds && sc->kind != SPLIT_SCALE_NONE && sc->d != ds->d)
        return kerror_set(err, KE_INVALID, "scaling", "the scaler has %zu features, the data %zu",
                          sc->d, ds->d);
    if (!ds || !ds->x || !idx || n == 0)
        return kerror_set(err, KE_INVALID, NULL, "loader needs a dataset and >= 1 rows (n=%zu)",
                          n);
    if (batch_size == 0)
        return kerror_set(err, KE_INVALID, "batch_size", "must be >= 1");
    for (size_t i = 0; i < n; i++)
        if (idx[i] >= ds->n)
            return kerror_set(err, KE_INVALID, NULL, "loader: row %zu is out of range (n=%zu)",
                              idx[i], ds->n);
    if (aug && !(aug->flip_p >= 0 && aug->flip_p <= 1))
        return kerror_set(err, KE_INVALID, "augment.flip_p", "must be in [0, 1], got %g",
                          aug->flip_p);
    if (aug && !(aug->noise_std >= 0))
        return kerror_set(err, KE_INVALID, "augment.noise_std", "must be >= 0, got %g",
                          aug->noise_std);
    return KE_OK;
}

/* Frees a loader whose prefetch thread is not running (never started, or
 * joined): its lock, condition, blocks and itself. */
static void release(loader *l)
{
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->iblock);
    free(l->fblock);
    free(l);
}

int loader_create(loader **out, const dataset *ds, const size_t *idx,
                  size_t n, size_t batch_size, uint64_t seed, int shuffle,
                  const loader_aug *aug, const split_scaler *sc, int prefetch, kerror *err)
{
    *out = NULL;
    int rc = check_args(ds, idx, n, batch_size, aug, sc, err);
    if (rc != KE_OK) return rc;
    loader *l = calloc(1, sizeof *l);
    if (!l) return kerror_set(err, KE_NOMEM, NULL, "loader: cannot allocate");
    l->ds = ds;
    l->sc = sc;
    l->n = n;
    l->bs = batch_size < n ? batch_size : n;
    l->d = ds->d;
    l->ny = ds->task == DATASET_CLASSIFICATION ? 1 : ds->t;
    l->seed = seed;
    l->shuffle = shuffle;
    l->prefetch = prefetch;
    l->image = ds->h && ds->w && ds->c && ds->h * ds->w * ds->c == ds->d;
    if (aug)
        l->aug = *aug;
    else
        loader_aug_init(&l->aug);
    /* One block of indices, one of floats (labels share float slots: int32
     * and float have the same size). */
    l->iblock = malloc((2 * n + 2 * l->bs) * sizeof *l->iblock);
    size_t slot = vec_line_up(l->bs * (l->d + l->ny));
    l->fblock = vec_alloc(2 * slot, 0);
    if (!l->iblock || !l->fblock) {
        free(l->iblock);
        free(l->fblock);
        free(l);
        return kerror_set(err, KE_NOMEM, NULL, "loader: cannot allocate buffers for %zu rows",
                          n);
    }
    l->idx = l->iblock;
    l->perm = l->iblock + n;
    memcpy(l->idx, idx, n * sizeof *idx);
    for (int s = 0; s < 2; s++) {
        l->rows[s] = l->iblock + 2 * n + (size_t)s * l->bs;
        l->x[s] = l->fblock + (size_t)s * slot;
        l->y[s] = l->x[s] + l->bs * l->d;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (prefetch && pthread_create(&l->thread, NULL, worker, l) != 0) {
        release(l);
        return kerror_set(err, KE_INTERNAL, NULL, "loader: cannot start the prefetch thread");
    }
    *out = l;
    return KE_OK;
}

void loader_free(loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (l->prefetch) pthread_join(l->thread, NULL);
    release(l);
}
