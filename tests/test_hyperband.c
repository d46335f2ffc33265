/* test_hyperband: the multi-fidelity strategies and the pruners. Hyperband's
 * brackets equal Table 1 of Li et al. (2018); a simulated study (4 workers,
 * trials ending in a seeded random order, a synthetic learning curve
 * evaluated in-process, some trials failing) runs every bracket to its end,
 * promotes exactly the best of each rung with the right budget and
 * resume_from, and a strategy rebuilt mid-way continues identically. ASHA in
 * an asynchronous simulation fills every free worker on every call and only
 * promotes trials in the top 1/eta of their rung. The median and ASHA pruners
 * stop bad curves and keep good ones, within their options. The BOHB sampler
 * switches from uniform draws to the GP once a budget has enough trials. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../search/asha.h"
#include "../search/asha_pruner.h"
#include "../search/fidelity.h"
#include "../search/hyperband.h"
#include "../search/median.h"
#include "../search/pruner.h"
#include "../search/sobol.h"
#include "../search/strategy.h"
#include "asha_ref.h"
#include "median_ref.h"
#include "space_fixture.h"
#include "strategy_fixture.h"

#define MAX_T 512

/* ---- bracket arithmetic ---- */

static void expect_bracket(const hyperband_bracket *b, int s, const int *n, const int *r)
{
    ck_assert_int_eq(b->s, s);
    ck_assert_int_eq(b->n_rungs, s + 1);
    for (int i = 0; i <= s; i++) {
        ck_assert_msg(b->n[i] == n[i] && b->r[i] == r[i], "s=%d rung %d: %d@%d, expected %d@%d",
                      s, i, b->n[i], b->r[i], n[i], r[i]);
    }
}

START_TEST(test_brackets_paper_table)
{
    /* Li et al. 2018, Table 1: R = 81, eta = 3. */
    hyperband_bracket b[HYPERBAND_MAX_BRACKETS];
    ck_assert_int_eq(hyperband_brackets(81, 3, 1, b, HYPERBAND_MAX_BRACKETS), 5);
    expect_bracket(&b[0], 4, (int[]){ 81, 27, 9, 3, 1 }, (int[]){ 1, 3, 9, 27, 81 });
    expect_bracket(&b[1], 3, (int[]){ 34, 11, 3, 1 }, (int[]){ 3, 9, 27, 81 });
    expect_bracket(&b[2], 2, (int[]){ 15, 5, 1 }, (int[]){ 9, 27, 81 });
    expect_bracket(&b[3], 1, (int[]){ 8, 2 }, (int[]){ 27, 81 });
    expect_bracket(&b[4], 0, (int[]){ 5 }, (int[]){ 81 });
    /* Budgets in units of r_min: R / r_min = 27 gives the paper's s_max = 3. */
    ck_assert_int_eq(hyperband_brackets(81, 3, 3, b, HYPERBAND_MAX_BRACKETS), 4);
    expect_bracket(&b[0], 3, (int[]){ 27, 9, 3, 1 }, (int[]){ 3, 9, 27, 81 });
    expect_bracket(&b[3], 0, (int[]){ 4 }, (int[]){ 81 });
    /* R not a power of eta: budgets are floored, the last rung is R. */
    ck_assert_int_eq(hyperband_brackets(10, 3, 1, b, HYPERBAND_MAX_BRACKETS), 3);
    expect_bracket(&b[0], 2, (int[]){ 9, 3, 1 }, (int[]){ 1, 3, 10 });
    expect_bracket(&b[1], 1, (int[]){ 5, 1 }, (int[]){ 3, 10 });
    ck_assert_int_eq(hyperband_brackets(5, 3, 5, b, HYPERBAND_MAX_BRACKETS), 1);
    expect_bracket(&b[0], 0, (int[]){ 1 }, (int[]){ 5 });
    ck_assert_int_eq(hyperband_brackets(81, 3, 1, b, 2), 5);   /* count even when cut */
    ck_assert_int_eq(hyperband_brackets(81, 1, 1, b, 5), KE_INVALID);
    ck_assert_int_eq(hyperband_brackets(2, 3, 3, b, 5), KE_INVALID);
    ck_assert_int_eq(hyperband_brackets(81, 3, 0, b, 5), KE_INVALID);
}
END_TEST

/* ---- simulation harness ---- */

typedef struct {
    strategy_obs obs[MAX_T];
    int n;
    double end[MAX_T];      /* virtual time a running trial ends */
    double clock;
    uint64_t rng;
    int waits;              /* calls that returned 0 while workers were free */
} sim;

static void one_float(space *sp)
{
    memset(sp, 0, sizeof *sp);
    fx_float(sp, "x", 0, 1, 0);
}

static strategy *make(const strategy_ops *ops, const space *sp, const char *options)
{
    json_t *opt = json_loads(options, 0, NULL);
    strategy *st = NULL;
    kerror err;
    kerror_clear(&err);
    int rc = ops->create(&st, sp, opt, 7, &err);
    json_decref(opt);
    ck_assert_msg(rc == KE_OK, "%s: %s", err.path, err.msg);
    return st;
}

/* Both strategies refuse options at path, with a message holding text
 * (any message when text is NULL). */
static void expect_option_refused(const char *options, const char *path, const char *text)
{
    space sp;
    one_float(&sp);
    json_t *opt = json_loads(options, 0, NULL);
    strategy *st = NULL;
    kerror err;
    kerror_clear(&err);
    ck_assert_int_eq(hyperband_strategy.create(&st, &sp, opt, 1, &err), KE_INVALID);
    ck_assert_str_eq(err.path, path);
    ck_assert_msg(!text || strstr(err.msg, text), "%s: %s", options, err.msg);
    ck_assert_int_eq(asha_strategy.create(&st, &sp, opt, 1, &err), KE_INVALID);
    ck_assert_str_eq(err.path, path);
    ck_assert_msg(!text || strstr(err.msg, text), "%s: %s", options, err.msg);
    json_decref(opt);
    space_free(&sp);
}

static void expect_option_error(const char *options, const char *path)
{
    expect_option_refused(options, path, NULL);
}

/* Synthetic learning curve: a configuration's loss falls with the budget
 * towards (x - 0.3)^2; trials whose number is 5 mod 13 fail. */
static int fails(int number)
{
    return number % 13 == 5;
}

static double curve(const space_point *p, int budget)
{
    double x = p->x[0];
    return (x - 0.3) * (x - 0.3) + 0.5 / budget;
}

static void add_trial(sim *S, const strategy_suggestion *sg)
{
    ck_assert_int_lt(S->n, MAX_T);
    strategy_obs *o = &S->obs[S->n];
    memset(o, 0, sizeof *o);
    o->number = S->n;
    o->state = TRIAL_RUNNING;
    o->budget = sg->budget;
    o->resumed_from = sg->resume_from;
    o->retry_of = -1;
    o->point = sg->point;
    /* Longer budgets take longer; the jitter makes trials end out of order. */
    S->end[S->n] = S->clock + sg->budget * (1.0 + (double)(strategy_rng_next(&S->rng) % 1000) / 250.0);
    S->n++;
}

static int n_running(const sim *S)
{
    int r = 0;
    for (int i = 0; i < S->n; i++) r += S->obs[i].state == TRIAL_RUNNING;
    return r;
}

