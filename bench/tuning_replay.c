/* tuning_replay: a tabular benchmark of Kestrel's strategies on recorded
 * learning curves (LCBench-style; issue 19 goals 7 and 8). The table
 * (bench/tuning_table.py) holds configurations of a study's space trained to
 * the full budget with their val_accuracy after every epoch and the idle cost
 * of an epoch. A replayed study asks the real strategy for trials as `kestrel
 * run` does with max_parallel P, "trains" each suggested point as the table's
 * nearest configuration (unit-cube distance; a categorical mismatch counts 1)
 * from its resumed step to its budget, each epoch costing the row's seconds
 * plus a fixed cost per trial, and records the time of every epoch report.
 * It prints, per strategy and target, the time to the first epoch report at
 * or above the target (median over seeds, inf when not reached within the
 * study's seconds) and how many seeds reached it: load-robust figures, since
 * the machine's speed at replay time plays no part.
 * Invariant: a replayed study is a pure function of (table, spec, strategy,
 * seed, parallel, overhead). Run by hand; never part of `make check`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../search/strategy.h"
#include "../src/spec.h"

#define MAX_EPOCHS 64
#define MAX_ROWS 4096
#define MAX_TARGETS 8
#define MAX_PARALLEL 16
#define MAX_TRIALS 20000

typedef struct {
    space_point p;
    double u[SPACE_MAX_PARAMS];   /* the point in the unit cube */
    int diverged_at;              /* epoch whose training fails, 0 never */
    double cost;                  /* seconds an epoch */
    double acc[MAX_EPOCHS];       /* val_accuracy after epoch e + 1 */
} row;

typedef struct {
    const space *sp;
    row *rows;
    int n_rows, epochs;
} table;

typedef struct {
    int parallel, seeds, first_seed;
    double seconds, overhead;
    int n_targets;
    double target[MAX_TARGETS];
} replay_opts;

/* Reads the TSV of bench/tuning_table.py: the header names the space's
 * parameters, then diverged_at, epoch_seconds, acc1..accE. */
static int table_load(table *t, const space *sp, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    char line[16384];
    int col_of[SPACE_MAX_PARAMS], n_par = 0, rc = 0;
    memset(t, 0, sizeof *t);
    t->sp = sp;
    t->rows = calloc(MAX_ROWS, sizeof *t->rows);
    if (!t->rows || !fgets(line, sizeof line, f)) rc = -1;
    for (char *tok = rc ? NULL : strtok(line, "\t\n"); tok; tok = strtok(NULL, "\t\n")) {
        if (strncmp(tok, "acc", 3) == 0) t->epochs++;
        else if (strcmp(tok, "diverged_at") && strcmp(tok, "epoch_seconds"))
            col_of[n_par++] = space_find(sp, tok);
    }
    for (int i = 0; i < n_par && !rc; i++)
        if (col_of[i] < 0) rc = -1;
    while (!rc && t->n_rows < MAX_ROWS && fgets(line, sizeof line, f)) {
        row *r = &t->rows[t->n_rows];
        char *save = NULL, *tok = strtok_r(line, "\t\n", &save);
        kerror err;
        for (int i = 0; i < n_par && tok && !rc; i++, tok = strtok_r(NULL, "\t\n", &save)) {
            const space_param *sparam = &sp->params[col_of[i]];
            int text = sparam->kind == PARAM_CATEGORICAL && sparam->choices[0].is_text;
            if (space_point_set(sp, &r->p, sparam->name, text, text ? 0 : atof(tok), tok, &err)) {
                fprintf(stderr, "tuning_replay: %s: row %d: %s\n", path, t->n_rows + 1, err.msg);
                rc = -1;
            }
        }
        if (rc || !tok) break;
        space_point_resolve(sp, &r->p);
        space_point_to_unit(sp, &r->p, r->u);
        r->diverged_at = atoi(tok);
        tok = strtok_r(NULL, "\t\n", &save);
        r->cost = tok ? atof(tok) : 1.0;
        for (int e = 0; e < t->epochs && e < MAX_EPOCHS; e++) {
            tok = strtok_r(NULL, "\t\n", &save);
            r->acc[e] = tok ? atof(tok) : NAN;   /* "nan" parses as NAN */
        }
        t->n_rows++;
    }
    fclose(f);
    if (rc || t->n_rows == 0 || t->epochs == 0 || t->epochs > MAX_EPOCHS) {
        fprintf(stderr, "tuning_replay: %s: not a table of this space\n", path);
        return -1;
    }
    return 0;
}

