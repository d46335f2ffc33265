/* Tests for the scheduler's enqueued configurations (kestrel enqueue, a
 * spec's "enqueue"): under random, grid and Hyperband, enqueued before a
 * run, after a study ended, or while it waits on its running trials; a real
 * study in a real SQLite history, real child processes or leases as a
 * worker's. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "check_main.h"
#include "../src/enqueue.h"
#include "../src/sched_trial.h"
#include "../src/scheduler.h"
#include "scheduler_fixture.h"

/* An enqueued configuration takes a fresh trial's place without the
 * strategy making the suggestion it replaces (under GP, a model fit each):
 * 4 trials, 2 of them enqueued, cost 2 suggestions. */
START_TEST(enqueued_configurations_ask_the_strategy_nothing)
{
    scheduler_status ss;
    run_to_end("{\"name\": \"enq\", \"objective\": {\"metric\": \"loss\", \"direction\": \"minimize\"},"
               " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}},"
               " \"strategy\": {\"name\": \"random\", \"seed\": 1},"
               " \"enqueue\": [{\"x\": 0.25}, {\"x\": 0.5}],"
               " \"budget\": {\"max_trials\": 4, \"max_parallel\": 1}," RUN_LOSS_1, 0, &ss);
    ck_assert_int_eq(ss.n_trials, 4);
    ck_assert_int_eq(ss.n_complete, 4);
    ck_assert_int_eq(ss.n_suggested, 2);
}
END_TEST

/* Under grid an enqueued configuration comes on top of the grid: every grid
 * point still runs (the grid's index counts the trials it suggested, not the
 * enqueued one), so 3 points and 1 enqueued make 4 trials. */
START_TEST(grid_runs_every_point_beside_an_enqueued_configuration)
{
    scheduler_status ss;
    run_to_end("{\"name\": \"gridq\", \"objective\": {\"metric\": \"loss\", \"direction\": \"minimize\"},"
               " \"space\": {\"x\": {\"type\": \"int\", \"low\": 1, \"high\": 3}},"
               " \"strategy\": {\"name\": \"grid\"}, \"enqueue\": [{\"x\": 2}],"
               " \"budget\": {\"max_trials\": 10, \"max_parallel\": 1}," RUN_LOSS_1, 0, &ss);
    ck_assert_int_eq(ss.n_trials, 4);
    ck_assert_int_eq(ss.n_complete, 4);
    sqlite3 *q;
    sqlite3_stmt *stmt;
    ck_assert_int_eq(sqlite3_open(db, &q), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(q, "SELECT group_concat(x, ' ') FROM (SELECT CAST(p.value_num "
                                           "AS INTEGER) AS x FROM trials t JOIN trial_params p ON "
                                           "p.trial_id = t.id WHERE t.enqueued_id IS NULL ORDER BY x)",
                                        -1, &stmt, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 0), "1 2 3");
    sqlite3_finalize(stmt);
    sqlite3_close(q);
}
END_TEST

/* A grid that has run every point, with budget.max_trials to spare, still
 * runs a configuration enqueued afterwards: the next run of the study runs
 * it (it ran none, "nothing left to run", because the grid was done). */
/* Runs the study of spec (a format whose %s takes its "enqueue" entry) to
 * its end, n_before trials, then again with enqueue, one trial more. */
static void run_again_with_enqueued(const char *spec, const char *enqueue, int n_before)
{
    char text[1024];
    scheduler_status ss;
    snprintf(text, sizeof text, spec, "");
    run_to_end(text, 0, &ss);
    ck_assert_int_eq(ss.n_trials, n_before);
    snprintf(text, sizeof text, spec, enqueue);
    run_to_end(text, 0, &ss);
    ck_assert_int_eq(ss.n_trials, n_before + 1);
    ck_assert_int_eq(ss.n_complete, n_before + 1);
    ck_assert(ss.completed);
}

