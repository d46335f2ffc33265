/* Tests for scheduler: a real study in a real SQLite history, real child
 * processes, and faults injected into the history with SQL triggers. Those
 * of enqueued configurations are in test_scheduler_enqueue.c; what both
 * share, in scheduler_fixture.h. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check_main.h"
#include "../src/lock.h"
#include "../src/sched_ckpt.h"
#include "../src/sched_dir.h"
#include "../src/sched_trial.h"
#include "../src/scheduler_impl.h"   /* the live history, to compare with a resumed one */
#include "scheduler_fixture.h"

/* Children of this process that have exited and wait to be reaped. */
static int zombie_children(void)
{
    DIR *d = opendir("/proc");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *close_paren = strrchr(buf, ')'), state;
        int ppid;
        if (close_paren && sscanf(close_paren + 1, " %c %d", &state, &ppid) == 2 &&
            ppid == getpid() && state == 'Z')
            n++;
    }
    closedir(d);
    return n;
}

static void wait_zombies(int want)
{
    for (int i = 0; i < 2000 && zombie_children() < want; i++)
        nanosleep(&(struct timespec){0, 5 * 1000000L}, NULL);
    ck_assert_int_ge(zombie_children(), want);
}

/* open_for_workers for a study named name of random search over x in
 * [0, 1] that minimizes loss. */
static scheduler *open_random_for_workers(const char *name, int max_trials, int max_parallel,
                                          spec_study *spec, storage **st, scheduler_opts *o)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"name\": \"%s\", \"objective\": {\"metric\": \"loss\", \"direction\": \"minimize\"},"
             " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}},"
             " \"strategy\": {\"name\": \"random\", \"seed\": 1},"
             " \"budget\": {\"max_trials\": %d, \"max_parallel\": %d},"
             " \"run\": {\"command\": [\"true\"]}}", name, max_trials, max_parallel);
    return open_for_workers(text, spec, st, o);
}

/* Leases a trial under tag, relays lines (NULL-terminated) from it and
 * ends it with ev, its stderr tail err_tail. */
static void lease_lines_exit(scheduler *s, int tag, const char *const *lines,
                             const runner_event *ev, const char *err_tail)
{
    kerror err;
    kerror_clear(&err);
    lease_tag(s, tag);
    for (int i = 0; lines[i]; i++)
        ck_assert_int_eq(scheduler_remote_line(s, tag, lines[i], &err), KE_OK);
    ck_assert_int_eq(scheduler_remote_exit(s, tag, ev, NULL, err_tail, &err), KE_OK);
}

/* Two trials end in the same poll while the history refuses to end a trial:
 * the step fails, and the second exit must not be left dangling, or closing
 * the scheduler waits forever for a child already gone. */
START_TEST(storage_failure_with_two_exits_in_one_poll)
{
    char spec_text[1024];
    snprintf(spec_text, sizeof spec_text,
             "{\"name\": \"exits\", \"objective\": {\"metric\": \"loss\", \"direction\": \"minimize\"},"
             " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}},"
             " \"strategy\": {\"name\": \"random\", \"seed\": 1},"
             " \"budget\": {\"max_trials\": 2, \"max_parallel\": 2},"
             " \"run\": {\"command\": [\"sh\", \"-c\", \"while [ ! -e %s/go ]; do sleep 0.01; done\"]}}", dir);
    kerror err;
    spec_study spec;
    storage *st;
    scheduler_opts o;
    scheduler *s = open_study(spec_text, &spec, &st, &o, 2);
    ck_assert_int_eq(scheduler_step(s, 0, &err), 1);
    scheduler_status ss;
    scheduler_get_status(s, &ss);
    ck_assert_int_eq(ss.n_running, 2);
    ck_assert_int_eq(scheduler_n_local(s), ss.n_local);
    ck_assert_int_eq(ss.n_local, 2);

    sql("CREATE TRIGGER no_end BEFORE UPDATE OF state ON trials "
        "BEGIN SELECT RAISE(ABORT, 'injected fault'); END");
    char go[128];
    snprintf(go, sizeof go, "%s/go", dir);
    fclose(fopen(go, "w"));
    wait_zombies(2);
    ck_assert_int_lt(scheduler_step(s, 0, &err), 0);
    sql("DROP TRIGGER no_end");
    scheduler_close(s);   /* hung here when the second exit was dropped */

    /* Neither outcome was stored: the next open reclaims both as
     * interrupted, so they run again. */
    ck_assert_int_eq(scheduler_open(&s, st, &spec, &o, &err), KE_OK);
    scheduler_get_status(s, &ss);
    ck_assert_int_eq(ss.reclaimed, 2);
    scheduler_close(s);
    storage_close(st);
    spec_free(&spec);
}
END_TEST

