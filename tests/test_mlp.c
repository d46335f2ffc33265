/* test_mlp: the whole model: config validation, the tensor table and arena
 * layout, whole-network gradient checks (batch norm, dropout with a replayed
 * mask, each loss), init statistics, train vs eval mode, partial batches,
 * determinism and RNG save/restore, gradient accumulation, and a small
 * network trained with plain SGD to near-perfect accuracy on XOR. */
#include <check.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../trainer/mlp.h"
#include "gradcheck.h"

static const int widths_2[2] = { 6, 5 };

static mlp_config small_config(void)
{
    mlp_config c;
    mlp_config_default(&c);
    c.n_in = 4;
    c.n_layers = 2;
    c.widths = widths_2;
    c.n_out = 3;
    c.max_batch = 8;
    c.seed = 42;
    return c;
}

static mlp *create_ok(const mlp_config *c)
{
    mlp *m = NULL;
    kerror err;
    kerror_clear(&err);
    int rc = mlp_create(&m, c, &err);
    ck_assert_msg(rc == KE_OK, "mlp_create: %s: %s", err.path, err.msg);
    return m;
}

static const mlp_tensor *find_tensor(const mlp *m, const char *name)
{
    int n;
    const mlp_tensor *t = mlp_tensors(m, &n);
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return &t[i];
    return NULL;
}

START_TEST(test_config_validation)
{
    static const int bad_widths[2] = { 6, 0 };
    struct { const char *path; mlp_config c; } cases[6];
    for (int i = 0; i < 6; i++) cases[i].c = small_config();
    cases[0].path = "n_in";            cases[0].c.n_in = 0;
    cases[1].path = "widths[1]";       cases[1].c.widths = bad_widths;
    cases[2].path = "dropout";         cases[2].c.dropout = 1.0f;
    cases[3].path = "n_out";           cases[3].c.n_out = 1;
    cases[4].path = "max_batch";       cases[4].c.max_batch = 0;
    cases[5].path = "label_smoothing"; cases[5].c.label_smoothing = -0.1f;
    for (int i = 0; i < 6; i++) {
        mlp *m = (mlp *)1;
        kerror err;
        kerror_clear(&err);
        ck_assert_int_eq(mlp_create(&m, &cases[i].c, &err), KE_INVALID);
        ck_assert_ptr_null(m);
        ck_assert_str_eq(err.path, cases[i].path);
    }
    /* MSE allows a single output */
    mlp_config c = small_config();
    c.loss = MLP_LOSS_MSE;
    c.n_out = 1;
    mlp_free(create_ok(&c));
}
END_TEST

START_TEST(test_tensor_table)
{
    mlp_config c = small_config();
    c.batchnorm = 1;
    mlp *m = create_ok(&c);
    static const struct { const char *name; int rows, cols, is_weight, trainable; } want[] = {
        { "h0.W", 6, 4, 1, 1 }, { "h0.gamma", 6, 1, 0, 1 }, { "h0.beta", 6, 1, 0, 1 },
        { "h1.W", 5, 6, 1, 1 }, { "h1.gamma", 5, 1, 0, 1 }, { "h1.beta", 5, 1, 0, 1 },
        { "out.W", 3, 5, 1, 1 }, { "out.b", 3, 1, 0, 1 },
        { "h0.run_mean", 6, 1, 0, 0 }, { "h0.run_var", 6, 1, 0, 0 },
        { "h1.run_mean", 5, 1, 0, 0 }, { "h1.run_var", 5, 1, 0, 0 },
    };
    int n;
    const mlp_tensor *t = mlp_tensors(m, &n);
    ck_assert_int_eq(n, 12);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_str_eq(t[i].name, want[i].name);
        ck_assert_int_eq(t[i].rows, want[i].rows);
        ck_assert_int_eq(t[i].cols, want[i].cols);
        ck_assert_int_eq(t[i].is_weight, want[i].is_weight);
        ck_assert_int_eq(t[i].trainable, want[i].trainable);
        ck_assert_uint_eq(t[i].offset, off);   /* contiguous, no gaps */
        off += (size_t)t[i].rows * t[i].cols;
    }
    ck_assert_uint_eq(mlp_n_params(m), 24 + 12 + 30 + 10 + 15 + 3);
    ck_assert_uint_eq(mlp_n_state(m), off);
    /* BN starts as the identity: gamma 1, beta 0, running mean 0, var 1 */
    const float *p = mlp_params(m);
    ck_assert_float_eq(p[find_tensor(m, "h1.gamma")->offset + 4], 1.0f);
    ck_assert_float_eq(p[find_tensor(m, "h1.beta")->offset + 4], 0.0f);
    ck_assert_float_eq(p[find_tensor(m, "h0.run_var")->offset], 1.0f);
    ck_assert_float_eq(p[find_tensor(m, "out.b")->offset], 0.0f);
    mlp_free(m);
    /* without BN every hidden dense has a bias and there are no running stats */
    c.batchnorm = 0;
    m = create_ok(&c);
    ck_assert_ptr_nonnull(find_tensor(m, "h1.b"));
    ck_assert_ptr_null(find_tensor(m, "h1.gamma"));
    ck_assert_uint_eq(mlp_n_params(m), mlp_n_state(m));
    mlp_free(m);
}
END_TEST

