/* test_strategies: the registry and shared helpers; grid visits every point
 * exactly once (in order or as a seeded permutation) and then says done;
 * random and Sobol are functions of (seed, history), so a study rebuilt from
 * its first k trials continues the identical sequence; Sobol points form a
 * net; unknown options are rejected by path; no strategy exceeds n; the
 * counts a history carries are those a pass over it makes. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check_main.h"
#include "../search/grid.h"
#include "../search/random.h"
#include "../search/sobol.h"
#include "../search/strategy.h"
#include "space_fixture.h"

/* Trials 0..n-1 that ran the given points, all fresh and complete. */
static strategy_obs *history_of(const strategy_suggestion *sug, int n)
{
    strategy_obs *obs = calloc((size_t)(n > 0 ? n : 1), sizeof *obs);
    for (int i = 0; i < n; i++) {
        obs[i].number = i;
        obs[i].state = TRIAL_COMPLETE;
        obs[i].has_value = 1;
        obs[i].value = i;
        obs[i].resumed_from = -1;
        obs[i].retry_of = -1;
        obs[i].point = sug[i].point;
    }
    return obs;
}

static strategy *make(const char *name, const space *sp, const char *options, uint64_t seed)
{
    const strategy_ops *ops = strategy_find(name);
    ck_assert_ptr_nonnull(ops);
    json_t *opt = options ? json_loads(options, 0, NULL) : NULL;
    strategy *st = NULL;
    kerror err;
    int rc = ops->create(&st, sp, opt, seed, &err);
    json_decref(opt);
    ck_assert_msg(rc == KE_OK, "%s: %s", err.path, err.msg);
    return st;
}

static void expect_option_error(const char *name, const space *sp, const char *options,
                                const char *path)
{
    json_t *opt = json_loads(options, 0, NULL);
    strategy *st = NULL;
    kerror err;
    kerror_clear(&err);
    ck_assert_int_eq(strategy_find(name)->create(&st, sp, opt, 1, &err), KE_INVALID);
    ck_assert_str_eq(err.path, path);
    json_decref(opt);
}

/* Ints a in 0..4, b in 0..6: grid index of a point is a*7 + b. */
static void two_ints(space *s, double high_a, double high_b)
{
    memset(s, 0, sizeof *s);
    fx_int(s, "a", 0, high_a, 1, 0);
    fx_int(s, "b", 0, high_b, 1, 0);
}

static void mixed(space *s)
{
    memset(s, 0, sizeof *s);
    fx_float(s, "lr", 1e-5, 1, 1);
    fx_int(s, "units", 8, 512, 8, 0);
    fx_cat(s, "opt", "sgd", "adam", NULL);
    fx_when(s, fx_float(s, "momentum", 0, 0.99, 0), "opt", 1, 0);
    fx_fixed(s, "epochs", NULL, 5);
}

START_TEST(test_registry)
{
    ck_assert_ptr_eq(strategy_find("grid"), &grid_strategy);
    ck_assert_ptr_eq(strategy_find("random"), &random_strategy);
    ck_assert_ptr_eq(strategy_find("sobol"), &sobol_strategy);
    ck_assert_ptr_null(strategy_find("Random"));
    const char *names[] = { "grid", "random", "sobol", "gp", "hyperband", "asha" };
    for (int i = 0; i < 6; i++) ck_assert_str_eq(strategy_name_at(i), names[i]);
    ck_assert_ptr_null(strategy_name_at(6));
}
END_TEST

