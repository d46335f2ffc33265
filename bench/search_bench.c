/* search_bench: runs Kestrel's search strategies in-process on the built-in
 * test functions (src/testfn.c) and prints, per function and strategy, the
 * median, interquartile range and worst seed of the simple regret (best value
 * found minus the known minimum) over seeds, and the wall time; then times one
 * GP suggestion with 200 (and optionally 1,000 .. 10,000) observed trials in 6
 * dimensions. Run by hand (see bench/search_bench.sh); never part of `make check`.
 * With --parallel P the study keeps P trials running, as `kestrel run` with
 * max_parallel P does: each trial gets a seeded duration (log-uniform in
 * [0.25, 4]), the earliest-finishing one completes next, and the strategy is
 * asked for as many trials as slots are free with the others RUNNING.
 * Invariant: a study is a pure function of (function, strategy, options,
 * seed, trials, parallel), so the figures repeat; --parallel 1 is the
 * sequential study. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../common/monotime.h"
#include "../search/strategy.h"
#include "../src/testfn.h"

#define MAX_LIST 16
#define MAX_PARALLEL 64
#define TIMING_REPS 20      /* timed suggestions at 200 rows; the median is reported */
#define TIMING_REPS_BIG 5   /* ... above 200 rows */

typedef struct {
    int seeds, first_seed, trials, parallel;
    int n_fn, n_strat, n_rows;
    const char *fn[MAX_LIST];
    const char *strat[MAX_LIST];
    json_t *options;        /* GP options (--options), or NULL */
    const char *label;      /* strategy column suffix for the options */
    int rows[MAX_LIST];     /* observed trials of each timed suggestion */
    int timing;             /* 1: time the GP suggestion at each of rows */
    int tsv;                /* 1: machine-readable rows instead of the table */
    int values;             /* 1: only print function values for optuna_bench.py --verify */
    int per_seed;           /* 1: also one line per seed with its regret */
} bench_opts;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* q-quantile of sorted v (n), linear between order statistics: the same rule
 * as numpy.percentile's default, so bench/optuna_bench.py reports alike. */
static double quantile(const double *v, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1) return v[n - 1];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

/* Splits the comma-separated s (modified in place) into at most MAX_LIST names. */
static int split_list(char *s, const char **out)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < MAX_LIST; tok = strtok(NULL, ","))
        out[n++] = tok;
    return n;
}

/* The function's box as a space of float parameters x1..x<dim>. */
static void fn_space(const testfn *fn, space *sp)
{
    memset(sp, 0, sizeof *sp);
    sp->n = fn->dim;
    for (int i = 0; i < fn->dim; i++) {
        space_param *p = &sp->params[i];
        snprintf(p->name, sizeof p->name, "x%d", i + 1);
        p->kind = PARAM_FLOAT;
        p->low = fn->low[i];
        p->high = fn->high[i];
        p->parent = -1;
    }
}

static void record(strategy_obs *o, int number, const space_point *p, double v)
{
    memset(o, 0, sizeof *o);
    o->number = number;
    o->state = TRIAL_COMPLETE;
    o->has_value = 1;
    o->value = v;
    o->resumed_from = -1;
    o->retry_of = -1;
    o->point = *p;
}

/* One study of `trials` trials with at most `parallel` running at a time;
 * obs (trials) receives the history. Returns the best value found, or NAN
 * after printing the strategy's error. */
