/* test_cuda: the CUDA trainer against the CPU trainer. With a device: every
 * layer's forward and backward (dense in fp32, bf16 and fp16; activations
 * with and without dropout mask; batch norm), every loss, every optimizer
 * with regularization and each clipping mode, a whole model, seeded dropout
 * masks, fp16 loss scaling skipping a non-finite step, and short training
 * runs (synthetic, Fashion-MNIST when installed) whose accuracy must match
 * the CPU's and whose checkpoints the CPU trainer resumes. Tolerances:
 * relative error (max abs difference over max abs CPU value) < 1e-4 in
 * fp32, < 1e-2 for one GEMM with 16-bit inputs (each operand rounded:
 * relative error up to 2u per product, u = 2^-8 for bf16, 2^-11 for fp16),
 * and for a whole bf16 model the bound of the GEMMs on the path (see
 * model_bf16).
 * The device probe runs in a child process: CUDA does not work in a
 * child forked after the parent initialized it, and Check forks a child
 * per test (CK_FORK=no, as compute-sanitizer needs, works too).
 * Without a device (or a CUDA build) the GPU checks are skipped with a
 * message and exit status 77 (automake's SKIP); a CUDA build still checks
 * that device=cuda fails clearly, device=auto falls back to the CPU, and
 * which device a context would use. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef HAVE_CUDA
#include "../cuda/device.h"
#include "../cuda/layers_cuda.h"
#include "../cuda/loss_cuda.h"
#include "../cuda/mlp_cuda.h"
#include "../cuda/optim_cuda.h"
#include "../trainer/dataset.h"
#include "../trainer/gemm.h"
#include "../trainer/layers.h"
#include "../trainer/loss.h"
#include "../trainer/optim.h"
#include "../trainer/rng.h"
#include "../trainer/train.h"
#include "check_main.h"
#include "train_fixture.h"
#include "train_resume.h"

#define TOL32 1e-4
#define TOL16 1e-2
#define MAX_ALLOCS 64

static cudev *dev;
static rng r;
static void *allocs[MAX_ALLOCS];
static int n_allocs;

static float *rand_host(size_t n, float scale)
{
    float *p = malloc(n * sizeof *p);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++) p[i] = scale * (float)(2.0 * rng_uniform(&r) - 1.0);
    return p;
}

/* Frees the device buffers made since mark (an earlier n_allocs), for
 * tests that allocate in a loop. */
static void release_to(int mark)
{
    while (n_allocs > mark) cudev_release(allocs[--n_allocs]);
}

/* A device copy of h (n floats; h NULL: zeros), freed at teardown. */
static float *to_dev(const float *h, size_t n)
{
    void *p;
    ck_assert_int_lt(n_allocs, MAX_ALLOCS);
    ck_assert_msg(cudev_alloc(dev, &p, n * sizeof(float), "test", &err) == KE_OK, "%s", err.msg);
    allocs[n_allocs++] = p;
    if (h) ck_assert_msg(cudev_upload(dev, p, h, n * sizeof(float), &err) == KE_OK, "%s", err.msg);
    return p;
}

static void *to_dev_bytes(const void *h, size_t bytes)
{
    return to_dev((const float *)h, (bytes + 3) / 4);
}

/* Fails unless the device array d (n floats) is within tol of cpu. */
static void expect_close(const float *d, const float *cpu, size_t n, double tol, const char *what)
{
    float *h = malloc(n * sizeof *h);
    ck_assert_msg(cudev_download(dev, h, d, n * sizeof *h, &err) == KE_OK, "%s", err.msg);
    double num = 0, den = 1e-3;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs((double)h[i] - cpu[i]));
        den = fmax(den, fabs((double)cpu[i]));
    }
    free(h);
    ck_assert_msg(num / den < tol, "%s: relative error %g >= %g", what, num / den, tol);
}

static void setup_with(cudev_precision p)
{
    rng_seed(&r, 42);
    kerror_clear(&err);
    n_allocs = 0;
    ck_assert_msg(cudev_create(&dev, p, &err) == KE_OK, "%s", err.msg);
    ck_assert_msg(cudev_reserve(dev, 1 << 20, &err) == KE_OK, "%s", err.msg);
}

static void setup32(void) { setup_with(CUDEV_FP32); }
static void setup_bf16(void) { setup_with(CUDEV_BF16); }
static void setup_fp16(void) { setup_with(CUDEV_FP16); }

static void teardown(void)
{
    for (int i = 0; i < n_allocs; i++) cudev_release(allocs[i]);
    cudev_free(dev);
    dev = NULL;
}

/* Dense forward and backward (accumulating onto non-zero gradients) at odd
 * sizes, against cblas. */