static void parse_spec(spec_study *spec, double high)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"name\": \"held\", \"objective\": {\"metric\": \"loss\", \"direction\": \"minimize\"},"
             " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": %g}},"
             " \"strategy\": {\"name\": \"random\", \"seed\": 1},"
             " \"budget\": {\"max_trials\": 1, \"max_parallel\": 1},"
             " \"run\": {\"command\": [\"true\"]}}", high);
    kerror err;
    ck_assert_msg(spec_parse(spec, text, &err) == KE_OK, "%s", err.msg);
}

/* --force on a study another process runs is refused (KE_BUSY) and must
 * leave the stored spec, which that process runs by, as it was. */
START_TEST(force_on_a_locked_study_keeps_its_spec)
{
    spec_study a, b;
    parse_spec(&a, 1);
    parse_spec(&b, 2);
    ck_assert_str_ne(a.hash, b.hash);
    kerror err;
    storage *st;
    ck_assert_int_eq(storage_open(&st, db, &err), KE_OK);
    int64_t id;
    char *json = json_dumps(a.doc, JSON_COMPACT);
    ck_assert_int_eq(storage_study_create(st, a.name, json, a.hash, a.metric, a.maximize, &id,
                                          &err), KE_OK);
    free(json);
    lock_handle other;
    ck_assert_int_eq(lock_study(&other, db, id, &err), KE_OK);

    scheduler_opts o = {.db_path = db, .self_exe = "kestrel", .work_dir = dir, .force = 1};
    scheduler *s = NULL;
    ck_assert_int_eq(scheduler_open(&s, st, &b, &o, &err), KE_BUSY);
    ck_assert_int_eq(scheduler_open(&s, st, &b, &o, NULL), KE_BUSY);   /* err is optional */
    storage_study row;
    ck_assert_int_eq(storage_study_get(st, a.name, &row, &err), KE_OK);
    ck_assert_str_eq(row.spec_hash, a.hash);
    storage_study_free(&row);

    lock_release(&other);
    ck_assert_int_eq(scheduler_open(&s, st, &b, &o, &err), KE_OK);
    scheduler_close(s);
    ck_assert_int_eq(storage_study_get(st, a.name, &row, &err), KE_OK);
    ck_assert_str_eq(row.spec_hash, b.hash);
    storage_study_free(&row);
    storage_close(st);
    spec_free(&a);
    spec_free(&b);
}
END_TEST

/* Makes "<work>/s/k" with the trial mark (when marked) and a checkpoint. */
static void trial_folder(const char *work, int k, int marked)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/s/%d && touch %s/s/%d/" SCHED_CKPT_FILE "%s", work, k, work,
             k, marked ? " && touch " : "");
    if (marked) snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), "%s/s/%d/" SCHED_DIR_MARK, work, k);
    ck_assert_int_eq(system(cmd), 0);
}

static int has_ckpt(const char *work, int k)
{
    char path[512];
    snprintf(path, sizeof path, "%s/s/%d/" SCHED_CKPT_FILE, work, k);
    return access(path, F_OK) == 0;
}

/* Without promotions a trial's checkpoint goes when it ends, unless it is
 * the best, and the former best's goes when a better one ends; with
 * promotions they wait for the study's end, which keeps only the best's;
 * keep_all keeps everything; a folder without the mark is never touched. */
