/* sched_lease_bench: the scheduler's cost per trial on a long study, as a
 * worker drives it: on the study bench/fill_history.c wrote (N COMPLETE
 * trials of Branin, 5 reports each), K trials each leased, given 3 reports
 * (the median pruner asked at each, unless PRUNER is none) and ended over
 * the scheduler's remote
 * calls, with no child process and no HTTP; prints the seconds per trial,
 * wall and CPU (this process's: a loaded machine's disk waits are not in
 * it, so it shows the scheduler's own work best).
 * Not part of the build: bench/sched_lease_bench.sh compiles it against two
 * builds' libkestrel.a for an A/B.
 *   sched_lease_bench DB STUDY K [median|none] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monotime.h"
#include "scheduler.h"
#include "spec.h"
#include "storage.h"

/* fill_history's spec with a pruner (opened with force) */
static const char spec_fmt[] =
    "{\"name\": \"%s\", \"objective\": {\"metric\": \"value\", \"direction\": \"minimize\"},"
    " \"space\": {\"x1\": {\"type\": \"float\", \"low\": -5, \"high\": 10},"
    " \"x2\": {\"type\": \"float\", \"low\": 0, \"high\": 15}},"
    " \"strategy\": {\"name\": \"random\", \"seed\": 1}%s,"
    " \"budget\": {\"max_trials\": 1000000, \"max_parallel\": 8},"
    " \"run\": {\"function\": \"branin\"}}";

static int trials(scheduler *s, int k, kerror *err)
{
    for (int i = 0; i < k; i++) {
        scheduler_remote rem = {.tag = i + 1, .worker = "bench", .batch = 1};
        int rc = scheduler_lease(s, &rem, err);
        if (rc != KE_OK) return rc;
        if (!rem.leased) return kerror_set(err, KE_INTERNAL, NULL, "no lease at trial %d", i);
        char line[64];
        for (int step = 1; step <= 3 && rc == KE_OK; step++) {
            snprintf(line, sizeof line, "{\"step\": %d, \"value\": %g}", step, 10.0 / step + i % 7);
            rc = scheduler_remote_line(s, rem.tag, line, err);
        }
        snprintf(line, sizeof line, "{\"value\": %g}", 3.0 + i % 7);
        if (rc == KE_OK) rc = scheduler_remote_line(s, rem.tag, line, err);
        runner_event ev = {.kind = RUNNER_EXIT, .exited = 1};
        if (rc == KE_OK) rc = scheduler_remote_exit(s, rem.tag, &ev, NULL, NULL, err);
        if (rc != KE_OK) return rc;
    }
    return KE_OK;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: sched_lease_bench DB STUDY K [median|none]\n");
        return 2;
    }
    char text[2048], pruner[64] = "";
    if (argc == 4 || strcmp(argv[4], "none") != 0)
        snprintf(pruner, sizeof pruner, ", \"pruner\": {\"name\": \"%s\"}",
                 argc == 5 ? argv[4] : "median");
    snprintf(text, sizeof text, spec_fmt, argv[2], pruner);
    kerror err;
    kerror_clear(&err);
    spec_study spec;
    storage *st = NULL;
    scheduler *s = NULL;
    scheduler_opts o = {.db_path = argv[1], .self_exe = "kestrel", .force = 1, .cores = 1};
    double t0 = 0, t1 = 0, c0 = 0, c1 = 0;
    int rc = spec_parse(&spec, text, &err);
    if (rc == KE_OK) rc = storage_open(&st, argv[1], &err);
    if (rc == KE_OK) rc = scheduler_open(&s, st, &spec, &o, &err);
    if (rc == KE_OK) {
        scheduler_set_parallel(s, 0);
        t0 = monotime_s();
        c0 = monotime_cpu_s();
        rc = trials(s, atoi(argv[3]), &err);
        c1 = monotime_cpu_s();
        t1 = monotime_s();
        scheduler_close(s);
    }
    storage_close(st);
    if (rc != KE_OK) {
        char buf[1100];
        fprintf(stderr, "sched_lease_bench: %s\n", kerror_text(&err, buf, sizeof buf));
        return 1;
    }
    printf("%.6f %.6f\n", (t1 - t0) / atoi(argv[3]), (c1 - c0) / atoi(argv[3]));
    spec_free(&spec);
    return 0;
}