static void check_dense(double tol)
{
    int B = 37, k = 53, n = 29;
    float *x = rand_host((size_t)B * k, 1), *W = rand_host((size_t)n * k, 0.5f);
    float *dout = rand_host((size_t)B * n, 1), *dW = rand_host((size_t)n * k, 0.1f);
    float *db = rand_host((size_t)n, 0.1f), *out = malloc((size_t)B * n * sizeof(float));
    float *dx = malloc((size_t)B * k * sizeof(float));
    float *scratch = malloc(gemm_forward_scratch(B, k, n) * sizeof(float));
    float *gx = to_dev(x, (size_t)B * k), *gW = to_dev(W, (size_t)n * k), *gdout = to_dev(dout, (size_t)B * n);
    float *gdW = to_dev(dW, (size_t)n * k), *gdb = to_dev(db, (size_t)n), *gout = to_dev(NULL, (size_t)B * n);
    float *gdx = to_dev(NULL, (size_t)B * k);
    layers_dense_forward(out, x, W, B, k, n, scratch);
    layers_cuda_dense_forward(dev, gout, gx, gW, B, k, n);
    expect_close(gout, out, (size_t)B * n, tol, "dense forward");
    layers_dense_backward(dx, dW, db, dout, x, W, B, k, n, 1);
    layers_cuda_dense_backward(dev, gdx, gdW, gdb, gdout, gx, gW, B, k, n, 1);
    expect_close(gdW, dW, (size_t)n * k, tol, "dense dW");
    expect_close(gdb, db, (size_t)n, TOL32, "dense db");
    expect_close(gdx, dx, (size_t)B * k, tol, "dense dinp");
    free(x), free(W), free(dout), free(dW), free(db), free(out), free(dx), free(scratch);
}

START_TEST(dense_fp32) { check_dense(TOL32); }
END_TEST

START_TEST(dense_16bit) { check_dense(TOL16); }
END_TEST

START_TEST(activations_match_cpu)
{
    int B = 19, n = 41;
    size_t N = (size_t)B * n;
    float *a0 = rand_host(N, 3), *bias = rand_host((size_t)n, 1), *dh = rand_host(N, 1);
    float *mask = malloc(N * sizeof *mask), *a = malloc(N * sizeof *a), *h = malloc(N * sizeof *h);
    float *da = malloc(N * sizeof *da);
    for (size_t i = 0; i < N; i++) mask[i] = rng_uniform(&r) < 0.3 ? 0.0f : 1.0f / 0.7f;
    float *gmask = to_dev(mask, N), *gbias = to_dev(bias, (size_t)n), *gdh = to_dev(dh, N);
    float *ga = to_dev(NULL, N), *gh = to_dev(NULL, N), *gda = to_dev(NULL, N);
    for (int act = LAYERS_ACT_RELU; act <= LAYERS_ACT_GELU; act++)
        for (int with_mask = 0; with_mask < 2; with_mask++) {
            const float *m = with_mask ? mask : NULL;
            memcpy(a, a0, N * sizeof *a);
            ck_assert_int_eq(cudev_upload(dev, ga, a0, N * sizeof *a, &err), KE_OK);
            layers_act_forward(h, a, bias, m, B, n, (layers_act)act, 0.01f);
            layers_cuda_act_forward(dev, gh, ga, gbias, with_mask ? gmask : NULL, B, n, (layers_act)act, 0.01f);
            expect_close(ga, a, N, TOL32, "activation pre-activation");
            expect_close(gh, h, N, TOL32, "activation forward");
            layers_act_backward(da, dh, a, m, B, n, (layers_act)act, 0.01f);
            layers_cuda_act_backward(dev, gda, gdh, ga, with_mask ? gmask : NULL, B, n, (layers_act)act, 0.01f);
            expect_close(gda, da, N, TOL32, "activation backward");
        }
    free(a0), free(bias), free(dh), free(mask), free(a), free(h), free(da);
}
END_TEST

START_TEST(batchnorm_matches_cpu)
{
    int B = 33, n = 17;
    size_t N = (size_t)B * n;
    float *z = rand_host(N, 2), *gamma = rand_host((size_t)n, 1), *beta = rand_host((size_t)n, 1);
    float *rm = rand_host((size_t)n, 0.1f), *rv = malloc((size_t)n * sizeof *rv), *dy = rand_host(N, 1);
    for (int j = 0; j < n; j++) rv[j] = 1.0f + 0.5f * (float)rng_uniform(&r);
    float *y = malloc(N * 4), *xhat = malloc(N * 4), *mean = malloc((size_t)n * 4), *inv = malloc((size_t)n * 4);
    float *dz = malloc(N * 4), *dg = rand_host((size_t)n, 0.1f), *dbt = rand_host((size_t)n, 0.1f);
    float *work = malloc(2 * (size_t)n * 4);
    float *gz = to_dev(z, N), *ggamma = to_dev(gamma, (size_t)n), *gbeta = to_dev(beta, (size_t)n);
    float *grm = to_dev(rm, (size_t)n), *grv = to_dev(rv, (size_t)n), *gdy = to_dev(dy, N);
    float *gy = to_dev(NULL, N), *gxhat = to_dev(NULL, N), *gmean = to_dev(NULL, (size_t)n);
    float *ginv = to_dev(NULL, (size_t)n), *gdz = to_dev(NULL, N), *gdg = to_dev(dg, (size_t)n);
    float *gdbt = to_dev(dbt, (size_t)n), *gwork = to_dev(NULL, 2 * (size_t)n);
    for (int training = 0; training < 2; training++) {
        layers_bn_forward(y, xhat, mean, inv, rm, rv, z, gamma, beta, B, n, 0.1f, 1e-5f, training,
                          NULL);
        layers_cuda_bn_forward(dev, gy, gxhat, gmean, ginv, grm, grv, gz, ggamma, gbeta, B, n, 0.1f, 1e-5f,
                               training);
        expect_close(gy, y, N, TOL32, "bn forward y");
        expect_close(gxhat, xhat, N, TOL32, "bn forward xhat");
        expect_close(grm, rm, (size_t)n, TOL32, "bn running mean");
        expect_close(grv, rv, (size_t)n, TOL32, "bn running var");
    }
    layers_bn_backward(dz, dg, dbt, dy, xhat, gamma, inv, work, B, n, 1, NULL);
    layers_cuda_bn_backward(dev, gdz, gdg, gdbt, gdy, gxhat, ggamma, ginv, gwork, B, n, 1);
    expect_close(gdz, dz, N, TOL32, "bn backward dz");
    expect_close(gdg, dg, (size_t)n, TOL32, "bn dgamma");
    expect_close(gdbt, dbt, (size_t)n, TOL32, "bn dbeta");
    free(z), free(gamma), free(beta), free(rm), free(rv), free(dy), free(y), free(xhat);
    free(mean), free(inv), free(dz), free(dg), free(dbt), free(work);
}
END_TEST

