/* test_layers: the MLP kernels against finite differences and against
 * hand-computed values: dense, every activation, dropout with a fixed mask,
 * batch norm in training and evaluation mode, and gradient accumulation. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../trainer/layers.h"
#include "gradcheck.h"

#define B 5
#define K 4
#define N 3

#define ck_assert_grad(r, what) \
    ck_assert_msg((r).worst <= 1.0, "%s: index %zu analytic %g numeric %g", \
                  (what), (r).at, (r).analytic, (r).numeric)

/* Dense: L = sum r (inp W^T + b). */
typedef struct {
    float inp[B * K], W[N * K], b[N], r[B * N], out[B * N];
    float scratch[64 * K + B * N];   /* gemm_forward_scratch(B, K, N) for B <= 64 */
} dense_ctx;

static double dense_objective(void *p)
{
    dense_ctx *c = p;
    layers_dense_forward(c->out, c->inp, c->W, B, K, N, c->scratch);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < N; j++) c->out[i * N + j] += c->b[j];
    return gc_dot(c->r, c->out, B * N);
}

START_TEST(test_dense_forward_matches_naive)
{
    dense_ctx c;
    uint64_t s = 1;
    gc_fill(c.inp, B * K, -1, 1, &s);
    gc_fill(c.W, N * K, -1, 1, &s);
    memset(c.b, 0, sizeof c.b);
    layers_dense_forward(c.out, c.inp, c.W, B, K, N, c.scratch);
    for (int i = 0; i < B; i++)
        for (int j = 0; j < N; j++) {
            double ref = 0.0;
            for (int k = 0; k < K; k++) ref += (double)c.inp[i * K + k] * c.W[j * K + k];
            ck_assert_double_eq_tol(c.out[i * N + j], ref, 1e-5);
        }
}
END_TEST

START_TEST(test_dense_gradients)
{
    dense_ctx c;
    uint64_t s = 2;
    gc_fill(c.inp, B * K, -1, 1, &s);
    gc_fill(c.W, N * K, -1, 1, &s);
    gc_fill(c.b, N, -1, 1, &s);
    gc_fill(c.r, B * N, -1, 1, &s);
    float dinp[B * K], dW[N * K], db[N];
    layers_dense_backward(dinp, dW, db, c.r, c.inp, c.W, B, K, N, 0);
    ck_assert_grad(gc_check(dense_objective, &c, c.W, dW, N * K, 1e-2f, 1e-4, 1e-3), "dW");
    ck_assert_grad(gc_check(dense_objective, &c, c.b, db, N, 1e-2f, 1e-4, 1e-3), "db");
    ck_assert_grad(gc_check(dense_objective, &c, c.inp, dinp, B * K, 1e-2f, 1e-4, 1e-3), "dinp");
}
END_TEST

START_TEST(test_dense_accumulate_adds)
{
    dense_ctx c;
    uint64_t s = 3;
    gc_fill(c.inp, B * K, -1, 1, &s);
    gc_fill(c.W, N * K, -1, 1, &s);
    gc_fill(c.r, B * N, -1, 1, &s);
    float dW1[N * K], db1[N], dW2[N * K], db2[N];
    layers_dense_backward(NULL, dW1, db1, c.r, c.inp, c.W, B, K, N, 0);
    layers_dense_backward(NULL, dW2, db2, c.r, c.inp, c.W, B, K, N, 0);
    layers_dense_backward(NULL, dW2, db2, c.r, c.inp, c.W, B, K, N, 1);
    for (int i = 0; i < N * K; i++) ck_assert_float_eq_tol(dW2[i], 2 * dW1[i], 1e-5);
    for (int i = 0; i < N; i++) ck_assert_float_eq_tol(db2[i], 2 * db1[i], 1e-5);
    /* accumulate=0 overwrites whatever was there */
    layers_dense_backward(NULL, dW2, db2, c.r, c.inp, c.W, B, K, N, 0);
    for (int i = 0; i < N * K; i++) ck_assert_float_eq_tol(dW2[i], dW1[i], 1e-6);
}
END_TEST

/* Activation: L = sum r (act(a + bias) * mask); a is kept away from the
 * kinks of relu and leaky relu so central differences are valid. */
typedef struct {
    layers_act act;
    float a[B * N], bias[N], mask[B * N], r[B * N];
    float work[B * N], h[B * N];
    int use_mask;
} act_ctx;

static double act_objective(void *p)
{
    act_ctx *c = p;
    memcpy(c->work, c->a, sizeof c->a);
    layers_act_forward(c->h, c->work, c->bias, c->use_mask ? c->mask : NULL, B, N, c->act, 0.1f);
    return gc_dot(c->r, c->h, B * N);
}

static void act_fill(act_ctx *c, layers_act act, uint64_t seed)
{
    uint64_t s = seed;
    memset(c, 0, sizeof *c);
    c->act = act;
    gc_fill(c->bias, N, -0.5f, 0.5f, &s);
    gc_fill(c->r, B * N, -1, 1, &s);
    for (int i = 0; i < B * N; i++) {
        /* pre-activation a + bias = +-v with |v| in [0.2, 1.7] */
        float v = (float)gc_uniform(&s) * 1.5f + 0.2f;
        c->a[i] = (gc_uniform(&s) < 0.5 ? -v : v) - c->bias[i % N];
        c->mask[i] = 1.0f;
    }
}