/* Ends the running trial that ends first. */
static void end_next(sim *S)
{
    int t = -1;
    for (int i = 0; i < S->n; i++)
        if (S->obs[i].state == TRIAL_RUNNING && (t < 0 || S->end[i] < S->end[t])) t = i;
    ck_assert_int_ge(t, 0);
    strategy_obs *o = &S->obs[t];
    S->clock = S->end[t];
    o->state = fails(t) ? TRIAL_FAILED : TRIAL_COMPLETE;
    o->has_value = !fails(t);
    o->value = o->has_value ? curve(&o->point, o->budget) : 0;
}

/* Rung of a trial: how many promotions led to it; root: its fresh ancestor. */
static int depth(const sim *S, int t, int *root)
{
    int d = 0;
    while (S->obs[t].resumed_from >= 0) {
        t = S->obs[t].resumed_from;
        d++;
    }
    if (root) *root = t;
    return d;
}

static int fresh_index(const sim *S, int t)
{
    int k = 0;
    for (int i = 0; i < t; i++) k += S->obs[i].resumed_from < 0;
    return k;
}

/* ---- Hyperband ---- */

typedef struct {
    hyperband_bracket br[HYPERBAND_MAX_BRACKETS];
    int n_br;
} table;

static int bracket_of(const table *T, const sim *S, int t, int *rung)
{
    int root;
    *rung = depth(S, t, &root);
    int k = fresh_index(S, root), cum = 0;
    for (int b = 0; b < T->n_br; b++) {
        cum += T->br[b].n[0];
        if (k < cum) return b;
    }
    ck_abort_msg("trial %d beyond the last bracket", t);
    return -1;
}

/* A promotion of trial p may only be suggested once p's whole rung has ended. */
static void check_rung_ended(const table *T, const sim *S, int p)
{
    int rp, rq, bp = bracket_of(T, S, p, &rp);
    for (int q = 0; q < S->n; q++)
        if (bracket_of(T, S, q, &rq) == bp && rq == rp)
            ck_assert_msg(S->obs[q].state != TRIAL_RUNNING, "promoted %d while %d runs", p, q);
}

/* Drives the strategy until done(); rebuilds it when S->n reaches each
 * restart point, as a resumed study would. */
static void run_hyperband(sim *S, const space *sp, const char *options, const table *T,
                          int workers, const int *restarts, int n_restarts)
{
    strategy *st = make(&hyperband_strategy, sp, options);
    int next = 0;
    for (;;) {
        if (next < n_restarts && S->n >= restarts[next]) {
            hyperband_strategy.destroy(st);
            st = make(&hyperband_strategy, sp, options);
            next++;
        }
        strategy_history h = { S->obs, S->n, 0, NULL };
        int free_w = workers - n_running(S);
        if (free_w > 0 && !hyperband_strategy.done(st, &h)) {
            strategy_suggestion sg[8];
            kerror err;
            int got = hyperband_strategy.suggest(st, &h, sg, free_w, &err);
            ck_assert_msg(got >= 0 && got <= free_w, "suggest returned %d", got);
            if (got == 0) S->waits++;
            for (int i = 0; i < got; i++) {
                if (sg[i].resume_from >= 0) check_rung_ended(T, S, sg[i].resume_from);
                add_trial(S, &sg[i]);
            }
        }
        if (n_running(S) == 0) {
            h = (strategy_history){ S->obs, S->n, 0, NULL };
            ck_assert_msg(hyperband_strategy.done(st, &h), "idle but not done after %d trials", S->n);
            break;
        }
        end_next(S);
    }
    hyperband_strategy.destroy(st);
}

static int by_value(const void *a, const void *b)
{
    const strategy_obs *x = *(strategy_obs *const *)a, *y = *(strategy_obs *const *)b;
    if (x->value != y->value) return x->value < y->value ? -1 : 1;
    return x->number - y->number;
}

/* Every rung of every bracket, checked against the table from scratch. */
static void check_brackets(const table *T, const sim *S)
{
    int children[MAX_T] = { 0 };
    for (int t = 0; t < S->n; t++)
        if (S->obs[t].resumed_from >= 0) children[S->obs[t].resumed_from]++;
    for (int b = 0; b < T->n_br; b++) {
        const hyperband_bracket *br = &T->br[b];
        int expected = br->n[0];
        for (int i = 0; i < br->n_rungs; i++) {
            const strategy_obs *ok[MAX_T];
            int m = 0, c = 0, promoted = 0;
            for (int t = 0; t < S->n; t++) {
                int r;
                if (bracket_of(T, S, t, &r) != b || r != i) continue;
                m++;
                ck_assert_int_eq(S->obs[t].budget, br->r[i]);
                ck_assert_int_le(children[t], 1);
                promoted += children[t];
                if (S->obs[t].state == TRIAL_COMPLETE) ok[c++] = &S->obs[t];
                else ck_assert_int_eq(children[t], 0);   /* failed: never promoted */
            }
            ck_assert_msg(m == expected, "bracket %d rung %d: %d trials, expected %d", b, i, m,
                          expected);
            if (i + 1 == br->n_rungs) {
                ck_assert_int_eq(promoted, 0);
                break;
            }
            int quota = br->n[i + 1] < c ? br->n[i + 1] : c;
            qsort(ok, (size_t)c, sizeof *ok, by_value);
            for (int j = 0; j < c; j++)
                ck_assert_msg(children[ok[j]->number] == (j < quota),
                              "bracket %d rung %d: rank %d promoted %d", b, i, j,
                              children[ok[j]->number]);
            expected = quota;
        }
    }
}

START_TEST(test_hyperband_simulated_run)
{
    space sp;
    one_float(&sp);
    table T;
    T.n_br = hyperband_brackets(81, 3, 1, T.br, HYPERBAND_MAX_BRACKETS);
    static sim S;
    memset(&S, 0, sizeof S);
    S.rng = 11;
    run_hyperband(&S, &sp, "{\"max_resource\": 81}", &T, 4, NULL, 0);
    check_brackets(&T, &S);
    int fresh = 0, failed = 0;
    for (int t = 0; t < S.n; t++) {
        fresh += S.obs[t].resumed_from < 0;
        failed += S.obs[t].state == TRIAL_FAILED;
    }
    ck_assert_int_eq(fresh, 81 + 34 + 15 + 8 + 5);
    ck_assert_int_gt(failed, 0);
    ck_assert_int_gt(S.waits, 0);   /* workers waited on rungs */
    space_free(&sp);
}
END_TEST

START_TEST(test_hyperband_resume_identical)
{
    space sp;
    one_float(&sp);
    table T;
    T.n_br = hyperband_brackets(27, 3, 1, T.br, HYPERBAND_MAX_BRACKETS);
    static sim A, B;
    memset(&A, 0, sizeof A);
    memset(&B, 0, sizeof B);
    A.rng = B.rng = 5;
    const char *opt = "{\"max_resource\": 27, \"eta\": 3}";
    run_hyperband(&A, &sp, opt, &T, 3, NULL, 0);
    int restarts[] = { 1, 17, 30, 41, 60 };
    run_hyperband(&B, &sp, opt, &T, 3, restarts, 5);
    check_brackets(&T, &A);
    ck_assert_int_eq(A.n, B.n);
    for (int t = 0; t < A.n; t++) {
        ck_assert(space_point_equal(&sp, &A.obs[t].point, &B.obs[t].point));
        ck_assert_int_eq(A.obs[t].budget, B.obs[t].budget);
        ck_assert_int_eq(A.obs[t].resumed_from, B.obs[t].resumed_from);
    }
    space_free(&sp);
}
END_TEST

