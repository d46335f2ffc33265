/* test_dp: data-parallel batches (trainer/dp.c) against the same batch on
 * one model: the summed shard gradients, the mean loss and the evaluation
 * counts match for every loss (cross-entropy, MSE, distillation), with
 * uneven shards, gradient accumulation and batches smaller than the thread
 * count; dropout masks are reproducible; the threaded optimizer step is
 * optim_step's; dp_rows hands each thread its shard; batch norm sees the
 * whole batch. */
#include <cblas.h>
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../trainer/dp.h"
#include "gradcheck.h"

#define N_IN 12
#define N_OUT 4
#define MAXB 64

static const int widths[2] = { 24, 16 };

typedef struct {
    float x[MAXB * N_IN];
    int labels[MAXB];
    float targets[MAXB * N_OUT];
    float teacher[MAXB * N_OUT];
} batch;

static mlp_config config(mlp_loss loss, float dropout)
{
    mlp_config c;
    mlp_config_default(&c);
    c.n_in = N_IN;
    c.n_layers = 2;
    c.widths = widths;
    c.n_out = N_OUT;
    c.max_batch = MAXB;
    c.seed = 7;
    c.loss = loss;
    c.dropout = dropout;
    return c;
}

static mlp *create(const mlp_config *c)
{
    mlp *m = NULL;
    kerror err;
    ck_assert_int_eq(mlp_create(&m, c, &err), KE_OK);
    return m;
}

static dp *pool(mlp *m, int n)
{
    dp *p = NULL;
    kerror err;
    int rc = dp_create(&p, m, n, &err);
    ck_assert_msg(rc == KE_OK, "dp_create: %s", err.msg);
    return p;
}

/* A reference model and an identical one (same seed) under a dp pool. */
typedef struct {
    mlp *ref, *m;
    dp *p;
} pair;

static pair pair_new(const mlp_config *c, int threads)
{
    pair q = { create(c), create(c), NULL };
    q.p = pool(q.m, threads);
    return q;
}

static void pair_free(pair *q)
{
    dp_free(q->p);
    mlp_free(q->m);
    mlp_free(q->ref);
}

static void fill(batch *b, uint64_t seed)
{
    uint64_t s = seed;
    gc_fill(b->x, MAXB * N_IN, -1, 1, &s);
    gc_fill(b->targets, MAXB * N_OUT, -1, 1, &s);
    for (int i = 0; i < MAXB; i++) {
        b->labels[i] = (int)(gc_uniform(&s) * N_OUT) % N_OUT;
        float sum = 0;
        for (int j = 0; j < N_OUT; j++) sum += b->teacher[i * N_OUT + j] = 0.1f + (float)gc_uniform(&s);
        for (int j = 0; j < N_OUT; j++) b->teacher[i * N_OUT + j] /= sum;
    }
}

/* The reference: forward, loss and backward of the whole batch on one model. */
static float one_model(mlp *m, const float *x, const mlp_target *t, int B, int accumulate)
{
    ck_assert_int_eq(mlp_forward(m, x, B, 1, NULL), KE_OK);
    float loss = mlp_loss_forward_backward(m, t, B);
    mlp_backward(m, x, B, accumulate);
    return loss;
}

static void assert_close(const float *a, const float *b, size_t n, float rel)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabsf(a[i] - b[i]) <= 1e-6f + rel * fabsf(b[i]), "[%zu] %.9g vs %.9g", i,
                      (double)a[i], (double)b[i]);
}

/* Every loss (the last two: distillation, and batch norm with its statistics
 * over the whole batch), 2 and 3 threads, batch sizes that split evenly and
 * unevenly: gradient and loss as one model computes them, up to float
 * reordering; with batch norm the running statistics too. */