/* Mean of a device row-loss array (B) through loss_cuda_accumulate, and the
 * correct count when labels are given. */
static double mean_loss(const float *grow, const float *glogits, const int *glabels, int B, int C,
                        double *correct)
{
    double *gacc = to_dev_bytes(NULL, 2 * sizeof(double)), acc[2];
    loss_cuda_accumulate(dev, gacc, grow, glogits, glabels, B, C);
    ck_assert_int_eq(cudev_download(dev, acc, gacc, sizeof acc, &err), KE_OK);
    if (correct) *correct = acc[1];
    return acc[0] / B;
}

START_TEST(losses_match_cpu)
{
    int B = 23, C = 37;
    size_t N = (size_t)B * C;
    float *z = rand_host(N, 4), *tgt = rand_host(N, 1), *tz = rand_host(N, 3), *pt = malloc(N * 4);
    float *dl = malloc(N * 4);
    int *labels = malloc((size_t)B * sizeof *labels);
    for (int b = 0; b < B; b++) labels[b] = (int)rng_below(&r, (uint64_t)C);
    loss_softmax(pt, tz, B, C, 3.0f);
    float *gz = to_dev(z, N), *gt = to_dev(tgt, N), *gpt = to_dev(pt, N), *gdl = to_dev(NULL, N);
    float *grow = to_dev(NULL, (size_t)B), *gp = to_dev(NULL, N);
    int *glabels = to_dev_bytes(labels, (size_t)B * sizeof *labels);
    double correct;
    float cpu = loss_softmax_xent(dl, z, labels, B, C, 0.1f, NULL);
    loss_cuda_softmax_xent(dev, grow, gdl, gz, glabels, B, C, 0.1f, NULL);
    ck_assert_double_eq_tol(mean_loss(grow, gz, glabels, B, C, &correct), cpu, TOL32 * fabs(cpu));
    ck_assert_int_eq((int)correct, mlp_count_correct(z, labels, B, C));
    expect_close(gdl, dl, N, TOL32, "xent dlogits");
    cpu = loss_mse(dl, z, tgt, B, C);
    loss_cuda_mse(dev, grow, gdl, gz, gt, B, C, NULL);
    ck_assert_double_eq_tol(mean_loss(grow, gz, NULL, B, C, NULL), cpu, TOL32 * fabs(cpu));
    expect_close(gdl, dl, N, TOL32, "mse dlogits");
    cpu = loss_huber(dl, z, tgt, B, C, 0.5f);
    loss_cuda_huber(dev, grow, gdl, gz, gt, B, C, 0.5f, NULL);
    ck_assert_double_eq_tol(mean_loss(grow, gz, NULL, B, C, NULL), cpu, TOL32 * fabs(cpu));
    expect_close(gdl, dl, N, TOL32, "huber dlogits");
    cpu = loss_bce(dl, z, tgt, B, C);   /* targets outside [0, 1] still follow the formula */
    loss_cuda_bce(dev, grow, gdl, gz, gt, B, C, NULL);
    ck_assert_double_eq_tol(mean_loss(grow, gz, NULL, B, C, NULL), cpu, TOL32 * fabs(cpu));
    expect_close(gdl, dl, N, TOL32, "bce dlogits");
    cpu = loss_distill(dl, z, pt, labels, B, C, 3.0f, 0.7f, 0.05f);
    loss_cuda_distill(dev, grow, gdl, gz, gpt, glabels, B, C, 3.0f, 0.7f, 0.05f, NULL);
    ck_assert_double_eq_tol(mean_loss(grow, gz, glabels, B, C, NULL), cpu, TOL32 * fabs(cpu));
    expect_close(gdl, dl, N, TOL32, "distill dlogits");
    loss_softmax(dl, z, B, C, 2.0f);
    loss_cuda_softmax(dev, gp, gz, B, C, 2.0f);
    expect_close(gp, dl, N, TOL32, "softmax");
    free(z), free(tgt), free(tz), free(pt), free(dl), free(labels);
}
END_TEST

/* A small host model: its tensor table drives the optimizers. */
static mlp *small_model(int batchnorm, float dropout, int max_batch)
{
    static const int widths[2] = {24, 16};
    mlp_config mc;
    mlp_config_default(&mc);
    mc.n_in = 13;
    mc.n_layers = 2;
    mc.widths = widths;
    mc.n_out = 5;
    mc.act = LAYERS_ACT_GELU;
    mc.batchnorm = batchnorm;
    mc.dropout = dropout;
    mc.max_batch = max_batch;
    mc.seed = 7;
    mlp *m;
    ck_assert_msg(mlp_create(&m, &mc, &err) == KE_OK, "%s", err.msg);
    return m;
}

