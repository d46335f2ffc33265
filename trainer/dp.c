/* dp: data-parallel batches over model replicas and a small pool of worker
 * threads; see dp.h. A training batch runs in two jobs: each thread's
 * forward, loss and output gradients on its rows, then, once all are done,
 * each thread's share of every layer's units: their weight and bias
 * gradients summed over all shards straight into the primary's gradient
 * arena (no per-thread gradient copies to add up), and, when the step
 * follows, their update while still in cache. The second job waits until
 * the next call, which then knows whether a step follows.
 * Batch norm's statistics are sums over every shard's rows, exchanged
 * through slots between the shards' threads mid-forward and mid-backward
 * (sync_sum), so each shard normalizes with the whole batch's.
 * Invariant: thread i always works on shard i (rows [i B / n, (i+1) B / n))
 * and on units [i w / n, (i+1) w / n) of every layer of w units, and sums
 * shards in order, so which thread finishes first never changes a result. */
#include "dp.h"
#include "vec.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* A step takes about a millisecond; waking a sleeping thread through the
 * kernel costs tens of microseconds twice a step, so both sides first spin
 * this many rounds (roughly 50-100 us) before they sleep on the condition. */
#define SPIN_ROUNDS 4000

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

typedef enum { JOB_FIRST, JOB_TRAIN, JOB_EVAL, JOB_ROWS, JOB_UNITS, JOB_QUIT } job_kind;

/* What one thread did with its shard of the current job. */
typedef struct {
    int rows;
    float loss;
    int correct;
    int rc;
    kerror err;
    /* batch norm's view of the whole batch (mlp_bn_sync) */
    mlp_bn_sync sync;
    struct dp *p;
    int i;
    int sums;              /* sync sums called in this job */
} shard;

struct dp {
    int n;                 /* threads, the caller's included */
    mlp **models;          /* [0] the primary (borrowed), [1..n) replicas (owned) */
    shard *sh;             /* n */
    pthread_t *th;         /* n - 1 workers */
    int n_started;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    atomic_ulong gen;      /* bumped for every job (release: the job is written) */
    atomic_int pending;    /* workers still on the current job */
    /* batch norm's sums across shards: every shard with rows puts its
     * partial sums in its slot, waits for the others, and adds all slots up
     * in shard order; two sets of slots alternate, so a thread that runs
     * ahead into the next sum never overwrites one still being read */
    float *slots;          /* 2 x n x slot_floats */
    int slot_floats;
    int n_sync;            /* shards with rows in the current job */
    int bn_leader;         /* the first of them: it moves the running statistics */
    float *eval_out;       /* JOB_EVAL: where the shards copy their logits, or NULL */
    atomic_int arrived;
    atomic_ulong passed;
    /* the current job, written under mu before gen is bumped */
    job_kind kind;
    const float *x;
    const mlp_target *t;
    int B, accumulate;
    dp_rows_fn rows_fn;    /* JOB_ROWS */
    void *rows_ctx;
    /* JOB_UNITS: what to do with each thread's units */
    int sum_grads;         /* sum the due batch's weight gradients */
    int k;                 /* > 1: divide by the batches accumulated */
    const optim *opt;      /* update with it, or NULL */
    float lr;
    /* the trained batch whose weight gradients are still due */
    int due, due_acc;
    const float **due_x;   /* n: each shard's input rows */
    int *due_rows;         /* n */
};

typedef struct {
    dp *p;
    int i;
} worker_arg;

/* Rows of shard i of a batch of B split n ways. */
static int shard_lo(int i, int B, int n) { return (int)((long)i * B / n); }

/* Divides and updates floats [lo, hi) of the primary's gradient and
 * parameters as the job says. */
static void finish_range(dp *p, size_t lo, size_t hi)
{
    float *g = mlp_grads(p->models[0]);
    if (p->k > 1)
        for (size_t j = lo; j < hi; j++) g[j] /= (float)p->k;
    if (p->opt) optim_apply(p->opt, mlp_params(p->models[0]), g, p->lr, lo, hi);
}

