/* test_optim: each update rule's first two steps against values worked out
 * by hand (in the comments), the regularizers, the three clipping modes,
 * that decay and penalties never touch biases, and that an update split into
 * parameter ranges (optim_begin, optim_apply) is the same as one step. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../trainer/optim.h"

#define TOL 1e-5

/* Layout used throughout: W (2x2, weight) at 0, b (2, bias) at 4. */
static const mlp_tensor tensors[] = {
    {"h0.W", 0, 2, 2, 1, 1},
    {"h0.b", 4, 2, 1, 0, 1},
};

/* One bias scalar p = 1 with gradients 0.5 then -0.25 at lr 0.1: the update
 * rule alone, no regularization. Returns p after each of the two steps. */
static void two_steps(optim_kind kind, float out[2])
{
    static const mlp_tensor scalar[] = {{"b", 0, 1, 1, 0, 1}};
    optim_config c;
    optim_config_default(&c);
    c.kind = kind;
    optim o;
    kerror err;
    ck_assert_int_eq(optim_init(&o, &c, 1, scalar, 1, &err), KE_OK);
    float p = 1.0f, g;
    g = 0.5f;
    optim_step(&o, &p, &g, 0.1f);
    out[0] = p;
    g = -0.25f;
    optim_step(&o, &p, &g, 0.1f);
    out[1] = p;
    ck_assert_int_eq(o.t, 2);
    optim_free(&o);
}

START_TEST(sgd)
{
    float p[2];
    two_steps(OPTIM_SGD, p);
    /* 1 - 0.05 = 0.95; 0.95 + 0.025 = 0.975 */
    ck_assert_double_eq_tol(p[0], 0.95, TOL);
    ck_assert_double_eq_tol(p[1], 0.975, TOL);
}
END_TEST

START_TEST(momentum)
{
    float p[2];
    two_steps(OPTIM_MOMENTUM, p);
    /* v1 = 0.5, p = 0.95; v2 = 0.9*0.5 - 0.25 = 0.2, p = 0.95 - 0.02 = 0.93 */
    ck_assert_double_eq_tol(p[0], 0.95, TOL);
    ck_assert_double_eq_tol(p[1], 0.93, TOL);
}
END_TEST

START_TEST(nesterov)
{
    float p[2];
    two_steps(OPTIM_NESTEROV, p);
    /* v1 = 0.5, p = 1 - 0.1 (0.5 + 0.45) = 0.905;
     * v2 = 0.2, p = 0.905 - 0.1 (-0.25 + 0.18) = 0.912 */
    ck_assert_double_eq_tol(p[0], 0.905, TOL);
    ck_assert_double_eq_tol(p[1], 0.912, TOL);
}
END_TEST

START_TEST(adagrad)
{
    float p[2];
    two_steps(OPTIM_ADAGRAD, p);
    /* G1 = 0.25, p = 1 - 0.1*0.5/0.5 = 0.9;
     * G2 = 0.3125, p = 0.9 + 0.1*0.25/sqrt(0.3125) = 0.9447214 */
    ck_assert_double_eq_tol(p[0], 0.9, TOL);
    ck_assert_double_eq_tol(p[1], 0.9447214, TOL);
}
END_TEST

START_TEST(rmsprop)
{
    float p[2];
    two_steps(OPTIM_RMSPROP, p);
    /* v1 = 0.1*0.25 = 0.025, p = 1 - 0.05/sqrt(0.025) = 0.6837723;
     * v2 = 0.0225 + 0.00625 = 0.02875, p += 0.025/sqrt(0.02875) -> 0.8312142 */
    ck_assert_double_eq_tol(p[0], 0.6837723, TOL);
    ck_assert_double_eq_tol(p[1], 0.8312142, TOL);
}
END_TEST

START_TEST(adam)
{
    float p[2], q[2];
    two_steps(OPTIM_ADAM, p);
    /* step 1: m_hat = g, v_hat = g^2, so p = 1 - 0.1 = 0.9;
     * step 2: m = 0.045 - 0.025 = 0.02, m_hat = 0.02/0.19 = 0.1052632;
     * v = 0.00024975 + 0.0000625 = 0.00031225, v_hat = v/0.001999 = 0.1562031;
     * p = 0.9 - 0.1*0.1052632/0.3952254 = 0.8733663 */
    ck_assert_double_eq_tol(p[0], 0.9, TOL);
    ck_assert_double_eq_tol(p[1], 0.8733663, TOL);
    two_steps(OPTIM_ADAMW, q);   /* without weight decay: the same rule */
    ck_assert_float_eq(p[0], q[0]);
    ck_assert_float_eq(p[1], q[1]);
}
END_TEST