START_TEST(checkpoints_kept_for_the_best_only)
{
    char work[] = "/tmp/test_ckpt.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(work));
    for (int k = 0; k < 6; k++) trial_folder(work, k, k != 5);
    sched_ckpt c;
    sched_ckpt_init(&c, work, "s", 0, -1);
    sched_ckpt_ended(&c, 0, 0, 0);   /* 0 is the first best */
    ck_assert(has_ckpt(work, 0));
    sched_ckpt_ended(&c, 1, 0, 0);   /* worse: its own goes */
    ck_assert(has_ckpt(work, 0) && !has_ckpt(work, 1));
    sched_ckpt_ended(&c, 2, 2, 0);   /* better: the former best's goes */
    ck_assert(!has_ckpt(work, 0) && has_ckpt(work, 2));
    sched_ckpt_ended(&c, 3, 2, 1);   /* a promoting strategy: kept for now */
    sched_ckpt_ended(&c, 5, 2, 0);   /* not Kestrel's folder */
    ck_assert(has_ckpt(work, 3) && has_ckpt(work, 4) && has_ckpt(work, 5));
    sched_ckpt_completed(&c, 6, 4);
    for (int k = 0; k < 5; k++) ck_assert_int_eq(has_ckpt(work, k), k == 4);
    ck_assert(has_ckpt(work, 5));
    for (int k = 0; k < 4; k++) trial_folder(work, k, 1);
    sched_ckpt_init(&c, work, "s", 1, 4);
    sched_ckpt_ended(&c, 1, 2, 0);
    sched_ckpt_completed(&c, 6, 2);
    for (int k = 0; k < 6; k++) ck_assert(has_ckpt(work, k));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", work);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* budget.max_seconds, budget.trial_timeout and run.kill_grace take any
 * finite number (docs/spec.md): one past any study's life (1e18, 1e300, the
 * largest double) is no limit, as the engine keeps them as doubles; a
 * conversion to an integer would wrap round and could end each trial, or
 * the study, at once. */
START_TEST(huge_time_limits_are_no_limit)
{
    const char *huge[] = { "1e18", "1e300", "1.7976931348623157e308" };
    for (int i = 0; i < 3; i++) {
        char spec[1024];
        snprintf(spec, sizeof spec,
                 "{\"name\": \"huge%d\", \"objective\": {\"metric\": \"loss\"},"
                 " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}},"
                 " \"strategy\": {\"name\": \"random\", \"seed\": 1},"
                 " \"budget\": {\"max_trials\": 3, \"max_seconds\": %s, \"trial_timeout\": %s},"
                 " \"run\": {\"kill_grace\": %s, \"command\": [\"sh\", \"-c\","
                 " \"printf '\\\\173\\\"loss\\\": 1\\\\175\\\\n'\"]}}",
                 i, huge[i], huge[i], huge[i]);
        scheduler_status ss;
        run_to_end(spec, 0, &ss);
        ck_assert_msg(ss.n_complete == 3 && ss.n_failed == 0 && ss.n_interrupted == 0,
                      "%s: %d complete, %d failed, %d interrupted", huge[i], ss.n_complete,
                      ss.n_failed, ss.n_interrupted);
        ck_assert_msg(ss.completed && ss.stop_reason == NULL, "%s: stopped", huge[i]);
    }
}
END_TEST

/* Leases asking at once share one suggest() of the GP (one fit, the rest of
 * the batch as pending points); what no lease took is dropped at the end of
 * the pass, and the next lease asks again. */
START_TEST(leases_asking_at_once_share_one_suggestion_batch)
{
    static const char text[] =
        "{\"name\": \"batch\", \"objective\": {\"metric\": \"loss\", \"direction\": \"minimize\"},"
        " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}},"
        " \"strategy\": {\"name\": \"gp\", \"seed\": 1},"
        " \"budget\": {\"max_trials\": 20, \"max_parallel\": 8},"
        " \"run\": {\"command\": [\"true\"]}}";
    kerror err;
    kerror_clear(&err);
    spec_study spec;
    storage *st;
    scheduler_opts o;
    scheduler *s = open_for_workers(text, &spec, &st, &o);
    double x[3];
    for (int i = 0; i < 3; i++) {
        scheduler_remote rem = {.tag = i + 1, .worker = "w", .batch = 3 - i};
        ck_assert_msg(scheduler_lease(s, &rem, &err) == KE_OK, "%s", err.msg);
        ck_assert_int_eq(rem.leased, 1);
        x[i] = rem.trial->point.x[0];
    }
    scheduler_status ss;
    scheduler_get_status(s, &ss);
    ck_assert_int_eq(ss.n_running, 3);
    ck_assert_int_eq(ss.n_asked, 1);
    ck_assert_int_eq(ss.n_suggested, 3);
    ck_assert(x[0] != x[1] && x[1] != x[2] && x[0] != x[2]);

    /* a batch of 4 for one lease: 3 are left over, then dropped */
    scheduler_remote rem = {.tag = 4, .worker = "w", .batch = 4};
    ck_assert_int_eq(scheduler_lease(s, &rem, &err), KE_OK);
    scheduler_drop_ready(s);
    rem = (scheduler_remote){.tag = 5, .worker = "w", .batch = 1};
    ck_assert_int_eq(scheduler_lease(s, &rem, &err), KE_OK);
    ck_assert_int_eq(rem.leased, 1);
    scheduler_get_status(s, &ss);
    ck_assert_int_eq(ss.n_running, 5);
    ck_assert_int_eq(ss.n_asked, 3);
    close_for_workers(s, st, &spec);
}
END_TEST

