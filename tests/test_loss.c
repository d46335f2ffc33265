/* test_loss: softmax, cross-entropy (with and without label smoothing), MSE
 * and the distillation loss, against finite differences and known values. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../trainer/loss.h"
#include "gradcheck.h"

#define B 4
#define C 5

#define ck_assert_grad(r, what) \
    ck_assert_msg((r).worst <= 1.0, "%s: index %zu analytic %g numeric %g", \
                  (what), (r).at, (r).analytic, (r).numeric)

typedef enum { XENT, WXENT, MSE, HUBER, BCE, DISTILL } kind;

typedef struct {
    kind k;
    float z[B * C], targets[B * C], teacher[B * C];
    int labels[B];
    float eps, T, alpha, delta;
    float w[C];
} loss_ctx;

static float eval(loss_ctx *c, float *dlogits)
{
    switch (c->k) {
    case XENT: return loss_softmax_xent(dlogits, c->z, c->labels, B, C, c->eps, NULL);
    case WXENT: return loss_softmax_xent(dlogits, c->z, c->labels, B, C, c->eps, c->w);
    case MSE: return loss_mse(dlogits, c->z, c->targets, B, C);
    case BCE: return loss_bce(dlogits, c->z, c->targets, B, C);
    case HUBER: return loss_huber(dlogits, c->z, c->targets, B, C, c->delta);
    case DISTILL:
        return loss_distill(dlogits, c->z, c->teacher, c->labels, B, C, c->T, c->alpha, c->eps);
    }
    return NAN;
}

static double objective(void *p) { return eval(p, NULL); }

static void fill(loss_ctx *c, kind k, uint64_t seed)
{
    uint64_t s = seed;
    memset(c, 0, sizeof *c);
    c->k = k;
    gc_fill(c->z, B * C, -3, 3, &s);
    gc_fill(c->targets, B * C, -1, 1, &s);
    float tl[B * C];
    gc_fill(tl, B * C, -2, 2, &s);
    c->T = 2.5f;
    loss_softmax(c->teacher, tl, B, C, c->T);
    for (int b = 0; b < B; b++) c->labels[b] = (int)(gc_uniform(&s) * C);
}

static void check_gradient(loss_ctx *c, const char *what)
{
    float g[B * C];
    eval(c, g);
    ck_assert_grad(gc_check(objective, c, c->z, g, B * C, 1e-2f, 1e-4, 2e-3), what);
}

START_TEST(test_softmax_rows)
{
    float z[2 * 3] = { 1000.0f, 999.0f, -1000.0f, 0.0f, 0.0f, 0.0f }, p[6];
    loss_softmax(p, z, 2, 3, 1.0f);
    ck_assert_float_eq_tol(p[0], 1.0f / (1.0f + expf(-1.0f)), 1e-6);
    ck_assert_float_eq_tol(p[2], 0.0f, 1e-30);
    for (int j = 3; j < 6; j++) ck_assert_float_eq_tol(p[j], 1.0f / 3, 1e-7);
    /* temperature flattens: T = 2 on (2, 0) gives sigmoid(1) */
    float z2[2] = { 2.0f, 0.0f }, p2[2];
    loss_softmax(p2, z2, 1, 2, 2.0f);
    ck_assert_float_eq_tol(p2[0], 1.0f / (1.0f + expf(-1.0f)), 1e-6);
}
END_TEST

START_TEST(test_xent_values)
{
    loss_ctx c;
    fill(&c, XENT, 1);
    memset(c.z, 0, sizeof c.z);
    ck_assert_float_eq_tol(eval(&c, NULL), logf(C), 1e-6);
    /* a saturated wrong prediction stays finite: loss = margin */
    float z[2] = { 200.0f, 0.0f };
    int label = 1;
    ck_assert_float_eq_tol(loss_softmax_xent(NULL, z, &label, 1, 2, 0.0f, NULL), 200.0f, 1e-3);
    /* smoothing eps on a confident right prediction costs about eps/2 * margin (C = 2) */
    label = 0;
    ck_assert_float_eq_tol(loss_softmax_xent(NULL, z, &label, 1, 2, 0.1f, NULL), 0.05f * 200.0f, 1e-2);
}
END_TEST

START_TEST(test_xent_gradient)
{
    loss_ctx c;
    fill(&c, XENT, 2);
    check_gradient(&c, "xent");
    fill(&c, XENT, 3);
    c.eps = 0.1f;
    check_gradient(&c, "xent smoothed");
    /* gradient rows sum to zero: softmax and smoothed targets both sum to 1 */
    float g[B * C];
    eval(&c, g);
    for (int b = 0; b < B; b++) {
        double s = 0.0;
        for (int j = 0; j < C; j++) s += g[b * C + j];
        ck_assert_double_eq_tol(s, 0.0, 1e-6);
    }
}
END_TEST

START_TEST(test_mse)
{
    loss_ctx c;
    fill(&c, MSE, 4);
    double want = 0.0;
    for (int i = 0; i < B * C; i++) want += pow(c.z[i] - c.targets[i], 2) / (B * C);
    ck_assert_double_eq_tol(eval(&c, NULL), want, 1e-5);
    check_gradient(&c, "mse");
}
END_TEST

/* PyTorch's HuberLoss: 0.5 e^2 inside delta, delta (|e| - delta/2) outside;
 * z in [-3, 3] against targets in [-1, 1] puts entries on both sides of
 * delta 1 (the gradient check stays away from the kink: the step is small
 * next to every |e| - delta of this draw, checked below). */