/* rounds 3 runs the brackets three times over, each round a whole
 * Hyperband with fresh configurations; rounds 0 goes on after them. */
START_TEST(test_hyperband_rounds)
{
    space sp;
    one_float(&sp);
    table T;
    int n = hyperband_brackets(9, 3, 1, T.br, HYPERBAND_MAX_BRACKETS);
    for (int k = n; k < 3 * n; k++) T.br[k] = T.br[k % n];
    T.n_br = 3 * n;
    static sim S;
    memset(&S, 0, sizeof S);
    S.rng = 3;
    run_hyperband(&S, &sp, "{\"max_resource\": 9, \"rounds\": 3}", &T, 3, NULL, 0);
    check_brackets(&T, &S);
    int fresh = 0;
    for (int t = 0; t < S.n; t++) fresh += S.obs[t].resumed_from < 0 && S.obs[t].retry_of < 0;
    ck_assert_int_eq(fresh, 3 * (9 + 5 + 3));
    /* the same history with no end of rounds: a fourth round starts, its
     * first bracket's bottom rung at the smallest budget */
    strategy *st = make(&hyperband_strategy, &sp, "{\"max_resource\": 9, \"rounds\": 0}");
    strategy_history h = { S.obs, S.n, 0, NULL };
    strategy_suggestion sg[16];
    kerror err;
    ck_assert(!hyperband_strategy.done(st, &h));
    ck_assert_int_eq(hyperband_strategy.suggest(st, &h, sg, 16, &err), 9);
    for (int i = 0; i < 9; i++) {
        ck_assert_int_eq(sg[i].budget, 1);
        ck_assert_int_eq(sg[i].resume_from, -1);
    }
    hyperband_strategy.destroy(st);
    space_free(&sp);
}
END_TEST

/* A configuration enqueued after the last round ran at R in no bracket
 * and took no place: the study run again with a second round (--force)
 * draws that round's configurations as a study without it would, the
 * sampler's points 5, 6, 7 (R = 3: 5 configurations a round). The sampler
 * was asked from the count of every fresh trial, the enqueued one's too, so
 * round 2 started at point 6 and point 5 was never drawn. */
START_TEST(test_hyperband_no_bracket_enqueued_takes_no_point)
{
    space sp;
    one_float(&sp);
    table T;
    T.n_br = hyperband_brackets(3, 3, 1, T.br, HYPERBAND_MAX_BRACKETS);
    static sim S;
    memset(&S, 0, sizeof S);
    S.rng = 4;
    run_hyperband(&S, &sp, "{\"max_resource\": 3}", &T, 2, NULL, 0);
    int places = 0;
    for (int t = 0; t < S.n; t++) places += S.obs[t].resumed_from < 0;
    ck_assert_int_eq(places, 5);
    strategy_suggestion enq = { S.obs[0].point, 3, -1 };
    enq.point.x[0] = 0.125;
    add_trial(&S, &enq);
    S.obs[S.n - 1].enqueued = 1;
    S.obs[S.n - 1].state = TRIAL_COMPLETE;
    S.obs[S.n - 1].has_value = 1;
    S.obs[S.n - 1].value = 0.5;
    strategy *st = make(&hyperband_strategy, &sp, "{\"max_resource\": 3, \"rounds\": 2}");
    strategy_history h = { S.obs, S.n, 0, NULL };
    strategy_suggestion sg[4];
    kerror err;
    ck_assert_int_eq(hyperband_strategy.suggest(st, &h, sg, 4, &err), 3);
    for (int i = 0; i < 3; i++) {
        space_point want = fx_sobol_point(&sp, 7, 5 + i);
        ck_assert_int_eq(sg[i].budget, 1);
        ck_assert_msg(space_point_equal(&sp, &sg[i].point, &want),
                      "round 2's configuration %d: x = %.17g, the sampler's point %d is %.17g",
                      i, sg[i].point.x[0], 5 + i, want.x[0]);
    }
    hyperband_strategy.destroy(st);
    space_free(&sp);
}
END_TEST

/* A study run to its end with max_resource 9, then with --force and other
 * budgets (max_resource 27; eta 2; min_resource 3; and back): every
 * promotion gets more budget than the trial it continues ran, and the
 * study ends. By their order alone, the trials took the places of the new
 * brackets whatever budget they had run: with 27, trials that had run 9
 * epochs were "promoted" to 3 (trial 21, budget 9, to budget 3), and ones
 * that had run 3 to 3, trials that train nothing. */
START_TEST(test_hyperband_budgets_changed_by_force)
{
    static const char *const after[] = { "{\"max_resource\": 27}",
                                         "{\"max_resource\": 9, \"eta\": 2}",
                                         "{\"max_resource\": 9, \"min_resource\": 3}" };
    space sp;
    one_float(&sp);
    table T;
    T.n_br = hyperband_brackets(9, 3, 1, T.br, HYPERBAND_MAX_BRACKETS);
    for (int a = 0; a < 3; a++) {
        static sim S;
        memset(&S, 0, sizeof S);
        S.rng = 6 + a;
        run_hyperband(&S, &sp, "{\"max_resource\": 9}", &T, 3, NULL, 0);
        strategy *st = make(&hyperband_strategy, &sp, after[a]);
        for (;;) {
            strategy_history h = { S.obs, S.n, 0, NULL };
            if (n_running(&S) < 3 && !hyperband_strategy.done(st, &h)) {
                strategy_suggestion sg[3];
                kerror err;
                int got = hyperband_strategy.suggest(st, &h, sg, 3 - n_running(&S), &err);
                ck_assert_int_ge(got, 0);
                for (int i = 0; i < got; i++) {
                    int p = sg[i].resume_from;
                    ck_assert_msg(p < 0 || sg[i].budget > S.obs[p].budget,
                                  "%s: trial %d, which ran budget %d, promoted to budget %d",
                                  after[a], p, S.obs[p].budget, sg[i].budget);
                    add_trial(&S, &sg[i]);
                }
            }
            if (n_running(&S) == 0) {
                h = (strategy_history){ S.obs, S.n, 0, NULL };
                ck_assert_msg(hyperband_strategy.done(st, &h), "%s: idle but not done", after[a]);
                break;
            }
            ck_assert_int_lt(S.n, MAX_T - 3);
            end_next(&S);
        }
        hyperband_strategy.destroy(st);
    }
    space_free(&sp);
}
END_TEST

/* A retry (a resumed study re-running an interrupted trial) takes its
 * original's place: the rung waits for it, then promotes from it. */