START_TEST(test_activation_gradients)
{
    act_ctx c;
    act_fill(&c, (layers_act)_i, 10 + (uint64_t)_i);
    float da[B * N];
    memcpy(c.work, c.a, sizeof c.a);
    layers_act_forward(c.h, c.work, c.bias, NULL, B, N, c.act, 0.1f);
    layers_act_backward(da, c.r, c.work, NULL, B, N, c.act, 0.1f);
    /* the bias shifts a, so the gradient with respect to a equals da */
    gc_result r = gc_check(act_objective, &c, c.a, da, B * N, 1e-2f, 1e-4, 2e-3);
    ck_assert_grad(r, "activation");
}
END_TEST

START_TEST(test_activation_values)
{
    float a[5] = { -2.0f, -0.5f, 0.0f, 0.5f, 2.0f }, h[5], w[5];
    struct { layers_act act; float want[5]; } cases[] = {
        { LAYERS_ACT_RELU, { 0, 0, 0, 0.5f, 2 } },
        { LAYERS_ACT_LEAKY_RELU, { -0.2f, -0.05f, 0, 0.5f, 2 } },
        { LAYERS_ACT_TANH, { -0.9640276f, -0.4621172f, 0, 0.4621172f, 0.9640276f } },
        { LAYERS_ACT_SIGMOID, { 0.1192029f, 0.3775407f, 0.5f, 0.6224593f, 0.8807971f } },
        /* tanh approximation: 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))), torch's
         * F.gelu(x, approximate='tanh'); the exact F.gelu(x) (erf) gives
         * -0.0455003 at x = -2, outside the tolerance */
        { LAYERS_ACT_GELU, { -0.0454023f, -0.1542860f, 0, 0.3457140f, 1.9545977f } },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memcpy(w, a, sizeof a);
        layers_act_forward(h, w, NULL, NULL, 1, 5, cases[c].act, 0.1f);
        for (int i = 0; i < 5; i++)
            ck_assert_msg(fabsf(h[i] - cases[c].want[i]) < 1e-5f, "act %d x=%g: %g want %g",
                          (int)cases[c].act, a[i], h[i], cases[c].want[i]);
    }
}
END_TEST

START_TEST(test_dropout_fixed_mask)
{
    act_ctx c;
    act_fill(&c, LAYERS_ACT_TANH, 20);
    uint64_t s = 21;
    for (int i = 0; i < B * N; i++) c.mask[i] = gc_uniform(&s) < 0.5 ? 0.0f : 2.0f;
    c.use_mask = 1;
    float da[B * N], plain[B * N];
    memcpy(c.work, c.a, sizeof c.a);
    layers_act_forward(c.h, c.work, c.bias, c.mask, B, N, c.act, 0.1f);
    for (int i = 0; i < B * N; i++)
        ck_assert_float_eq_tol(c.h[i], tanhf(c.work[i]) * c.mask[i], 1e-6);
    layers_act_backward(da, c.r, c.work, c.mask, B, N, c.act, 0.1f);
    layers_act_backward(plain, c.r, c.work, NULL, B, N, c.act, 0.1f);
    for (int i = 0; i < B * N; i++)
        ck_assert_float_eq_tol(da[i], plain[i] * c.mask[i], 1e-6);
    ck_assert_grad(gc_check(act_objective, &c, c.a, da, B * N, 1e-2f, 1e-4, 2e-3), "dropout");
}
END_TEST

/* Batch norm, training mode: L = sum r bn(z). */
typedef struct {
    float z[B * N], gamma[N], beta[N], r[B * N];
    float y[B * N], xhat[B * N], mean[N], invstd[N], rm[N], rv[N];
} bn_ctx;

static double bn_objective(void *p)
{
    bn_ctx *c = p;
    layers_bn_forward(c->y, c->xhat, c->mean, c->invstd, c->rm, c->rv, c->z, c->gamma, c->beta,
                      B, N, 0.1f, 1e-5f, 1, NULL);
    return gc_dot(c->r, c->y, B * N);
}

static void bn_fill(bn_ctx *c, uint64_t seed)
{
    uint64_t s = seed;
    memset(c, 0, sizeof *c);
    gc_fill(c->z, B * N, -2, 3, &s);
    gc_fill(c->gamma, N, 0.5f, 1.5f, &s);
    gc_fill(c->beta, N, -1, 1, &s);
    gc_fill(c->r, B * N, -1, 1, &s);
    for (int j = 0; j < N; j++) c->rv[j] = 1.0f;
}