/* Trials that end out of order with the same value: the best is the first
 * numbered (the scheduler keeps the best as trials end; a scan of the
 * history found the lowest number), after a reopen too. */
START_TEST(best_is_the_first_of_equals_whatever_order_they_end_in)
{
    kerror err;
    kerror_clear(&err);
    spec_study spec;
    storage *st;
    scheduler_opts o;
    scheduler *s = open_random_for_workers("ties", 4, 3, &spec, &st, &o);
    for (int tag = 1; tag <= 3; tag++) ck_assert_int_eq(lease_tag(s, tag).trial->number, tag - 1);
    /* trial 2 ends first at 0.5, then 1 at 0.5, then 0 at 0.7 */
    static const struct { int tag; const char *line; } ends[] = {
        {3, "{\"loss\": 0.5}"}, {2, "{\"loss\": 0.5}"}, {1, "{\"loss\": 0.7}"}};
    scheduler_status ss;
    for (int i = 0; i < 3; i++) {
        runner_event ev = {.kind = RUNNER_EXIT, .exited = 1};
        ck_assert_int_eq(scheduler_remote_line(s, ends[i].tag, ends[i].line, &err), KE_OK);
        ck_assert_int_eq(scheduler_remote_exit(s, ends[i].tag, &ev, NULL, NULL, &err), KE_OK);
        scheduler_get_status(s, &ss);
        ck_assert(ss.has_best && ss.best_value == 0.5);
        ck_assert_int_eq(ss.best_number, i == 0 ? 2 : 1);
    }
    scheduler_stop(s, "test over");
    while (scheduler_step(s, 0, &err) > 0) {}
    scheduler_close(s);
    ck_assert_int_eq(scheduler_open(&s, st, &spec, &o, &err), KE_OK);
    scheduler_get_status(s, &ss);
    ck_assert(ss.has_best && ss.best_value == 0.5);
    ck_assert_int_eq(ss.best_number, 1);
    scheduler_close(s);
    storage_close(st);
    spec_free(&spec);
}
END_TEST

/* Report lines a worker relays with a malformed step ("step": 2147483648,
 * beyond storage's int, -1, 1.5, a string) are not reports, but they are
 * not dropped silently either: the trial's record says how many there were
 * and why the first was wrong, in its failure reason when it fails and in
 * its stored stderr tail; a step of INT_MAX, the documented maximum, is a
 * report like any other. */
START_TEST(malformed_report_lines_are_noted_in_the_trial_record)
{
    static const char *const lines[2][4] = {
        {"{\"step\": 2147483648, \"loss\": 0.3}", "{\"step\": 2147483647, \"loss\": 0.4}",
         "epoch done", NULL},
        {"{\"step\": -1, \"loss\": 0.3}", "{\"step\": 1.5, \"loss\": 0.3}",
         "{\"step\": \"3\", \"loss\": 0.3}", NULL}};
    kerror err;
    kerror_clear(&err);
    spec_study spec;
    storage *st;
    scheduler_opts o;
    scheduler *s = open_random_for_workers("steps", 2, 2, &spec, &st, &o);
    runner_event ev = {.kind = RUNNER_EXIT, .exited = 1};
    for (int tag = 1; tag <= 2; tag++) lease_lines_exit(s, tag, lines[tag - 1], &ev, "done");
    storage_trial t;
    char *out, *errs;
    ck_assert_int_eq(storage_trial_get(st, scheduler_study_id(s), 0, &t, &err), KE_OK);
    ck_assert_int_eq(t.state, TRIAL_COMPLETE);
    ck_assert_double_eq(t.value, 0.4);
    ck_assert_int_eq(t.last_step, 2147483647);
    ck_assert_ptr_null(t.failure);
    ck_assert_int_eq(storage_trial_logs(st, t.id, &out, &errs, &err), KE_OK);
    ck_assert_str_eq(errs, "done\nkestrel: 1 report line ignored as malformed, the first: step: "
                           "must be an integer from 0 to 2147483647, not 2147483648\n");
    free(out);
    free(errs);
    storage_trial_free(&t);

    ck_assert_int_eq(storage_trial_get(st, scheduler_study_id(s), 1, &t, &err), KE_OK);
    ck_assert_int_eq(t.state, TRIAL_FAILED);
    ck_assert_str_eq(t.failure, "missing metric 'loss' in the trial's reports; it reported no "
                                "metric; 3 report lines ignored as malformed, the first: step: "
                                "must be an integer from 0 to 2147483647, not -1");
    storage_trial_free(&t);
    scheduler_close(s);
    storage_close(st);
    spec_free(&spec);
}
END_TEST