/* The table's configuration nearest to p. */
static const row *nearest(const table *t, const space_point *p)
{
    double u[SPACE_MAX_PARAMS], best = INFINITY;
    const row *out = t->rows;
    space_point_to_unit(t->sp, p, u);
    for (int i = 0; i < t->n_rows; i++) {
        double d = 0;
        for (int k = 0, j = 0; k < t->sp->n; k++) {
            const space_param *q = &t->sp->params[k];
            if (q->kind == PARAM_FIXED) continue;
            if (q->kind == PARAM_CATEGORICAL) d += p->x[k] != t->rows[i].p.x[k];
            else d += (u[j] - t->rows[i].u[j]) * (u[j] - t->rows[i].u[j]);
            j++;
        }
        if (d < best) best = d, out = &t->rows[i];
    }
    return out;
}

typedef struct {
    const row *r;
    int from, to;          /* epochs from+1 .. to are trained */
    double start, end;     /* seconds since the study began */
    int steps[MAX_EPOCHS];
    double values[MAX_EPOCHS];
} run;

/* Fills o and the run's steps as the trial's end shows them to a strategy
 * (values normalized to minimize). */
static void finish(strategy_obs *o, run *x)
{
    int last = x->to;
    if (x->r->diverged_at && x->r->diverged_at <= x->to) last = x->r->diverged_at - 1;
    o->n_steps = 0;
    for (int e = x->from + 1; e <= last; e++) {
        x->steps[o->n_steps] = e;
        x->values[o->n_steps++] = -x->r->acc[e - 1];
    }
    o->steps = x->steps;
    o->values = x->values;
    if (last < x->to || isnan(x->r->acc[x->to - 1])) {
        o->state = TRIAL_FAILED;
        o->has_value = 0;
    } else {
        o->state = TRIAL_COMPLETE;
        o->has_value = 1;
        o->value = -x->r->acc[x->to - 1];
    }
}

/* One replayed study; hit[i] receives the time to target i (INFINITY if not
 * within o->seconds). Returns the trials run, or -1 on a strategy error. */
