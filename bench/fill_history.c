/* fill_history: writes a COMPLETE study of N real trials (Branin at random
 * points, 5 intermediate reports each) into a Kestrel history through the
 * storage API, in seconds, for bench/load.sh and bench/dashboard_bench.sh.
 * Not part of the build: they compile it against a build's libkestrel.a.
 * The stored spec's max_trials is MAX (default N): with MAX > N, resuming the
 * study over the API runs more trials into it. NICE, where set, is the
 * spec's run.nice (dashboard_bench.sh passes it on).
 *   fill_history DB STUDY N [MAX] */
#include <stdio.h>
#include <stdlib.h>

#include "spec.h"
#include "storage.h"
#include "testfn.h"

static const char spec_fmt[] =
    "{\"name\": \"%s\", \"objective\": {\"metric\": \"value\", \"direction\": \"minimize\"},"
    " \"space\": {\"x1\": {\"type\": \"float\", \"low\": -5, \"high\": 10},"
    " \"x2\": {\"type\": \"float\", \"low\": 0, \"high\": 15}},"
    " \"strategy\": {\"name\": \"random\", \"seed\": 1},"
    " \"budget\": {\"max_trials\": %d, \"max_parallel\": 8}, \"run\": {\"function\": \"branin\"%s}}";

/* n trials of a study whose budget is max: COMPLETE when they fill it,
 * else STOPPED (it has trials left to resume, as dashboard_bench.sh does). */
static int fill(storage *st, int64_t id, int n, int max, kerror *err)
{
    const testfn *f = testfn_find("branin");
    srand(1);
    for (int i = 0; i < n; i++) {
        double x[2] = {-5 + 15.0 * rand() / RAND_MAX, 15.0 * rand() / RAND_MAX};
        storage_param p[2] = {{"x1", 0, x[0], NULL}, {"x2", 0, x[1], NULL}};
        storage_trial t = {.n_params = 2, .params = p, .worker = "fill_history",
                           .resumed_from = -1, .retry_of = -1};
        int rc = storage_trial_insert(st, id, &t, err);
        double v = f->f(x);
        for (int step = 1; rc == KE_OK && step <= 5; step++) {
            storage_metric m = {"value", v * (1 + (5 - step) * 0.2)};
            rc = storage_trial_report(st, t.id, step, &m, 1, err);
        }
        storage_metric fin = {"value", v};
        if (rc == KE_OK)
            rc = storage_trial_finish(st, t.id, TRIAL_COMPLETE, 1, v, &fin, 1, NULL, "", "", err);
        if (rc != KE_OK) return rc;
    }
    return storage_study_set_state(st, id, n >= max ? STUDY_COMPLETE : STUDY_STOPPED, NULL, err);
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: fill_history DB STUDY N [MAX]\n");
        return 2;
    }
    int n = atoi(argv[3]), max = argc == 5 ? atoi(argv[4]) : n;
    char text[2048], nice[32] = "";
    const char *nv = getenv("NICE");
    if (nv && *nv) snprintf(nice, sizeof nice, ", \"nice\": %d", atoi(nv));
    snprintf(text, sizeof text, spec_fmt, argv[2], max, nice);
    kerror err;
    kerror_clear(&err);
    spec_study spec;
    storage *st = NULL;
    int64_t id;
    int rc = spec_parse(&spec, text, &err);
    if (rc == KE_OK) {
        char *json = json_dumps(spec.doc, JSON_SORT_KEYS | JSON_COMPACT);
        rc = storage_open(&st, argv[1], &err);
        if (rc == KE_OK)
            rc = storage_study_create(st, spec.name, json, spec.hash, spec.metric, spec.maximize,
                                      &id, &err);
        if (rc == KE_OK) rc = fill(st, id, n, max, &err);
        free(json);
        spec_free(&spec);
    }
    storage_close(st);
    if (rc != KE_OK) {
        char buf[1100];
        fprintf(stderr, "fill_history: %s\n", kerror_text(&err, buf, sizeof buf));
        return 1;
    }
    return 0;
}