/* The history the strategy (and the pruner) sees, which the scheduler keeps
 * in step as trials start, report and end, equals the one a study resumed
 * from its database loads: every field of every trial, in order, foreign
 * trials (a choice the spec dropped) left out, and the counts. */
static void assert_history_as_stored(scheduler *s, storage *st, const spec_study *spec)
{
    kerror err;
    sched_trials fresh;
    ck_assert_int_eq(sched_trials_load(&fresh, st, scheduler_study_id(s), &spec->space,
                                       spec->metric, spec->maximize, 1, &err), KE_OK);
    strategy_history live, want;
    sched_trials_history(&s->hist, spec->budget.max_trials, &live);
    sched_trials_history(&fresh, spec->budget.max_trials, &want);
    ck_assert_int_eq(live.n_obs, want.n_obs);
    /* the counts handed with each are those of a pass over it */
    strategy_counts pass = strategy_history_counts(&(strategy_history){ want.obs, want.n_obs, 0,
                                                                        NULL });
    ck_assert_ptr_nonnull(live.counts);
    ck_assert_int_eq(live.counts->fresh, pass.fresh);
    ck_assert_int_eq(live.counts->fresh_enqueued, pass.fresh_enqueued);
    ck_assert_int_eq(want.counts->fresh, pass.fresh);
    ck_assert_int_eq(want.counts->fresh_enqueued, pass.fresh_enqueued);
    for (int i = 0; i < want.n_obs; i++) {
        const strategy_obs *a = &live.obs[i], *b = &want.obs[i];
        ck_assert_int_eq(a->number, b->number);
        ck_assert_int_eq(a->state, b->state);
        ck_assert_int_eq(a->has_value, b->has_value);
        if (b->has_value) ck_assert_double_eq(a->value, b->value);
        ck_assert_int_eq(a->budget, b->budget);
        ck_assert_int_eq(a->resumed_from, b->resumed_from);
        ck_assert_int_eq(a->retry_of, b->retry_of);
        ck_assert_int_eq(a->enqueued, b->enqueued);
        ck_assert_int_eq(a->n_steps, b->n_steps);
        for (int j = 0; j < b->n_steps; j++) {
            ck_assert_int_eq(a->steps[j], b->steps[j]);
            ck_assert_double_eq(a->values[j], b->values[j]);
        }
        for (int d = 0; d < spec->space.n; d++) {
            ck_assert_int_eq(a->point.active[d], b->point.active[d]);
            if (b->point.active[d]) ck_assert_double_eq(a->point.x[d], b->point.x[d]);
        }
    }
    sched_trials_free(&fresh);
}

/* Leases n trials from tag on; each reports steps 1..3 of loss and ends: at
 * its final loss, exit code 1 (FAILED) every third one, and still running
 * the last one when keep_last. */
static void run_leases(scheduler *s, int tag, int n, int keep_last)
{
    kerror err;
    kerror_clear(&err);
    for (int i = 0; i < n; i++, tag++) {
        lease_tag(s, tag);
        char line[64];
        for (int step = 1; step <= 3; step++) {
            snprintf(line, sizeof line, "{\"step\": %d, \"loss\": %g}", step, 1.0 / (step + tag));
            ck_assert_int_eq(scheduler_remote_line(s, tag, line, &err), KE_OK);
        }
        if (keep_last && i == n - 1) break;
        snprintf(line, sizeof line, "{\"loss\": %g}", 0.1 * tag);
        ck_assert_int_eq(scheduler_remote_line(s, tag, line, &err), KE_OK);
        runner_event ev = {.kind = RUNNER_EXIT, .exited = 1, .exit_code = tag % 3 == 0};
        ck_assert_int_eq(scheduler_remote_exit(s, tag, &ev, NULL, NULL, &err), KE_OK);
    }
}

/* A pruned trial goes on for up to run.kill_grace after the decision, and
 * may report meanwhile (a worker's lines in flight, or a trainer that
 * writes its state on SIGTERM): its record is that of the report the
 * decision was made on, step, value, curve and metrics, not whatever came
 * last ("pruned at step 3" and the value of step 3 were stored for a
 * decision at step 1, a value the pruner never judged). */
