/* scheduler_fixture: what the scheduler tests (test_scheduler,
 * test_scheduler_enqueue) share: a temp folder with a database per test
 * (setup/teardown for Check fixtures), SQL run on it through a separate
 * connection, a study opened on it (run by the scheduler's own slots or
 * leased by workers), and a study run to its end. */
#ifndef KESTREL_SCHEDULER_FIXTURE_H
#define KESTREL_SCHEDULER_FIXTURE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "../src/scheduler.h"

static char dir[64], db[128];

static inline void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/kestrel-sched-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/k.db", dir);
}

static inline void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static inline void sql(const char *text)
{
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    char *msg = NULL;
    int rc = sqlite3_exec(h, text, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", text, msg ? msg : "");
    sqlite3_close(h);
}

static char trials_dir[192];

/* Parses spec_text into *spec, opens the test database into *st and a
 * scheduler over both with options *o (trial folders in dir/trials; cores
 * to divide), which a test may reopen it with. */
/* open_study; with force, as kestrel run --force, whatever the stored spec. */
static inline scheduler *open_study_as(const char *spec_text, spec_study *spec, storage **st,
                                scheduler_opts *o, int cores, int force)
{
    kerror err;
    kerror_clear(&err);
    snprintf(trials_dir, sizeof trials_dir, "%s/trials", dir);
    ck_assert_msg(spec_parse(spec, spec_text, &err) == KE_OK, "%s", err.msg);
    ck_assert_int_eq(storage_open(st, db, &err), KE_OK);
    *o = (scheduler_opts){.db_path = db, .self_exe = "kestrel", .work_dir = trials_dir, .cores = cores,
                          .force = force};
    scheduler *s;
    ck_assert_msg(scheduler_open(&s, *st, spec, o, &err) == KE_OK, "%s", err.msg);
    return s;
}

static inline scheduler *open_study(const char *spec_text, spec_study *spec, storage **st,
                             scheduler_opts *o, int cores)
{
    return open_study_as(spec_text, spec, st, o, cores, 0);
}

/* open_study for a study whose trials workers run (none runs here). */
static inline scheduler *open_for_workers(const char *spec_text, spec_study *spec, storage **st,
                                   scheduler_opts *o)
{
    scheduler *s = open_study(spec_text, spec, st, o, 1);
    scheduler_set_parallel(s, 0);
    return s;
}

/* Stops s, lets its runs end, and closes it with its storage and spec. */
static inline void close_for_workers(scheduler *s, storage *st, spec_study *spec)
{
    kerror err;
    kerror_clear(&err);
    scheduler_stop(s, "test over");
    while (scheduler_step(s, 0, &err) > 0) {}
    scheduler_close(s);
    storage_close(st);
    spec_free(spec);
}

/* Leases one trial under tag, as a worker "w" would. */
static inline scheduler_remote lease_tag(scheduler *s, int tag)
{
    kerror err;
    kerror_clear(&err);
    scheduler_remote rem = {.tag = tag, .worker = "w", .batch = 1};
    ck_assert_msg(scheduler_lease(s, &rem, &err) == KE_OK, "%s", err.msg);
    ck_assert_int_eq(rem.leased, 1);
    return rem;
}

/* "run" of a trial that reports loss 1 (the braces in octal: a brace in
 * the command is a placeholder), to end a spec with. */
#define RUN_LOSS_1 \
    " \"run\": {\"command\": [\"sh\", \"-c\", \"printf '\\\\173\\\"loss\\\": 1\\\\175\\\\n'\"]}}"

/* Runs the study of spec_text to its end on one core (force: as
 * open_study_as); its status in *ss. */
static inline void run_to_end(const char *spec_text, int force, scheduler_status *ss)
{
    kerror err;
    spec_study spec;
    storage *st;
    scheduler_opts o;
    scheduler *s = open_study_as(spec_text, &spec, &st, &o, 1, force);
    int rc;
    while ((rc = scheduler_step(s, 1000, &err)) > 0)
        ;
    ck_assert_msg(rc == 0, "%s", err.msg);
    scheduler_get_status(s, ss);
    scheduler_close(s);
    storage_close(st);
    spec_free(&spec);
}

/* Steps s, which must end its study COMPLETE, and closes it with its
 * storage and spec. */
static inline void close_completed(scheduler *s, storage *st, spec_study *spec)
{
    kerror err;
    kerror_clear(&err);
    ck_assert_int_eq(scheduler_step(s, 0, &err), 0);
    scheduler_status ss;
    scheduler_get_status(s, &ss);
    ck_assert(ss.completed);
    scheduler_close(s);
    storage_close(st);
    spec_free(spec);
}

/* The test case every scheduler test program adds its tests to: each test
 * in a fresh folder (setup, teardown). */
static inline TCase *sched_tcase(void)
{
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    return tc;
}

#endif