START_TEST(test_huber)
{
    loss_ctx c;
    fill(&c, HUBER, 4);
    c.delta = 1.0f;
    double want = 0.0;
    int inside = 0;
    for (int i = 0; i < B * C; i++) {
        double e = c.z[i] - c.targets[i], a = fabs(e);
        want += (a <= 1 ? 0.5 * e * e : a - 0.5) / (B * C);
        inside += a <= 1;
        ck_assert(fabs(a - 1) > 0.02);
    }
    ck_assert(inside > 0 && inside < B * C);
    ck_assert_double_eq_tol(eval(&c, NULL), want, 1e-5);
    check_gradient(&c, "huber");
    /* a huge delta is half the squared error */
    c.delta = 100.0f;
    c.k = MSE;
    double mse = eval(&c, NULL);
    c.k = HUBER;
    ck_assert_double_eq_tol(eval(&c, NULL), 0.5 * mse, 1e-5);
}
END_TEST

/* Class weights (Keras's class_weight): each row's loss times the weight of
 * its label, the mean still over B; weights of 1 change nothing. */
START_TEST(test_weighted_xent)
{
    loss_ctx c;
    fill(&c, WXENT, 6);
    c.eps = 0.1f;
    for (int k = 0; k < C; k++) c.w[k] = 0.5f + 0.4f * (float)k;
    double want = 0.0;
    for (int b = 0; b < B; b++)
        want += c.w[c.labels[b]] * loss_softmax_xent(NULL, c.z + b * C, &c.labels[b], 1, C, 0.1f, NULL) / B;
    ck_assert_double_eq_tol(eval(&c, NULL), want, 1e-5);
    check_gradient(&c, "weighted xent");
    for (int k = 0; k < C; k++) c.w[k] = 1.0f;
    float g1[B * C], g2[B * C];
    float l1 = eval(&c, g1);
    c.k = XENT;
    ck_assert_float_eq(l1, eval(&c, g2));
    ck_assert(memcmp(g1, g2, sizeof g1) == 0);
}
END_TEST

/* PyTorch's BCEWithLogitsLoss: mean of -y log s(z) - (1-y) log(1 - s(z))
 * over every entry (the naive form, in double, as the reference); a large
 * logit stays finite. */
START_TEST(test_bce)
{
    loss_ctx c;
    fill(&c, BCE, 7);
    for (int i = 0; i < B * C; i++) c.targets[i] = (c.targets[i] + 1) / 2;   /* into [0, 1] */
    double want = 0.0;
    for (int i = 0; i < B * C; i++) {
        double sz = 1 / (1 + exp(-(double)c.z[i])), y = c.targets[i];
        want -= (y * log(sz) + (1 - y) * log(1 - sz)) / (B * C);
    }
    ck_assert_double_eq_tol(eval(&c, NULL), want, 1e-5);
    check_gradient(&c, "bce");
    c.z[0] = 200.0f;
    c.targets[0] = 0.0f;
    ck_assert(isfinite(eval(&c, NULL)));
}
END_TEST

START_TEST(test_distill_gradient)
{
    loss_ctx c;
    fill(&c, DISTILL, 5);
    c.alpha = 0.7f;
    c.eps = 0.1f;
    check_gradient(&c, "distill");
    c.alpha = 1.0f;
    c.T = 1.0f;
    check_gradient(&c, "distill alpha 1");
}
END_TEST

START_TEST(test_distill_limits)
{
    loss_ctx c;
    fill(&c, DISTILL, 6);
    c.eps = 0.05f;
    /* alpha 0: exactly the (smoothed) hard loss */
    c.alpha = 0.0f;
    float gd[B * C], gx[B * C];
    float ld = eval(&c, gd);
    c.k = XENT;
    float lx = eval(&c, gx);
    ck_assert_float_eq_tol(ld, lx, 1e-6);
    for (int i = 0; i < B * C; i++) ck_assert_float_eq_tol(gd[i], gx[i], 1e-7);
    /* alpha 1 with the teacher equal to the student: KL and its gradient are 0 */
    c.k = DISTILL;
    c.alpha = 1.0f;
    loss_softmax(c.teacher, c.z, B, C, c.T);
    ck_assert_float_eq_tol(eval(&c, gd), 0.0f, 1e-6);
    for (int i = 0; i < B * C; i++) ck_assert_float_eq_tol(gd[i], 0.0f, 1e-7);
    /* T^2 scaling: value is alpha T^2 KL; KL itself checked by hand on one row */
    float z[2] = { 1.0f, 0.0f }, pt[2] = { 0.5f, 0.5f };
    int label = 0;
    float T = 2.0f, q0 = 1.0f / (1.0f + expf(-0.5f));
    double kl = 0.5 * log(0.5 / q0) + 0.5 * log(0.5 / (1.0 - q0));
    ck_assert_double_eq_tol(loss_distill(NULL, z, pt, &label, 1, 2, T, 1.0f, 0.0f), 4.0 * kl, 1e-6);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_softmax_rows);
    tcase_add_test(tc, test_xent_values);
    tcase_add_test(tc, test_xent_gradient);
    tcase_add_test(tc, test_mse);
    tcase_add_test(tc, test_huber);
    tcase_add_test(tc, test_weighted_xent);
    tcase_add_test(tc, test_bce);
    tcase_add_test(tc, test_distill_gradient);
    tcase_add_test(tc, test_distill_limits);
    suite_add_tcase(s, tc);
    return check_run(s);
}