/* Three steps of kind with one set of regularization / clipping options on
 * both backends: parameters, clipped gradients and moments must agree. */
static void check_optimizer(optim_kind kind, int variant)
{
    mlp *m = small_model(1, 0, 8);
    int nt;
    const mlp_tensor *t = mlp_tensors(m, &nt);
    size_t n = mlp_n_params(m);
    optim_config oc;
    optim_config_default(&oc);
    oc.kind = kind;
    if (variant == 0) oc.weight_decay = 0.01f, oc.l1 = 1e-3f, oc.l2 = 1e-2f;
    if (variant == 1) oc.clip_value = 0.05f, oc.agc = 0.02f;
    if (variant == 2) oc.clip_norm = 0.5f;
    optim o;
    optim_cuda go;
    ck_assert_int_eq(optim_init(&o, &oc, n, t, nt, &err), KE_OK);
    ck_assert_msg(optim_cuda_init(&go, dev, &o, &err) == KE_OK, "%s", err.msg);
    int mark = n_allocs;
    float *gw = to_dev(mlp_params(m), n), *gg = to_dev(NULL, n);
    float scal[2] = {0.01f, 2.0f};   /* lr, accumulated batches */
    float *gs = to_dev(scal, 2);
    for (int step = 0; step < 3; step++) {
        float *g = rand_host(n, 0.2f);
        ck_assert_int_eq(cudev_upload(dev, gg, g, n * sizeof *g, &err), KE_OK);
        for (size_t i = 0; i < n; i++) g[i] /= scal[1];
        optim_step(&o, mlp_params(m), g, scal[0]);
        optim_cuda_step(&go, gw, gg, gs, gs + 1);
        expect_close(gw, mlp_params(m), n, TOL32, "optimizer parameters");
        expect_close(gg, g, n, TOL32, "optimizer gradients");
        free(g);
    }
    optim host_copy = o;
    float *state = malloc((o.n_state + 1) * sizeof *state);
    host_copy.state = state;
    ck_assert_int_eq(optim_cuda_sync(&go, &host_copy, &err), KE_OK);
    ck_assert_int_eq(host_copy.t, o.t);
    for (size_t i = 0; i < o.n_state; i++)
        ck_assert_msg(fabsf(state[i] - o.state[i]) <= 1e-4f * (1.0f + fabsf(o.state[i])),
                      "moment %zu: %g vs %g", i, state[i], o.state[i]);
    free(state);
    release_to(mark);
    optim_cuda_free(&go);
    optim_free(&o);
    mlp_free(m);
}

START_TEST(optimizers_match_cpu)
{
    for (int kind = OPTIM_SGD; kind <= OPTIM_ADAMW; kind++)
        for (int variant = 0; variant < 3; variant++) check_optimizer((optim_kind)kind, variant);
}
END_TEST

/* Rows (B) whose CPU logits have their top two within 2 tol of the largest
 * |logit|: a logit error of tol (relative, as expect_close) can flip their
 * argmax, no other row's. */
static int near_ties(const float *logits, int B, int C, double tol)
{
    double big = 1e-3;
    for (size_t i = 0; i < (size_t)B * C; i++) big = fmax(big, fabs((double)logits[i]));
    int n = 0;
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * C;
        double first = -INFINITY, second = -INFINITY;
        for (int j = 0; j < C; j++) {
            if (z[j] > first) second = first, first = z[j];
            else if (z[j] > second) second = z[j];
        }
        n += first - second <= 2 * tol * big;
    }
    return n;
}

/* The device's correct count (counted) is exact for its own logits (glogits,
 * device) and differs from the CPU's (cpu, for logits) only by near ties. */
static void expect_count(const float *glogits, const float *logits, const int *labels, int B, int C,
                         int counted, int cpu, double tol)
{
    float *h = malloc((size_t)B * C * sizeof *h);
    ck_assert_int_eq(cudev_download(dev, h, glogits, (size_t)B * C * sizeof *h, &err), KE_OK);
    ck_assert_int_eq(counted, mlp_count_correct(h, labels, B, C));
    free(h);
    int ties = near_ties(logits, B, C, tol);
    ck_assert_msg(abs(counted - cpu) <= ties, "correct rows: cuda %d cpu %d, %d near ties", counted, cpu, ties);
}

/* Forward, loss, backward (twice, accumulating) and evaluation of a whole
 * model with batch norm on both backends. */