START_TEST(a_pruned_trial_is_recorded_at_the_report_it_was_pruned_on)
{
    static const char text[] =
        "{\"name\": \"prune\", \"objective\": {\"metric\": \"loss\", \"direction\": \"minimize\"},"
        " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}},"
        " \"strategy\": {\"name\": \"random\", \"seed\": 1},"
        " \"pruner\": {\"name\": \"median\", \"options\": {\"min_trials\": 1}},"
        " \"budget\": {\"max_trials\": 2, \"max_parallel\": 1},"
        " \"run\": {\"command\": [\"true\"]}}";
    static const char *const first[] = {"{\"step\": 1, \"loss\": 0.1}",
                                        "{\"step\": 2, \"loss\": 0.1}", "{\"loss\": 0.1}", NULL};
    /* pruned at step 1 (5 is worse than the median, 0.1); the rest comes
     * during its grace */
    static const char *const second[] = {"{\"step\": 1, \"loss\": 5, \"acc\": 0.2}",
                                         "{\"step\": 2, \"loss\": 0.05, \"acc\": 0.9}",
                                         "{\"loss\": 0.01, \"acc\": 0.95}", NULL};
    kerror err;
    kerror_clear(&err);
    spec_study spec;
    storage *st;
    scheduler_opts o;
    scheduler *s = open_for_workers(text, &spec, &st, &o);
    lease_lines_exit(s, 1, first, &(runner_event){.kind = RUNNER_EXIT, .exited = 1}, NULL);
    lease_lines_exit(s, 2, second, &(runner_event){.kind = RUNNER_EXIT, .signaled = 1,
                                                  .signal = SIGTERM}, NULL);
    storage_trial t;
    ck_assert_int_eq(storage_trial_get(st, scheduler_study_id(s), 1, &t, &err), KE_OK);
    ck_assert_int_eq(t.state, TRIAL_PRUNED);
    ck_assert_str_eq(t.failure, "pruned at step 1");
    ck_assert(t.has_value);
    ck_assert_double_eq(t.value, 5);
    ck_assert_int_eq(t.last_step, 1);
    storage_value *v;
    int n;
    ck_assert_int_eq(storage_trial_values(st, t.id, &v, &n, &err), KE_OK);
    ck_assert_int_eq(n, 2);   /* acc and loss of step 1 */
    for (int i = 0; i < n; i++) ck_assert_int_eq(v[i].step, 1);
    storage_values_free(v, n);
    storage_metric *m;
    ck_assert_int_eq(storage_trial_metrics(st, t.id, &m, &n, &err), KE_OK);
    ck_assert_int_eq(n, 2);
    for (int i = 0; i < n; i++)
        ck_assert_double_eq(m[i].value, strcmp(m[i].name, "loss") ? 0.2 : 5);
    storage_metrics_free(m, n);
    /* the history the strategy and the pruner see is the stored one */
    ck_assert_int_eq(s->hist.t[1].n_steps, 1);
    assert_history_as_stored(s, st, &spec);
    storage_trial_free(&t);
    close_for_workers(s, st, &spec);
}
END_TEST

START_TEST(live_history_is_the_one_a_resumed_study_loads)
{
    static const char fmt[] =
        "{\"name\": \"same\", \"objective\": {\"metric\": \"loss\", \"direction\": \"maximize\"},"
        " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1},"
        " \"c\": {\"type\": \"categorical\", \"choices\": [%s]}},"
        " \"strategy\": {\"name\": \"random\", \"seed\": 3}, \"pruner\": {\"name\": \"median\"},"
        " \"budget\": {\"max_trials\": 30, \"max_parallel\": 4},"
        " \"run\": {\"command\": [\"true\"]}}";
    char text[1024];
    snprintf(text, sizeof text, fmt, "\"a\", \"b\", \"c\"");
    kerror err;
    kerror_clear(&err);
    spec_study spec;
    storage *st;
    scheduler_opts o;
    scheduler *s = open_for_workers(text, &spec, &st, &o);
    run_leases(s, 1, 8, 1);
    assert_history_as_stored(s, st, &spec);
    scheduler_stop(s, "test over");
    while (scheduler_step(s, 0, &err) > 0) {}
    scheduler_close(s);
    spec_free(&spec);

    /* the choice "c" dropped: the trials that took it are foreign */
    snprintf(text, sizeof text, fmt, "\"a\", \"b\"");
    ck_assert_int_eq(spec_parse(&spec, text, &err), KE_OK);
    o.force = 1;
    ck_assert_msg(scheduler_open(&s, st, &spec, &o, &err) == KE_OK, "%s", err.msg);
    scheduler_set_parallel(s, 0);
    int foreign = 0;
    for (int k = 0; k < s->hist.n; k++) foreign += s->hist.t[k].foreign;
    ck_assert_int_gt(foreign, 0);
    ck_assert_int_lt(foreign, s->hist.n);
    run_leases(s, 101, 7, 1);
    assert_history_as_stored(s, st, &spec);
    close_for_workers(s, st, &spec);
}
END_TEST