START_TEST(test_bn_training_gradients)
{
    bn_ctx c;
    bn_fill(&c, 30);
    bn_objective(&c);
    float dz[B * N], dgamma[N], dbeta[N], work[2 * N];
    layers_bn_backward(dz, dgamma, dbeta, c.r, c.xhat, c.gamma, c.invstd, work, B, N, 0, NULL);
    ck_assert_grad(gc_check(bn_objective, &c, c.z, dz, B * N, 1e-2f, 1e-4, 5e-3), "dz");
    ck_assert_grad(gc_check(bn_objective, &c, c.gamma, dgamma, N, 1e-2f, 1e-4, 5e-3), "dgamma");
    ck_assert_grad(gc_check(bn_objective, &c, c.beta, dbeta, N, 1e-2f, 1e-4, 5e-3), "dbeta");
    /* in place (dz aliasing dy) gives the same dz, and accumulation adds */
    float dy[B * N];
    memcpy(dy, c.r, sizeof dy);
    layers_bn_backward(dy, dgamma, dbeta, dy, c.xhat, c.gamma, c.invstd, work, B, N, 1, NULL);
    for (int i = 0; i < B * N; i++) ck_assert_float_eq_tol(dy[i], dz[i], 1e-6);
    float g1[N], b1[N];
    layers_bn_backward(dz, g1, b1, c.r, c.xhat, c.gamma, c.invstd, work, B, N, 0, NULL);
    for (int j = 0; j < N; j++) {
        ck_assert_float_eq_tol(dgamma[j], 2 * g1[j], 1e-5);
        ck_assert_float_eq_tol(dbeta[j], 2 * b1[j], 1e-5);
    }
}
END_TEST

START_TEST(test_bn_statistics_and_eval)
{
    bn_ctx c;
    bn_fill(&c, 31);
    for (int j = 0; j < N; j++) {
        c.gamma[j] = 1.0f;
        c.beta[j] = 0.0f;
        c.rm[j] = 0.5f;
        c.rv[j] = 2.0f;
    }
    layers_bn_forward(c.y, c.xhat, c.mean, c.invstd, c.rm, c.rv, c.z, c.gamma, c.beta,
                      B, N, 0.25f, 1e-5f, 1, NULL);
    for (int j = 0; j < N; j++) {
        double mu = 0.0, ss = 0.0, ys = 0.0, yss = 0.0;
        for (int i = 0; i < B; i++) mu += c.z[i * N + j] / (double)B;
        for (int i = 0; i < B; i++) ss += pow(c.z[i * N + j] - mu, 2);
        for (int i = 0; i < B; i++) ys += c.y[i * N + j], yss += c.y[i * N + j] * c.y[i * N + j];
        /* normalised output: zero mean, unit (biased) variance */
        ck_assert_double_eq_tol(ys / B, 0.0, 1e-5);
        ck_assert_double_eq_tol(yss / B, 1.0, 1e-3);
        ck_assert_double_eq_tol(c.rm[j], 0.75 * 0.5 + 0.25 * mu, 1e-5);
        ck_assert_double_eq_tol(c.rv[j], 0.75 * 2.0 + 0.25 * ss / (B - 1), 1e-5);
    }
    /* a batch of one row (an epoch's last, n % batch_size == 1) has no
     * variance: the running statistics stay as they are (they took 0 and
     * the row itself, and the evaluation after read a variance near 0) */
    float rm1[N], rv1[N];
    memcpy(rm1, c.rm, sizeof rm1);
    memcpy(rv1, c.rv, sizeof rv1);
    layers_bn_forward(c.y, c.xhat, c.mean, c.invstd, c.rm, c.rv, c.z, c.gamma, c.beta,
                      1, N, 0.25f, 1e-5f, 1, NULL);
    for (int j = 0; j < N; j++) {
        ck_assert_float_eq(c.rm[j], rm1[j]);
        ck_assert_float_eq(c.rv[j], rv1[j]);
    }
    /* evaluation: running statistics, which stay as they are */
    float rm[N], rv[N];
    memcpy(rm, c.rm, sizeof rm);
    memcpy(rv, c.rv, sizeof rv);
    for (int j = 0; j < N; j++) c.gamma[j] = 2.0f, c.beta[j] = 0.5f;
    layers_bn_forward(c.y, c.xhat, c.mean, c.invstd, c.rm, c.rv, c.z, c.gamma, c.beta,
                      B, N, 0.25f, 1e-5f, 0, NULL);
    for (int j = 0; j < N; j++) {
        ck_assert_float_eq(c.rm[j], rm[j]);
        ck_assert_float_eq(c.rv[j], rv[j]);
        for (int i = 0; i < B; i++) {
            double want = 2.0 * (c.z[i * N + j] - rm[j]) / sqrt(rv[j] + 1e-5) + 0.5;
            ck_assert_double_eq_tol(c.y[i * N + j], want, 1e-5);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_dense_forward_matches_naive);
    tcase_add_test(tc, test_dense_gradients);
    tcase_add_test(tc, test_dense_accumulate_adds);
    tcase_add_loop_test(tc, test_activation_gradients, LAYERS_ACT_RELU, LAYERS_ACT_GELU + 1);
    tcase_add_test(tc, test_activation_values);
    tcase_add_test(tc, test_dropout_fixed_mask);
    tcase_add_test(tc, test_bn_training_gradients);
    tcase_add_test(tc, test_bn_statistics_and_eval);
    suite_add_tcase(s, tc);
    return check_run(s);
}