START_TEST(test_helpers)
{
    uint64_t a = 5, b = 5;
    double sum = 0;
    for (int i = 0; i < 10000; i++) {
        double u = strategy_rng_uniform(&a);
        ck_assert(u >= 0 && u < 1);
        sum += u;
    }
    ck_assert(fabs(sum / 10000 - 0.5) < 0.02);
    ck_assert(strategy_rng_next(&b) != strategy_rng_next(&b));
    ck_assert(strategy_seed_for(1, 0) != strategy_seed_for(1, 1));
    ck_assert(strategy_seed_for(1, 0) != strategy_seed_for(2, 0));
    ck_assert(strategy_seed_for(1, 1) != strategy_seed_for(2, 0));
    ck_assert(strategy_seed_for(9, 3) == strategy_seed_for(9, 3));

    strategy_obs obs[4];
    memset(obs, 0, sizeof obs);
    for (int i = 0; i < 4; i++) obs[i].resumed_from = obs[i].retry_of = -1;
    obs[1].retry_of = 0;
    obs[3].resumed_from = 2;
    strategy_history h = { obs, 4, 0, NULL };
    ck_assert_int_eq(strategy_history_fresh(&h), 2);
}
END_TEST

START_TEST(test_options_rejected)
{
    space s;
    mixed(&s);
    s.params[0].grid_points = 2;
    s.params[3].grid_points = 2;
    expect_option_error("grid", &s, "{\"shuffle\": true, \"order\": 1}", "strategy.options.order");
    expect_option_error("grid", &s, "{\"shuffle\": 1}", "strategy.options.shuffle");
    expect_option_error("grid", &s, "[1]", "strategy.options");
    expect_option_error("random", &s, "{\"skip\": 1}", "strategy.options.skip");
    expect_option_error("sobol", &s, "{\"skip\": -1}", "strategy.options.skip");
    expect_option_error("sobol", &s, "{\"skip\": 1.5}", "strategy.options.skip");
    /* a skip is drawn point by point on the engine thread: bounded */
    expect_option_error("sobol", &s, "{\"skip\": 1048577}", "strategy.options.skip");
    expect_option_error("sobol", &s, "{\"skip\": 1000000000000}", "strategy.options.skip");
    strategy_find("sobol")->destroy(make("sobol", &s, "{\"skip\": 1048576}", 1));
    expect_option_error("sobol", &s, "{\"scramble\": true}", "strategy.options.scramble");
    strategy_find("random")->destroy(make("random", &s, "{}", 1));
    space_free(&s);
}
END_TEST

/* Runs a strategy to exhaustion in batches of `batch`, feeding its own
 * suggestions back as history; returns the suggestions (count in *n). */
static strategy_suggestion *run_out(const char *name, const space *sp, const char *options,
                                    int batch, int max, int *n)
{
    const strategy_ops *ops = strategy_find(name);
    strategy *st = make(name, sp, options, 77);
    strategy_suggestion *all = calloc((size_t)max + (size_t)batch, sizeof *all);
    int total = 0;
    kerror err;
    for (;;) {
        strategy_obs *obs = history_of(all, total);
        strategy_history h = { obs, total, 0, NULL };
        int got = ops->suggest(st, &h, all + total, batch, &err);
        ck_assert(got >= 0 && got <= batch);
        if (got == 0) ck_assert(ops->done(st, &h));
        else ck_assert(!ops->done(st, &h));
        free(obs);
        if (got == 0) break;
        total += got;
        ck_assert(total <= max);
    }
    ops->destroy(st);
    *n = total;
    return all;
}

START_TEST(test_grid_covers_once_then_done)
{
    space s;
    two_ints(&s, 4, 6);
    int n;
    strategy_suggestion *all = run_out("grid", &s, NULL, 4, 35, &n);
    ck_assert_int_eq(n, 35);
    for (int k = 0; k < n; k++) {                   /* unshuffled: index order */
        ck_assert(all[k].point.x[0] * 7 + all[k].point.x[1] == k);
        ck_assert_int_eq(all[k].budget, 0);
        ck_assert_int_eq(all[k].resume_from, -1);
    }
    free(all);
    space_free(&s);
}
END_TEST