START_TEST(test_hyperband_retry_takes_place)
{
    space sp;
    one_float(&sp);
    strategy *st = make(&hyperband_strategy, &sp, "{\"max_resource\": 3}");
    /* R = 3, eta = 3: bracket s=1 is 3 configurations at 1, the best at 3. */
    static sim S;
    memset(&S, 0, sizeof S);
    strategy_suggestion sg[4];
    kerror err;
    strategy_history h = { S.obs, 0, 0, NULL };
    ck_assert_int_eq(hyperband_strategy.suggest(st, &h, sg, 4, &err), 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(sg[i].budget, 1);
        ck_assert_int_eq(sg[i].resume_from, -1);
        add_trial(&S, &sg[i]);
    }
    double v[3] = { 0.5, 0, 0.7 };
    for (int i = 0; i < 3; i++) {
        S.obs[i].state = i == 1 ? TRIAL_FAILED : TRIAL_COMPLETE;
        S.obs[i].has_value = i != 1;
        S.obs[i].value = v[i];
    }
    strategy_suggestion retry = { S.obs[1].point, 1, -1 };
    add_trial(&S, &retry);
    S.obs[3].retry_of = 1;
    h.n_obs = S.n;
    ck_assert_int_eq(hyperband_strategy.suggest(st, &h, sg, 4, &err), 0);
    ck_assert(!hyperband_strategy.done(st, &h));
    S.obs[3].state = TRIAL_COMPLETE;
    S.obs[3].has_value = 1;
    S.obs[3].value = 0.1;
    ck_assert_int_eq(hyperband_strategy.suggest(st, &h, sg, 4, &err), 1);
    ck_assert_int_eq(sg[0].resume_from, 3);
    ck_assert_int_eq(sg[0].budget, 3);
    ck_assert(space_point_equal(&sp, &sg[0].point, &S.obs[1].point));
    hyperband_strategy.destroy(st);
    space_free(&sp);
}
END_TEST