START_TEST(finished_grid_runs_a_later_enqueued_configuration)
{
    run_again_with_enqueued(
        "{\"name\": \"gridl\", \"objective\": {\"metric\": \"loss\", \"direction\": \"minimize\"},"
        " \"space\": {\"x\": {\"type\": \"int\", \"low\": 1, \"high\": 3}},"
        " \"strategy\": {\"name\": \"grid\"}, %s"
        " \"budget\": {\"max_trials\": 10, \"max_parallel\": 1}," RUN_LOSS_1,
        "\"enqueue\": [{\"x\": 2}],", 3);
}
END_TEST

/* The budgets of the trials numbered past after, by number, each followed
 * by 'p' when a promotion and 'e' when it ran an enqueued configuration,
 * are want. */
static void assert_budgets(int after, const char *want)
{
    sqlite3 *q;
    sqlite3_stmt *stmt;
    ck_assert_int_eq(sqlite3_open(db, &q), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(q, "SELECT group_concat(budget || (CASE WHEN resumed_from IS "
                                           "NULL THEN '' ELSE 'p' END) || (CASE WHEN enqueued_id IS "
                                           "NULL THEN '' ELSE 'e' END), ' ') FROM (SELECT * FROM "
                                           "trials WHERE number > ?1 ORDER BY number)", -1, &stmt,
                                        NULL),
                     SQLITE_OK);
    sqlite3_bind_int(stmt, 1, after);
    ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 0), want);
    sqlite3_finalize(stmt);
    sqlite3_close(q);
}

/* Hyperband whose last bracket has ended, with budget.max_trials to spare,
 * runs a configuration enqueued afterwards at its full budget (R) the next
 * time the study runs: it stayed pending while the study completed again,
 * for good, since Hyperband suggests nothing after its last round. R = 3,
 * eta = 3: brackets of 3 @ 1 -> 1 @ 3 and 2 @ 3, 5 configurations. */
/* The study of these tests (%s: its "enqueue" entry), and what it enqueues. */
#define HB_LATE(rounds, max_trials) \
    "{\"name\": \"hbl\", \"objective\": {\"metric\": \"loss\", \"direction\": \"minimize\"}," \
    " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}}," \
    " \"strategy\": {\"name\": \"hyperband\", \"seed\": 1," \
    " \"options\": {\"max_resource\": 3, \"eta\": 3, \"rounds\": " #rounds "}}, %s" \
    " \"budget\": {\"max_trials\": " #max_trials ", \"max_parallel\": 1}," RUN_LOSS_1
#define HB_LATE_ENQUEUE "\"enqueue\": [{\"x\": 0.25}],"