static double run_study(const strategy_ops *ops, const json_t *options, const testfn *fn,
                        const space *sp, uint64_t seed, int trials, int parallel,
                        strategy_obs *obs)
{
    strategy *st = NULL;
    kerror err;
    if (ops->create(&st, sp, options, seed, &err)) {
        fprintf(stderr, "search_bench: %s: create: %s\n", ops->name, err.msg);
        return NAN;
    }
    double best = INFINITY, clock = 0.0, *finish = malloc((size_t)trials * sizeof *finish);
    uint64_t dur = strategy_seed_for(seed, 0x64757261u);   /* durations' own stream */
    int launched = 0, done = 0;
    while (finish && done < trials) {
        int slots = parallel - (launched - done);
        if (slots > trials - launched) slots = trials - launched;
        if (slots > 0) {
            strategy_history h = { obs, launched, trials, NULL };
            strategy_suggestion sg[MAX_PARALLEL];
            int got = ops->suggest(st, &h, sg, slots, &err);
            if (got < 1) {
                fprintf(stderr, "search_bench: %s on %s, seed %llu, trial %d: %s\n", ops->name,
                        fn->name, (unsigned long long)seed, launched,
                        got < 0 ? err.msg : "no suggestion");
                best = NAN;
                break;
            }
            for (int i = 0; i < got; i++, launched++) {
                record(&obs[launched], launched, &sg[i].point, 0.0);
                obs[launched].state = TRIAL_RUNNING;
                obs[launched].has_value = 0;
                finish[launched] = clock + exp(log(0.25) + log(16.0) * strategy_rng_uniform(&dur));
            }
        }
        int next = -1;   /* the running trial that finishes first */
        for (int i = 0; i < launched; i++)
            if (obs[i].state == TRIAL_RUNNING && (next < 0 || finish[i] < finish[next])) next = i;
        clock = finish[next];
        space_point p = obs[next].point;   /* record() clears obs[next] first */
        double v = fn->f(p.x);
        record(&obs[next], next, &p, v);
        if (v < best) best = v;
        done++;
    }
    if (!finish) best = NAN;
    free(finish);
    ops->destroy(st);
    return best;
}

/* Runs every seed of one (function, strategy) pair and prints its row.
 * Returns 0, or -1 when a study failed. */
static int bench_pair(const bench_opts *o, const testfn *fn, const strategy_ops *ops)
{
    space sp;
    fn_space(fn, &sp);
    double *regret = malloc((size_t)o->seeds * sizeof *regret);
    strategy_obs *obs = malloc((size_t)o->trials * sizeof *obs);
    if (!regret || !obs) {
        free(regret);
        free(obs);
        fprintf(stderr, "search_bench: out of memory\n");
        return -1;
    }
    int ok = 1;
    double t0 = monotime_s();
    const json_t *opt = strcmp(ops->name, "gp") == 0 ? o->options : NULL;
    char name[64];
    snprintf(name, sizeof name, "%s%s%s", ops->name, opt && o->label ? "-" : "",
             opt && o->label ? o->label : "");
    for (int s = 0; s < o->seeds && ok; s++) {
        double best = run_study(ops, opt, fn, &sp, (uint64_t)(o->first_seed + s), o->trials,
                                o->parallel, obs);
        ok = !isnan(best);
        regret[s] = best - fn->minimum;
        /* Which seeds are the bad ones, to replay them alone (--first-seed). */
        if (ok && o->per_seed)
            printf(o->tsv ? "seed\t%s\tkestrel-%s\t%d\t%.6g\n" : "  %s %s seed %d: %.4g\n",
                   fn->name, name, o->first_seed + s, regret[s]);
    }
    double secs = monotime_s() - t0;
    if (ok) {
        qsort(regret, (size_t)o->seeds, sizeof *regret, cmp_double);
        double q1 = quantile(regret, o->seeds, 0.25), med = quantile(regret, o->seeds, 0.5),
               q3 = quantile(regret, o->seeds, 0.75), worst = regret[o->seeds - 1];
        if (o->tsv)
            printf("%s\tkestrel-%s\t%.6g\t%.6g\t%.6g\t%.6g\t%.3f\n", fn->name, name, med, q1,
                   q3, worst, secs);
        else
            printf("%-16s %-20s %12.4g %12.4g %12.4g %12.4g %9.2f\n", fn->name, name, med, q1, q3,
                   worst, secs);
    }
    free(regret);
    free(obs);
    return ok ? 0 : -1;
}

/* Median wall time of one GP suggestion with `rows` observed trials of
 * Hartmann-6 at uniform random points. Each repetition builds a fresh
 * strategy, lets it make (untimed) the cold-fit suggestion at rows - 1
 * trials, then times the next one: what a running study pays per trial.
 * The cold suggestion's median is reported too. */