/* Thread i's units of every dense layer: their gradients, then their update. */
static void run_units(dp *p, int i)
{
    mlp *primary = p->models[0];
    int L = mlp_get_config(primary)->n_layers;
    for (int l = 0; l <= L; l++) {
        mlp_dense d;
        mlp_dense_info(primary, l, &d);
        int r0 = shard_lo(i, d.rows, p->n), r1 = shard_lo(i + 1, d.rows, p->n);
        if (r0 == r1) continue;
        if (p->sum_grads)
            mlp_backward_weights(primary, p->models, p->due_x, p->due_rows, p->n, l, r0, r1,
                                 p->due_acc);
        size_t k = (size_t)d.cols;
        finish_range(p, d.w_off + (size_t)r0 * k, d.w_off + (size_t)r1 * k);
        /* bias, or batch norm's gamma and beta: one float per unit */
        const size_t per_unit[3] = {d.b_off, d.gamma_off, d.beta_off};
        for (int u = 0; u < 3; u++)
            if (per_unit[u] != (size_t)-1)
                finish_range(p, per_unit[u] + (size_t)r0, per_unit[u] + (size_t)r1);
    }
}

/* Waits until the current job's n_sync shards have all arrived. Spins,
 * then yields the core (more threads than cores must not spin out their
 * time slices). */
static void barrier(dp *p)
{
    unsigned long seen = atomic_load_explicit(&p->passed, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->arrived, 1, memory_order_acq_rel) == p->n_sync - 1) {
        atomic_store_explicit(&p->arrived, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->passed, 1, memory_order_release);
        return;
    }
    for (int r = 0; atomic_load_explicit(&p->passed, memory_order_acquire) == seen; r++)
        if (r < SPIN_ROUNDS) cpu_relax();
        else sched_yield();
}

/* layers_bn_sync's sum for shard ctx. */
static void sync_sum(void *ctx, float *v, int k)
{
    shard *me = ctx;
    dp *p = me->p;
    size_t slot = (size_t)p->slot_floats;
    float *set = p->slots + (size_t)(me->sums++ & 1) * (size_t)p->n * slot;
    memcpy(set + (size_t)me->i * slot, v, (size_t)k * sizeof *v);
    barrier(p);
    int first = 1;
    for (int s = 0; s < p->n; s++) {
        if (!p->due_rows[s]) continue;
        if (first) memcpy(v, set + (size_t)s * slot, (size_t)k * sizeof *v);
        else vec_add_into(v, set + (size_t)s * slot, (size_t)k);
        first = 0;
    }
}

static void run_shard(dp *p, int i)
{
    shard *s = &p->sh[i];
    mlp *m = p->models[i];
    const mlp_config *c = mlp_get_config(m);
    if (p->kind == JOB_UNITS) {
        run_units(p, i);
        return;
    }
    if (p->kind == JOB_FIRST) {
        int w = c->widths[0], r0 = shard_lo(i, w, p->n), r1 = shard_lo(i + 1, w, p->n);
        if (r0 < r1) mlp_first_layer_units(m, p->models, p->x, p->due_rows, p->n, r0, r1);
        return;
    }
    int lo = shard_lo(i, p->B, p->n);
    s->rows = shard_lo(i + 1, p->B, p->n) - lo;
    if (p->kind == JOB_ROWS) {
        if (s->rows) p->rows_fn(p->rows_ctx, i, (size_t)lo, (size_t)(lo + s->rows));
        return;
    }
    s->loss = 0;
    s->correct = 0;
    s->rc = KE_OK;
    if (s->rows == 0) return;   /* a batch smaller than the thread count */
    const float *x = p->x + (size_t)lo * (size_t)c->n_in;
    size_t off = (size_t)lo * (size_t)c->n_out;
    mlp_target t = {
        .labels = p->t->labels ? p->t->labels + lo : NULL,
        .targets = p->t->targets ? p->t->targets + off : NULL,
        .teacher_probs = p->t->teacher_probs ? p->t->teacher_probs + off : NULL,
        .class_weight = p->t->class_weight,
    };
    if (p->kind == JOB_EVAL) {
        s->rc = mlp_eval_batch(m, x, &t, s->rows, &s->loss, NULL, &s->err);
        if (!s->rc && t.labels)
            s->correct = mlp_count_correct(mlp_logits(m), t.labels, s->rows, c->n_out);
        if (!s->rc && p->eval_out)
            memcpy(p->eval_out + off, mlp_logits(m), (size_t)s->rows * (size_t)c->n_out * sizeof(float));
        return;
    }
    const mlp_bn_sync *sync = c->batchnorm ? &s->sync : NULL;
    s->sums = 0;
    s->sync.bn.rows = p->B;
    s->sync.bn.update_running = i == p->bn_leader;
    s->sync.grads = i == p->bn_leader ? p->models[0] : NULL;
    s->rc = mlp_forward_after_first(m, x, s->rows, 1, sync, &s->err);
    if (s->rc) return;
    s->loss = mlp_loss_forward_backward(m, &t, s->rows);
    if (s->rows != p->B) mlp_dlogits_scale(m, s->rows, (float)s->rows / (float)p->B);
    mlp_backward_outputs(m, s->rows, p->accumulate, sync);
}