START_TEST(finished_hyperband_runs_a_later_enqueued_configuration_at_full_budget)
{
    run_again_with_enqueued(HB_LATE(1, 10), HB_LATE_ENQUEUE, 6);
    sqlite3 *q;
    sqlite3_stmt *stmt;
    ck_assert_int_eq(sqlite3_open(db, &q), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(q, "SELECT number, budget, resumed_from IS NULL FROM trials "
                                           "WHERE enqueued_id IS NOT NULL", -1, &stmt, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(stmt, 0), 6);
    ck_assert_int_eq(sqlite3_column_int(stmt, 1), 3);
    ck_assert_int_eq(sqlite3_column_int(stmt, 2), 1);
    ck_assert_int_eq(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
    sqlite3_close(q);
}
END_TEST

/* The study above run again with --force and a second round: its trial of
 * the enqueued configuration at full budget (trial 6, R = 3) is in no
 * bracket, so round 2 runs as round 1 did, 3 fresh configurations at 1, the
 * best promoted to 3, then 2 at 3: 6 trials. It took the first bracket's
 * first place, at its bottom rung with budget 3: only 2 fresh ones at 1. */
START_TEST(a_full_budget_trial_is_in_no_bracket_of_a_later_round)
{
    run_again_with_enqueued(HB_LATE(1, 10), HB_LATE_ENQUEUE, 6);
    char text[1024];
    snprintf(text, sizeof text, HB_LATE(2, 20), HB_LATE_ENQUEUE);
    scheduler_status ss;
    run_to_end(text, 1, &ss);
    ck_assert_int_eq(ss.n_trials, 13);
    ck_assert(ss.completed);
    assert_budgets(6, "1 1 1 3p 3 3");   /* round 2's trials */
}
END_TEST

/* Ends the remote trial under tag with the final loss 1 / tag. */
static void end_tag(scheduler *s, int tag)
{
    kerror err;
    kerror_clear(&err);
    char line[64];
    snprintf(line, sizeof line, "{\"loss\": %g}", 1.0 / tag);
    runner_event ev = {.kind = RUNNER_EXIT, .exited = 1};
    ck_assert_int_eq(scheduler_remote_line(s, tag, line, &err), KE_OK);
    ck_assert_msg(scheduler_remote_exit(s, tag, &ev, NULL, NULL, &err) == KE_OK, "%s", err.msg);
}

/* s, whose strategy has nothing to start now (a lease gets nothing, none
 * startable), is given conf (taken) by another connection, as `kestrel
 * enqueue` would: scheduler_startable counts it. */
static void enqueue_while_none_startable(scheduler *s, const spec_study *spec, json_t *conf)
{
    kerror err;
    kerror_clear(&err);
    scheduler_remote rem = {.tag = 99, .worker = "w", .batch = 1};
    ck_assert_int_eq(scheduler_lease(s, &rem, &err), KE_OK);
    ck_assert_int_eq(rem.leased, 0);
    ck_assert_int_eq(scheduler_enqueued_refresh(s, &err), KE_OK);
    ck_assert_int_eq(scheduler_startable(s), 0);
    storage *other;
    ck_assert_int_eq(storage_open(&other, db, &err), KE_OK);
    int added;
    ck_assert_msg(enqueue_add(other, scheduler_study_id(s), &spec->space, conf, "", "cli", &added,
                              &err) == KE_OK, "%s", err.msg);
    json_decref(conf);
    storage_close(other);
    ck_assert_int_eq(scheduler_enqueued_refresh(s, &err), KE_OK);
    ck_assert_int_eq(scheduler_startable(s), 1);
}

/* Hyperband with nothing to start before its running trials end (a rung
 * filling, the last bracket's last trials) starts a configuration enqueued
 * meanwhile, by another connection, in a free slot at once, at the budget
 * of the fresh place it takes (the next bracket's bottom rung; none left:
 * max_resource, in no bracket), and scheduler_startable counts it: it
 * waited for the running trials to end, counted nowhere. The bracket it
 * joined runs one configuration fewer. R = 9, eta = 3: 9 @ 1 -> 3 @ 3 ->
 * 1 @ 9, then 5 @ 3 -> 1 @ 9, then 3 @ 9; R = 3: 3 @ 1 -> 1 @ 3, 2 @ 3. */
static void hyperband_waiting_runs_enqueued(int R, int n_first, int n_end_first, double x,
                                            int budget, const char *budgets)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"name\": \"hbw\", \"objective\": {\"metric\": \"loss\", \"direction\": \"minimize\"},"
             " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}},"
             " \"strategy\": {\"name\": \"hyperband\", \"seed\": 1,"
             " \"options\": {\"max_resource\": %d, \"eta\": 3}},"
             " \"budget\": {\"max_trials\": 30, \"max_parallel\": 12},"
             " \"run\": {\"command\": [\"true\"]}}", R);
    kerror err;
    kerror_clear(&err);
    spec_study spec;
    storage *st;
    scheduler_opts o;
    scheduler *s = open_for_workers(text, &spec, &st, &o);
    int tag = 1;
    /* the trials ended first, one at a time, then those left running */
    for (; tag <= n_end_first; tag++) {
        lease_tag(s, tag);
        end_tag(s, tag);
    }
    for (; tag <= n_first; tag++) lease_tag(s, tag);
    enqueue_while_none_startable(s, &spec, json_pack("{s:f}", "x", x));
    scheduler_remote rem = lease_tag(s, 100);
    ck_assert_int_eq(rem.trial->number, n_first);
    ck_assert_int_eq(rem.trial->budget, budget);
    ck_assert_double_eq(rem.trial->point.x[0], x);
    /* the rest of the study, one trial at a time */
    for (int t = n_end_first + 1; t <= n_first; t++) end_tag(s, t);
    end_tag(s, 100);
    for (tag = 101;; tag++) {
        rem = (scheduler_remote){.tag = tag, .worker = "w", .batch = 1};
        ck_assert_int_eq(scheduler_lease(s, &rem, &err), KE_OK);
        if (!rem.leased) break;
        end_tag(s, tag);
    }
    close_completed(s, st, &spec);
    assert_budgets(-1, budgets);
}