static int bench_timing(const bench_opts *o, int rows)
{
    const testfn *fn = testfn_find("hartmann6");
    const strategy_ops *ops = strategy_find("gp");
    int reps = rows <= 200 ? TIMING_REPS : TIMING_REPS_BIG;
    space sp;
    fn_space(fn, &sp);
    strategy_obs *obs = malloc((size_t)rows * sizeof *obs);
    double warm[TIMING_REPS], cold[TIMING_REPS];
    if (!obs) {
        fprintf(stderr, "search_bench: out of memory\n");
        return -1;
    }
    for (int r = 0; r < reps; r++) {
        uint64_t st = 1000 + (uint64_t)r;
        for (int t = 0; t < rows; t++) {
            double u[TESTFN_MAX_DIM];
            space_point p;
            for (int d = 0; d < fn->dim; d++) u[d] = strategy_rng_uniform(&st);
            space_unit_to_point(&sp, u, &p);
            record(&obs[t], t, &p, fn->f(p.x));
        }
        strategy *s = NULL;
        kerror err;
        strategy_suggestion sg;
        if (ops->create(&s, &sp, o->options, (uint64_t)r, &err)) {
            fprintf(stderr, "search_bench: gp: create: %s\n", err.msg);
            free(obs);
            return -1;
        }
        strategy_history h = { obs, rows - 1, 0, NULL };
        double t0 = monotime_s();
        int n1 = ops->suggest(s, &h, &sg, 1, &err);
        double t1 = monotime_s();
        h.n_obs = rows;
        int n2 = n1 == 1 ? ops->suggest(s, &h, &sg, 1, &err) : n1;
        double t2 = monotime_s();
        ops->destroy(s);
        if (n1 != 1 || n2 != 1) {
            fprintf(stderr, "search_bench: gp timing: %s\n", err.msg);
            free(obs);
            return -1;
        }
        cold[r] = 1e3 * (t1 - t0);
        warm[r] = 1e3 * (t2 - t1);
    }
    free(obs);
    qsort(warm, (size_t)reps, sizeof *warm, cmp_double);
    qsort(cold, (size_t)reps, sizeof *cold, cmp_double);
    double mw = quantile(warm, reps, 0.5), mc = quantile(cold, reps, 0.5);
    if (o->tsv) {
        printf("timing\tgp-suggest-ms\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\n", rows, reps, mw, warm[0],
               warm[reps - 1], mc);
    } else {
        printf("GP suggestion, %d observed trials, 6 dims (hartmann6), median of %d: "
               "%.1f ms (min %.1f, max %.1f); first (cold-fit) suggestion %.1f ms\n",
               rows, reps, mw, warm[0], warm[reps - 1], mc);
    }
    return 0;
}

/* Prints "name x1 .. xd f(x)" at 5 seeded points per function (corners and
 * interior alike), so optuna_bench.py --verify can check its own copy of the
 * formulas against these. */
static void print_values(void)
{
    for (const testfn *const *f = testfn_all(); *f; f++) {
        uint64_t st = 42;
        for (int r = 0; r < 5; r++) {
            double x[TESTFN_MAX_DIM];
            printf("%s", (*f)->name);
            for (int d = 0; d < (*f)->dim; d++) {
                x[d] = (*f)->low[d] + strategy_rng_uniform(&st) * ((*f)->high[d] - (*f)->low[d]);
                printf(" %.17g", x[d]);
            }
            printf(" %.17g\n", (*f)->f(x));
        }
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: search_bench [--seeds N] [--first-seed N] [--trials N] [--parallel P]\n"
            "                    [--functions a,b,...] [--strategies random,sobol,gp]\n"
            "                    [--options JSON [--label NAME]] [--timing-rows N,N,...]\n"
            "                    [--no-timing] [--timing-only] [--tsv] [--per-seed]\n"
            "       search_bench --values   (function values for optuna_bench.py --verify)\n"
            "Defaults: 20 seeds from 0, 50 trials, parallel 1, every test function,\n"
            "random,sobol,gp, timing at 200 rows. --options are the gp strategy's options\n"
            "(its rows are named gp-NAME with --label).\n"
            "--tsv prints rows: function, strategy, median, q1, q3, worst, seconds, and\n"
            "timing, gp-suggest-ms, rows, reps, median, min, max, cold median (tab-separated).\n"
            "--per-seed also prints each seed's regret before its row (with --tsv: seed,\n"
            "function, strategy, seed number, regret).\n");
}