/* The arenas and every activation array start on a cache line, whatever
 * the widths: the GEMM kernels' vector loads then never straddle two lines. */
START_TEST(test_arrays_on_cache_lines)
{
    mlp_config c = small_config();
    c.max_batch = 7;   /* odd sizes, so only rounding each array keeps the next aligned */
    mlp *m = create_ok(&c), *r = NULL;
    kerror err;
    ck_assert_int_eq(mlp_replica(&r, m, &err), KE_OK);
    const void *ptrs[] = {mlp_params(m), mlp_grads(m), mlp_logits(m), mlp_logits(r)};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++)
        ck_assert_msg((uintptr_t)ptrs[i] % 64 == 0, "array %zu at %p", i, ptrs[i]);
    mlp_free(r);
    mlp_free(m);
}
END_TEST

/* Whole network: the loss as a function of the parameter arena, with the
 * dropout RNG replayed so every evaluation sees the same mask. */
typedef struct {
    mlp *m;
    const float *x;
    const mlp_target *t;
    int B;
    uint64_t rng[MLP_RNG_WORDS];
} net_ctx;

static double net_loss(void *p)
{
    net_ctx *c = p;
    mlp_rng_set(c->m, c->rng);
    ck_assert_int_eq(mlp_forward(c->m, c->x, c->B, 1, NULL), KE_OK);
    return mlp_loss_forward_backward(c->m, c->t, c->B);
}

typedef struct { layers_act act; int bn; float dropout; mlp_loss loss; float smoothing; int distill; } net_variant;

static const net_variant variants[] = {
    { LAYERS_ACT_GELU, 1, 0.3f, MLP_LOSS_SOFTMAX_XENT, 0.1f, 0 },
    { LAYERS_ACT_TANH, 0, 0.0f, MLP_LOSS_MSE, 0.0f, 0 },
    { LAYERS_ACT_SIGMOID, 1, 0.0f, MLP_LOSS_SOFTMAX_XENT, 0.0f, 1 },
    { LAYERS_ACT_TANH, 0, 0.5f, MLP_LOSS_SOFTMAX_XENT, 0.0f, 0 },
};

