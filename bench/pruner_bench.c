/* pruner_bench: what one intermediate report costs a pruner with N
 * finished trials in the history, the scan it did before (tests/median_ref.h,
 * tests/asha_ref.h: a pass over every curve and a sort) against the index it
 * keeps now (observe, then should_stop), in the same process, interleaved in
 * rounds so a loaded machine slows both alike. The study: N COMPLETE trials
 * of E steps (seeded values) and 8 RUNNING ones at step E/2; each timed
 * report replaces a running trial's value at a step where the rule decides
 * (median: step E/2; asha: its rung at step 9) and asks the pruner (about
 * half are stopped). Every decision of the two is compared. Built on
 * demand: `make bench/pruner_bench`.
 *   pruner_bench [median|asha] [N ...]   (default median; 100 1000 10000;
 *                                         E = 20, 5 rounds, default options) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/monotime.h"
#include "../search/asha_pruner.h"
#include "../search/median.h"
#include "../tests/asha_ref.h"
#include "../tests/median_ref.h"

#define STEPS 20
#define RUNNING 8
#define ROUNDS 5

typedef struct {
    strategy_obs *obs;
    int (*steps)[STEPS];
    double (*values)[STEPS];
    int n;
} study;

static void study_make(study *S, int n_done, uint64_t *rng)
{
    S->n = n_done + RUNNING;
    S->obs = calloc((size_t)S->n, sizeof *S->obs);
    S->steps = calloc((size_t)S->n, sizeof *S->steps);
    S->values = calloc((size_t)S->n, sizeof *S->values);
    if (!S->obs || !S->steps || !S->values) {
        fprintf(stderr, "pruner_bench: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < S->n; i++) {
        strategy_obs *o = &S->obs[i];
        o->number = i;
        o->state = i < n_done ? TRIAL_COMPLETE : TRIAL_RUNNING;
        o->resumed_from = o->retry_of = -1;
        o->n_steps = i < n_done ? STEPS : STEPS / 2;
        o->steps = S->steps[i];
        o->values = S->values[i];
        double level = strategy_rng_uniform(rng);
        for (int j = 0; j < o->n_steps; j++) {
            S->steps[i][j] = j + 1;
            /* a running trial's earlier values are poor: its report decides */
            S->values[i][j] = i < n_done ? level / (j + 1) + 0.1 * strategy_rng_uniform(rng) : 1;
        }
    }
}

static void study_free(study *S)
{
    free(S->obs);
    free(S->steps);
    free(S->values);
}

static int median_ref(const strategy_history *h, int number, int step, double v)
{
    return median_ref_should_stop(0, 5, 1, h, number, step, v);
}

static int asha_ref(const strategy_history *h, int number, int step, double v)
{
    return asha_ref_should_stop(1, 3, 0, h, number, step, v);
}

typedef struct {
    const pruner_ops *ops;
    int step;                   /* where a report is decided, <= STEPS / 2 */
    int (*ref)(const strategy_history *h, int number, int step, double v);
} rule;

static const rule rules[] = { { &median_pruner, STEPS / 2, median_ref },
                              { &asha_pruner, 9, asha_ref } };

/* reps reports: a running trial's value at the rule's step replaced, then
 * the decision (the index told first when p); the number of stops. */
static int reports(study *S, const rule *R, pruner *p, int reps, uint64_t *rng, int *decided)
{
    strategy_history h = { S->obs, S->n, 0, NULL };
    int stops = 0;
    for (int k = 0; k < reps; k++) {
        int i = S->n - RUNNING + k % RUNNING, j = R->step - 1;
        double v = S->values[i][j] = 0.6 * strategy_rng_uniform(rng);
        int stop = p ? (R->ops->observe(p, &S->obs[i]), R->ops->should_stop(p, &h, i, R->step, v))
                     : R->ref(&h, i, R->step, v);
        decided[k] = stop;
        stops += stop;
    }
    return stops;
}

int main(int argc, char **argv)
{
    int sizes[16] = { 100, 1000, 10000 }, n_sizes = 3, arg = 1;
    const rule *R = &rules[0];
    for (size_t k = 0; arg < argc && k < sizeof rules / sizeof rules[0]; k++)
        if (!strcmp(argv[arg], rules[k].ops->name)) {
            R = &rules[k];
            arg++;
            break;
        }
    if (arg < argc) n_sizes = 0;
    for (; arg < argc && n_sizes < 16; arg++) sizes[n_sizes++] = atoi(argv[arg]);
    printf("%s pruner\n%8s %6s %14s %14s %9s %7s\n", R->ops->name, "finished", "steps",
           "scan ns/report", "index ns/report", "scan/index", "stops");
    for (int z = 0; z < n_sizes; z++) {
        uint64_t rng = 42;
        study S;
        study_make(&S, sizes[z], &rng);
        pruner *p;
        kerror err;
        if (R->ops->create(&p, NULL, &err) != KE_OK) {
            fprintf(stderr, "pruner_bench: %s\n", err.msg);
            return 1;
        }
        for (int i = 0; i < S.n; i++) R->ops->observe(p, &S.obs[i]);
        /* a round is about the same time on each side whatever N */
        int reps = sizes[z] >= 10000 ? 200 : sizes[z] >= 1000 ? 2000 : 20000;
        int *want = malloc(reps * sizeof *want), *got = malloc(reps * sizeof *got);
        double t_scan = 0, t_index = 0;
        int stops = 0;
        for (int r = 0; r < ROUNDS; r++) {
            uint64_t a = 7 + r, b = 7 + r;   /* the same reports on both sides */
            double t0 = monotime_s();
            stops = reports(&S, R, NULL, reps, &a, want);
            double t1 = monotime_s();
            reports(&S, R, p, reps, &b, got);
            double t2 = monotime_s();
            t_scan += t1 - t0;
            t_index += t2 - t1;
            for (int k = 0; k < reps; k++)
                if (want[k] != got[k]) {
                    fprintf(stderr, "pruner_bench: report %d at N=%d: scan %d, index %d\n", k,
                            sizes[z], want[k], got[k]);
                    return 1;
                }
        }
        double ns_scan = t_scan / (ROUNDS * reps) * 1e9, ns_index = t_index / (ROUNDS * reps) * 1e9;
        printf("%8d %6d %14.0f %14.0f %9.1f %7d\n", sizes[z], STEPS, ns_scan, ns_index,
               ns_scan / ns_index, stops);
        free(want);
        free(got);
        R->ops->destroy(p);
        study_free(&S);
    }
    return 0;
}
