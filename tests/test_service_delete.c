/* test_service_delete: the DELETE of a study that `kestrel serve` does not
 * run itself (svc_delete_inactive, what DELETE /api/v1/studies/NAME comes
 * to), on a real history and real trial folders, while another kestrel
 * process changes the study between the engine's first read of it and its
 * lock: more trials, another --work-dir, the study deleted, or deleted and
 * made anew. The point is chosen, not timed: a trace hook, set on every
 * connection as it opens (sqlite3_auto_extension), makes the change once
 * the engine's read by name has its row (SQLITE_TRACE_ROW: the read keeps
 * what it saw, as a read finished before the change would). And the
 * DELETE of a study the server runs: whether another process could take
 * its lock as its rows are deleted (SQLITE_TRACE_STMT at the DELETE). */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check_main.h"
#include "storage_fixture.h"
#include "../src/lock.h"
#include "../src/sched_dir.h"
#include "../src/service_studies.h"

/* What the other process does once the engine read the study "s". */
typedef enum { MORE_TRIALS, NEW_WORK_DIR, DELETED, MADE_ANEW } meanwhile;

static int armed;               /* the change is still to come */
static meanwhile change;
static char trials_dir[256];    /* history.db.trials */
static char other_dir[256];     /* the --work-dir of the other run */

/* dir/s/number, made as a trial of the study made it. */
static void trial_folder(const char *work, int number)
{
    char path[400];
    snprintf(path, sizeof path, "%s/s/%d", work, number);
    kerror e;
    ck_assert_msg(sched_dir_make(path, &e) == KE_OK, "%s", e.msg);
}

static int exists(const char *work, const char *sub)
{
    char path[400];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", work, sub);
    return lstat(path, &sb) == 0;
}

/* The other process's run (or delete), through a connection of its own. */
static void other_process(void)
{
    storage *other;
    kerror e;
    ck_assert_int_eq(storage_open(&other, db_path, &e), KE_OK);
    storage_study s;
    ck_assert_msg(storage_study_get(other, "s", &s, &e) == KE_OK, "%s", e.msg);
    storage *mine = st;
    st = other;     /* the fixture's helpers write through st */
    if (change == MORE_TRIALS) {
        int number;
        new_trial(s.id, &number);
        trial_folder(trials_dir, number);
    } else if (change == NEW_WORK_DIR) {
        int number;
        ck_assert_int_eq(storage_study_set_work_dir(other, s.id, other_dir, &e), KE_OK);
        new_trial(s.id, &number);
        trial_folder(other_dir, number);
    } else {
        ck_assert_int_eq(storage_study_delete(other, s.id, &e), KE_OK);
        if (change == MADE_ANEW) new_study("s", 0);
    }
    st = mine;
    storage_study_free(&s);
    storage_close(other);
}

/* A study the server runs, deleted: as its rows' DELETE starts, whether
 * another process (a `kestrel run` of it) could take its lock then. */
static int64_t lock_at_delete;  /* the study's id; 0: not looked at */
static int other_lock = 1;      /* lock_study's code then; 1: not tried */

static void try_the_lock(void)
{
    lock_handle h = {.fd = -1};
    kerror e;
    other_lock = lock_study(&h, db_path, lock_at_delete, &e);
    lock_release(&h);
    lock_at_delete = 0;
}

static int on_trace(unsigned type, void *ctx, void *stmt, void *unused)
{
    (void)ctx;
    (void)unused;
    const char *text = sqlite3_sql(stmt);
    if (!text) return 0;
    if (type == SQLITE_TRACE_STMT) {
        if (lock_at_delete && strstr(text, "DELETE FROM studies")) try_the_lock();
        return 0;
    }
    if (!armed || !strstr(text, "WHERE s.name = ?1")) return 0;
    armed = 0;      /* before the other process's own reads */
    other_process();
    return 0;
}

static int trace_connection(sqlite3 *db, char **msg, const void *api)
{
    (void)msg;
    (void)api;
    sqlite3_trace_v2(db, SQLITE_TRACE_ROW | SQLITE_TRACE_STMT, on_trace, NULL);
    return SQLITE_OK;
}

static service *sv;

/* A history with study "s" of one trial, whose folder is made, and the
 * engine of a `kestrel serve` on it (this thread is its engine thread). */
static void serve_one_study(meanwhile what)
{
    snprintf(trials_dir, sizeof trials_dir, "%s.trials", db_path);
    snprintf(other_dir, sizeof other_dir, "%s/elsewhere", dir);
    open_db();
    int number;
    new_trial(new_study("s", 0), &number);
    trial_folder(trials_dir, number);
    storage_close(st);
    st = NULL;
    ck_assert_int_eq(sqlite3_auto_extension((void (*)(void))(void *)trace_connection), SQLITE_OK);
    service_opts o = {.db_path = db_path};
    ck_assert_msg(service_open(&sv, &o, &err) == KE_OK, "%s", err.msg);
    change = what;
    armed = 1;
}

static void stop_serving(void)
{
    service_close(sv);
    sv = NULL;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", trials_dir, other_dir);
    ck_assert_int_eq(system(cmd), 0);
    teardown();
}