START_TEST(test_grid_shuffle_is_permutation)
{
    space s;
    two_ints(&s, 36, 26);                           /* 999 points: not a power of 4 */
    int n, m, in_order = 0;
    strategy_suggestion *all = run_out("grid", &s, "{\"shuffle\": true}", 64, 999, &n);
    strategy_suggestion *again = run_out("grid", &s, "{\"shuffle\": true}", 7, 999, &m);
    ck_assert_int_eq(n, 999);
    ck_assert_int_eq(m, 999);
    char seen[999] = { 0 };
    for (int k = 0; k < n; k++) {
        int idx = (int)(all[k].point.x[0] * 27 + all[k].point.x[1]);
        ck_assert(idx >= 0 && idx < 999 && !seen[idx]);
        seen[idx] = 1;
        in_order += idx == k;
        ck_assert(space_point_equal(&s, &all[k].point, &again[k].point));
    }
    ck_assert_int_lt(in_order, 50);
    free(all);
    free(again);
    space_free(&s);
}
END_TEST

/* A grid study of a in 0..2, b in 0..1 ran 4 points, then `kestrel run
 * --force` widened b to 0..2 (9 points; the 4 trials fit the new space):
 * the grid runs the 5 points no trial holds, each once, in order or
 * shuffled, and a trial off the new grid (grid_points changed) takes no
 * point's place. By the count of its trials the grid went on at position 4
 * of the new grid: it ran (1, 1) again and never (0, 2). */
START_TEST(test_grid_after_the_space_changed)
{
    static const char *const options[] = { NULL, "{\"shuffle\": true}" };
    for (int o = 0; o < 2; o++) {
        space before, after;
        two_ints(&before, 2, 1);
        two_ints(&after, 2, 2);
        int n;
        strategy_suggestion *old = run_out("grid", &before, options[o], 4, 6, &n);
        strategy_suggestion all[16];
        memcpy(all, old, 4 * sizeof *all);
        all[4].point = old[0].point;      /* a trial off the new grid */
        all[4].point.x[1] = 7;
        free(old);
        int total = 5;
        strategy *st = make("grid", &after, options[o], 77);
        kerror err;
        for (;;) {
            strategy_obs *obs = history_of(all, total);
            strategy_history h = { obs, total, 0, NULL };
            int got = grid_strategy.suggest(st, &h, all + total, 2, &err);
            ck_assert_int_eq(got == 0, grid_strategy.done(st, &h));
            free(obs);
            if (got == 0) break;
            total += got;
            ck_assert_int_le(total, 14);
        }
        grid_strategy.destroy(st);
        int seen[3][3] = { { 0 } };
        for (int k = 0; k < total; k++) {
            if (k == 4) continue;
            int a = (int)all[k].point.x[0], b = (int)all[k].point.x[1];
            ck_assert_msg(!seen[a][b]++, "%s: (%d, %d) ran twice (trial %d)",
                          options[o] ? "shuffled" : "in order", a, b, k);
        }
        ck_assert_msg(total == 5 + 5, "%s: %d new trials, not the 5 points no trial held",
                      options[o] ? "shuffled" : "in order", total - 5);
        space_free(&before);
        space_free(&after);
    }
}
END_TEST

/* A grid study begun before 2f1824e ran its log grid_points as exp/log gave
 * them, a few ulps off today's decades (9.999999999999991e-05 for 1e-4).
 * Resumed, the grid must find those trials on the points they ran (it looks
 * them up by value since cf7e636): it ran 1e-4 and 1e-3 again, 5 trials
 * where 3 points were left. */
START_TEST(test_grid_resumed_across_the_log_spacing_change)
{
    space sp;
    memset(&sp, 0, sizeof sp);
    fx_float(&sp, "lr", 1e-5, 1, 1)->grid_points = 6;
    strategy_suggestion all[8];
    memset(all, 0, sizeof all);
    static const double before[] = { 1e-05, 9.999999999999991e-05, 0.0010000000000000002 };
    for (int k = 0; k < 3; k++) {
        all[k].point.x[0] = before[k];
        all[k].point.active[0] = 1;
    }
    strategy *st = make("grid", &sp, NULL, 7);
    strategy_obs *obs = history_of(all, 3);
    strategy_history h = { obs, 3, 0, NULL };
    kerror err;
    int got = grid_strategy.suggest(st, &h, all + 3, 5, &err);
    ck_assert_msg(got == 3, "%d suggestions, not the 3 points no trial held", got);
    static const double left[] = { 0.01, 0.1, 1 };
    for (int k = 0; k < got; k++)
        ck_assert_msg(all[3 + k].point.x[0] == left[k], "suggestion %d: lr %.17g, not %g", k,
                      all[3 + k].point.x[0], left[k]);
    free(obs);
    grid_strategy.destroy(st);
    space_free(&sp);
}
END_TEST