/* W = [[2, -1], [0.5, 0]], b = [3, -3], zero gradients, one SGD step at lr 0.1. */
static void reg_step(optim_kind kind, float wd, float l1, float l2, float p[6])
{
    optim_config c;
    optim_config_default(&c);
    c.kind = kind;
    c.weight_decay = wd;
    c.l1 = l1;
    c.l2 = l2;
    optim o;
    ck_assert_int_eq(optim_init(&o, &c, 6, tensors, 2, NULL), KE_OK);
    float init[6] = {2, -1, 0.5f, 0, 3, -3}, g[6] = {0};
    memcpy(p, init, sizeof init);
    optim_step(&o, p, g, 0.1f);
    optim_free(&o);
}

START_TEST(l2_penalty)
{
    float p[6];
    reg_step(OPTIM_SGD, 0, 0, 0.5f, p);   /* g = 0.5 w, p = w (1 - 0.05) */
    ck_assert_double_eq_tol(p[0], 1.9, TOL);
    ck_assert_double_eq_tol(p[1], -0.95, TOL);
    ck_assert_double_eq_tol(p[2], 0.475, TOL);
    ck_assert_float_eq(p[4], 3);
    ck_assert_float_eq(p[5], -3);
}
END_TEST

START_TEST(l1_penalty)
{
    float p[6];
    reg_step(OPTIM_SGD, 0, 0.5f, 0, p);   /* g = 0.5 sign(w), p = w - 0.05 sign(w) */
    ck_assert_double_eq_tol(p[0], 1.95, TOL);
    ck_assert_double_eq_tol(p[1], -0.95, TOL);
    ck_assert_double_eq_tol(p[2], 0.45, TOL);
    ck_assert_float_eq(p[3], 0);          /* sign(0) = 0 */
    ck_assert_float_eq(p[4], 3);
}
END_TEST

START_TEST(elastic_net)
{
    float p[6];
    reg_step(OPTIM_SGD, 0, 0.5f, 0.5f, p);   /* g = 0.5 sign(w) + 0.5 w */
    ck_assert_double_eq_tol(p[0], 2 - 0.1 * (0.5 + 1.0), TOL);
    ck_assert_double_eq_tol(p[1], -1 + 0.1 * (0.5 + 0.5), TOL);
    ck_assert_float_eq(p[5], -3);
}
END_TEST

START_TEST(decoupled_decay)
{
    float p[6];
    /* AdamW with a zero gradient: the Adam step is 0, only w *= 1 - lr wd. */
    reg_step(OPTIM_ADAMW, 0.5f, 0, 0, p);
    ck_assert_double_eq_tol(p[0], 1.9, TOL);
    ck_assert_double_eq_tol(p[1], -0.95, TOL);
    ck_assert_float_eq(p[4], 3);
    ck_assert_float_eq(p[5], -3);
    /* Adam with the coupled l2 instead: Adam normalises the penalty gradient,
     * so every weight moves by about lr whatever its size. */
    reg_step(OPTIM_ADAM, 0, 0, 0.5f, p);
    ck_assert_double_eq_tol(p[0], 1.9, TOL);
    ck_assert_double_eq_tol(p[2], 0.4, TOL);
    ck_assert_float_eq(p[4], 3);
    /* Adam's weight_decay is that coupled form (PyTorch's Adam), not AdamW's:
     * the same bits as l2 = wd, and unlike the decoupled step above. */
    float q[6];
    reg_step(OPTIM_ADAM, 0.5f, 0, 0, q);
    ck_assert_int_eq(memcmp(p, q, sizeof p), 0);
    ck_assert_double_eq_tol(q[2], 0.4, TOL);
}
END_TEST