/* A parameter added with --force: the trials that ran before it have no
 * value for it, so none is retried or promoted with one it never had (a
 * failed trial's retry ran with w = 0, outside [5, 6], and its command got
 * "0"), nor seen by the strategy at 0. */
START_TEST(trials_before_an_added_parameter_are_left_out)
{
    static const char fmt[] =
        "{\"name\": \"grown\", \"objective\": {\"metric\": \"loss\", \"direction\": \"minimize\"},"
        " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}%s},"
        " \"strategy\": {\"name\": \"random\", \"seed\": 3},"
        " \"budget\": {\"max_trials\": 4, \"max_parallel\": 1, \"max_retries\": 1},"
        " \"run\": {\"command\": [\"true\"]}}";
    char text[1024];
    snprintf(text, sizeof text, fmt, "");
    spec_study spec;
    storage *st;
    scheduler_opts o;
    scheduler *s = open_for_workers(text, &spec, &st, &o);
    run_leases(s, 1, 3, 0);   /* the third (tag 3) fails */
    ck_assert_int_eq(s->hist.t[2].state, TRIAL_FAILED);
    close_for_workers(s, st, &spec);

    snprintf(text, sizeof text, fmt, ", \"w\": {\"type\": \"float\", \"low\": 5, \"high\": 6}");
    s = open_study_as(text, &spec, &st, &o, 1, 1);
    scheduler_set_parallel(s, 0);
    int w = space_find(&spec.space, "w");
    lease_tag(s, 10);
    const sched_trial *t = &s->hist.t[3];
    ck_assert_msg(t->retry_of == -1 && t->point.x[w] >= 5 && t->point.x[w] <= 6,
                  "trial 3: retry_of %d, w = %g", t->retry_of, t->point.x[w]);
    for (int k = 0; k < 3; k++) ck_assert_msg(s->hist.t[k].foreign, "trial %d", k);
    close_for_workers(s, st, &spec);
}
END_TEST

/* ASHA whose trials workers run: once the fresh budget is spent, a step
 * between a trial's end and the next lease must not end the study while a
 * promotion is due (kestrel run, whose own slots launch it, ran it; kestrel
 * serve with workers ended the study whenever its tick came first). */
START_TEST(promotion_due_keeps_a_workers_study_running)
{
    static const char text[] =
        "{\"name\": \"asha\", \"objective\": {\"metric\": \"loss\", \"direction\": \"minimize\"},"
        " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}},"
        " \"strategy\": {\"name\": \"asha\", \"seed\": 1,"
        " \"options\": {\"max_resource\": 3, \"eta\": 3}},"
        " \"budget\": {\"max_trials\": 3, \"max_parallel\": 3},"
        " \"run\": {\"command\": [\"true\"]}}";
    kerror err;
    kerror_clear(&err);
    spec_study spec;
    storage *st;
    scheduler_opts o;
    scheduler *s = open_for_workers(text, &spec, &st, &o);
    for (int tag = 1; tag <= 3; tag++) ck_assert_int_eq(lease_tag(s, tag).trial->budget, 1);
    for (int tag = 1; tag <= 3; tag++) {
        char line[64];
        snprintf(line, sizeof line, "{\"loss\": %d}", 4 - tag);
        runner_event ev = {.kind = RUNNER_EXIT, .exited = 1};
        ck_assert_int_eq(scheduler_remote_line(s, tag, line, &err), KE_OK);
        ck_assert_int_eq(scheduler_remote_exit(s, tag, &ev, NULL, NULL, &err), KE_OK);
    }
    ck_assert_msg(scheduler_step(s, 0, &err) > 0, "the study ended: %s", err.msg);
    scheduler_remote rem = lease_tag(s, 4);
    ck_assert_int_eq(rem.trial->resumed_from, 2);
    ck_assert_int_eq(rem.trial->budget, 3);
    runner_event ev = {.kind = RUNNER_EXIT, .exited = 1};
    ck_assert_int_eq(scheduler_remote_line(s, 4, "{\"loss\": 0.5}", &err), KE_OK);
    ck_assert_int_eq(scheduler_remote_exit(s, 4, &ev, NULL, NULL, &err), KE_OK);
    /* nothing more to promote: the study completes */
    close_completed(s, st, &spec);
}
END_TEST