/* Spins a while for the generation to move past seen, then sleeps on go. */
static unsigned long wait_job(dp *p, unsigned long seen)
{
    unsigned long g;
    for (int r = 0; r < SPIN_ROUNDS; r++) {
        if ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) != seen) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen)
        pthread_cond_wait(&p->go, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker(void *arg)
{
    worker_arg *a = arg;
    dp *p = a->p;
    int i = a->i;
    free(a);
    unsigned long seen = 0;
    for (;;) {
        seen = wait_job(p, seen);
        if (p->kind == JOB_QUIT) return NULL;
        run_shard(p, i);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

/* Runs the job on every thread, shard 0 on the caller's, and waits for all. */
static void dispatch(dp *p, job_kind kind, const float *x, const mlp_target *t, int B,
                     int accumulate)
{
    pthread_mutex_lock(&p->mu);
    p->kind = kind;
    p->x = x;
    p->t = t;
    p->B = B;
    p->accumulate = accumulate;
    atomic_store_explicit(&p->pending, p->n_started, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    if (kind == JOB_QUIT) return;
    run_shard(p, 0);
    for (int r = 0; r < SPIN_ROUNDS; r++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) return;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

int dp_create(dp **out, mlp *primary, int n_threads, kerror *err)
{
    *out = NULL;
    if (n_threads < 2)
        return kerror_set(err, KE_INVALID, "threads", "data parallelism needs >= 2 threads, got %d",
                          n_threads);
    dp *p = calloc(1, sizeof *p);
    if (!p) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    p->models = calloc((size_t)n_threads, sizeof *p->models);
    p->sh = calloc((size_t)n_threads, sizeof *p->sh);
    p->th = calloc((size_t)n_threads, sizeof *p->th);
    p->due_x = calloc((size_t)n_threads, sizeof *p->due_x);
    p->due_rows = calloc((size_t)n_threads, sizeof *p->due_rows);
    /* the widest sum: batch norm's backward, 2 floats per unit */
    const mlp_config *c = mlp_get_config(primary);
    for (int l = 0; l < c->n_layers; l++)
        if (2 * c->widths[l] > p->slot_floats) p->slot_floats = 2 * c->widths[l];
    p->slot_floats = (int)vec_line_up((size_t)p->slot_floats);
    p->slots = c->batchnorm ? vec_alloc(2 * (size_t)n_threads * (size_t)p->slot_floats, 0) : NULL;
    if (!p->models || !p->sh || !p->th || !p->due_x || !p->due_rows ||
        (c->batchnorm && !p->slots)) {
        dp_free(p);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    p->models[0] = primary;
    for (int i = 0; i < n_threads; i++) {
        p->sh[i].p = p;
        p->sh[i].i = i;
        p->sh[i].sync = (mlp_bn_sync){.bn = {.sum = sync_sum, .ctx = &p->sh[i]}};
    }
    for (int i = 1; i < n_threads; i++) {
        int rc = mlp_replica(&p->models[i], primary, err);
        if (rc) {
            dp_free(p);
            return rc;
        }
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) {
            dp_free(p);
            return kerror_set(err, KE_NOMEM, NULL, "out of memory");
        }
        *a = (worker_arg){p, i};
        if (pthread_create(&p->th[i - 1], NULL, worker, a) != 0) {
            free(a);
            dp_free(p);
            return kerror_set(err, KE_IO, "threads", "cannot start a trainer thread");
        }
        p->n_started++;
    }
    *out = p;
    return KE_OK;
}

void dp_free(dp *p)
{
    if (!p) return;
    if (p->n_started) {
        dispatch(p, JOB_QUIT, NULL, NULL, 0, 0);
        for (int i = 0; i < p->n_started; i++) pthread_join(p->th[i], NULL);
    }
    for (int i = 1; p->models && i < p->n; i++) mlp_free(p->models[i]);
    free(p->models);
    free(p->sh);
    free(p->th);
    free(p->due_x);
    free(p->due_rows);
    free(p->slots);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* The first failed shard's error, or KE_OK. */
static int shard_error(const dp *p, kerror *err)
{
    for (int i = 0; i < p->n; i++)
        if (p->sh[i].rc) {
            if (err) *err = p->sh[i].err;
            return p->sh[i].rc;
        }
    return KE_OK;
}

/* The batch's mean loss from the shards' means, in shard order. */
static float batch_loss(const dp *p, int B)
{
    double sum = 0;
    for (int i = 0; i < p->n; i++) sum += (double)p->sh[i].loss * p->sh[i].rows;
    return (float)(sum / B);
}

/* One JOB_UNITS: the due weight gradients if sum (and due), divided by k,
 * then updated by o at lr if o is set. */
static void units(dp *p, int sum, int k, const optim *o, float lr)
{
    p->sum_grads = sum && p->due;
    p->k = k;
    p->opt = o;
    p->lr = lr;
    if (p->sum_grads || k > 1 || o) dispatch(p, JOB_UNITS, NULL, NULL, 0, 0);
    if (p->sum_grads) p->due = 0;
}

int dp_train_batch(dp *p, const float *x, const mlp_target *t, int B, int accumulate,
                   float *loss, kerror *err)
{
    if (B < 1) return kerror_set(err, KE_INVALID, "batch", "batch size %d < 1", B);
    units(p, 1, 1, NULL, 0);   /* the previous batch's, accumulated over */
    if (mlp_get_config(p->models[0])->dropout > 0.0f)
        for (int i = 1; i < p->n; i++) mlp_rng_fork(p->models[0], p->models[i], (uint64_t)i);
    const mlp_config *c = mlp_get_config(p->models[0]);
    p->n_sync = 0;
    p->bn_leader = -1;
    for (int i = 0; i < p->n; i++) {
        p->due_x[i] = x + (size_t)shard_lo(i, B, p->n) * (size_t)c->n_in;
        p->due_rows[i] = shard_lo(i + 1, B, p->n) - shard_lo(i, B, p->n);
        if (p->due_rows[i] && p->n_sync++ == 0) p->bn_leader = i;
    }
    /* the first layer by units, so that each thread reads only the weights
     * it updates (none written by another core); the rest by rows */
    if (c->n_layers > 0) dispatch(p, JOB_FIRST, x, t, B, accumulate);
    dispatch(p, JOB_TRAIN, x, t, B, accumulate);
    int rc = shard_error(p, err);
    if (rc) return rc;
    *loss = batch_loss(p, B);
    p->due = 1;
    p->due_acc = accumulate;
    return KE_OK;
}

void dp_rows(dp *p, int B, dp_rows_fn fn, void *ctx)
{
    p->rows_fn = fn;
    p->rows_ctx = ctx;
    dispatch(p, JOB_ROWS, NULL, NULL, B, 0);
}

void dp_reduce(dp *p, int k) { units(p, 1, k, NULL, 0); }

void dp_step(dp *p, optim *o, int k, float lr)
{
    float *w = mlp_params(p->models[0]), *g = mlp_grads(p->models[0]);
    if (optim_clips(o)) {
        /* clipping needs the whole gradient before any update */
        units(p, 1, k, NULL, 0);
        optim_begin(o, w, g);
        units(p, 0, 1, o, lr);
    } else {
        /* nothing to clip: begin only counts the step, and each thread
         * updates its units right after summing their gradients */
        optim_begin(o, w, g);
        units(p, 1, k, o, lr);
    }
}

int dp_eval_batch(dp *p, const float *x, const mlp_target *t, int B, float *loss,
                  int *n_correct, float *logits, kerror *err)
{
    if (B < 1) return kerror_set(err, KE_INVALID, "batch", "batch size %d < 1", B);
    units(p, 1, 1, NULL, 0);   /* before the forward overwrites the shards' activations */
    p->eval_out = logits;      /* published to the workers by dispatch's generation bump */
    dispatch(p, JOB_EVAL, x, t, B, 0);
    int rc = shard_error(p, err);
    if (rc) return rc;
    if (loss) *loss = batch_loss(p, B);
    if (n_correct) {
        *n_correct = 0;
        for (int i = 0; i < p->n; i++) *n_correct += p->sh[i].correct;
    }
    return KE_OK;
}