static void check_model(double tol, double tol_grad)
{
    int B = 8;
    mlp *m = small_model(1, 0, B);
    const mlp_config *mc = mlp_get_config(m);
    mlp_cuda *gm;
    ck_assert_msg(mlp_cuda_create(&gm, dev, m, &err) == KE_OK, "%s", err.msg);
    float *x = rand_host((size_t)B * mc->n_in, 2);
    int labels[8];
    for (int b = 0; b < B; b++) labels[b] = (int)rng_below(&r, (uint64_t)mc->n_out);
    float *gx = to_dev(x, (size_t)B * mc->n_in);
    int *glabels = to_dev_bytes(labels, sizeof labels);
    mlp_target t = {labels, NULL, NULL, NULL}, gt = {glabels, NULL, NULL, NULL};
    for (int pass = 0; pass < 2; pass++) {
        ck_assert_int_eq(mlp_forward(m, x, B, 1, &err), KE_OK);
        ck_assert_int_eq(mlp_cuda_forward(gm, gx, B, 1, NULL, &err), KE_OK);
        expect_close(mlp_cuda_logits(gm), mlp_logits(m), (size_t)B * mc->n_out, tol, "model logits");
        float loss = mlp_loss_forward_backward(m, &t, B);
        mlp_cuda_loss_forward_backward(gm, &gt, B, NULL);
        ck_assert_double_eq_tol(mean_loss(mlp_cuda_row_loss(gm), mlp_cuda_logits(gm), glabels, B, mc->n_out,
                                          NULL), loss, tol * fabs(loss) + 1e-6);
        mlp_backward(m, x, B, pass);
        mlp_cuda_backward(gm, gx, B, pass);
        expect_close(mlp_cuda_grads(gm), mlp_grads(m), mlp_n_params(m), tol_grad, "model gradients");
    }
    expect_close(mlp_cuda_params(gm), mlp_params(m), mlp_n_state(m), tol, "running statistics");
    float loss;
    int correct;
    double *gacc = to_dev_bytes(NULL, 2 * sizeof(double)), acc[2];
    ck_assert_int_eq(mlp_eval_batch(m, x, &t, B, &loss, &correct, &err), KE_OK);
    ck_assert_int_eq(mlp_cuda_eval_batch(gm, gx, &gt, B, gacc, &err), KE_OK);
    ck_assert_int_eq(cudev_download(dev, acc, gacc, sizeof acc, &err), KE_OK);
    ck_assert_double_eq_tol(acc[0] / B, loss, tol * fabs(loss) + 1e-6);
    expect_count(mlp_cuda_logits(gm), mlp_logits(m), labels, B, mc->n_out, (int)acc[1], correct, tol);
    mlp_cuda_free(gm);
    mlp_free(m);
    free(x);
}

START_TEST(model_fp32) { check_model(TOL32, TOL32); }
END_TEST

/* bf16 whole model (13-24-16-5): each rounded GEMM adds up to 2u = 2^-7
 * (7.8e-3) relative error; the logits depend on 3 of them, so the bound is
 * 6u = 2.3e-2: 3e-2 (1e-2 failed on about 2% of data draws, within the
 * bound). The first layer's gradient depends on the 3 forward GEMMs and up
 * to 3 backward ones: 12u = 4.7e-2, so 6e-2. The correct count may differ
 * by the rows whose top two logits are within the error (expect_count). */
#define TOL16_MODEL 3e-2
#define TOL16_MODEL_GRAD 6e-2
START_TEST(model_bf16) { check_model(TOL16_MODEL, TOL16_MODEL_GRAD); }
END_TEST

START_TEST(dropout_masks_are_seeded)
{
    size_t N = 100000;
    float p = 0.3f, *mask = malloc(N * 4), *again = malloc(N * 4);
    uint64_t seeds[2] = {11, 12};
    float *gmask = to_dev(NULL, N);
    uint64_t *gseed = to_dev_bytes(seeds, sizeof seeds);
    layers_cuda_dropout_mask(dev, gmask, N, p, gseed, 0);
    ck_assert_int_eq(cudev_download(dev, mask, gmask, N * 4, &err), KE_OK);
    layers_cuda_dropout_mask(dev, gmask, N, p, gseed, 0);
    ck_assert_int_eq(cudev_download(dev, again, gmask, N * 4, &err), KE_OK);
    ck_assert_int_eq(memcmp(mask, again, N * 4), 0);
    size_t zeros = 0;
    for (size_t i = 0; i < N; i++) {
        ck_assert(mask[i] == 0.0f || mask[i] == 1.0f / (1.0f - p));
        zeros += mask[i] == 0.0f;
    }
    ck_assert_double_eq_tol((double)zeros / N, p, 0.01);
    layers_cuda_dropout_mask(dev, gmask, N, p, gseed + 1, 0);
    ck_assert_int_eq(cudev_download(dev, again, gmask, N * 4, &err), KE_OK);
    ck_assert_int_ne(memcmp(mask, again, N * 4), 0);
    free(mask), free(again);
}
END_TEST

/* Adam for m on the host (o) and on the device (go, which must be fp16). */
static void fp16_adam(mlp *m, optim *o, optim_cuda *go)
{
    int nt;
    const mlp_tensor *t = mlp_tensors(m, &nt);
    optim_config oc;
    optim_config_default(&oc);
    oc.kind = OPTIM_ADAM;
    ck_assert_int_eq(optim_init(o, &oc, mlp_n_params(m), t, nt, &err), KE_OK);
    ck_assert_int_eq(optim_cuda_init(go, dev, o, &err), KE_OK);
    ck_assert_ptr_nonnull(optim_cuda_loss_scale(go));
}

static float loss_scale(const optim_cuda *go)
{
    float S;
    ck_assert_int_eq(cudev_download(dev, &S, optim_cuda_loss_scale(go), sizeof S, &err), KE_OK);
    return S;
}

/* After a skipped step: the device parameters gw are still host's (n), the
 * loss scale is half of before, and no step was counted. */