START_TEST(gradients_match_one_model)
{
    const mlp_loss losses[] = { MLP_LOSS_SOFTMAX_XENT, MLP_LOSS_MSE, MLP_LOSS_SOFTMAX_XENT,
                                MLP_LOSS_SOFTMAX_XENT };
    const int sizes[] = { 64, 37, 5 };
    batch b;
    fill(&b, 3);
    for (int li = 0; li < 4; li++)
        for (int threads = 2; threads <= 3; threads++)
            for (int si = 0; si < 3; si++) {
                mlp_config c = config(losses[li], 0);
                c.batchnorm = li == 3;
                pair q = pair_new(&c, threads);
                int B = sizes[si];
                mlp_target t = { b.labels, losses[li] == MLP_LOSS_MSE ? b.targets : NULL,
                                 li == 2 ? b.teacher : NULL, NULL };
                float want = one_model(q.ref, b.x, &t, B, 0), got;
                kerror err;
                ck_assert_int_eq(dp_train_batch(q.p, b.x, &t, B, 0, &got, &err), KE_OK);
                dp_reduce(q.p, 1);
                ck_assert_msg(fabsf(got - want) <= 1e-6f * fabsf(want) + 1e-7f,
                              "loss %d threads %d B %d: %g vs %g", li, threads, B, got, want);
                assert_close(mlp_grads(q.m), mlp_grads(q.ref), mlp_n_params(q.m), 1e-4f);
                assert_close(mlp_params(q.m), mlp_params(q.ref), mlp_n_state(q.m), 1e-5f);
                pair_free(&q);
            }
}
END_TEST

/* Accumulation over a full and a short batch, then a batch of one row with
 * three threads (two empty shards) that must not keep stale gradients. */
START_TEST(accumulation_and_tiny_batches)
{
    batch b;
    fill(&b, 5);
    mlp_config c = config(MLP_LOSS_SOFTMAX_XENT, 0);
    pair q = pair_new(&c, 3);
    mlp_target t = { b.labels, NULL, NULL, NULL };
    mlp_target t2 = { b.labels + 40, NULL, NULL, NULL };
    float loss;
    one_model(q.ref, b.x, &t, 40, 0);
    one_model(q.ref, b.x + 40 * N_IN, &t2, 23, 1);
    ck_assert_int_eq(dp_train_batch(q.p, b.x, &t, 40, 0, &loss, NULL), KE_OK);
    ck_assert_int_eq(dp_train_batch(q.p, b.x + 40 * N_IN, &t2, 23, 1, &loss, NULL), KE_OK);
    dp_reduce(q.p, 1);
    assert_close(mlp_grads(q.m), mlp_grads(q.ref), mlp_n_params(q.m), 1e-4f);

    one_model(q.ref, b.x, &t, 1, 0);
    ck_assert_int_eq(dp_train_batch(q.p, b.x, &t, 1, 0, &loss, NULL), KE_OK);
    dp_reduce(q.p, 1);
    /* one row: shard 0 alone, so the gradient is the same bits */
    ck_assert(memcmp(mlp_grads(q.m), mlp_grads(q.ref), mlp_n_params(q.m) * sizeof(float)) == 0);
    pair_free(&q);
}
END_TEST

START_TEST(evaluation_matches_one_model)
{
    batch b;
    fill(&b, 9);
    mlp_config c = config(MLP_LOSS_SOFTMAX_XENT, 0.3f);
    pair q = pair_new(&c, 3);
    mlp_target t = { b.labels, NULL, NULL, NULL };
    float want_loss, got_loss;
    int want_right, got_right;
    ck_assert_int_eq(mlp_eval_batch(q.ref, b.x, &t, 50, &want_loss, &want_right, NULL), KE_OK);
    ck_assert_int_eq(dp_eval_batch(q.p, b.x, &t, 50, &got_loss, &got_right, NULL, NULL), KE_OK);
    ck_assert_int_eq(got_right, want_right);
    ck_assert_float_eq_tol(got_loss, want_loss, 1e-6f * want_loss);
    /* MSE on class labels: counts come from the labels whatever the loss */
    mlp_config cm = config(MLP_LOSS_MSE, 0);
    pair qm = pair_new(&cm, 2);
    mlp_target tm = { b.labels, b.targets, NULL, NULL };
    ck_assert_int_eq(mlp_eval_batch(qm.ref, b.x, &tm, 50, &want_loss, NULL, NULL), KE_OK);
    want_right = mlp_count_correct(mlp_logits(qm.ref), b.labels, 50, N_OUT);
    ck_assert_int_eq(dp_eval_batch(qm.p, b.x, &tm, 50, &got_loss, &got_right, NULL, NULL), KE_OK);
    ck_assert_int_eq(got_right, want_right);
    ck_assert_float_eq_tol(got_loss, want_loss, 1e-6f * want_loss);
    pair_free(&qm);
    pair_free(&q);
}
END_TEST

/* Dropout: two runs from the same seed give the same bits, the masks differ
 * between shards, and only the primary's RNG state moves (what a checkpoint
 * saves). */