START_TEST(test_network_gradient)
{
    const net_variant *v = &variants[_i];
    mlp_config c = small_config();
    c.act = v->act;
    c.batchnorm = v->bn;
    c.dropout = v->dropout;
    c.loss = v->loss;
    c.label_smoothing = v->smoothing;
    c.distill_temperature = 2.0f;
    c.distill_alpha = 0.6f;
    c.init = MLP_INIT_XAVIER_NORMAL;
    mlp *m = create_ok(&c);
    enum { B = 5 };   /* a partial batch: max_batch is 8 */
    float x[B * 4], targets[B * 3], teacher[B * 3], tl[B * 3];
    int labels[B] = { 0, 2, 1, 2, 0 };
    uint64_t s = 100 + (uint64_t)_i;
    gc_fill(x, B * 4, -1.5f, 1.5f, &s);
    gc_fill(targets, B * 3, -1, 1, &s);
    gc_fill(tl, B * 3, -2, 2, &s);
    mlp_softmax(teacher, tl, B, 3, c.distill_temperature);
    mlp_target t = { labels, targets, v->distill ? teacher : NULL, NULL };
    net_ctx ctx = { m, x, &t, B, { 0 } };
    mlp_rng_get(m, ctx.rng);
    net_loss(&ctx);
    mlp_backward(m, x, B, 0);
    size_t n = mlp_n_params(m);
    float *g = malloc(n * sizeof *g);
    memcpy(g, mlp_grads(m), n * sizeof *g);
    gc_result r = gc_check(net_loss, &ctx, mlp_params(m), g, n, 5e-3f, 2e-4, 1e-2);
    ck_assert_msg(r.worst <= 1.0, "variant %d: param %zu analytic %g numeric %g",
                  _i, r.at, r.analytic, r.numeric);
    free(g);
    mlp_free(m);
}
END_TEST

START_TEST(test_init_statistics)
{
    static const int w[1] = { 600 };
    mlp_config c = small_config();
    c.n_in = 400;
    c.n_layers = 1;
    c.widths = w;
    c.init = (mlp_init)_i;
    mlp *m = create_ok(&c);
    const mlp_tensor *t = find_tensor(m, "h0.W");
    const float *W = mlp_params(m) + t->offset;
    size_t n = (size_t)t->rows * t->cols;
    double sum = 0.0, ss = 0.0, amax = 0.0;
    for (size_t i = 0; i < n; i++) {
        sum += W[i];
        ss += (double)W[i] * W[i];
        if (fabs(W[i]) > amax) amax = fabs(W[i]);
    }
    double mean = sum / n, var = ss / n - mean * mean;
    int xavier = c.init == MLP_INIT_XAVIER_UNIFORM || c.init == MLP_INIT_XAVIER_NORMAL;
    double want = xavier ? 2.0 / (400 + 600) : 2.0 / 400;
    ck_assert_msg(fabs(mean) < 4.0 * sqrt(want / n), "init %d mean %g", _i, mean);
    ck_assert_msg(fabs(var / want - 1.0) < 0.02, "init %d var %g want %g", _i, var, want);
    if (c.init == MLP_INIT_XAVIER_UNIFORM || c.init == MLP_INIT_HE_UNIFORM)
        ck_assert_double_le(amax, sqrt(3.0 * want));
    else
        ck_assert_double_gt(amax, sqrt(3.0 * want));   /* a normal has tails past the uniform bound */
    mlp_free(m);
}
END_TEST

START_TEST(test_batchnorm_train_vs_eval)
{
    static const int w[1] = { 3 };
    mlp_config c = small_config();
    c.n_layers = 1;
    c.widths = w;
    c.batchnorm = 1;
    c.bn_momentum = 1.0f;   /* running stats become the last batch's */
    mlp *m = create_ok(&c);
    enum { B = 8 };
    float x[B * 4];
    uint64_t s = 7;
    gc_fill(x, B * 4, -1, 2, &s);
    float *p = mlp_params(m);
    ck_assert_int_eq(mlp_forward(m, x, B, 1, NULL), KE_OK);
    const float *W = p + find_tensor(m, "h0.W")->offset;
    const float *rm = p + find_tensor(m, "h0.run_mean")->offset;
    const float *rv = p + find_tensor(m, "h0.run_var")->offset;
    for (int j = 0; j < 3; j++) {
        double z[B], mu = 0.0, ss = 0.0;
        for (int b = 0; b < B; b++) {
            z[b] = 0.0;
            for (int k = 0; k < 4; k++) z[b] += (double)x[b * 4 + k] * W[j * 4 + k];
            mu += z[b] / B;
        }
        for (int b = 0; b < B; b++) ss += (z[b] - mu) * (z[b] - mu);
        ck_assert_double_eq_tol(rm[j], mu, 1e-5);
        ck_assert_double_eq_tol(rv[j], ss / (B - 1), 1e-5);
    }
    /* evaluation reads the running stats and leaves them alone */
    float saved[6], eval1[B * 3];
    memcpy(saved, rm, 3 * sizeof *rm);
    memcpy(saved + 3, rv, 3 * sizeof *rv);
    ck_assert_int_eq(mlp_forward(m, x, B, 0, NULL), KE_OK);
    memcpy(eval1, mlp_logits(m), sizeof eval1);
    ck_assert_int_eq(memcmp(saved, rm, 3 * sizeof *rm), 0);
    ck_assert_int_eq(memcmp(saved + 3, rv, 3 * sizeof *rv), 0);
    /* a training forward on another batch moves them, so evaluation changes */
    float x2[B * 4];
    gc_fill(x2, B * 4, -3, 0, &s);
    ck_assert_int_eq(mlp_forward(m, x2, B, 1, NULL), KE_OK);
    ck_assert_int_eq(mlp_forward(m, x, B, 0, NULL), KE_OK);
    ck_assert_int_ne(memcmp(eval1, mlp_logits(m), sizeof eval1), 0);
    mlp_free(m);
}
END_TEST