static void expect_skipped(optim_cuda *go, const optim *o, const float *gw, const float *host, size_t n,
                           float before)
{
    float *w = malloc(n * sizeof *w);
    ck_assert_int_eq(cudev_download(dev, w, gw, n * sizeof *w, &err), KE_OK);
    ck_assert_int_eq(memcmp(w, host, n * sizeof *w), 0);
    free(w);
    ck_assert(loss_scale(go) == before / 2);
    optim host_copy = *o;
    ck_assert_int_eq(optim_cuda_sync(go, &host_copy, &err), KE_OK);
    ck_assert_int_eq(host_copy.t, 0);
}

START_TEST(fp16_skips_nonfinite_step)
{
    mlp *m = small_model(0, 0, 8);
    size_t n = mlp_n_params(m);
    optim o;
    optim_cuda go;
    fp16_adam(m, &o, &go);
    float *g = rand_host(n, 1), scal[2] = {0.01f, 1.0f}, before = loss_scale(&go);
    g[3] = INFINITY;
    float *gw = to_dev(mlp_params(m), n), *gg = to_dev(g, n), *gs = to_dev(scal, 2);
    optim_cuda_step(&go, gw, gg, gs, gs + 1);
    expect_skipped(&go, &o, gw, mlp_params(m), n, before);
    optim_cuda_free(&go);
    optim_free(&o);
    mlp_free(m);
    free(g);
}
END_TEST

/* fp16: hidden activations beyond 65504 become inf when rounded as the next
 * GEMM's input, so the batch loss is not finite. The batch must add nothing
 * to the epoch's sums and the step must be skipped (S halved, no update),
 * not the epoch's loss diverge. */
START_TEST(fp16_forward_overflow_skips_step)
{
    int B = 8;
    mlp *m = small_model(0, 0, B);
    const mlp_config *mc = mlp_get_config(m);
    int nt;
    const mlp_tensor *t = mlp_tensors(m, &nt);
    for (int i = 0; i < nt; i++)
        if (strcmp(t[i].name, "h0.W") == 0)   /* z = 13 * 1000 * 10 = 1.3e5 per unit */
            for (size_t j = 0; j < (size_t)t[i].rows * t[i].cols; j++) mlp_params(m)[t[i].offset + j] = 1000;
    optim o;
    optim_cuda go;
    mlp_cuda *gm;
    fp16_adam(m, &o, &go);
    ck_assert_msg(mlp_cuda_create(&gm, dev, m, &err) == KE_OK, "%s", err.msg);
    float *x = malloc((size_t)B * mc->n_in * sizeof *x), scal[2] = {0.01f, 1.0f}, before = loss_scale(&go);
    for (int i = 0; i < B * mc->n_in; i++) x[i] = 10;
    int labels[8] = {0};
    float *gx = to_dev(x, (size_t)B * mc->n_in), *gs = to_dev(scal, 2);
    mlp_target gt = {to_dev_bytes(labels, sizeof labels), NULL, NULL, NULL};
    double *gacc = to_dev_bytes(NULL, 2 * sizeof(double)), acc[2];
    ck_assert_int_eq(mlp_cuda_forward(gm, gx, B, 1, NULL, &err), KE_OK);
    mlp_cuda_loss_forward_backward(gm, &gt, B, optim_cuda_loss_scale(&go));
    loss_cuda_accumulate_train(dev, gacc, mlp_cuda_row_loss(gm), B, optim_cuda_found_inf(&go));
    mlp_cuda_backward(gm, gx, B, 0);
    optim_cuda_step(&go, mlp_cuda_params(gm), mlp_cuda_grads(gm), gs, gs + 1);
    ck_assert_int_eq(cudev_download(dev, acc, gacc, sizeof acc, &err), KE_OK);
    ck_assert(acc[0] == 0 && acc[1] == 0);
    expect_skipped(&go, &o, mlp_cuda_params(gm), mlp_params(m), mlp_n_params(m), before);
    mlp_cuda_free(gm);
    optim_cuda_free(&go);
    optim_free(&o);
    mlp_free(m);
    free(x);
}
END_TEST

/* Whole runs through train_run: synthetic data (train_fixture.h). */

static train_result run_on(const char *device)
{
    char kv[32];
    snprintf(kv, sizeof kv, "device=%s", device);
    set(kv);
    train_result res;
    ck_assert_msg(train_run(&c, NULL, NULL, &res, &err) == KE_OK, "%s: %s: %s", device, err.path, err.msg);
    return res;
}

/* Same config on both backends: the same batches and updates up to float
 * rounding (and different dropout masks), so the end metrics agree. */
static void expect_same_run(double acc_tol)
{
    train_result cpu = run_on("cpu"), gpu = run_on("cuda");
    ck_assert_msg(fabs(cpu.val_loss - gpu.val_loss) <= 0.1 * cpu.val_loss + 1e-3,
                  "val_loss cpu %g cuda %g", cpu.val_loss, gpu.val_loss);
    if (cpu.classification)
        ck_assert_msg(fabs(cpu.val_accuracy - gpu.val_accuracy) <= acc_tol &&
                      fabs(cpu.val_metrics.f1_macro - gpu.val_metrics.f1_macro) <= acc_tol,
                      "val_accuracy cpu %g cuda %g, val_f1_macro cpu %g cuda %g", cpu.val_accuracy,
                      gpu.val_accuracy, cpu.val_metrics.f1_macro, gpu.val_metrics.f1_macro);
    else
        ck_assert_msg(fabs(cpu.val_metrics.rmse - gpu.val_metrics.rmse) <= 0.05 * cpu.val_metrics.rmse + 1e-3,
                      "val_rmse cpu %g cuda %g", cpu.val_metrics.rmse, gpu.val_metrics.rmse);
    ck_assert_int_eq(cpu.epochs, gpu.epochs);
}