START_TEST(hyperband_waiting_for_a_rung_starts_an_enqueued_configuration_at_once)
{
    hyperband_waiting_runs_enqueued(9, 9, 0, 0.25, 3,
                                    "1 1 1 1 1 1 1 1 1 3e 3p 3p 3p 9p 3 3 3 3 9p 9 9 9");
}
END_TEST

START_TEST(hyperband_in_its_last_trials_starts_an_enqueued_configuration_at_once)
{
    hyperband_waiting_runs_enqueued(3, 6, 4, 0.25, 3, "1 1 1 3p 3 3 3e");
}
END_TEST

/* The count of enqueued configurations that scheduler_startable adds
 * stays a lower bound when it cannot be read again: a launch takes the one
 * it ran off it. It kept the count from before the launch, so with the
 * enqueued table unreadable (renamed by another connection) a grid whose
 * only enqueued configuration had started still said 1 startable, and the
 * service's share kept it a slot it could not fill. */
START_TEST(an_unreadable_enqueued_count_keeps_no_started_one)
{
    static const char text[] =
        "{\"name\": \"gride\", \"objective\": {\"metric\": \"loss\", \"direction\": \"minimize\"},"
        " \"space\": {\"x\": {\"type\": \"int\", \"low\": 1, \"high\": 3}},"
        " \"strategy\": {\"name\": \"grid\"},"
        " \"budget\": {\"max_trials\": 10, \"max_parallel\": 8},"
        " \"run\": {\"command\": [\"true\"]}}";
    kerror err;
    kerror_clear(&err);
    spec_study spec;
    storage *st;
    scheduler_opts o;
    scheduler *s = open_for_workers(text, &spec, &st, &o);
    for (int tag = 1; tag <= 3; tag++) lease_tag(s, tag);
    enqueue_while_none_startable(s, &spec, json_pack("{s:i}", "x", 2));
    ck_assert(lease_tag(s, 4).trial->enqueued);
    sql("ALTER TABLE enqueued RENAME TO enqueued_away");
    ck_assert_int_ne(scheduler_enqueued_refresh(s, &err), KE_OK);
    ck_assert_int_eq(scheduler_startable(s), 0);
    sql("ALTER TABLE enqueued_away RENAME TO enqueued");
    ck_assert_int_eq(scheduler_enqueued_refresh(s, &err), KE_OK);
    ck_assert_int_eq(scheduler_startable(s), 0);
    close_for_workers(s, st, &spec);
}
END_TEST

static Suite *scheduler_enqueue_suite(void)
{
    Suite *s = suite_create("scheduler_enqueue");
    TCase *tc = sched_tcase();
    tcase_add_test(tc, enqueued_configurations_ask_the_strategy_nothing);
    tcase_add_test(tc, grid_runs_every_point_beside_an_enqueued_configuration);
    tcase_add_test(tc, finished_grid_runs_a_later_enqueued_configuration);
    tcase_add_test(tc, finished_hyperband_runs_a_later_enqueued_configuration_at_full_budget);
    tcase_add_test(tc, a_full_budget_trial_is_in_no_bracket_of_a_later_round);
    tcase_add_test(tc, hyperband_waiting_for_a_rung_starts_an_enqueued_configuration_at_once);
    tcase_add_test(tc, hyperband_in_its_last_trials_starts_an_enqueued_configuration_at_once);
    tcase_add_test(tc, an_unreadable_enqueued_count_keeps_no_started_one);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(scheduler_enqueue_suite());
}