static int replay(const table *t, const strategy_ops *ops, const json_t *options, uint64_t seed,
                  const replay_opts *o, double *hit, strategy_obs *obs, run *runs)
{
    strategy *st = NULL;
    kerror err;
    if (ops->create(&st, t->sp, options, seed, &err)) {
        fprintf(stderr, "tuning_replay: %s: %s\n", ops->name, err.msg);
        return -1;
    }
    for (int i = 0; i < o->n_targets; i++) hit[i] = INFINITY;
    double clock = 0;
    int launched = 0, running = 0, rc = 0;
    while (clock < o->seconds && launched < MAX_TRIALS - MAX_PARALLEL) {
        int slots = o->parallel - running;
        if (slots > 0 && !ops->done(st, &(strategy_history){ obs, launched, 0, NULL })) {
            strategy_history h = { obs, launched, 0, NULL };
            strategy_suggestion sg[MAX_PARALLEL];
            int got = ops->suggest(st, &h, sg, slots, &err);
            if (got < 0) {
                fprintf(stderr, "tuning_replay: %s seed %llu: %s\n", ops->name,
                        (unsigned long long)seed, err.msg);
                rc = -1;
                break;
            }
            for (int i = 0; i < got; i++, launched++, running++) {
                strategy_obs *b = &obs[launched];
                run *x = &runs[launched];
                memset(b, 0, sizeof *b);
                b->number = launched;
                b->state = TRIAL_RUNNING;
                b->point = sg[i].point;
                b->budget = sg[i].budget;
                b->resumed_from = sg[i].resume_from;
                b->retry_of = -1;
                x->r = nearest(t, &sg[i].point);
                x->from = sg[i].resume_from >= 0 ? runs[sg[i].resume_from].to : 0;
                x->to = sg[i].budget > 0 && sg[i].budget < t->epochs ? sg[i].budget : t->epochs;
                int fails = x->r->diverged_at && x->r->diverged_at <= x->to;
                int trained = fails ? x->r->diverged_at : x->to;   /* the last epoch paid */
                x->start = clock;
                x->end = clock + o->overhead + (trained - x->from) * x->r->cost;
                for (int e = x->from + 1; e <= trained - fails; e++)
                    for (int k = 0; k < o->n_targets; k++) {
                        double at = clock + o->overhead + (e - x->from) * x->r->cost;
                        if (x->r->acc[e - 1] >= o->target[k] && at < hit[k]) hit[k] = at;
                    }
            }
        }
        int next = -1;
        for (int i = 0; i < launched; i++)
            if (obs[i].state == TRIAL_RUNNING && (next < 0 || runs[i].end < runs[next].end)) next = i;
        if (next < 0) break;   /* a strategy that waits with nothing running is done */
        clock = runs[next].end;
        finish(&obs[next], &runs[next]);
        running--;
    }
    for (int k = 0; k < o->n_targets; k++)
        if (hit[k] > o->seconds) hit[k] = INFINITY;
    ops->destroy(st);
    return rc ? rc : launched;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs every seed of one strategy ("name" or a JSON object {"name", "options"})
 * and prints its row. */
static int bench_one(const table *t, const char *arg, const replay_opts *o)
{
    json_error_t jerr;
    json_t *js = arg[0] == '{' ? json_loads(arg, 0, &jerr) : json_pack("{s:s}", "name", arg);
    const char *name = js ? json_string_value(json_object_get(js, "name")) : NULL;
    const strategy_ops *ops = name ? strategy_find(name) : NULL;
    if (!ops) {
        fprintf(stderr, "tuning_replay: bad strategy %s\n", arg);
        json_decref(js);
        return -1;
    }
    json_t *opts = json_deep_copy(json_object_get(js, "options"));
    json_t *r = opts ? json_object_get(opts, "max_resource") : NULL;
    if (ops->gives_budgets && opts && !r) json_object_set_new(opts, "max_resource", json_integer(t->epochs));
    if (ops->gives_budgets && !opts) opts = json_pack("{s:i}", "max_resource", t->epochs);
    double *h = malloc((size_t)o->seeds * MAX_TARGETS * sizeof *h);
    strategy_obs *obs = malloc(MAX_TRIALS * sizeof *obs);
    run *runs = malloc(MAX_TRIALS * sizeof *runs);
    long trials = 0;
    int rc = h && obs && runs ? 0 : -1;
    for (int s = 0; s < o->seeds && !rc; s++) {
        int n = replay(t, ops, opts, (uint64_t)(o->first_seed + s), o, h + s * MAX_TARGETS, obs,
                       runs);
        if (n < 0) rc = -1;
        trials += n;
    }
    if (!rc) {
        printf("| %s |", arg);
        for (int k = 0; k < o->n_targets; k++) {
            double v[4096];
            int hits = 0;
            for (int s = 0; s < o->seeds; s++) {
                v[s] = h[s * MAX_TARGETS + k];
                hits += isfinite(v[s]);
            }
            qsort(v, (size_t)o->seeds, sizeof *v, cmp_double);
            double med = o->seeds % 2 ? v[o->seeds / 2] : (v[o->seeds / 2 - 1] + v[o->seeds / 2]) / 2;
            printf(" %.1f (%d/%d) |", med, hits, o->seeds);
        }
        printf(" %.0f |\n", (double)trials / o->seeds);
    }
    free(h);
    free(obs);
    free(runs);
    json_decref(opts);
    json_decref(js);
    return rc;
}

int main(int argc, char **argv)
{
    replay_opts o = { 2, 20, 1, 360, 0.05, 0, { 0 } };
    const char *spec_path = NULL, *table_path = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) break;
        if (!strcmp(a, "--spec")) spec_path = v;
        else if (!strcmp(a, "--table")) table_path = v;
        else if (!strcmp(a, "--seeds")) o.seeds = atoi(v);
        else if (!strcmp(a, "--first-seed")) o.first_seed = atoi(v);
        else if (!strcmp(a, "--parallel")) o.parallel = atoi(v);
        else if (!strcmp(a, "--seconds")) o.seconds = atof(v);
        else if (!strcmp(a, "--overhead")) o.overhead = atof(v);
        else if (!strcmp(a, "--target") && o.n_targets < MAX_TARGETS) o.target[o.n_targets++] = atof(v);
        else break;
        i++;
    }
    if (!spec_path || !table_path || i >= argc || o.seeds < 1 || o.seeds > 4096 ||
        o.parallel < 1 || o.parallel > MAX_PARALLEL) {
        fprintf(stderr, "usage: tuning_replay --spec STUDY.json --table TABLE.tsv [--seeds 20]\n"
                        "       [--first-seed 1] [--parallel 2] [--seconds 360] [--overhead 0.05]\n"
                        "       [--target 0.9 ...] STRATEGY...\n"
                        "STRATEGY: a name (random) or {\"name\": \"asha\", \"options\": {...}};\n"
                        "max_resource defaults to the table's epochs.\n");
        return 2;
    }
    if (o.n_targets == 0) o.target[o.n_targets++] = 0.90;
    spec_study spec;
    kerror err;
    if (spec_load_file(&spec, spec_path, &err)) {
        fprintf(stderr, "tuning_replay: %s: %s\n", spec_path, err.msg);
        return 1;
    }
    table t;
    int rc = table_load(&t, &spec.space, table_path);
    if (!rc) {
        printf("table %s: %d configurations, %d epochs; %d seeds, %d at a time, %.0f s studies, "
               "%.2f s a trial\n\n| strategy |", table_path, t.n_rows, t.epochs, o.seeds,
               o.parallel, o.seconds, o.overhead);
        for (int k = 0; k < o.n_targets; k++) printf(" %.4g |", o.target[k]);
        printf(" trials |\n|---|");
        for (int k = 0; k <= o.n_targets; k++) printf("---:|");
        printf("\n");
    }
    for (; i < argc && !rc; i++) rc = bench_one(&t, argv[i], &o);
    free(t.rows);
    spec_free(&spec);
    return rc ? 1 : 0;
}