START_TEST(synthetic_runs_match_cpu)
{
    expect_same_run(0.03);
    set("loss=mse");   /* classes as one-hot targets: the right rows still count */
    expect_same_run(0.03);
    set("loss=auto");
    set("accumulate=3");
    set("batchnorm=true");
    set("label_smoothing=0.1");
    set("optimizer=nesterov");
    set("clip_norm=1");
    set("schedule=cosine");
    expect_same_run(0.03);
    set("augment_noise=0.1");   /* the host loader's pixels: features streamed per batch */
    expect_same_run(0.03);
    set("augment_noise=0");
    set("data=synthetic-regression");
    set("label_smoothing=0");
    expect_same_run(1);
}
END_TEST

START_TEST(dropout_and_mixed_precision_learn)
{
    set("dropout=0.2");
    ck_assert_double_ge(run_on("cuda").val_accuracy, 0.9);
    set("precision=bf16");
    ck_assert_double_ge(run_on("auto").val_accuracy, 0.9);
    set("precision=fp16");
    ck_assert_double_ge(run_on("cuda").val_accuracy, 0.9);
}
END_TEST

/* restore_best on the device: the run stops at epoch 3 and ends on epoch
 * 1's weights (uploaded back to the device), so its test pass is that of
 * the run cut at epoch 1; the CPU agrees. */
START_TEST(early_stopping_restores_best_on_cuda)
{
    set("epochs=20");
    set("budget=1");
    train_result cut = run_on("cuda");
    set("budget=0");
    set("early_stopping_patience=2");
    set("min_delta=10");
    train_result best = run_on("cuda");
    ck_assert(best.stopped_early && best.epochs == 3 && best.best_epoch == 1);
    ck_assert_msg(fabs(best.test_loss - cut.test_loss) <= 1e-5 * cut.test_loss, "test_loss %.9g vs %.9g",
                  best.test_loss, cut.test_loss);
    ck_assert_double_eq(best.val_loss, best.best_val_loss);
    expect_same_run(0.03);
}
END_TEST

/* A captured step replays the kernels the eager step launches, in the same
 * order on the same stream: the same bits. cuda_graphs=on fails the run if
 * a capture fails, so the graphs did run. Shapes: the full and the last
 * partial batch, accumulation steps with and without the optimizer, batch
 * norm, dropout, clipping, a per-step schedule, bf16 GEMMs. */
static void expect_graphs_replay_eager(void)
{
    set("cuda_graphs=on");
    train_result on = run_on("cuda");
    set("cuda_graphs=off");
    train_result off = run_on("cuda");
    ck_assert_msg(memcmp(&on.val_loss, &off.val_loss, sizeof(double)) == 0 &&
                  memcmp(&on.test_loss, &off.test_loss, sizeof(double)) == 0 &&
                  memcmp(&on.best_val_loss, &off.best_val_loss, sizeof(double)) == 0 &&
                  on.val_accuracy == off.val_accuracy,
                  "graphs: val_loss %.17g test_loss %.17g; eager: %.17g %.17g", on.val_loss, on.test_loss,
                  off.val_loss, off.test_loss);
}

START_TEST(graphs_replay_the_eager_step)
{
    expect_graphs_replay_eager();
    set("accumulate=3");
    set("batchnorm=true");
    set("dropout=0.2");
    set("clip_norm=1");
    set("schedule=cosine");
    set("warmup_steps=5");
    expect_graphs_replay_eager();
    set("precision=bf16");
    expect_graphs_replay_eager();
}
END_TEST

/* test_train's bit-exact resume, on the device: a run cut at epoch 2,
 * checkpointed and resumed ends on the same bits as the run straight
 * through (cuBLAS keeps its bits on the same GPU, docs/cuda.md). */
START_TEST(resume_is_bit_identical_on_cuda)
{
    set("device=cuda");
    set("batchnorm=true");
    set_stateful_run();
    train_result resumed;
    expect_exact_resume("2", &resumed);
    ck_assert_int_eq(resumed.epochs, 4);
    set("precision=bf16");
    expect_exact_resume("2", &resumed);
}
END_TEST

/* A CUDA checkpoint resumes on the CPU and the other way round. */
START_TEST(checkpoints_cross_backends)
{
    char path[128], kv[160];
    path_in_dir(path, sizeof path, "ck.kck");
    snprintf(kv, sizeof kv, "checkpoint=%s", path);
    set(kv);
    set("budget=2");
    run_on("cuda");
    snprintf(kv, sizeof kv, "resume=%s", path);
    set(kv);
    set("budget=4");
    ck_assert_int_eq(run_on("cpu").epochs, 4);
    set("budget=5");
    ck_assert_int_eq(run_on("cuda").epochs, 5);
}
END_TEST