START_TEST(test_options)
{
    expect_option_error("{}", "strategy.options.max_resource");
    expect_option_error("{\"max_resource\": 9, \"eta\": 1}", "strategy.options.eta");
    expect_option_error("{\"max_resource\": 9, \"min_resource\": 10}", "strategy.options.max_resource");
    expect_option_error("{\"max_resource\": 9, \"min_resource\": 0}", "strategy.options.min_resource");
    expect_option_error("{\"max_resource\": 2000000}", "strategy.options.max_resource");
    expect_option_error("{\"max_resource\": 9, \"sampler\": \"tpe\"}", "strategy.options.sampler");
    expect_option_error("{\"max_resource\": 9, \"random_fraction\": 2}", "strategy.options.random_fraction");
    /* it mixes uniform draws into the gp sampler's model; with another
     * sampler it would do nothing, so it is refused, naming the sampler */
    expect_option_refused("{\"max_resource\": 9, \"random_fraction\": 0.5}",
                          "strategy.options.random_fraction",
                          "applies to the \"gp\" sampler only (the sampler is \"sobol\", the default)");
    expect_option_refused("{\"max_resource\": 9, \"sampler\": \"random\", \"random_fraction\": 0}",
                          "strategy.options.random_fraction", "(the sampler is \"random\")");
    expect_option_error("{\"max_resource\": 9, \"foo\": 1}", "strategy.options.foo");
    expect_option_error("{\"max_resource\": 9, \"rounds\": -1}", "strategy.options.rounds");
    /* Below min_resource * eta there is one rung: every bracket was a single
     * configuration at full budget, so a Hyperband study ran one trial (a
     * round) and an ASHA study random search, nothing compared. */
    expect_option_error("{\"max_resource\": 2}", "strategy.options.max_resource");
    expect_option_error("{\"max_resource\": 5, \"min_resource\": 5}", "strategy.options.max_resource");
    expect_option_error("{\"max_resource\": 7, \"min_resource\": 2, \"eta\": 4}",
                        "strategy.options.max_resource");
    expect_option_error("{\"max_resource\": 1000000, \"min_resource\": 1000, \"eta\": 1000000}",
                        "strategy.options.max_resource");
    expect_option_refused("{\"max_resource\": 2}", "strategy.options.max_resource",
                          "must be >= min_resource * eta (3)");
    /* rounds is Hyperband's own: ASHA has no rounds and refuses the key */
    space sp;
    one_float(&sp);
    json_t *opt = json_loads("{\"max_resource\": 9, \"rounds\": 2}", 0, NULL);
    strategy *st = NULL;
    kerror err;
    ck_assert_int_eq(asha_strategy.create(&st, &sp, opt, 1, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "strategy.options.rounds");
    /* and says so, with what asha does instead, to a user switching a spec */
    ck_assert_msg(strstr(err.msg, "is a hyperband option") && strstr(err.msg, "asha has no rounds") &&
                  strstr(err.msg, "budget.max_trials"), "%s", err.msg);
    ck_assert_int_eq(hyperband_strategy.create(&st, &sp, opt, 1, &err), KE_OK);
    hyperband_strategy.destroy(st);
    json_decref(opt);
    /* past its bound, the message names the range, not ">= 0" alone */
    opt = json_loads("{\"max_resource\": 9, \"rounds\": 1000001}", 0, NULL);
    ck_assert_int_eq(hyperband_strategy.create(&st, &sp, opt, 1, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "strategy.options.rounds");
    ck_assert_msg(strstr(err.msg, "must be an integer in [0, 1000000]"), "%s", err.msg);
    json_decref(opt);
    /* a near miss of it is named, as of every other option */
    opt = json_loads("{\"max_resource\": 9, \"round\": 2}", 0, NULL);
    ck_assert_int_eq(hyperband_strategy.create(&st, &sp, opt, 1, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "strategy.options.round");
    ck_assert_str_eq(err.msg, "unknown option (did you mean 'rounds'?)");
    json_decref(opt);
    space_free(&sp);
    ck_assert_ptr_eq(strategy_find("hyperband"), &hyperband_strategy);
    ck_assert_ptr_eq(strategy_find("asha"), &asha_strategy);
    ck_assert_str_eq(strategy_name_at(4), "hyperband");
}
END_TEST

/* ---- ASHA ---- */

/* Rung k's trials that are promotable now: COMPLETE, among the best
 * floor(ended / eta) of the rung, and not promoted (children or batch). */
static int promotable(const sim *S, const int *children, int k, int eta, int t)
{
    const strategy_obs *ok[MAX_T];
    int ended = 0, c = 0;
    for (int q = 0; q < S->n; q++) {
        if (depth(S, q, NULL) != k || S->obs[q].state == TRIAL_RUNNING) continue;
        ended++;
        if (S->obs[q].state == TRIAL_COMPLETE) ok[c++] = &S->obs[q];
    }
    qsort(ok, (size_t)c, sizeof *ok, by_value);
    int quota = ended / eta < c ? ended / eta : c;
    int any = 0;
    for (int j = 0; j < quota; j++) {
        if (t >= 0 && ok[j]->number == t) return 1;
        any |= !children[ok[j]->number];
    }
    return t < 0 && any;
}

START_TEST(test_asha_asynchronous)
{
    space sp;
    one_float(&sp);
    strategy *st = make(&asha_strategy, &sp, "{\"max_resource\": 9, \"eta\": 3}");
    static sim S;
    memset(&S, 0, sizeof S);
    S.rng = 3;
    const int workers = 4, max_fresh = 60, budgets[3] = { 1, 3, 9 };
    int fresh = 0, calls = 0, promotions[3] = { 0 };
    static int children[MAX_T];
    memset(children, 0, sizeof children);
    for (;;) {
        int free_w = workers - n_running(&S);
        if (free_w > 0) {
            strategy_history h = { S.obs, S.n, 0, NULL };
            strategy_suggestion sg[8];
            kerror err;
            calls++;
            ck_assert_int_eq(asha_strategy.suggest(st, &h, sg, free_w, &err), free_w);
            for (int i = 0; i < free_w; i++) {
                int p = sg[i].resume_from;
                if (p >= 0) {
                    int k = depth(&S, p, NULL);
                    ck_assert_msg(!children[p] && promotable(&S, children, k, 3, p),
                                  "trial %d promoted out of turn", p);
                    ck_assert_int_eq(sg[i].budget, budgets[k + 1]);
                    ck_assert(space_point_equal(&sp, &sg[i].point, &S.obs[p].point));
                    children[p]++;
                    promotions[k + 1]++;
                    add_trial(&S, &sg[i]);
                    continue;
                }
                ck_assert_int_eq(sg[i].budget, 1);
                /* A new configuration only when nothing can be promoted. */
                for (int k = 0; k < 2; k++) ck_assert(!promotable(&S, children, k, 3, -1));
                if (fresh < max_fresh) {   /* the scheduler holds fresh trials to max_trials */
                    fresh++;
                    add_trial(&S, &sg[i]);
                }
            }
        }
        if (n_running(&S) == 0) break;
        end_next(&S);
    }
    ck_assert_int_eq(fresh, max_fresh);
    ck_assert_int_gt(promotions[1], max_fresh / 3 - 5);
    ck_assert_int_gt(promotions[2], 0);
    ck_assert_int_gt(calls, max_fresh / workers);
    ck_assert(!asha_strategy.done(st, NULL));
    asha_strategy.destroy(st);
    space_free(&sp);
}
END_TEST

/* ---- BOHB sampler ---- */

static void add_done(sim *S, double x, int budget, double value)
{
    strategy_suggestion sg = { .budget = budget, .resume_from = -1 };
    sg.point.x[0] = x;
    sg.point.active[0] = 1;
    add_trial(S, &sg);
    S->obs[S->n - 1].state = TRIAL_COMPLETE;
    S->obs[S->n - 1].has_value = 1;
    S->obs[S->n - 1].value = value;
}

/* A study's ASHA run with min_resource 3 (rungs 3, 9), then again with
 * --force and min_resource 1 (rungs 1, 3, 9): its trials at 3 stand in the
 * rung of 3, not in the new bottom rung of 1, so none of them is
 * "promoted" to 3 again (a trial that trains nothing: the trainer resumes
 * it at its budget already), and every promotion gets more budget than its
 * trial ran. By depth, trial 1 (budget 3, the best of rung 0 not promoted)
 * was promoted to budget 3 as soon as three new trials had ended. */
START_TEST(test_asha_ladder_changed_by_force)
{
    space sp;
    one_float(&sp);
    static sim S;
    memset(&S, 0, sizeof S);
    strategy *st = make(&asha_strategy, &sp, "{\"max_resource\": 9, \"min_resource\": 3}");
    strategy_suggestion sg[4];
    kerror err;
    strategy_history h = { S.obs, 0, 0, NULL };
    ck_assert_int_eq(asha_strategy.suggest(st, &h, sg, 3, &err), 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(sg[i].budget, 3);
        add_done(&S, sg[i].point.x[0], 3, i);
    }
    h.n_obs = S.n;
    ck_assert_int_eq(asha_strategy.suggest(st, &h, sg, 1, &err), 1);
    ck_assert_int_eq(sg[0].resume_from, 0);
    ck_assert_int_eq(sg[0].budget, 9);
    add_done(&S, sg[0].point.x[0], 9, -1);
    S.obs[3].resumed_from = 0;
    asha_strategy.destroy(st);
    st = make(&asha_strategy, &sp, "{\"max_resource\": 9, \"min_resource\": 1}");
    int promoted = 0;
    for (int t = 0; t < 8; t++) {
        h.n_obs = S.n;
        ck_assert_int_eq(asha_strategy.suggest(st, &h, sg, 1, &err), 1);
        int p = sg[0].resume_from;
        if (p >= 0) {
            ck_assert_msg(sg[0].budget > S.obs[p].budget,
                          "trial %d, which ran budget %d, promoted to budget %d", p,
                          S.obs[p].budget, sg[0].budget);
            ck_assert_int_ge(p, 4);   /* one of the new trials at 1 */
            promoted++;
        }
        add_done(&S, sg[0].point.x[0], sg[0].budget, p >= 0 ? S.obs[p].value - 1 : 10 + t);
        S.obs[S.n - 1].resumed_from = p;
    }
    ck_assert_int_gt(promoted, 0);
    asha_strategy.destroy(st);
    space_free(&sp);
}
END_TEST

START_TEST(test_bohb_sampler)
{
    space sp;
    one_float(&sp);
    fidelity_opts o = { .r_min = 1, .R = 9, .eta = 3, .sampler = FIDELITY_RANDOM, .random_fraction = 0 };
    fidelity_sampler rnd, gp;
    kerror err;
    ck_assert_int_eq(fidelity_sampler_init(&rnd, &sp, &o, 9, &err), KE_OK);
    o.sampler = FIDELITY_GP;
    ck_assert_int_eq(fidelity_sampler_init(&gp, &sp, &o, 9, &err), KE_OK);
    ck_assert_int_eq(gp.min_points, 4);   /* d + 3 for d = 1 */
    static sim S;
    memset(&S, 0, sizeof S);
    strategy_suggestion a[4], b[4];
    /* Too few trials at every budget: the GP sampler draws uniformly. */
    for (int i = 0; i < 3; i++) add_done(&S, 0.1 + 0.3 * i, 9, (0.3 * i - 0.7) * (0.3 * i - 0.7));
    strategy_history h = { S.obs, S.n, 0, NULL };
    ck_assert_int_eq(fidelity_sample(&rnd, &h, 3, a, 4, &err), KE_OK);
    ck_assert_int_eq(fidelity_sample(&gp, &h, 3, b, 4, &err), KE_OK);
    for (int i = 0; i < 4; i++) ck_assert(space_point_equal(&sp, &a[i].point, &b[i].point));
    /* Budget 1 has enough trials, minimum near 0.2: the GP looks there. */
    for (int i = 0; i <= 10; i++)
        if (i != 2) add_done(&S, i / 10.0, 1, (i / 10.0 - 0.2) * (i / 10.0 - 0.2));
    h.n_obs = S.n;
    ck_assert_int_eq(fidelity_sample(&gp, &h, 13, b, 1, &err), KE_OK);
    ck_assert_msg(fabs(b[0].point.x[0] - 0.2) < 0.15, "x = %g", b[0].point.x[0]);
    /* Budget 9 gets enough too, minimum near 0.8: the largest budget wins. */
    for (int i = 0; i <= 10; i++)
        if (i != 8) add_done(&S, i / 10.0 + 0.01, 9, (i / 10.0 - 0.8) * (i / 10.0 - 0.8));
    h.n_obs = S.n;
    ck_assert_int_eq(fidelity_sample(&gp, &h, 23, b, 1, &err), KE_OK);
    ck_assert_msg(fabs(b[0].point.x[0] - 0.8) < 0.15, "x = %g", b[0].point.x[0]);
    fidelity_sampler_free(&rnd);
    fidelity_sampler_free(&gp);
    space_free(&sp);
}
END_TEST

/* The sobol sampler, the default: ASHA's fresh configuration k is the
 * "sobol" strategy's point k for the same seed, also when the history already
 * holds some, so a resumed study draws what an uninterrupted one would. */
START_TEST(test_sobol_sampler)
{
    space sp;
    one_float(&sp);
    kerror err;
    strategy *asha = NULL, *sob = NULL;
    json_t *opt = json_loads("{\"max_resource\": 9, \"sampler\": \"sobol\"}", 0, NULL);
    ck_assert_int_eq(asha_strategy.create(&asha, &sp, opt, 5, &err), KE_OK);
    ck_assert_int_eq(strategy_find("sobol")->create(&sob, &sp, NULL, 5, &err), KE_OK);
    static sim S;
    memset(&S, 0, sizeof S);
    strategy_suggestion a[4], want[8];
    strategy_history none = { NULL, 0, 0, NULL };
    ck_assert_int_eq(strategy_find("sobol")->suggest(sob, &none, want, 8, &err), 8);
    for (int round = 0; round < 2; round++) {
        strategy_history h = { S.obs, S.n, 0, NULL };
        ck_assert_int_eq(asha_strategy.suggest(asha, &h, a, 4, &err), 4);
        for (int i = 0; i < 4; i++) {
            ck_assert_int_eq(a[i].resume_from, -1);
            ck_assert(space_point_equal(&sp, &a[i].point, &want[4 * round + i].point));
            add_trial(&S, &a[i]);
        }
    }
    json_decref(opt);
    asha_strategy.destroy(asha);
    opt = json_loads("{\"max_resource\": 9}", 0, NULL);
    ck_assert_int_eq(asha_strategy.create(&asha, &sp, opt, 5, &err), KE_OK);
    ck_assert_int_eq(asha_strategy.suggest(asha, &none, a, 4, &err), 4);
    for (int i = 0; i < 4; i++) ck_assert(space_point_equal(&sp, &a[i].point, &want[i].point));
    json_decref(opt);
    asha_strategy.destroy(asha);
    strategy_find("sobol")->destroy(sob);
    space_free(&sp);
}
END_TEST

/* The sobol sampler's configuration k is sobol_unit's point k, bit for bit,
 * for every k of a long study asked one to four at a time, a batch asked
 * again (the scheduler dropped it) and a sampler made afresh mid-study (a
 * restart); and it costs one draw a configuration, not a walk from the
 * sequence's start: it walked k draws for each k (2,000 configurations cost
 * about 2 million draws, 12 ms a configuration at 10,000 trials). */
START_TEST(test_sobol_sampler_cost)
{
    space sp;
    memset(&sp, 0, sizeof sp);
    fx_float(&sp, "x", 0, 1, 0);
    fx_float(&sp, "y", -5, 5, 0);
    fx_float(&sp, "z", 1e-4, 1, 1);
    fidelity_opts o = { .r_min = 1, .R = 9, .eta = 3, .sampler = FIDELITY_SOBOL };
    fidelity_sampler smp;
    kerror err;
    strategy_history none = { NULL, 0, 0, NULL };
    strategy_suggestion out[4];
    ck_assert_int_eq(fidelity_sampler_init(&smp, &sp, &o, 11, &err), KE_OK);
    int k = 0, asks = 0;
    for (int restart = 0; restart < 2; restart++) {
        while (k < 2000 * (restart + 1)) {
            int n = 1 + asks++ % 4;
            ck_assert_int_eq(fidelity_sample(&smp, &none, k, out, n, &err), KE_OK);
            if (asks % 7 == 0)   /* dropped: the same batch again */
                ck_assert_int_eq(fidelity_sample(&smp, &none, k, out, n, &err), KE_OK);
            for (int i = 0; i < n; i++) {
                space_point want = fx_sobol_point(&sp, 11, k + i);
                ck_assert_msg(space_point_equal(&sp, &out[i].point, &want), "point %d", k + i);
            }
            k += n;
        }
        /* each configuration drawn once, a dropped batch's again, and after
         * a restart the walk to the first one (k - 2000 draws) */
        ck_assert_int_le(sobol_cursor_cost(smp.sobol), k + 2000 * 4 / 7 + 4);
        fidelity_sampler_free(&smp);
        ck_assert_int_eq(fidelity_sampler_init(&smp, &sp, &o, 11, &err), KE_OK);
        ck_assert_int_eq(fidelity_sample(&smp, &none, k, out, 1, &err), KE_OK);
        ck_assert_int_le(sobol_cursor_cost(smp.sobol), k + 1);
    }
    fidelity_sampler_free(&smp);
    space_free(&sp);
}
END_TEST

START_TEST(test_hyperband_bohb_run)
{
    space sp;
    one_float(&sp);
    table T;
    T.n_br = hyperband_brackets(9, 3, 1, T.br, HYPERBAND_MAX_BRACKETS);
    static sim S;
    memset(&S, 0, sizeof S);
    S.rng = 2;
    run_hyperband(&S, &sp, "{\"max_resource\": 9, \"sampler\": \"gp\", \"random_fraction\": 0}",
                  &T, 2, NULL, 0);
    check_brackets(&T, &S);
    /* The last bracket's configurations come from the GP fitted at budget 3
     * or 9: closer to the optimum 0.3 than uniform draws would be. */
    double dist = 0;
    int n = 0;
    for (int t = 0; t < S.n; t++)
        if (S.obs[t].resumed_from < 0 && S.obs[t].budget == 9) {
            dist += fabs(S.obs[t].point.x[0] - 0.3);
            n++;
        }
    ck_assert_int_eq(n, 3);
    ck_assert_msg(dist / n < 0.2, "mean distance %g", dist / n);
    space_free(&sp);
}
END_TEST

/* ---- pruners ---- */

typedef struct {
    strategy_obs obs[16];
    int steps[16][16];
    double values[16][16];
    int n;
} curves;

/* Adds a trial with values v[0..k) at steps 1..k. */
static void add_curve(curves *C, trial_state state, const double *v, int k)
{
    strategy_obs *o = &C->obs[C->n];
    memset(o, 0, sizeof *o);
    o->number = C->n;
    o->state = state;
    o->resumed_from = o->retry_of = -1;
    for (int j = 0; j < k; j++) {
        C->steps[C->n][j] = j + 1;
        C->values[C->n][j] = v[j];
    }
    o->n_steps = k;
    o->steps = C->steps[C->n];
    o->values = C->values[C->n];
    C->n++;
}

static pruner *make_pruner(const char *name, const char *options)
{
    const pruner_ops *ops = pruner_find(name);
    ck_assert_ptr_nonnull(ops);
    json_t *opt = options ? json_loads(options, 0, NULL) : NULL;
    pruner *p = NULL;
    kerror err;
    int rc = ops->create(&p, opt, &err);
    json_decref(opt);
    ck_assert_msg(rc == KE_OK, "%s: %s", err.path, err.msg);
    return p;
}

/* Five others with losses 1/step (+ a small offset each), one good and one
 * bad trial that reported steps 1..k (the last is the report at hand). */
static void five_and_two(curves *C, int k)
{
    memset(C, 0, sizeof *C);
    for (int i = 0; i < 5; i++) {
        double v[8];
        for (int j = 0; j < 8; j++) v[j] = 1.0 / (j + 1) + 0.01 * i;
        add_curve(C, i < 3 ? TRIAL_COMPLETE : TRIAL_RUNNING, v, 8);
    }
    double good[8], bad[8];
    for (int j = 0; j < 8; j++) {
        good[j] = 0.5 / (j + 1);
        bad[j] = 3.0 - 0.01 * j;
    }
    add_curve(C, TRIAL_RUNNING, good, k);   /* number 5 */
    add_curve(C, TRIAL_RUNNING, bad, k);    /* number 6 */
}

/* The tests change C in place: the pruner is told every entry again. */
static int stop_at(const char *name, pruner *p, curves *C, int number, int k)
{
    strategy_history h = { C->obs, C->n, 0, NULL };
    const pruner_ops *ops = pruner_find(name);
    for (int i = 0; ops->observe && i < C->n; i++) ops->observe(p, &C->obs[i]);
    return ops->should_stop(p, &h, number, k, C->values[number][k - 1]);
}

START_TEST(test_median_pruner)
{
    curves C;
    pruner *p = make_pruner("median", NULL);
    five_and_two(&C, 3);
    ck_assert(stop_at("median", p, &C, 6, 3));
    ck_assert(!stop_at("median", p, &C, 5, 3));
    /* The median is of running averages: at step 3 the others average
     * (1 + 1/2 + 1/3) / 3 + 0.02 = 0.63; 0.62 is better, 0.64 is worse. */
    C.values[5][2] = 0.62;
    C.values[5][0] = C.values[5][1] = 0.9;
    ck_assert(!stop_at("median", p, &C, 5, 3));
    C.values[5][2] = 0.64;
    ck_assert(stop_at("median", p, &C, 5, 3));
    pruner_find("median")->destroy(p);

    p = make_pruner("median", "{\"warmup_steps\": 3}");
    five_and_two(&C, 3);
    ck_assert(!stop_at("median", p, &C, 6, 3));
    five_and_two(&C, 4);
    ck_assert(stop_at("median", p, &C, 6, 4));
    pruner_find("median")->destroy(p);

    /* min_trials counts the others that reported the step, COMPLETE or
     * RUNNING: trials 0-4 and the good trial 5. */
    p = make_pruner("median", "{\"min_trials\": 7}");
    five_and_two(&C, 3);
    ck_assert(!stop_at("median", p, &C, 6, 3));
    pruner_find("median")->destroy(p);
    p = make_pruner("median", "{\"min_trials\": 6}");
    five_and_two(&C, 3);
    ck_assert(stop_at("median", p, &C, 6, 3));
    C.obs[0].state = TRIAL_PRUNED;
    ck_assert(!stop_at("median", p, &C, 6, 3));
    C.obs[0].state = TRIAL_FAILED;
    ck_assert(!stop_at("median", p, &C, 6, 3));
    C.obs[0].state = TRIAL_COMPLETE;
    C.obs[1].n_steps = 2;   /* has not reached step 3 yet */
    ck_assert(!stop_at("median", p, &C, 6, 3));
    pruner_find("median")->destroy(p);

    /* interval 3: checks at steps 1, 4, 7 (the first report of each window). */
    p = make_pruner("median", "{\"interval\": 3}");
    for (int k = 1; k <= 7; k++) {
        five_and_two(&C, k);
        ck_assert_int_eq(stop_at("median", p, &C, 6, k), k == 1 || k == 4 || k == 7);
    }
    pruner_find("median")->destroy(p);
}
END_TEST

/* A random study, told to the pruner change by change as the scheduler
 * tells it: trials start, report (mostly the next step, sometimes a step
 * again or a late one), end COMPLETE, PRUNED or FAILED, and now and then
 * the pruner is rebuilt from the history as at a resume. Values come from
 * a few levels of both signs, so values tie often. Every report (and a
 * query for a random ended trial) must get the decision of the old scan
 * (median_ref.h, asha_ref.h) under random options. */
#define RND_T 160
#define RND_S 24

typedef struct {
    strategy_obs obs[RND_T];
    int steps[RND_T][RND_S];
    double values[RND_T][RND_S];
    int n;
} rnd_study;

/* The scheduler's add_step: ascending, a step reported again replaced. */
static void rnd_add_step(rnd_study *S, int i, int step, double v)
{
    strategy_obs *o = &S->obs[i];
    int k = o->n_steps;
    while (k > 0 && S->steps[i][k - 1] > step) k--;
    if (k > 0 && S->steps[i][k - 1] == step) {
        S->values[i][k - 1] = v;
        return;
    }
    memmove(&S->steps[i][k + 1], &S->steps[i][k], (size_t)(o->n_steps - k) * sizeof(int));
    memmove(&S->values[i][k + 1], &S->values[i][k], (size_t)(o->n_steps - k) * sizeof(double));
    S->steps[i][k] = step;
    S->values[i][k] = v;
    o->n_steps++;
}

/* A pruner under test and the scan it must agree with. */
typedef struct {
    const pruner_ops *ops;
    char options[128];
    int opt[3];
    int (*ref)(const int *opt, const strategy_history *h, int number, int step, double v);
} rnd_rule;

static void expect_same_decision(const rnd_study *S, const rnd_rule *R, pruner *p, int number,
                                 int step, double v)
{
    strategy_history h = { S->obs, S->n, 0, NULL };
    int got = R->ops->should_stop(p, &h, number, step, v);
    int want = R->ref(R->opt, &h, number, step, v);
    ck_assert_msg(got == want, "%s %s: trial %d step %d value %g: pruner says %d, the scan %d",
                  R->ops->name, R->options, number, step, v, got, want);
}

/* Runs the random study of seed against R; asserts that it decided often
 * and that the rule did stop trials (not a vacuous match). */
static void rnd_run(uint64_t rng, const rnd_rule *R)
{
    static rnd_study S;
    memset(&S, 0, sizeof S);
    pruner *p = make_pruner(R->ops->name, R->options);
    int running[RND_T], n_running = 0, decisions = 0, stops = 0;
    for (int ev = 0; ev < 6000; ev++) {
        double u = strategy_rng_uniform(&rng);
        if ((n_running == 0 || u < 0.05) && S.n < RND_T) {
            strategy_obs *o = &S.obs[S.n];
            o->number = S.n;
            o->state = TRIAL_RUNNING;
            o->resumed_from = o->retry_of = -1;
            o->steps = S.steps[S.n];
            o->values = S.values[S.n];
            R->ops->observe(p, o);
            running[n_running++] = S.n++;
        } else if (n_running > 0 && u < 0.09) {
            int k = (int)(strategy_rng_next(&rng) % (uint64_t)n_running);
            strategy_obs *o = &S.obs[running[k]];
            double w = strategy_rng_uniform(&rng);
            o->state = w < 0.6 ? TRIAL_COMPLETE : w < 0.85 ? TRIAL_PRUNED : TRIAL_FAILED;
            R->ops->observe(p, o);
            running[k] = running[--n_running];
        } else if (n_running > 0) {
            int i = running[strategy_rng_next(&rng) % (uint64_t)n_running];
            strategy_obs *o = &S.obs[i];
            int last = o->n_steps ? S.steps[i][o->n_steps - 1] : 0;
            double w = strategy_rng_uniform(&rng);
            int step = w < 0.8 || last < 2 ? last + 1 : w < 0.9 ? last
                       : 1 + (int)(strategy_rng_next(&rng) % (uint64_t)last);
            if (step >= RND_S) continue;
            double v = (double)((int)(strategy_rng_next(&rng) % 7) - 3) / 4;
            rnd_add_step(&S, i, step, v);
            R->ops->observe(p, o);
            expect_same_decision(&S, R, p, i, step, v);
            decisions++;
        }
        if (S.n > 0 && strategy_rng_uniform(&rng) < 0.1) {
            int i = (int)(strategy_rng_next(&rng) % (uint64_t)S.n);
            const strategy_obs *o = &S.obs[i];
            if (o->n_steps > 0) {
                int j = (int)(strategy_rng_next(&rng) % (uint64_t)o->n_steps);
                expect_same_decision(&S, R, p, i, o->steps[j], o->values[j]);
            }
        }
        if (strategy_rng_uniform(&rng) < 0.002) {
            R->ops->destroy(p);
            p = make_pruner(R->ops->name, R->options);
            for (int i = 0; i < S.n; i++) R->ops->observe(p, &S.obs[i]);
        }
    }
    for (int i = 0; i < S.n; i++) {
        strategy_history h = { S.obs, S.n, 0, NULL };
        for (int j = 0; j < S.obs[i].n_steps; j++)
            stops += R->ref(R->opt, &h, i, S.steps[i][j], S.values[i][j]);
    }
    ck_assert_int_gt(decisions, 1500);
    ck_assert_int_gt(stops, 0);
    R->ops->destroy(p);
}

static int median_ref(const int *opt, const strategy_history *h, int number, int step, double v)
{
    return median_ref_should_stop(opt[0], opt[1], opt[2], h, number, step, v);
}

START_TEST(test_median_pruner_matches_scan)
{
    uint64_t rng = 1000 + (uint64_t)_i;
    rnd_rule R = { .ops = &median_pruner, .ref = median_ref,
                   .opt = { (int)(strategy_rng_next(&rng) % 4), 1 + (int)(strategy_rng_next(&rng) % 6),
                            1 + (int)(strategy_rng_next(&rng) % 3) } };
    snprintf(R.options, sizeof R.options,
             "{\"warmup_steps\": %d, \"min_trials\": %d, \"interval\": %d}", R.opt[0], R.opt[1],
             R.opt[2]);
    rnd_run(rng, &R);
}
END_TEST

static int asha_ref(const int *opt, const strategy_history *h, int number, int step, double v)
{
    return asha_ref_should_stop(opt[0], opt[1], opt[2], h, number, step, v);
}

/* The indexed asha pruner decides as the scan did (asha_ref.h), reports out
 * of order and repeated steps included, under random options. */
START_TEST(test_asha_pruner_matches_scan)
{
    uint64_t rng = 2000 + (uint64_t)_i;
    rnd_rule R = { .ops = &asha_pruner, .ref = asha_ref,
                   .opt = { 1 + (int)(strategy_rng_next(&rng) % 3), 2 + (int)(strategy_rng_next(&rng) % 3),
                            (int)(strategy_rng_next(&rng) % 2) } };
    snprintf(R.options, sizeof R.options,
             "{\"min_resource\": %d, \"eta\": %d, \"min_early_stopping_rate\": %d}", R.opt[0],
             R.opt[1], R.opt[2]);
    rnd_run(rng, &R);
}
END_TEST

START_TEST(test_asha_pruner)
{
    curves C;
    memset(&C, 0, sizeof C);
    pruner *p = make_pruner("asha", NULL);
    double v[1] = { 0.5 };
    add_curve(&C, TRIAL_RUNNING, v, 1);
    ck_assert(!stop_at("asha", p, &C, 0, 1));   /* alone: the best of its rung */
    memset(&C, 0, sizeof C);
    for (int i = 0; i < 9; i++) {
        double w[3] = { 0.1 * (i + 1), 0.1 * (i + 1), 0.1 * (i + 1) };
        add_curve(&C, i < 6 ? TRIAL_COMPLETE : TRIAL_PRUNED, w, 3);
    }
    /* 10 values at rung 1: the best floor(10 / 3) = 3 go on. */
    double mine[3] = { 0.25, 0.95, 0.05 };
    add_curve(&C, TRIAL_RUNNING, mine, 1);
    ck_assert(!stop_at("asha", p, &C, 9, 1));
    C.values[9][0] = 0.35;
    ck_assert(stop_at("asha", p, &C, 9, 1));
    /* Step 2 crosses no rung; step 3 is rung 1 (r = 3). */
    C.values[9][0] = 0.25;
    C.obs[9].n_steps = 2;
    ck_assert(!stop_at("asha", p, &C, 9, 2));
    C.obs[9].n_steps = 3;
    C.values[9][2] = 0.95;
    ck_assert(stop_at("asha", p, &C, 9, 3));
    C.values[9][2] = 0.05;
    ck_assert(!stop_at("asha", p, &C, 9, 3));
    pruner_find("asha")->destroy(p);
    /* min_early_stopping_rate 1: the first rung is at step 3. */
    p = make_pruner("asha", "{\"min_early_stopping_rate\": 1}");
    C.obs[9].n_steps = 1;
    C.values[9][0] = 0.95;
    ck_assert(!stop_at("asha", p, &C, 9, 1));
    pruner_find("asha")->destroy(p);
}
END_TEST

START_TEST(test_pruner_registry_and_options)
{
    ck_assert_ptr_null(pruner_find("nope"));
    ck_assert_str_eq(pruner_name_at(0), "median");
    ck_assert_str_eq(pruner_name_at(1), "asha");
    ck_assert_ptr_null(pruner_name_at(2));
    ck_assert_ptr_null(pruner_name_at(-1));
    const char *bad[][3] = {
        { "median", "{\"foo\": 1}", "pruner.options.foo" },
        { "median", "{\"min_trials\": 0}", "pruner.options.min_trials" },
        { "median", "{\"warmup_steps\": -1}", "pruner.options.warmup_steps" },
        { "median", "{\"interval\": 1.5}", "pruner.options.interval" },
        { "asha", "{\"eta\": 1}", "pruner.options.eta" },
        { "asha", "{\"min_resource\": 0}", "pruner.options.min_resource" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *opt = json_loads(bad[i][1], 0, NULL);
        pruner *p = NULL;
        kerror err;
        kerror_clear(&err);
        ck_assert_int_eq(pruner_find(bad[i][0])->create(&p, opt, &err), KE_INVALID);
        ck_assert_str_eq(err.path, bad[i][2]);
        json_decref(opt);
    }
}
END_TEST

int main(void)
{
    Suite *su = suite_create("hyperband");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_brackets_paper_table);
    tcase_add_test(tc, test_hyperband_simulated_run);
    tcase_add_test(tc, test_hyperband_resume_identical);
    tcase_add_test(tc, test_hyperband_retry_takes_place);
    tcase_add_test(tc, test_hyperband_rounds);
    tcase_add_test(tc, test_hyperband_no_bracket_enqueued_takes_no_point);
    tcase_add_test(tc, test_hyperband_budgets_changed_by_force);
    tcase_add_test(tc, test_options);
    tcase_add_test(tc, test_asha_asynchronous);
    tcase_add_test(tc, test_asha_ladder_changed_by_force);
    tcase_add_test(tc, test_bohb_sampler);
    tcase_add_test(tc, test_sobol_sampler);
    tcase_add_test(tc, test_sobol_sampler_cost);
    tcase_add_test(tc, test_hyperband_bohb_run);
    tcase_add_test(tc, test_median_pruner);
    tcase_add_loop_test(tc, test_median_pruner_matches_scan, 0, 12);
    tcase_add_test(tc, test_asha_pruner);
    tcase_add_loop_test(tc, test_asha_pruner_matches_scan, 0, 12);
    tcase_add_test(tc, test_pruner_registry_and_options);
    suite_add_tcase(su, tc);
    return check_run(su);
}