static void suggest_n(const char *name, const space *sp, const char *options, uint64_t seed,
                      strategy_suggestion *out, int from, int n)
{
    strategy_suggestion *prior = calloc((size_t)from + 1, sizeof *prior);
    strategy *st = make(name, sp, options, seed);
    if (from > 0) suggest_n(name, sp, options, seed, prior, 0, from);
    strategy_obs *obs = history_of(prior, from);
    strategy_history h = { obs, from, 0, NULL };
    kerror err;
    ck_assert_int_eq(strategy_find(name)->suggest(st, &h, out, n, &err), n);
    strategy_find(name)->destroy(st);
    free(obs);
    free(prior);
}

static int same_sequence(const space *sp, const strategy_suggestion *a,
                         const strategy_suggestion *b, int n)
{
    for (int i = 0; i < n; i++)
        if (!space_point_equal(sp, &a[i].point, &b[i].point)) return 0;
    return 1;
}

/* A 10-million-point shuffled grid needs no count-sized table: its first
 * 2000 suggestions are distinct grid points, and a rebuilt strategy continues
 * them from the history. */
START_TEST(test_grid_shuffle_large)
{
    space s;
    two_ints(&s, 9999, 999);
    strategy *st = make("grid", &s, "{\"shuffle\": true}", 3);
    strategy_suggestion *out = calloc(2000, sizeof *out);
    strategy_history h = { NULL, 0, 0, NULL };
    kerror err;
    ck_assert_int_eq(grid_strategy.suggest(st, &h, out, 2000, &err), 2000);
    unsigned char *seen = calloc(10000000, 1);
    for (int i = 0; i < 2000; i++) {
        long idx = (long)out[i].point.x[0] * 1000 + (long)out[i].point.x[1];
        ck_assert(idx >= 0 && idx < 10000000 && !seen[idx]);
        seen[idx] = 1;
    }
    strategy_obs *obs = history_of(out, 1500);
    h = (strategy_history){ obs, 1500, 0, NULL };
    strategy_suggestion rest[500];
    grid_strategy.destroy(st);
    st = make("grid", &s, "{\"shuffle\": true}", 3);
    ck_assert_int_eq(grid_strategy.suggest(st, &h, rest, 500, &err), 500);
    ck_assert(same_sequence(&s, out + 1500, rest, 500));
    ck_assert(!grid_strategy.done(st, &h));
    free(obs);
    free(seen);
    free(out);
    grid_strategy.destroy(st);
    space_free(&s);
}
END_TEST

/* Same seed: same points; rebuilt from the first k trials (with a retry that
 * must not count): the same continuation; another seed: other points. */
static void check_reproducible(const char *name)
{
    space s;
    mixed(&s);
    strategy_suggestion full[12], tail[8], other[12];
    suggest_n(name, &s, NULL, 42, full, 0, 12);
    suggest_n(name, &s, NULL, 42, other, 0, 12);
    ck_assert(same_sequence(&s, full, other, 12));
    suggest_n(name, &s, NULL, 42, tail, 4, 8);
    ck_assert(same_sequence(&s, full + 4, tail, 8));

    strategy_obs *obs = history_of(full, 5);
    obs[4].retry_of = 1;                            /* a retry consumes no suggestion */
    strategy_history h = { obs, 5, 0, NULL };
    strategy *st = make(name, &s, NULL, 42);
    kerror err;
    ck_assert_int_eq(strategy_find(name)->suggest(st, &h, tail, 3, &err), 3);
    ck_assert(same_sequence(&s, full + 4, tail, 3));
    strategy_find(name)->destroy(st);
    free(obs);

    suggest_n(name, &s, NULL, 43, other, 0, 12);
    for (int i = 0; i < 12; i++) ck_assert(other[i].point.x[0] != full[i].point.x[0]);
    for (int i = 0; i < 12; i++) {
        ck_assert(full[i].point.active[3] == (full[i].point.x[2] == 0));
        ck_assert(full[i].point.active[4]);
    }
    space_free(&s);
}