static optim clip_optim(float value, float norm, float agc)
{
    optim_config c;
    optim_config_default(&c);
    c.clip_value = value;
    c.clip_norm = norm;
    c.agc = agc;
    optim o;
    ck_assert_int_eq(optim_init(&o, &c, 6, tensors, 2, NULL), KE_OK);
    return o;
}

START_TEST(clip_by_value)
{
    optim o = clip_optim(0.3f, 0, 0);
    float p[6] = {0}, g[6] = {0.5f, -1, 0.1f, 0, 7, -0.3f};
    optim_clip(&o, p, g);
    float want[6] = {0.3f, -0.3f, 0.1f, 0, 0.3f, -0.3f};
    for (int i = 0; i < 6; i++) ck_assert_float_eq_tol(g[i], want[i], 1e-7);
    optim_free(&o);
}
END_TEST

START_TEST(clip_by_norm)
{
    optim o = clip_optim(0, 1, 0);
    float p[6] = {0}, g[6] = {3, 0, 0, 0, 4, 0};
    ck_assert_double_eq_tol(optim_clip(&o, p, g), 5, 1e-9);
    ck_assert_float_eq_tol(g[0], 0.6f, 1e-6);
    ck_assert_float_eq_tol(g[4], 0.8f, 1e-6);
    float small[6] = {0.1f, 0, 0, 0, 0, 0};   /* under the threshold: untouched */
    optim_clip(&o, p, small);
    ck_assert_float_eq(small[0], 0.1f);
    optim_free(&o);
}
END_TEST

START_TEST(clip_adaptive)
{
    /* A hidden layer (W 2x2, b) and the output layer (W 1x2). */
    static const mlp_tensor two[] = {
        {"h0.W", 0, 2, 2, 1, 1},
        {"h0.b", 4, 2, 1, 0, 1},
        {"out.W", 6, 1, 2, 1, 1},
    };
    optim_config c;
    optim_config_default(&c);
    c.agc = 0.1f;
    optim o;
    ck_assert_int_eq(optim_init(&o, &c, 8, two, 3, NULL), KE_OK);
    /* Row 0 of W has |w| = 5: |g| = 2 > 0.1*5 is cut to 0.5. Row 1 is zero,
     * so the floor 1e-3 applies: |g| = 1 is cut to 1e-4. The bias gradient
     * (not a weight) is left alone, and so is the output layer's (Brock et
     * al. 2021 do not clip the final layer). */
    float p[8] = {3, 4, 0, 0, 1, 1, 3, 4}, g[8] = {2, 0, 0, 1, 50, -50, 2, 0};
    optim_clip(&o, p, g);
    ck_assert_float_eq_tol(g[0], 0.5f, 1e-6);
    ck_assert_float_eq_tol(g[1], 0, 1e-9);
    ck_assert_float_eq_tol(g[3], 1e-4f, 1e-9);
    ck_assert_float_eq(g[4], 50);
    ck_assert_float_eq(g[5], -50);
    ck_assert_float_eq(g[6], 2);
    float ok[8] = {0.3f, 0.3f, 0, 0, 0, 0, 0, 0};   /* |g| = 0.42 <= 0.5: unchanged */
    optim_clip(&o, p, ok);
    ck_assert_float_eq(ok[0], 0.3f);
    ck_assert_int_eq(optim_agc_clips(two, 3, 0), 1);
    ck_assert_int_eq(optim_agc_clips(two, 3, 1), 0);
    ck_assert_int_eq(optim_agc_clips(two, 3, 2), 0);
    optim_free(&o);
}
END_TEST

/* optim_begin and optim_apply on ranges that cut through tensors and SIMD
 * blocks give optim_step's bits, for every rule with every stage on. */
