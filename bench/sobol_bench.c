/* sobol_bench: what a batch of Sobol suggestions costs when the scheduler
 * drops the rest of each batch (scheduler_drop_ready): the strategy is asked
 * for BATCH points from fresh index n, one lease takes the first, and the next
 * ask starts at n+1, below the point drawn last, so the generator rewinds.
 * The first ask at each N (the walk to n) is not counted; each round's last
 * batch is checked against sobol_unit. To compare two versions of
 * search/sobol.c, link the other one's object ahead of libkestrel.a (see
 * bench/README.md) and alternate the two binaries.
 * Then the same N for ASHA's and Hyperband's sobol sampler: ASKS fresh
 * configurations one an ask from n on, as those strategies draw them
 * (fidelity_sample), against sobol_unit for each, which is what the sampler
 * called before it kept a cursor; the two must give the same points.
 * Built on demand: `make bench/sobol_bench`.
 *   sobol_bench [N ...]   (default 100 1000 10000; 5 rounds of 200 asks) */
#include <stdio.h>
#include <stdlib.h>

#include "../common/monotime.h"
#include "../search/fidelity.h"
#include "../search/sobol.h"
#include "../search/strategy.h"
#include "../tests/space_fixture.h"

#define ROUNDS 5
#define ASKS 200
#define BATCH 8
#define DIMS 6

/* ns per fresh configuration at n trials: by sobol_unit, then by the
 * fidelity sampler (its first ask, the walk to n, not counted). */
static int bench_sampler(const space *sp, int n)
{
    fidelity_opts o = { .r_min = 1, .R = 9, .eta = 3, .sampler = FIDELITY_SOBOL };
    fidelity_sampler smp;
    strategy_history none = { NULL, 0, 0, NULL };
    strategy_suggestion out;
    kerror err;
    double u[DIMS], t_unit = 0, t_smp = 0;
    if (fidelity_sampler_init(&smp, sp, &o, 7, &err) != KE_OK ||
        fidelity_sample(&smp, &none, n, &out, 1, &err) != KE_OK) {
        fprintf(stderr, "sobol_bench: %s\n", err.msg);
        return 1;
    }
    for (int r = 0; r < ROUNDS; r++) {
        int at = n + 1 + r * ASKS;
        double t0 = monotime_s();
        for (int k = 0; k < ASKS; k++) sobol_unit(7, at + k, DIMS, u, &err);
        double t1 = monotime_s();
        for (int k = 0; k < ASKS; k++) fidelity_sample(&smp, &none, at + k, &out, 1, &err);
        t_smp += monotime_s() - t1;
        t_unit += t1 - t0;
        space_point want;
        space_unit_to_point(sp, u, &want);
        if (!space_point_equal(sp, &want, &out.point)) {
            fprintf(stderr, "sobol_bench: sampler point %d differs\n", at + ASKS - 1);
            return 1;
        }
    }
    printf("%8d %14.0f %14.0f\n", n, t_unit * 1e9 / (ROUNDS * ASKS), t_smp * 1e9 / (ROUNDS * ASKS));
    fidelity_sampler_free(&smp);
    return 0;
}

int main(int argc, char **argv)
{
    int sizes[16] = { 100, 1000, 10000 }, n_sizes = argc > 1 ? 0 : 3;
    for (int arg = 1; arg < argc && n_sizes < 16; arg++) sizes[n_sizes++] = atoi(argv[arg]);
    space sp;
    memset(&sp, 0, sizeof sp);
    for (int d = 0; d < DIMS; d++) {
        char name[8];
        snprintf(name, sizeof name, "x%d", d);
        fx_float(&sp, name, 0, 1, 0);
    }
    printf("%8s %6s %12s\n", "trials", "batch", "ns/ask");
    for (int z = 0; z < n_sizes; z++) {
        int n = sizes[z], len = n + ROUNDS * ASKS + 1;
        strategy_obs *obs = calloc((size_t)len, sizeof *obs);
        strategy *st;
        kerror err;
        if (!obs || sobol_strategy.create(&st, &sp, NULL, 7, &err) != KE_OK) {
            fprintf(stderr, "sobol_bench: cannot set up %d trials\n", n);
            return 1;
        }
        for (int i = 0; i < len; i++) {
            obs[i].number = i;
            obs[i].state = TRIAL_COMPLETE;
            obs[i].resumed_from = -1;
            obs[i].retry_of = -1;
        }
        strategy_suggestion out[BATCH];
        strategy_counts c = { 0, 0 };
        for (int i = 0; i < n; i++) strategy_counts_add(&c, &obs[i]);
        strategy_history h = { obs, n, 0, &c };   /* kept, as the scheduler does */
        double t = 0;
        int at = n;
        sobol_strategy.suggest(st, &h, out, BATCH, &err);
        for (int r = 0; r < ROUNDS; r++) {
            double t0 = monotime_s();
            for (int k = 0; k < ASKS; k++) {
                strategy_counts_add(&c, &obs[at]);
                h.n_obs = ++at;
                if (sobol_strategy.suggest(st, &h, out, BATCH, &err) != BATCH) {
                    fprintf(stderr, "sobol_bench: short batch\n");
                    return 1;
                }
            }
            t += monotime_s() - t0;
            for (int i = 0; i < BATCH; i++) {
                double u[DIMS];
                sobol_unit(7, at + i, DIMS, u, &err);
                for (int d = 0; d < DIMS; d++)
                    if (u[d] != out[i].point.x[d]) {
                        fprintf(stderr, "sobol_bench: point %d differs\n", at + i);
                        return 1;
                    }
            }
        }
        printf("%8d %6d %12.0f\n", n, BATCH, t * 1e9 / (ROUNDS * ASKS));
        sobol_strategy.destroy(st);
        free(obs);
    }
    printf("\n%8s %14s %14s\n", "trials", "sobol_unit ns", "sampler ns");
    for (int z = 0; z < n_sizes; z++)
        if (bench_sampler(&sp, sizes[z])) return 1;
    space_free(&sp);
    return 0;
}