START_TEST(dropout_is_reproducible)
{
    batch b;
    fill(&b, 11);
    mlp_config c = config(MLP_LOSS_SOFTMAX_XENT, 0.5f);
    mlp *m1 = create(&c), *m2 = create(&c);
    dp *p1 = pool(m1, 2), *p2 = pool(m2, 2);
    mlp_target t = { b.labels, NULL, NULL, NULL };
    float l1, l2;
    uint64_t before[MLP_RNG_WORDS], after[MLP_RNG_WORDS];
    mlp_rng_get(m1, before);
    for (int step = 0; step < 3; step++) {
        ck_assert_int_eq(dp_train_batch(p1, b.x, &t, 64, 0, &l1, NULL), KE_OK);
        ck_assert_int_eq(dp_train_batch(p2, b.x, &t, 64, 0, &l2, NULL), KE_OK);
        dp_reduce(p1, 1);
        dp_reduce(p2, 1);
        ck_assert(memcmp(&l1, &l2, sizeof l1) == 0);
        ck_assert(memcmp(mlp_grads(m1), mlp_grads(m2), mlp_n_params(m1) * sizeof(float)) == 0);
    }
    mlp_rng_get(m1, after);
    ck_assert(memcmp(before, after, sizeof before) != 0);
    /* a fork gives the shard a stream of its own, different per shard */
    mlp *r1 = NULL, *r2 = NULL;
    ck_assert_int_eq(mlp_replica(&r1, m2, NULL), KE_OK);
    ck_assert_int_eq(mlp_replica(&r2, m2, NULL), KE_OK);
    mlp_rng_fork(m2, r1, 1);
    mlp_rng_fork(m2, r2, 2);
    uint64_t s0[MLP_RNG_WORDS], s1[MLP_RNG_WORDS], s2[MLP_RNG_WORDS];
    mlp_rng_get(m2, s0);
    mlp_rng_get(r1, s1);
    mlp_rng_get(r2, s2);
    ck_assert(memcmp(s0, s1, sizeof s0) != 0 && memcmp(s1, s2, sizeof s1) != 0);
    mlp_free(r1);
    mlp_free(r2);
    dp_free(p2);
    mlp_free(m2);
    dp_free(p1);
    mlp_free(m1);
}
END_TEST

/* dp_step (reduction and mean over k batches, then the update split across
 * the threads) gives the bits of the sum, the mean and optim_step on one
 * thread. */
START_TEST(step_matches_optim_step)
{
    const optim_kind kinds[] = { OPTIM_ADAM, OPTIM_MOMENTUM, OPTIM_RMSPROP, OPTIM_ADAM };
    batch b;
    fill(&b, 13);
    mlp_target t = { b.labels, NULL, NULL, NULL };
    for (int ki = 0; ki < 4; ki++) {
        mlp_config c = config(MLP_LOSS_SOFTMAX_XENT, 0);
        c.batchnorm = ki == 3;   /* gamma and beta updated with the weights */
        mlp *m1 = create(&c), *m2 = create(&c);
        dp *p1 = pool(m1, 3), *p2 = pool(m2, 3);
        optim_config oc;
        optim_config_default(&oc);
        oc.kind = kinds[ki];
        oc.weight_decay = 0.01f;
        oc.l2 = 0.001f;
        oc.clip_norm = ki == 1 ? 0.05f : 0;
        optim o1, o2;
        size_t n = mlp_n_params(m1);
        int nt;
        const mlp_tensor *t1 = mlp_tensors(m1, &nt), *t2 = mlp_tensors(m2, &nt);
        ck_assert_int_eq(optim_init(&o1, &oc, n, t1, nt, NULL), KE_OK);
        ck_assert_int_eq(optim_init(&o2, &oc, n, t2, nt, NULL), KE_OK);
        float loss;
        for (int step = 0; step < 3; step++) {
            for (int k = 0; k < 2; k++) {
                ck_assert_int_eq(dp_train_batch(p1, b.x + k * 32 * N_IN, &t, 32, k, &loss, NULL), KE_OK);
                ck_assert_int_eq(dp_train_batch(p2, b.x + k * 32 * N_IN, &t, 32, k, &loss, NULL), KE_OK);
            }
            dp_reduce(p1, 1);
            for (size_t i = 0; i < n; i++) mlp_grads(m1)[i] /= 2.0f;
            optim_step(&o1, mlp_params(m1), mlp_grads(m1), 0.01f);
            dp_step(p2, &o2, 2, 0.01f);
            ck_assert_msg(memcmp(mlp_params(m1), mlp_params(m2), n * sizeof(float)) == 0,
                          "case %d step %d: parameters differ", ki, step);
        }
        optim_free(&o1);
        optim_free(&o2);
        dp_free(p1);
        dp_free(p2);
        mlp_free(m1);
        mlp_free(m2);
    }
}
END_TEST

