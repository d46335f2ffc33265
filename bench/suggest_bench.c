/* suggest_bench: what one suggestion costs grid, random and Sobol with N
 * trials in the history, counting the history's fresh trials by a pass at
 * each call (the history without counts, as every suggestion paid before)
 * against the counts the scheduler keeps as it appends trials (the history
 * with counts), in the same process, interleaved in rounds so a loaded
 * machine slows both alike. A suggestion is what the scheduler asks after
 * each trial it appends: done(), then suggest() of one point, the history
 * one trial longer each time from N COMPLETE trials on (one in 20 a retry,
 * one in 20 enqueued). Both sides' points are compared.
 * Built on demand: `make bench/suggest_bench`.
 *   suggest_bench [N ...]   (default 100 1000 10000; 5 rounds of N/10
 *                            suggestions a side) */
#include <stdio.h>
#include <stdlib.h>

#include "../common/monotime.h"
#include "../search/strategy.h"
#include "../tests/space_fixture.h"

#define ROUNDS 5

/* Three integers of 0..99: a million grid points, more than any N and
 * its suggestions take. */
static void make_space(space *sp)
{
    memset(sp, 0, sizeof *sp);
    fx_int(sp, "a", 0, 99, 1, 0);
    fx_int(sp, "b", 0, 99, 1, 0);
    fx_int(sp, "c", 0, 99, 1, 0);
}

/* n + reps trials, and in *c the counts of the first n. */
static strategy_obs *history(int n, int reps, strategy_counts *c)
{
    strategy_obs *obs = calloc((size_t)(n + reps), sizeof *obs);
    if (!obs) {
        fprintf(stderr, "suggest_bench: out of memory\n");
        exit(1);
    }
    *c = (strategy_counts){ 0, 0 };
    for (int i = 0; i < n + reps; i++) {
        obs[i].number = i;
        obs[i].state = TRIAL_COMPLETE;
        obs[i].has_value = 1;
        obs[i].value = i;
        obs[i].resumed_from = -1;
        obs[i].retry_of = i % 20 == 19 ? i - 1 : -1;
        obs[i].enqueued = i % 20 == 7;
        if (i < n) strategy_counts_add(c, &obs[i]);
    }
    return obs;
}

/* reps suggestions, each from the history of the n trials before it, as
 * the scheduler asks after each trial it appends: counted by a pass (c
 * NULL), or with *c, the counts of the first n, kept up to date. The
 * seconds they took. */
static double suggest_reps(const strategy_ops *ops, strategy *st, const strategy_obs *obs, int n,
                           strategy_counts *c, strategy_suggestion *out, int reps)
{
    kerror err;
    double t0 = monotime_s();
    for (int k = 0; k < reps; k++) {
        strategy_history h = { obs, n + k, 0, c };
        if (ops->done(st, &h) || ops->suggest(st, &h, &out[k], 1, &err) != 1) {
            fprintf(stderr, "suggest_bench: %s made no suggestion\n", ops->name);
            exit(1);
        }
        if (c) strategy_counts_add(c, &obs[n + k]);
    }
    return monotime_s() - t0;
}

int main(int argc, char **argv)
{
    int sizes[16] = { 100, 1000, 10000 }, n_sizes = argc > 1 ? 0 : 3;
    for (int arg = 1; arg < argc && n_sizes < 16; arg++) sizes[n_sizes++] = atoi(argv[arg]);
    space sp;
    make_space(&sp);
    static const char *const names[] = { "grid", "random", "sobol" };
    printf("%8s %7s %14s %14s %9s\n", "trials", "strategy", "pass ns/sugg", "kept ns/sugg",
           "pass/kept");
    for (int z = 0; z < n_sizes; z++) {
        /* the history grows by a tenth in a round */
        int n = sizes[z], reps = n / 10 > 0 ? n / 10 : 1;
        strategy_counts first;
        strategy_obs *obs = history(n, reps, &first);
        strategy_suggestion *a = malloc((size_t)reps * sizeof *a), *b = malloc((size_t)reps * sizeof *b);
        for (int k = 0; k < 3; k++) {
            const strategy_ops *ops = strategy_find(names[k]);
            strategy *st;
            kerror err;
            if (!a || !b || ops->create(&st, &sp, NULL, 7, &err) != KE_OK) {
                fprintf(stderr, "suggest_bench: cannot create %s\n", names[k]);
                return 1;
            }
            double t_pass = 0, t_kept = 0;
            for (int r = 0; r < ROUNDS; r++) {
                strategy_counts kept = first;
                t_pass += suggest_reps(ops, st, obs, n, NULL, a, reps);
                t_kept += suggest_reps(ops, st, obs, n, &kept, b, reps);
                for (int i = 0; i < reps; i++)
                    for (int d = 0; d < sp.n; d++)
                        if (a[i].point.x[d] != b[i].point.x[d]) {
                            fprintf(stderr, "suggest_bench: %s: the points differ\n", names[k]);
                            return 1;
                        }
            }
            double per = 1e9 / ((double)reps * ROUNDS);
            printf("%8d %7s %14.0f %14.0f %9.1f\n", n, names[k], t_pass * per, t_kept * per,
                   t_pass / t_kept);
            ops->destroy(st);
        }
        free(a);
        free(b);
        free(obs);
    }
    space_free(&sp);
    return 0;
}