START_TEST(fashion_mnist_matches_cpu)
{
    train_config_defaults(&c);
    set("max_train=3000");
    set("epochs=2");
    set("hidden=64");
    train_result cpu = run_on("cpu"), gpu = run_on("cuda");
    ck_assert_msg(gpu.val_accuracy >= 0.75, "cuda val_accuracy %g", gpu.val_accuracy);
    ck_assert_msg(fabs(cpu.val_accuracy - gpu.val_accuracy) <= 0.03, "val_accuracy cpu %g cuda %g",
                  cpu.val_accuracy, gpu.val_accuracy);
}
END_TEST

/* What a CUDA build must do on a machine without a device. */
START_TEST(no_device_cuda_fails_clearly)
{
    set("device=cuda");
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "device");
    ck_assert_ptr_nonnull(strstr(err.msg, "no usable CUDA device"));
}
END_TEST

START_TEST(no_device_auto_uses_cpu)
{
    ck_assert_double_ge(run_on("auto").val_accuracy, 0.9);
    set("precision=bf16");
    ck_assert_int_eq(train_run(&c, NULL, NULL, NULL, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "precision");
}
END_TEST

/* The device a context uses is the first of compute capability 8.0 or
 * newer, not device 0 whatever it is. */
START_TEST(first_usable_device_is_chosen)
{
    const int old_first[3] = {7, 8, 9}, unreadable[2] = {-1, 8}, none[2] = {6, 7};
    ck_assert_int_eq(cudev_first_usable(old_first, 3), 1);
    ck_assert_int_eq(cudev_first_usable(unreadable, 2), 1);
    ck_assert_int_eq(cudev_first_usable(none, 2), -1);
    ck_assert_int_eq(cudev_first_usable(none, 0), -1);
}
END_TEST

static TCase *kernels(const char *name, void (*setup)(void))
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    return tc;
}

static Suite *device_suite(void)
{
    Suite *s = suite_create("cuda");
    TCase *tc = kernels("fp32", setup32);
    tcase_add_test(tc, dense_fp32);
    tcase_add_test(tc, activations_match_cpu);
    tcase_add_test(tc, batchnorm_matches_cpu);
    tcase_add_test(tc, losses_match_cpu);
    tcase_add_test(tc, optimizers_match_cpu);
    tcase_add_test(tc, model_fp32);
    tcase_add_test(tc, dropout_masks_are_seeded);
    tcase_add_test(tc, first_usable_device_is_chosen);
    suite_add_tcase(s, tc);
    tc = kernels("bf16", setup_bf16);
    tcase_add_test(tc, dense_16bit);
    tcase_add_test(tc, model_bf16);
    suite_add_tcase(s, tc);
    tc = kernels("fp16", setup_fp16);
    tcase_add_test(tc, dense_16bit);
    tcase_add_test(tc, fp16_skips_nonfinite_step);
    tcase_add_test(tc, fp16_forward_overflow_skips_step);
    suite_add_tcase(s, tc);
    tc = tcase_create("runs");
    tcase_add_checked_fixture(tc, train_setup, train_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, synthetic_runs_match_cpu);
    tcase_add_test(tc, dropout_and_mixed_precision_learn);
    tcase_add_test(tc, checkpoints_cross_backends);
    tcase_add_test(tc, early_stopping_restores_best_on_cuda);
    tcase_add_test(tc, graphs_replay_the_eager_step);
    tcase_add_test(tc, resume_is_bit_identical_on_cuda);
    if (access(DATASET_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) == 0)
        tcase_add_test(tc, fashion_mnist_matches_cpu);
    else
        fprintf(stderr, "test_cuda: %s not installed, Fashion-MNIST comparison not run\n",
                DATASET_FASHION_MNIST_DIR);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *no_device_suite(void)
{
    Suite *s = suite_create("cuda-no-device");
    TCase *tc = tcase_create("fallback");
    tcase_add_checked_fixture(tc, train_setup, train_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, no_device_cuda_fails_clearly);
    tcase_add_test(tc, no_device_auto_uses_cpu);
    tcase_add_test(tc, first_usable_device_is_chosen);
    suite_add_tcase(s, tc);
    return s;
}

/* train_cuda_devices in a child, so this process never initializes CUDA
 * before Check forks the tests' children. The count, or -1 when the child
 * failed; the reason in why. */
static int probe_devices(char *why, size_t n)
{
    int fd[2];
    if (pipe(fd)) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        char buf[256] = "";
        int count = train_cuda_devices(buf, sizeof buf);
        dprintf(fd[1], "%d %s", count, buf);
        _exit(0);
    }
    close(fd[1]);
    char buf[300] = "";
    size_t got = 0;
    ssize_t r;
    while (got + 1 < sizeof buf && (r = read(fd[0], buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)r;
    close(fd[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) return -1;
    int count, at = 0;
    if (sscanf(buf, "%d %n", &count, &at) < 1) return -1;
    snprintf(why, n, "%s", buf + at);
    return count;
}

int main(void)
{
    char why[256] = "";
    int count = probe_devices(why, sizeof why);
    if (count < 0) {
        fprintf(stderr, "test_cuda: the device probe's child failed\n");
        return EXIT_FAILURE;
    }
    if (count > 0) return check_run(device_suite());
    if (check_run(no_device_suite()) != EXIT_SUCCESS) return EXIT_FAILURE;
    printf("SKIP: no CUDA device (%s): the GPU-vs-CPU comparisons did not run\n", why);
    return 77;
}

#else

int main(void)
{
    printf("SKIP: built without CUDA: no CUDA tests\n");
    return 77;
}

#endif /* HAVE_CUDA */