/* Records which thread's call covered each row. */
typedef struct {
    pthread_t caller;
    int covered[MAXB], by_caller[MAXB], thread[MAXB];
} rows_log;

static void log_rows(void *ctx, int thread, size_t lo, size_t hi)
{
    rows_log *r = ctx;
    for (size_t i = lo; i < hi; i++) {
        r->covered[i]++;
        r->by_caller[i] = pthread_equal(pthread_self(), r->caller);
        r->thread[i] = thread;
    }
}

/* dp_rows hands each thread exactly its training shard: every row once, the
 * caller's thread the first shard, another thread each of the rest; a batch
 * smaller than the thread count leaves the empty shards out. */
START_TEST(rows_are_the_shards)
{
    mlp_config c = config(MLP_LOSS_SOFTMAX_XENT, 0);
    mlp *m = create(&c);
    dp *p = pool(m, 3);
    for (int B = 1; B <= MAXB; B += 18) {
        rows_log r;
        memset(&r, 0, sizeof r);
        r.caller = pthread_self();
        dp_rows(p, B, log_rows, &r);
        for (int i = 0; i < MAXB; i++) {
            ck_assert_int_eq(r.covered[i], i < B);
            if (i < B) ck_assert_int_eq(r.by_caller[i], i < B / 3);
            if (i < B) ck_assert_int_eq(r.thread[i], i < B / 3 ? 0 : i < 2 * B / 3 ? 1 : 2);
        }
    }
    dp_free(p);
    mlp_free(m);
}
END_TEST

/* Batch norm in shards: a batch of one row with three threads (two shards
 * without rows, which must not wait for each other's sums), then full
 * batches: statistics, running statistics and gradients as one model's. */
START_TEST(batchnorm_shards_share_statistics)
{
    batch b;
    fill(&b, 17);
    mlp_config c = config(MLP_LOSS_SOFTMAX_XENT, 0);
    c.batchnorm = 1;
    pair q = pair_new(&c, 3);
    mlp_target t = { b.labels, NULL, NULL, NULL };
    float loss;
    for (int B = 1; B <= MAXB; B += 21) {
        one_model(q.ref, b.x, &t, B, 0);
        ck_assert_int_eq(dp_train_batch(q.p, b.x, &t, B, 0, &loss, NULL), KE_OK);
        dp_reduce(q.p, 1);
        assert_close(mlp_grads(q.m), mlp_grads(q.ref), mlp_n_params(q.m), 1e-4f);
        assert_close(mlp_params(q.m), mlp_params(q.ref), mlp_n_state(q.m), 1e-5f);
    }
    /* and evaluation with the running statistics */
    float want, got;
    ck_assert_int_eq(mlp_eval_batch(q.ref, b.x, &t, 50, &want, NULL, NULL), KE_OK);
    ck_assert_int_eq(dp_eval_batch(q.p, b.x, &t, 50, &got, NULL, NULL, NULL), KE_OK);
    ck_assert_float_eq_tol(got, want, 1e-5f * want);
    pair_free(&q);
}
END_TEST

START_TEST(refuses_one_thread)
{
    mlp_config c = config(MLP_LOSS_SOFTMAX_XENT, 0);
    mlp *m = create(&c);
    dp *p = NULL;
    kerror err;
    ck_assert_int_eq(dp_create(&p, m, 1, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "threads");
    ck_assert_ptr_null(p);
    mlp_free(m);
}
END_TEST

static Suite *dp_suite(void)
{
    Suite *s = suite_create("dp");
    TCase *tc = tcase_create("dp");
    tcase_add_test(tc, gradients_match_one_model);
    tcase_add_test(tc, accumulation_and_tiny_batches);
    tcase_add_test(tc, evaluation_matches_one_model);
    tcase_add_test(tc, dropout_is_reproducible);
    tcase_add_test(tc, step_matches_optim_step);
    tcase_add_test(tc, rows_are_the_shards);
    tcase_add_test(tc, batchnorm_shards_share_statistics);
    tcase_add_test(tc, refuses_one_thread);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    openblas_set_num_threads(1);   /* what dp.h asks of its caller (and the own kernels' path) */
    return check_run(dp_suite());
}