START_TEST(test_random_reproducible)
{
    check_reproducible("random");
}
END_TEST

START_TEST(test_sobol_reproducible)
{
    check_reproducible("sobol");
}
END_TEST

/* The strategy's cached generator, asked for an earlier index, rewinds; skip
 * shifts the sequence; its points are sobol_unit's. */
START_TEST(test_sobol_cursor_and_skip)
{
    space s;
    memset(&s, 0, sizeof s);
    fx_float(&s, "x", 0, 1, 0);
    fx_float(&s, "y", 0, 1, 0);
    strategy_suggestion a[10], late[2], early[2], skipped[5];
    suggest_n("sobol", &s, NULL, 5, a, 0, 10);
    for (int i = 0; i < 10; i++) {
        double u[2];
        ck_assert_int_eq(sobol_unit(5, i, 2, u, NULL), KE_OK);
        ck_assert(u[0] == a[i].point.x[0] && u[1] == a[i].point.x[1]);
    }
    strategy *st = make("sobol", &s, NULL, 5);
    strategy_obs *obs = history_of(a, 8);
    strategy_history h = { obs, 8, 0, NULL };
    kerror err;
    ck_assert_int_eq(sobol_strategy.suggest(st, &h, late, 2, &err), 2);
    h.n_obs = 2;
    ck_assert_int_eq(sobol_strategy.suggest(st, &h, early, 2, &err), 2);
    ck_assert(same_sequence(&s, a + 8, late, 2));
    ck_assert(same_sequence(&s, a + 2, early, 2));
    sobol_strategy.destroy(st);
    free(obs);
    suggest_n("sobol", &s, "{\"skip\": 5}", 5, skipped, 0, 5);
    ck_assert(same_sequence(&s, a + 5, skipped, 5));
    space_free(&s);
}
END_TEST

/* Batches the scheduler dropped (scheduler_drop_ready) are asked for again
 * from the next fresh index: after every drop, whether the history grew by
 * none, some or all of the batch, or went back before the batch (trials
 * deleted), the points are sobol_unit's, as a strategy built afresh draws. */
START_TEST(test_sobol_dropped_batches)
{
    space s;
    memset(&s, 0, sizeof s);
    fx_float(&s, "x", 0, 1, 0);
    fx_float(&s, "y", 0, 1, 0);
    fx_float(&s, "z", 0, 1, 0);
    enum { N = 200, BATCH = 6 };
    strategy_suggestion all[N], batch[BATCH];
    suggest_n("sobol", &s, NULL, 9, all, 0, N);
    for (int i = 0; i < N; i++) {
        double u[3];
        ck_assert_int_eq(sobol_unit(9, i, 3, u, NULL), KE_OK);
        for (int d = 0; d < 3; d++) ck_assert(u[d] == all[i].point.x[d]);
    }
    strategy_obs *obs = history_of(all, N);
    strategy *st = make("sobol", &s, NULL, 9);
    kerror err;
    static const int took[] = { 0, 1, 0, 3, BATCH, 2, 0, -10, 5, 0, -1, BATCH, 1 };
    int fresh = 50;
    for (int round = 0; round < 3; round++)
        for (size_t k = 0; k < sizeof took / sizeof *took; k++) {
            strategy_history h = { obs, fresh, 0, NULL };
            ck_assert_int_eq(sobol_strategy.suggest(st, &h, batch, BATCH, &err), BATCH);
            ck_assert_msg(same_sequence(&s, all + fresh, batch, BATCH), "from %d", fresh);
            fresh += took[k];
        }
    ck_assert_int_le(fresh + BATCH, N);
    sobol_strategy.destroy(st);
    free(obs);
    space_free(&s);
}
END_TEST