START_TEST(test_dropout_train_vs_eval)
{
    mlp_config c = small_config();
    c.dropout = 0.5f;
    mlp *a = create_ok(&c);
    c.dropout = 0.0f;
    mlp *b = create_ok(&c);
    /* the init stream does not depend on dropout */
    ck_assert_int_eq(memcmp(mlp_params(a), mlp_params(b), mlp_n_state(a) * sizeof(float)), 0);
    enum { B = 8 };
    float x[B * 4], l1[B * 3], l2[B * 3];
    uint64_t s = 9;
    gc_fill(x, B * 4, -1, 1, &s);
    ck_assert_int_eq(mlp_forward(a, x, B, 0, NULL), KE_OK);
    ck_assert_int_eq(mlp_forward(b, x, B, 0, NULL), KE_OK);
    ck_assert_int_eq(memcmp(mlp_logits(a), mlp_logits(b), sizeof l1), 0);
    /* training draws a fresh mask per call; restoring the RNG replays it */
    uint64_t st[MLP_RNG_WORDS];
    mlp_rng_get(a, st);
    ck_assert_int_eq(mlp_forward(a, x, B, 1, NULL), KE_OK);
    memcpy(l1, mlp_logits(a), sizeof l1);
    ck_assert_int_ne(memcmp(l1, mlp_logits(b), sizeof l1), 0);
    ck_assert_int_eq(mlp_forward(a, x, B, 1, NULL), KE_OK);
    memcpy(l2, mlp_logits(a), sizeof l2);
    ck_assert_int_ne(memcmp(l1, l2, sizeof l1), 0);
    mlp_rng_set(a, st);
    ck_assert_int_eq(mlp_forward(a, x, B, 1, NULL), KE_OK);
    ck_assert_int_eq(memcmp(l1, mlp_logits(a), sizeof l1), 0);
    mlp_free(a);
    mlp_free(b);
}
END_TEST