/* The study ran one more trial between the read and the lock: DELETE
 * removed both rows but left trial 1's folder (it removed the n_trials
 * folders the first read counted). */
START_TEST(trials_run_meanwhile_lose_their_folders)
{
    serve_one_study(MORE_TRIALS);
    ck_assert_msg(svc_delete_inactive(sv, "s", &err) == KE_OK, "%s", err.msg);
    ck_assert_msg(!armed, "the engine read no study by name");
    ck_assert_msg(!exists(trials_dir, "s/0") && !exists(trials_dir, "s/1"),
                  "trial folders left: 0 %d, 1 %d", exists(trials_dir, "s/0"),
                  exists(trials_dir, "s/1"));
    ck_assert(!exists(trials_dir, "s"));
}
END_TEST

/* A run with --work-dir D stored D and ran a trial there meanwhile:
 * DELETE looked in DB.trials, and left D's folder. */
START_TEST(a_work_dir_stored_meanwhile_is_the_one_cleared)
{
    serve_one_study(NEW_WORK_DIR);
    ck_assert_msg(svc_delete_inactive(sv, "s", &err) == KE_OK, "%s", err.msg);
    ck_assert_msg(!exists(other_dir, "s/1"), "%s/s/1 left", other_dir);
    ck_assert(!exists(other_dir, "s"));
}
END_TEST

/* `kestrel delete` won the race: the answer named an id the user never
 * gave ("no study with id 1"). */
START_TEST(a_study_deleted_meanwhile_is_said_so)
{
    serve_one_study(DELETED);
    ck_assert_int_eq(svc_delete_inactive(sv, "s", &err), KE_NOTFOUND);
    ck_assert_str_eq(err.msg, "study 's' was deleted meanwhile by another kestrel process");
}
END_TEST

/* Deleted and made anew (a `kestrel run` of a new spec under the name):
 * the new study is not the one the DELETE was for; it is kept, and the
 * answer says why. */
START_TEST(a_study_made_anew_meanwhile_is_kept)
{
    serve_one_study(MADE_ANEW);
    ck_assert_int_eq(svc_delete_inactive(sv, "s", &err), KE_CONFLICT);
    ck_assert_str_eq(err.msg, "study 's' was deleted and made anew meanwhile by another kestrel "
                     "process; the new one is kept: delete it again to remove it");
    open_db();
    storage_study s;
    ck_assert_int_eq(storage_study_get(st, "s", &s, &err), KE_OK);
    ck_assert_int_eq(s.n_trials, 0);
    storage_study_free(&s);
}
END_TEST

/* A `kestrel run` waiting to resume the study after a storage error (a
 * full disk) holds no lock while it waits, and stored the study RUNNING
 * with why: the DELETE went through (a user freeing space deletes
 * studies), and the run's resume then made the study anew from its first
 * trial, the delete silently undone. It is refused as for a run that
 * holds the lock, the study and its folder kept. */
START_TEST(a_study_whose_run_waits_to_resume_is_kept)
{
    serve_one_study(MORE_TRIALS);
    armed = 0;
    open_db();
    storage_study s;
    ck_assert_int_eq(storage_study_get(st, "s", &s, &err), KE_OK);
    const char *why = "a storage error; resuming in 20 s: database or disk is full";
    ck_assert_int_eq(storage_study_set_state(st, s.id, STUDY_RUNNING, why, &err), KE_OK);
    storage_study_free(&s);
    ck_assert_int_eq(svc_delete_inactive(sv, "s", &err), KE_BUSY);
    ck_assert_str_eq(err.msg, "study 's' is being run by another kestrel process, which waits to "
                     "resume it (a storage error; resuming in 20 s: database or disk is full); "
                     "stop it first (if none does any more, resume the study with `kestrel "
                     "run` of its spec, then delete it)");
    ck_assert_int_eq(storage_study_get(st, "s", &s, &err), KE_OK);
    storage_study_free(&s);
    ck_assert(exists(trials_dir, "s/0"));
}
END_TEST

/* A server killed while it unpacked a worker's upload of trial 0 left
 * DB.trials/s/0.unpack (sched_dir_unpack's folder beside the trial's): the
 * DELETE removed the trial folders and left it, and the study's folder
 * with it, for good. */
START_TEST(an_unpack_left_by_a_dead_server_is_removed)
{
    serve_one_study(MORE_TRIALS);
    armed = 0;
    char stage[400];
    for (int k = 0; k < 2; k++) {   /* as sched_dir_unpack makes them: the folder, its tree */
        snprintf(stage, sizeof stage, "%s/s/0.unpack%s", trials_dir, k ? "/tree" : "");
        ck_assert_msg(sched_dir_make(stage, &err) == KE_OK, "%s", err.msg);
    }
    ck_assert_msg(svc_delete_inactive(sv, "s", &err) == KE_OK, "%s", err.msg);
    ck_assert_msg(!exists(trials_dir, "s/0.unpack") && !exists(trials_dir, "s"),
                  "left: s/0.unpack %d, s %d", exists(trials_dir, "s/0.unpack"),
                  exists(trials_dir, "s"));
}
END_TEST