/* The rotation cancels in differences: frac(p_i - p_0) are the raw points,
 * whose first 4^m form a (0,2m,2)-net: one point in every cell of a 2^m x 2^m
 * partition (16 i.i.d. uniform points pass for 4x4 with probability 16!/16^16). */
START_TEST(test_sobol_is_a_net)
{
    for (uint64_t seed = 1; seed <= 3; seed++)
        for (int side = 4; side <= 16; side *= 2) {
            int count[256] = { 0 };
            double u0[2], u[2];
            sobol_unit(seed, 0, 2, u0, NULL);
            for (int i = 0; i < side * side; i++) {
                ck_assert_int_eq(sobol_unit(seed, i, 2, u, NULL), KE_OK);
                int cell = 0;
                for (int d = 0; d < 2; d++) {
                    ck_assert(u[d] >= 0 && u[d] < 1);
                    double q = u[d] - u0[d];
                    q = q < 0 ? q + 1 : q;
                    cell = cell * side + (int)(q * side);
                }
                count[cell]++;
            }
            for (int c = 0; c < side * side; c++) ck_assert_int_eq(count[c], 1);
        }
    double a[3], b[3];
    sobol_unit(1, 7, 3, a, NULL);
    sobol_unit(2, 7, 3, b, NULL);
    ck_assert(a[0] != b[0] && a[1] != b[1] && a[2] != b[2]);
}
END_TEST

START_TEST(test_sobol_dimension_limit)
{
    space s;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < 41; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", i);
        fx_float(&s, name, 0, 1, 0);
    }
    strategy *st = NULL;
    kerror err;
    double u[41];
    ck_assert_int_eq(sobol_strategy.create(&st, &s, NULL, 1, &err), KE_INVALID);
    ck_assert_int_eq(sobol_unit(1, 0, 41, u, &err), KE_INVALID);
    s.n = 40;
    ck_assert_int_eq(sobol_unit(1, 3, 40, u, &err), KE_OK);
    st = make("sobol", &s, NULL, 1);
    sobol_strategy.destroy(st);
    s.n = 41;
    space_free(&s);
}
END_TEST

/* Fewer than n slots asked: never more written; n = 0 gives 0. */
START_TEST(test_never_more_than_n)
{
    space s;
    two_ints(&s, 4, 6);
    const char *names[] = { "grid", "random", "sobol" };
    for (int k = 0; k < 3; k++) {
        strategy_suggestion out[4];
        memset(out, 0xAB, sizeof out);
        strategy *st = make(names[k], &s, NULL, 1);
        strategy_history h = { NULL, 0, 0, NULL };
        kerror err;
        ck_assert_int_eq(strategy_find(names[k])->suggest(st, &h, out, 0, &err), 0);
        ck_assert_int_eq(strategy_find(names[k])->suggest(st, &h, out, 3, &err), 3);
        unsigned char *tail = (unsigned char *)&out[3];
        for (size_t b = 0; b < sizeof out[3]; b++) ck_assert_int_eq(tail[b], 0xAB);
        strategy_find(names[k])->destroy(st);
    }
    space_free(&s);
}
END_TEST

/* The counts before they were kept: a pass over the history per call
 * (strategy_history_fresh, and grid's points taken: fresh trials but the
 * enqueued ones). */
static int old_fresh(const strategy_history *h)
{
    int n = 0;
    for (int i = 0; h && i < h->n_obs; i++)
        if (h->obs[i].retry_of < 0 && h->obs[i].resumed_from < 0) n++;
    return n;
}