START_TEST(test_partial_batch)
{
    mlp_config c = small_config();
    c.batchnorm = 1;
    mlp *m = create_ok(&c);
    float x[8 * 4], full[8 * 3];
    uint64_t s = 11;
    gc_fill(x, 8 * 4, -1, 1, &s);
    ck_assert_int_eq(mlp_forward(m, x, 8, 0, NULL), KE_OK);
    memcpy(full, mlp_logits(m), sizeof full);
    ck_assert_int_eq(mlp_forward(m, x, 3, 0, NULL), KE_OK);
    for (int i = 0; i < 3 * 3; i++) ck_assert_float_eq_tol(mlp_logits(m)[i], full[i], 1e-6);
    kerror err;
    kerror_clear(&err);
    ck_assert_int_eq(mlp_forward(m, x, 9, 1, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "batch");
    ck_assert_int_eq(mlp_forward(m, x, 0, 1, NULL), KE_INVALID);
    /* a batch of one still trains with BN: no NaN anywhere */
    int label = 1;
    mlp_target t = { &label, NULL, NULL, NULL };
    ck_assert_int_eq(mlp_forward(m, x, 1, 1, NULL), KE_OK);
    ck_assert(isfinite(mlp_loss_forward_backward(m, &t, 1)));
    mlp_backward(m, x, 1, 0);
    for (size_t i = 0; i < mlp_n_state(m); i++) ck_assert(isfinite(mlp_params(m)[i]));
    for (size_t i = 0; i < mlp_n_params(m); i++) ck_assert(isfinite(mlp_grads(m)[i]));
    mlp_free(m);
}
END_TEST

/* A few SGD steps on a fixed batch; what two runs must agree on. */
static void sgd_steps(mlp *m, const float *x, const mlp_target *t, int B, int steps)
{
    for (int k = 0; k < steps; k++) {
        ck_assert_int_eq(mlp_forward(m, x, B, 1, NULL), KE_OK);
        mlp_loss_forward_backward(m, t, B);
        mlp_backward(m, x, B, 0);
        float *p = mlp_params(m);
        const float *g = mlp_grads(m);
        for (size_t i = 0; i < mlp_n_params(m); i++) p[i] -= 0.1f * g[i];
    }
}

START_TEST(test_determinism_and_restore)
{
    mlp_config c = small_config();
    c.batchnorm = 1;
    c.dropout = 0.2f;
    float x[8 * 4];
    int labels[8] = { 0, 1, 2, 0, 1, 2, 0, 1 };
    mlp_target t = { labels, NULL, NULL, NULL };
    uint64_t s = 13;
    gc_fill(x, 8 * 4, -1, 1, &s);
    mlp *a = create_ok(&c), *b = create_ok(&c);
    sgd_steps(a, x, &t, 8, 3);
    sgd_steps(b, x, &t, 8, 3);
    size_t bytes = mlp_n_state(a) * sizeof(float);
    ck_assert_int_eq(memcmp(mlp_params(a), mlp_params(b), bytes), 0);
    /* a checkpoint is the state floats plus the RNG: restore it into a model
     * from another seed and both continue identically */
    c.seed = 43;
    mlp *r = create_ok(&c);
    ck_assert_int_ne(memcmp(mlp_params(a), mlp_params(r), bytes), 0);
    uint64_t st[MLP_RNG_WORDS];
    memcpy(mlp_params(r), mlp_params(a), bytes);
    mlp_rng_get(a, st);
    mlp_rng_set(r, st);
    sgd_steps(a, x, &t, 8, 2);
    sgd_steps(r, x, &t, 8, 2);
    ck_assert_int_eq(memcmp(mlp_params(a), mlp_params(r), bytes), 0);
    /* reinit with the first seed is a fresh model again */
    mlp_reinit(a, 42);
    mlp *fresh = create_ok(&(mlp_config){ .n_in = 4, .n_layers = 2, .widths = widths_2, .n_out = 3,
                                          .act = c.act, .bn_momentum = c.bn_momentum,
                                          .bn_eps = c.bn_eps, .batchnorm = 1, .dropout = 0.2f,
                                          .init = c.init, .seed = 42, .max_batch = 8,
                                          .distill_temperature = 1.0f });
    ck_assert_int_eq(memcmp(mlp_params(a), mlp_params(fresh), bytes), 0);
    mlp_free(a);
    mlp_free(b);
    mlp_free(r);
    mlp_free(fresh);
}
END_TEST

START_TEST(test_accumulate)
{
    mlp_config c = small_config();
    c.batchnorm = 1;
    c.dropout = 0.2f;
    mlp *m = create_ok(&c);
    float x[8 * 4];
    int labels[8] = { 2, 1, 0, 0, 1, 2, 2, 1 };
    mlp_target t = { labels, NULL, NULL, NULL };
    uint64_t s = 17;
    gc_fill(x, 8 * 4, -1, 1, &s);
    ck_assert_int_eq(mlp_forward(m, x, 8, 1, NULL), KE_OK);
    mlp_loss_forward_backward(m, &t, 8);
    mlp_backward(m, x, 8, 0);
    size_t n = mlp_n_params(m);
    float *g1 = malloc(n * sizeof *g1);
    memcpy(g1, mlp_grads(m), n * sizeof *g1);
    mlp_backward(m, x, 8, 1);
    for (size_t i = 0; i < n; i++)
        ck_assert_float_eq_tol(mlp_grads(m)[i], 2.0f * g1[i], 1e-6f + 1e-5f * fabsf(g1[i]));
    mlp_backward(m, x, 8, 0);
    for (size_t i = 0; i < n; i++) ck_assert_float_eq_tol(mlp_grads(m)[i], g1[i], 1e-6f);
    mlp_grads_zero(m);
    for (size_t i = 0; i < n; i++) ck_assert_float_eq(mlp_grads(m)[i], 0.0f);
    free(g1);
    mlp_free(m);
}
END_TEST

/* XOR: label = (x0 x1 > 0), points kept 0.1 away from the axes. Minibatch
 * SGD with a partial last batch (250 = 7 x 32 + 26). */
START_TEST(test_train_xor)
{
    enum { N = 250, BS = 32 };
    static const int w[2] = { 16, 16 };
    mlp_config c;
    mlp_config_default(&c);
    c.n_in = 2;
    c.n_layers = 2;
    c.widths = w;
    c.n_out = 2;
    c.max_batch = BS;
    c.seed = 5;
    c.act = _i ? LAYERS_ACT_RELU : LAYERS_ACT_TANH;
    c.batchnorm = _i;
    c.init = _i ? MLP_INIT_HE_NORMAL : MLP_INIT_XAVIER_UNIFORM;
    mlp *m = create_ok(&c);
    static float x[N * 2];
    static int y[N];
    uint64_t s = 3;
    for (int i = 0; i < N; i++) {
        for (int d = 0; d < 2; d++) {
            float v = 0.1f + 0.9f * (float)gc_uniform(&s);
            x[i * 2 + d] = gc_uniform(&s) < 0.5 ? -v : v;
        }
        y[i] = x[i * 2] * x[i * 2 + 1] > 0;
    }
    for (int epoch = 0; epoch < 200; epoch++)
        for (int off = 0; off < N; off += BS) {
            int B = N - off < BS ? N - off : BS;
            mlp_target t = { y + off, NULL, NULL, NULL };
            ck_assert_int_eq(mlp_forward(m, x + off * 2, B, 1, NULL), KE_OK);
            mlp_loss_forward_backward(m, &t, B);
            mlp_backward(m, x + off * 2, B, 0);
            float *p = mlp_params(m);
            const float *g = mlp_grads(m);
            for (size_t i = 0; i < mlp_n_params(m); i++) p[i] -= 0.2f * g[i];
        }
    int correct = 0;
    float loss_sum = 0.0f;
    for (int off = 0; off < N; off += BS) {
        int B = N - off < BS ? N - off : BS, k;
        float loss;
        mlp_target t = { y + off, NULL, NULL, NULL };
        ck_assert_int_eq(mlp_eval_batch(m, x + off * 2, &t, B, &loss, &k, NULL), KE_OK);
        correct += k;
        loss_sum += loss * B;
    }
    ck_assert_msg(correct >= N * 98 / 100, "variant %d: %d/%d correct, loss %g",
                  _i, correct, N, loss_sum / N);
    mlp_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mlp");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_config_validation);
    tcase_add_test(tc, test_tensor_table);
    tcase_add_test(tc, test_arrays_on_cache_lines);
    tcase_add_loop_test(tc, test_network_gradient, 0, (int)(sizeof variants / sizeof variants[0]));
    tcase_add_loop_test(tc, test_init_statistics, MLP_INIT_XAVIER_UNIFORM, MLP_INIT_HE_NORMAL + 1);
    tcase_add_test(tc, test_batchnorm_train_vs_eval);
    tcase_add_test(tc, test_dropout_train_vs_eval);
    tcase_add_test(tc, test_partial_batch);
    tcase_add_test(tc, test_determinism_and_restore);
    tcase_add_test(tc, test_accumulate);
    tcase_add_loop_test(tc, test_train_xor, 0, 2);
    suite_add_tcase(s, tc);
    return check_run(s);
}