START_TEST(split_ranges_match_step)
{
    static const mlp_tensor big[] = {
        {"h0.W", 0, 5, 7, 1, 1},
        {"h0.b", 35, 5, 1, 0, 1},
        {"h1.W", 40, 3, 5, 1, 1},
    };
    enum { N = 55 };
    const size_t cuts[] = {0, 3, 17, 36, 41, N};
    for (int k = OPTIM_SGD; k <= OPTIM_ADAMW; k++) {
        optim_config c;
        optim_config_default(&c);
        c.kind = (optim_kind)k;
        c.weight_decay = 0.01f;
        c.l1 = 0.001f;
        c.l2 = 0.002f;
        c.clip_norm = 0.5f;
        optim a, b;
        ck_assert_int_eq(optim_init(&a, &c, N, big, 3, NULL), KE_OK);
        ck_assert_int_eq(optim_init(&b, &c, N, big, 3, NULL), KE_OK);
        float pa[N], pb[N], ga[N], gb[N];
        for (int step = 0; step < 3; step++) {
            for (int i = 0; i < N; i++) {
                if (step == 0) pa[i] = pb[i] = 0.1f * (float)((i * 7) % 11) - 0.5f;
                ga[i] = gb[i] = 0.05f * (float)((i * 5 + step) % 13) - 0.3f;
            }
            optim_step(&a, pa, ga, 0.1f);
            optim_begin(&b, pb, gb);
            for (int r = 4; r >= 0; r--)   /* any order */
                optim_apply(&b, pb, gb, 0.1f, cuts[r], cuts[r + 1]);
        }
        ck_assert_int_eq(b.t, a.t);
        ck_assert_msg(memcmp(pa, pb, sizeof pa) == 0, "kind %d: parameters differ", k);
        ck_assert(a.n_state == 0 || memcmp(a.state, b.state, a.n_state * sizeof(float)) == 0);
        optim_free(&a);
        optim_free(&b);
    }
}
END_TEST

START_TEST(state_arena_and_reset)
{
    optim_config c;
    optim_config_default(&c);
    optim o;
    int sizes[] = {0, 1, 1, 1, 1, 2, 2};
    for (int k = OPTIM_SGD; k <= OPTIM_ADAMW; k++) {
        c.kind = (optim_kind)k;
        ck_assert_int_eq(optim_init(&o, &c, 6, tensors, 2, NULL), KE_OK);
        ck_assert_uint_eq(o.n_state, 6 * (size_t)sizes[k]);
        float p[6] = {1, 2, 3, 4, 5, 6}, g[6] = {1, 1, 1, 1, 1, 1};
        optim_step(&o, p, g, 0.1f);
        optim_reset(&o);
        ck_assert_int_eq(o.t, 0);
        for (size_t i = 0; i < o.n_state; i++) ck_assert_float_eq(o.state[i], 0);
        optim_free(&o);
    }
}
END_TEST

START_TEST(rejects_bad_config)
{
    optim_config c;
    optim o;
    kerror err;
    optim_config_default(&c);
    c.beta1 = 1.0f;
    ck_assert_int_eq(optim_init(&o, &c, 6, tensors, 2, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "beta1");
    optim_config_default(&c);
    c.eps = 0;
    ck_assert_int_eq(optim_init(&o, &c, 6, tensors, 2, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "eps");
    optim_config_default(&c);
    c.weight_decay = -1;
    ck_assert_int_eq(optim_init(&o, &c, 6, tensors, 2, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "weight_decay");
    optim_config_default(&c);   /* a tensor past the end is a caller bug */
    ck_assert_int_eq(optim_init(&o, &c, 5, tensors, 2, &err), KE_INTERNAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optim");
    TCase *rules = tcase_create("rules");
    tcase_add_test(rules, sgd);
    tcase_add_test(rules, momentum);
    tcase_add_test(rules, nesterov);
    tcase_add_test(rules, adagrad);
    tcase_add_test(rules, rmsprop);
    tcase_add_test(rules, adam);
    suite_add_tcase(s, rules);
    TCase *reg = tcase_create("regularization");
    tcase_add_test(reg, l2_penalty);
    tcase_add_test(reg, l1_penalty);
    tcase_add_test(reg, elastic_net);
    tcase_add_test(reg, decoupled_decay);
    suite_add_tcase(s, reg);
    TCase *clip = tcase_create("clipping");
    tcase_add_test(clip, clip_by_value);
    tcase_add_test(clip, clip_by_norm);
    tcase_add_test(clip, clip_adaptive);
    suite_add_tcase(s, clip);
    TCase *misc = tcase_create("state");
    tcase_add_test(misc, split_ranges_match_step);
    tcase_add_test(misc, state_arena_and_reset);
    tcase_add_test(misc, rejects_bad_config);
    suite_add_tcase(s, misc);
    return check_run(s);
}