/* ---- a study the server runs ---- */

/* Study "s" of one trial that sleeps until it is stopped. */
static void parse_sleeper(spec_study *spec)
{
    ck_assert_msg(spec_parse(spec, "{\"name\": \"s\", \"objective\": {\"metric\": \"loss\", "
                             "\"direction\": \"minimize\"}, \"space\": {\"x\": {\"type\": "
                             "\"float\", \"low\": 0, \"high\": 1}}, \"strategy\": {\"name\": "
                             "\"random\"}, \"budget\": {\"max_trials\": 1}, \"run\": {\"command\": "
                             "[\"sleep\", \"600\"]}}", &err) == KE_OK, "%s", err.msg);
}

static volatile sig_atomic_t engine_stop;
static int delete_rc;
static kerror delete_err;

/* An HTTP thread's DELETE; the engine stops once it is answered. */
static void *delete_then_stop(void *arg)
{
    (void)arg;
    delete_rc = service_delete(sv, "s", &delete_err);
    engine_stop = 1;
    return NULL;
}

/* The DELETE of a study the server ran closed its scheduler, which
 * released the study's lock, and only then deleted its rows: a `kestrel
 * run` of the study that took the lock in between had its study deleted
 * under it (its trials then written for a study that is gone). The lock is
 * held until the rows are gone. */
START_TEST(a_study_the_server_runs_is_deleted_under_its_lock)
{
    snprintf(trials_dir, sizeof trials_dir, "%s.trials", db_path);
    snprintf(other_dir, sizeof other_dir, "%s/elsewhere", dir);
    ck_assert_int_eq(sqlite3_auto_extension((void (*)(void))(void *)trace_connection), SQLITE_OK);
    service_opts o = {.db_path = db_path};
    ck_assert_msg(service_open(&sv, &o, &err) == KE_OK, "%s", err.msg);
    spec_study spec;
    parse_sleeper(&spec);
    int created;
    ck_assert_msg(service_submit(sv, &spec, &created, &err) == KE_OK, "%s", err.msg);
    lock_at_delete = scheduler_study_id(service_study(sv, "s"));
    pthread_t http;
    ck_assert_int_eq(pthread_create(&http, NULL, delete_then_stop, NULL), 0);
    service_run(sv, &engine_stop, &err);
    pthread_join(http, NULL);
    ck_assert_msg(delete_rc == KE_OK, "%s", delete_err.msg);
    ck_assert_msg(other_lock != 1, "the study's rows were not deleted");
    ck_assert_msg(other_lock == KE_BUSY, "another process took the study's lock as its rows were "
                  "deleted (lock_study: %d)", other_lock);
    open_db();
    ck_assert_int_eq(storage_study_get(st, "s", &(storage_study){0}, &err), KE_NOTFOUND);
    ck_assert(!exists(trials_dir, "s"));
}
END_TEST

/* A run (kestrel run, a resume by the server) whose study was deleted
 * between its read by name and its lock (a `kestrel delete`, which holds
 * the lock while it deletes) went on with the old id: "no study with id
 * 1" at its first write, and it stopped. It reads the study again under
 * its lock and makes it anew, as a run after the delete would. */
START_TEST(a_run_whose_study_is_deleted_before_its_lock_makes_it_anew)
{
    serve_one_study(DELETED);
    open_db();
    spec_study spec;
    parse_sleeper(&spec);
    scheduler_opts so = {.db_path = db_path, .force = 1};
    scheduler *s;
    ck_assert_msg(scheduler_open(&s, st, &spec, &so, &err) == KE_OK, "%s", err.msg);
    ck_assert_msg(!armed, "the run read no study by name");
    scheduler_status ss;
    scheduler_get_status(s, &ss);
    ck_assert_int_eq(ss.n_trials, 0);
    storage_study row;
    ck_assert_int_eq(storage_study_get(st, "s", &row, &err), KE_OK);
    ck_assert(row.id == ss.study_id && row.state == STUDY_RUNNING);
    storage_study_free(&row);
    scheduler_close(s);
    spec_free(&spec);
}
END_TEST

static Suite *service_delete_suite(void)
{
    Suite *s = suite_create("service_delete");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, stop_serving);
    tcase_add_test(tc, trials_run_meanwhile_lose_their_folders);
    tcase_add_test(tc, a_work_dir_stored_meanwhile_is_the_one_cleared);
    tcase_add_test(tc, a_study_deleted_meanwhile_is_said_so);
    tcase_add_test(tc, a_study_made_anew_meanwhile_is_kept);
    tcase_add_test(tc, a_study_whose_run_waits_to_resume_is_kept);
    tcase_add_test(tc, an_unpack_left_by_a_dead_server_is_removed);
    tcase_add_test(tc, a_study_the_server_runs_is_deleted_under_its_lock);
    tcase_add_test(tc, a_run_whose_study_is_deleted_before_its_lock_makes_it_anew);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(service_delete_suite());
}