static int parse_args(int argc, char **argv, bench_opts *o)
{
    static char all_strats[] = "random,sobol,gp";
    *o = (bench_opts){ .seeds = 20, .trials = 50, .parallel = 1, .timing = 1,
                       .n_rows = 1, .rows = { 200 } };
    int only_timing = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--seeds") && v) o->seeds = atoi(argv[++i]);
        else if (!strcmp(a, "--first-seed") && v) o->first_seed = atoi(argv[++i]);
        else if (!strcmp(a, "--trials") && v) o->trials = atoi(argv[++i]);
        else if (!strcmp(a, "--parallel") && v) o->parallel = atoi(argv[++i]);
        else if (!strcmp(a, "--functions") && v) o->n_fn = split_list(argv[++i], o->fn);
        else if (!strcmp(a, "--strategies") && v) o->n_strat = split_list(argv[++i], o->strat);
        else if (!strcmp(a, "--label") && v) o->label = argv[++i];
        else if (!strcmp(a, "--options") && v) {
            json_decref(o->options);
            if (!(o->options = json_loads(argv[++i], 0, NULL))) return -1;
        } else if (!strcmp(a, "--timing-rows") && v) {
            const char *r[MAX_LIST];
            o->n_rows = split_list(argv[++i], r);
            for (int j = 0; j < o->n_rows; j++)
                if ((o->rows[j] = atoi(r[j])) < 2) return -1;
        } else if (!strcmp(a, "--no-timing")) o->timing = 0;
        else if (!strcmp(a, "--timing-only")) only_timing = 1;
        else if (!strcmp(a, "--tsv")) o->tsv = 1;
        else if (!strcmp(a, "--per-seed")) o->per_seed = 1;
        else if (!strcmp(a, "--values")) o->values = 1;
        else if (!strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else return -1;
    }
    if (o->seeds < 1 || o->trials < 1 || o->parallel < 1 || o->parallel > MAX_PARALLEL)
        return -1;
    if (only_timing) {
        o->timing = 1;
        o->n_fn = -1;
        return 0;
    }
    if (!o->n_strat) o->n_strat = split_list(all_strats, o->strat);
    if (!o->n_fn)
        for (const testfn *const *f = testfn_all(); *f && o->n_fn < MAX_LIST; f++)
            o->fn[o->n_fn++] = (*f)->name;
    for (int i = 0; i < o->n_fn; i++)
        if (!testfn_find(o->fn[i])) {
            fprintf(stderr, "search_bench: no test function %s\n", o->fn[i]);
            return -1;
        }
    for (int i = 0; i < o->n_strat; i++)
        if (!strategy_find(o->strat[i])) {
            fprintf(stderr, "search_bench: no strategy %s\n", o->strat[i]);
            return -1;
        }
    return 0;
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (parse_args(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    if (o.values) {
        print_values();
        return 0;
    }
    int rc = 0;
    if (o.n_fn > 0 && !o.tsv)
        printf("%d seeds x %d trials, parallel %d; simple regret = best found - known minimum\n"
               "%-16s %-20s %12s %12s %12s %12s %9s\n", o.seeds, o.trials, o.parallel, "function",
               "strategy", "median", "q1", "q3", "worst", "seconds");
    for (int i = 0; i < o.n_fn; i++)
        for (int j = 0; j < o.n_strat; j++) {
            if (bench_pair(&o, testfn_find(o.fn[i]), strategy_find(o.strat[j]))) rc = 1;
            fflush(stdout);
        }
    for (int i = 0; o.timing && i < o.n_rows; i++) {
        if (bench_timing(&o, o.rows[i])) rc = 1;
        fflush(stdout);
    }
    json_decref(o.options);
    return rc;
}