static long old_grid_taken(const strategy_history *h)
{
    long n = old_fresh(h);
    for (int i = 0; h && i < h->n_obs; i++)
        n -= h->obs[i].enqueued && h->obs[i].retry_of < 0 && h->obs[i].resumed_from < 0;
    return n;
}

/* Random histories (retries, promotions, enqueued trials), counted as the
 * scheduler counts them, one strategy_counts_add per trial appended: at
 * every length the counts are the old passes', and grid, random and Sobol
 * suggest the same points from either. */
START_TEST(test_counts_kept_match_a_pass)
{
    space sp;
    two_ints(&sp, 30, 30);
    const char *names[] = { "grid", "random", "sobol" };
    uint64_t rng = 12345;
    for (int study = 0; study < 20; study++) {
        int n = 1 + (int)(strategy_rng_uniform(&rng) * 400);
        strategy_obs *obs = calloc((size_t)n, sizeof *obs);
        strategy_counts kept = {0, 0};
        for (int i = 0; i < n; i++) {
            double u = strategy_rng_uniform(&rng);
            obs[i].number = i;
            obs[i].state = TRIAL_COMPLETE;
            obs[i].retry_of = i > 0 && u < 0.2 ? (int)(u * 5 * i) : -1;
            obs[i].resumed_from = i > 0 && u >= 0.2 && u < 0.35 ? (int)((u - 0.2) / 0.15 * i) : -1;
            obs[i].enqueued = strategy_rng_uniform(&rng) < 0.15;
            strategy_counts_add(&kept, &obs[i]);
            strategy_history with = { obs, i + 1, 0, &kept }, scan = { obs, i + 1, 0, NULL };
            ck_assert_int_eq(strategy_history_fresh(&with), old_fresh(&scan));
            ck_assert_int_eq(strategy_history_fresh(&scan), old_fresh(&scan));
            strategy_counts c = strategy_history_counts(&with);
            ck_assert_int_eq((long)c.fresh - c.fresh_enqueued, old_grid_taken(&scan));
            if (i % 37 && i != n - 1) continue;
            for (int k = 0; k < 3; k++) {
                const strategy_ops *ops = strategy_find(names[k]);
                strategy *a = make(names[k], &sp, NULL, 9), *b = make(names[k], &sp, NULL, 9);
                strategy_suggestion sa[3], sb[3];
                kerror err;
                int got = ops->suggest(a, &with, sa, 3, &err);
                ck_assert_int_eq(ops->suggest(b, &scan, sb, 3, &err), got);
                for (int j = 0; j < got; j++)
                    for (int d = 0; d < sp.n; d++) ck_assert(sa[j].point.x[d] == sb[j].point.x[d]);
                ck_assert_int_eq(ops->done(a, &with), ops->done(b, &scan));
                ops->destroy(a);
                ops->destroy(b);
            }
        }
        free(obs);
    }
    space_free(&sp);
}
END_TEST

static Suite *strategies_suite(void)
{
    Suite *s = suite_create("strategies");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_registry);
    tcase_add_test(tc, test_helpers);
    tcase_add_test(tc, test_options_rejected);
    tcase_add_test(tc, test_grid_covers_once_then_done);
    tcase_add_test(tc, test_grid_shuffle_is_permutation);
    tcase_add_test(tc, test_grid_after_the_space_changed);
    tcase_add_test(tc, test_grid_resumed_across_the_log_spacing_change);
    tcase_add_test(tc, test_grid_shuffle_large);
    tcase_add_test(tc, test_random_reproducible);
    tcase_add_test(tc, test_sobol_reproducible);
    tcase_add_test(tc, test_sobol_cursor_and_skip);
    tcase_add_test(tc, test_sobol_dropped_batches);
    tcase_add_test(tc, test_sobol_is_a_net);
    tcase_add_test(tc, test_sobol_dimension_limit);
    tcase_add_test(tc, test_never_more_than_n);
    tcase_add_test(tc, test_counts_kept_match_a_pass);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(strategies_suite());
}