/* dir/ and then ww.../ (200 w's) n times, no slash at the end. */
static void long_path(char *buf, size_t size, int n)
{
    size_t len = (size_t)snprintf(buf, size, "%s", dir);
    for (int i = 0; i < n; i++) {
        buf[len++] = '/';
        memset(buf + len, 'w', 200);
        len += 200;
    }
    buf[len] = '\0';
    ck_assert_uint_lt(len, size);
}

/* Whether dir holds anything but k.db and its -wal and -shm. */
static int dir_has_other(void)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int other = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        other |= e->d_name[0] != '.' && strncmp(e->d_name, "k.db", 4) != 0;
    closedir(d);
    return other;
}

/* A path past PATH_MAX was cut to its 4096-byte buffer, and the folders
 * were made at what was left: another path than the trial's. */
START_TEST(a_trial_folder_path_too_long_is_refused_and_nothing_made)
{
    char path[8192];
    kerror err;
    kerror_clear(&err);
    long_path(path, sizeof path, 21);
    strcat(path, "/s/0");
    ck_assert_int_eq(sched_dir_make(path, &err), KE_INVALID);
    ck_assert_msg(strstr(err.msg, "too long"), "%s", err.msg);
    ck_assert(!dir_has_other());
    /* a work folder of 4092 characters: WORK/s fits, WORK/s/0 does not */
    char work[4200];
    long_path(work, sizeof work, 20);
    size_t len = strlen(work);
    memset(work + len, 'x', 4092 - len);
    work[4092] = '\0';
    spec_study spec;
    storage *st;
    ck_assert_msg(spec_parse(&spec, "{\"name\": \"s\", \"objective\": {\"metric\": \"loss\"},"
                             " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}},"
                             " \"strategy\": {\"name\": \"random\"}, \"budget\": {\"max_trials\": 1},"
                             RUN_LOSS_1, &err) == KE_OK, "%s", err.msg);
    ck_assert_int_eq(storage_open(&st, db, &err), KE_OK);
    scheduler_opts o = {.db_path = db, .self_exe = "kestrel", .work_dir = work, .cores = 1};
    scheduler *s;
    ck_assert_msg(scheduler_open(&s, st, &spec, &o, &err) == KE_OK, "%s", err.msg);
    int rc;
    while ((rc = scheduler_step(s, 1000, &err)) > 0)
        ;
    ck_assert_msg(rc == 0, "%s", err.msg);
    scheduler_close(s);
    storage_trial t;
    ck_assert_int_eq(storage_trial_get(st, 1, 0, &t, &err), KE_OK);
    ck_assert_int_eq(t.state, TRIAL_FAILED);
    ck_assert_msg(t.failure && strstr(t.failure, "too long"), "%s", t.failure ? t.failure : "");
    storage_trial_free(&t);
    ck_assert(!dir_has_other());
    storage_close(st);
    spec_free(&spec);
}
END_TEST

static Suite *scheduler_suite(void)
{
    Suite *s = suite_create("scheduler");
    TCase *tc = sched_tcase();
    tcase_add_test(tc, storage_failure_with_two_exits_in_one_poll);
    tcase_add_test(tc, force_on_a_locked_study_keeps_its_spec);
    tcase_add_test(tc, checkpoints_kept_for_the_best_only);
    tcase_add_test(tc, huge_time_limits_are_no_limit);
    tcase_add_test(tc, leases_asking_at_once_share_one_suggestion_batch);
    tcase_add_test(tc, best_is_the_first_of_equals_whatever_order_they_end_in);
    tcase_add_test(tc, malformed_report_lines_are_noted_in_the_trial_record);
    tcase_add_test(tc, live_history_is_the_one_a_resumed_study_loads);
    tcase_add_test(tc, trials_before_an_added_parameter_are_left_out);
    tcase_add_test(tc, promotion_due_keeps_a_workers_study_running);
    tcase_add_test(tc, a_pruned_trial_is_recorded_at_the_report_it_was_pruned_on);
    tcase_add_test(tc, a_trial_folder_path_too_long_is_refused_and_nothing_made);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(scheduler_suite());
}
