/* test_storage: the SQLite history on real files in a temp dir: migrations
 * and refusals at open, studies, trials and their rows, and crash
 * consistency under SIGKILL of a writing child process. Paging, curves and
 * the SQL views are in test_storage_query. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "check_main.h"
#include "storage_fixture.h"

/* ---- open and migrations ---- */

START_TEST(open_creates_and_migrates)
{
    open_db();
    ck_assert_int_ge(storage_schema_version(st), 1);
    char want[16];
    snprintf(want, sizeof want, "%d", storage_schema_version(st));
    assert_sql("PRAGMA user_version", want);
    assert_sql("PRAGMA journal_mode", "wal");
    assert_sql("SELECT count(*) FROM sqlite_schema WHERE name IN ('studies', "
               "'trials', 'trial_params', 'trial_values', 'trial_metrics', "
               "'trial_logs', 'trial_overview', 'best_trials', 'study_summary')", "9");
}
END_TEST

/* A new history is readable by its user alone: it holds the workers' keys'
 * hashes (013; their plain keys before), and the trials' data. Its
 * -wal and -shm take its mode. A history that exists keeps the mode its
 * user gave it. */
START_TEST(new_history_is_private)
{
    mode_t old = umask(022);
    open_db();
    new_study("private", 0);   /* a write: the -wal file is made */
    struct stat sb;
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    ck_assert_int_eq(stat(db_path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_eq(stat(wal, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    storage_close(st);
    st = NULL;
    ck_assert_int_eq(chmod(db_path, 0640), 0);
    open_db();
    ck_assert_int_eq(stat(db_path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0640);
    umask(old);
}
END_TEST

/* A symbolic link to nothing: the private empty file cannot be made at it
 * (O_EXCL does not follow a link), and SQLite made its target 0644, a
 * history any user could read, wherever the link pointed (one planted in a
 * shared folder). It is refused, naming both; nothing is made. */
START_TEST(dangling_link_refused)
{
    char target[160];
    snprintf(target, sizeof target, "%s/elsewhere.db", dir);
    ck_assert_int_eq(symlink("elsewhere.db", db_path), 0);
    ck_assert_int_eq(storage_open(&st, db_path, &err), KE_DB);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err.msg, "a symbolic link to 'elsewhere.db', which does not exist"),
                  "%s", err.msg);
    struct stat sb;
    ck_assert_int_ne(lstat(target, &sb), 0);
    /* once it points at a history, the history is opened through it */
    storage *real;
    ck_assert_int_eq(storage_open(&real, target, &err), KE_OK);
    storage_close(real);
    open_db();
}
END_TEST

START_TEST(reopen_keeps_data)
{
    open_db();
    int64_t sid = new_study("keep", 0);
    int64_t tid = numbered_trial(sid, 0);
    finish(tid, TRIAL_COMPLETE, 1, 2.5);
    int version = storage_schema_version(st);
    storage_close(st);
    st = NULL;
    ck_assert_int_eq(storage_open(&st, db_path, &err), KE_OK);
    ck_assert_int_eq(storage_schema_version(st), version);
    storage_study s;
    ck_assert_int_eq(storage_study_get(st, "keep", &s, &err), KE_OK);
    ck_assert_int_eq(s.n_trials, 1);
    ck_assert(s.has_best && s.best_value == 2.5 && s.best_number == 0);
    storage_study_free(&s);
}
END_TEST

/* With background checkpoints the handle's own commits never copy the WAL
 * into the database; the thread does: the database file grows while the
 * writer goes on (a thread that never checkpointed would leave it at its
 * first size for good, and the WAL growing). */
START_TEST(background_checkpoints_copy_the_wal)
{
    open_db();
    ck_assert(!storage_wal_is_background(st));
    ck_assert_int_eq(storage_wal_background(st, &err), KE_OK);
    ck_assert(storage_wal_is_background(st));
    struct stat before, now;
    ck_assert_int_eq(stat(db_path, &before), 0);
    char note[3000];
    memset(note, 'n', sizeof note - 1);
    note[sizeof note - 1] = '\0';
    /* about 1,500 pages of WAL: past the mark that calls a checkpoint */
    for (int i = 0; i < 1500; i++) {
        char name[32];
        snprintf(name, sizeof name, "s%d", i);
        ck_assert_int_eq(storage_study_set_note(st, new_study(name, 0), note, &err), KE_OK);
    }
    /* the copy runs on its own thread: waited for, with a hang guard */
    for (int waited = 0;; waited += 10) {
        ck_assert_int_eq(stat(db_path, &now), 0);
        if (now.st_size > before.st_size + (1 << 20)) break;
        ck_assert_msg(waited < 120000, "no checkpoint in 120 s: the database stays at %lld bytes",
                      (long long)now.st_size);
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    }
    storage_close(st);   /* stops the thread */
    st = NULL;
    open_db();
    storage_study s;
    ck_assert_int_eq(storage_study_get(st, "s1499", &s, &err), KE_OK);
    storage_study_free(&s);
}
END_TEST

/* The trial counts that migration 004's triggers keep (study_counts) agree
 * with counting the trials, for every study. */
static void expect_counts_agree(void)
{
    assert_sql("SELECT count(*) FROM studies s LEFT JOIN study_counts c ON c.study_id = s.id "
               "WHERE c.study_id IS NULL OR (c.n_trials, c.n_running, c.n_complete, c.n_pruned, "
               "c.n_failed, c.n_configs) IS NOT (SELECT count(*), count(CASE WHEN state = 'RUNNING' "
               "THEN 1 END), count(CASE WHEN state = 'COMPLETE' THEN 1 END), count(CASE WHEN state "
               "= 'PRUNED' THEN 1 END), count(CASE WHEN state = 'FAILED' THEN 1 END), count(CASE "
               "WHEN state != 'RUNNING' AND resumed_from IS NULL AND retry_of IS NULL THEN 1 END) "
               "FROM trials t WHERE t.study_id = s.id)", "0");
    assert_sql("SELECT count(*) FROM study_counts WHERE study_id NOT IN (SELECT id FROM studies)", "0");
}

/* A study's stamp moves with every write to its trials but a report (the
 * last_step of a RUNNING trial), and only then. */
START_TEST(stamp_moves_with_trial_writes)
{
    open_db();
    int64_t a = new_study("a", 0), b = new_study("b", 0);
    storage_stamp s0, s1, s2, s3;
    ck_assert_int_eq(storage_study_stamp(st, "a", &s0, &err), KE_OK);
    ck_assert_int_eq(s0.id, a);
    int64_t t = numbered_trial(a, 0);
    ck_assert_int_eq(storage_study_stamp(st, "a", &s1, &err), KE_OK);
    finish(numbered_trial(b, 0), TRIAL_COMPLETE, 1, 1.0);
    ck_assert_int_eq(storage_study_stamp(st, "a", &s2, &err), KE_OK);
    storage_metric m = {"loss", 2.0};
    ck_assert_int_eq(storage_trial_report(st, t, 1, &m, 1, &err), KE_OK);
    ck_assert_int_eq(storage_study_stamp(st, "a", &s3, &err), KE_OK);
    ck_assert(s1.version != s0.version && s2.version == s1.version && s3.version == s2.version);
    finish(t, TRIAL_COMPLETE, 1, 2.0);
    ck_assert_int_eq(storage_study_stamp(st, "a", &s3, &err), KE_OK);
    ck_assert(s3.version != s2.version);
    ck_assert(s0.created_at == s3.created_at);
    ck_assert_int_eq(storage_study_stamp(st, "none", &s0, &err), KE_NOTFOUND);
}
END_TEST

/* A trial's enqueued_id (which the API shows as "enqueued") changed by hand
 * moves the stamp's version like any other column of the row, on a RUNNING
 * trial (settled stays: no finished trial changed) and on a finished one. */
START_TEST(stamp_moves_with_enqueued_id)
{
    open_db();
    int64_t a = new_study("a", 0);
    int64_t done = numbered_trial(a, 0);
    finish(done, TRIAL_COMPLETE, 1, 1.0);
    numbered_trial(a, 1);
    storage_stamp s0, s1, s2;
    ck_assert_int_eq(storage_study_stamp(st, "a", &s0, &err), KE_OK);
    sql_exec("UPDATE trials SET enqueued_id = 7 WHERE number = 1");
    ck_assert_int_eq(storage_study_stamp(st, "a", &s1, &err), KE_OK);
    ck_assert(s1.version != s0.version && s1.settled == s0.settled);
    sql_exec("UPDATE trials SET enqueued_id = 8 WHERE number = 0");
    ck_assert_int_eq(storage_study_stamp(st, "a", &s2, &err), KE_OK);
    ck_assert(s2.version != s1.version && s2.settled != s1.settled);
    expect_counts_agree();
}
END_TEST

/* A version-1 history (before the partial index of 002 and the counts of
 * 004) is upgraded in place on open, with its rows kept and counted. */
START_TEST(upgrades_version_1)
{
    open_db();
    int64_t sid = new_study("old", 0);
    finish(numbered_trial(sid, 0), TRIAL_COMPLETE, 1, 2.5);
    numbered_trial(sid, 1);
    finish(numbered_trial(sid, 2), TRIAL_FAILED, 0, 0);
    ck_assert_int_ge(storage_schema_version(st), 4);
    storage_close(st);
    st = NULL;
    sql_exec("DROP VIEW kept_leases; "
             "DROP TRIGGER study_settled_values_insert; DROP TRIGGER study_settled_values_update; "
             "DROP TRIGGER study_settled_values_delete; "
             "DROP INDEX trials_study_fresh; ALTER TABLE trial_values DROP COLUMN at; "
             "DROP TABLE study_counts; DROP TRIGGER study_counts_new_study; "
             "DROP TRIGGER study_counts_trial_insert; DROP TRIGGER study_counts_trial_delete; "
             "DROP TRIGGER study_counts_trial_update; DROP TRIGGER study_count_move; "
             "DROP TRIGGER study_settled_insert; DROP TRIGGER study_settled_delete; "
             "DROP TRIGGER study_settled_update; "
             "DROP VIEW study_count_moves; "
             "ALTER TABLE studies DROP COLUMN state_reason; "
             "ALTER TABLE studies DROP COLUMN spec_dir; DROP TABLE leases; DROP TABLE workers; "
             "ALTER TABLE studies DROP COLUMN note; DROP INDEX trials_enqueued; "
             "ALTER TABLE trials DROP COLUMN enqueued_id; DROP TABLE enqueued; "
             "PRAGMA user_version = 1");
    assert_sql("SELECT count(*) FROM sqlite_master WHERE name IN ('trials_study_fresh', 'study_counts') "
               "OR type = 'trigger'", "0");
    open_db();
    ck_assert_int_ge(storage_schema_version(st), 4);
    assert_sql("SELECT count(*) FROM sqlite_master WHERE name = 'trials_study_fresh'", "1");
    storage_study s;
    ck_assert_int_eq(storage_study_get(st, "old", &s, &err), KE_OK);
    ck_assert(s.n_trials == 3 && s.n_running == 1 && s.n_complete == 1 && s.n_failed == 1);
    ck_assert(s.n_configs == 2 && s.best_value == 2.5);
    storage_study_free(&s);
    finish(numbered_trial(sid, 3), TRIAL_COMPLETE, 1, 1.5);
    expect_counts_agree();
}
END_TEST

START_TEST(newer_version_refused)
{
    open_db();
    new_study("future", 0);
    storage_close(st);
    st = NULL;
    sql_exec("PRAGMA user_version = 999");
    ck_assert_int_eq(storage_open(&st, db_path, &err), KE_DB);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err.msg, "999") && strstr(err.msg, "newer"), "%s", err.msg);
    assert_sql("SELECT name FROM studies", "future");
}
END_TEST

START_TEST(not_sqlite_refused)
{
    const char *junk = "this is a plain text file, certainly not a SQLite database\n";
    FILE *f = fopen(db_path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(junk, f);
    fclose(f);
    ck_assert_int_eq(storage_open(&st, db_path, &err), KE_DB);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err.msg, db_path) && strstr(err.msg, "not a database"),
                  "%s", err.msg);
    char back[128] = "";
    f = fopen(db_path, "r");
    ck_assert_ptr_nonnull(fgets(back, sizeof back, f));
    fclose(f);
    ck_assert_str_eq(back, junk);
}
END_TEST

START_TEST(foreign_sqlite_refused)
{
    sql_exec("CREATE TABLE studies (x); INSERT INTO studies VALUES (42)");
    ck_assert_int_eq(storage_open(&st, db_path, &err), KE_DB);
    ck_assert_msg(strstr(err.msg, "not a Kestrel history"), "%s", err.msg);
    assert_sql("SELECT x FROM studies", "42");
    assert_sql("PRAGMA journal_mode", "delete");
}
END_TEST

START_TEST(url_schemes)
{
    ck_assert_int_eq(storage_open(&st, "postgres://db.example/kestrel", &err), KE_INVALID);
    ck_assert_str_eq(err.msg, "unsupported storage backend 'postgres' (this build has: sqlite)");
    /* SQLite would open "" as a temporary file, gone at close */
    ck_assert_int_eq(storage_open(&st, "sqlite://", &err), KE_INVALID);
    ck_assert_str_eq(err.msg, "'sqlite://' names no file (write sqlite://PATH)");
    char url[160];
    snprintf(url, sizeof url, "sqlite://%s", db_path);
    open_db();
    new_study("via-path", 0);
    storage_close(st);
    st = NULL;
    ck_assert_int_eq(storage_open(&st, url, &err), KE_OK);
    storage_study s;
    ck_assert_int_eq(storage_study_get(st, "via-path", &s, &err), KE_OK);
    storage_study_free(&s);
    storage_close(st);
    st = NULL;
    snprintf(url, sizeof url, "sqlite:%s", db_path);
    ck_assert_int_eq(storage_open(&st, url, &err), KE_OK);
}
END_TEST

/* ---- studies ---- */

START_TEST(study_crud)
{
    open_db();
    int64_t id = new_study("alpha", 1);
    storage_study s;
    ck_assert_int_eq(storage_study_get(st, "alpha", &s, &err), KE_OK);
    ck_assert_int_eq(s.id, id);
    ck_assert_str_eq(s.spec_json, "{\"name\":\"x\"}");
    ck_assert_str_eq(s.spec_hash, "abcd");
    ck_assert_str_eq(s.metric, "loss");
    ck_assert_int_eq(s.maximize, 1);
    ck_assert_int_eq(s.state, STUDY_RUNNING);
    ck_assert(s.created_at > 1.6e9 && s.updated_at >= s.created_at);
    ck_assert_int_eq(s.n_trials, 0);
    ck_assert_int_eq(s.has_best, 0);
    storage_study_free(&s);

    ck_assert_int_eq(storage_study_create(st, "alpha", "{}", "h", "m", 0, NULL, &err),
                     KE_CONFLICT);
    ck_assert_msg(strstr(err.msg, "alpha"), "%s", err.msg);
    ck_assert_int_eq(storage_study_get(st, "nope", &s, &err), KE_NOTFOUND);
    ck_assert_int_eq(storage_study_get_id(st, id + 100, &s, &err), KE_NOTFOUND);

    ck_assert_int_eq(storage_study_update_spec(st, id, "{\"v\":2}", "ef01", "loss", 0, &err), KE_OK);
    ck_assert_int_eq(storage_study_set_state(st, id, STUDY_STOPPED, NULL, &err), KE_OK);
    ck_assert_int_eq(storage_study_set_state(st, id, (study_state)STUDY_STATES, NULL, &err),
                     KE_INVALID);
    ck_assert_int_eq(storage_study_set_state(st, id + 100, STUDY_STOPPED, NULL, &err), KE_NOTFOUND);
    ck_assert_int_eq(storage_study_get_id(st, id, &s, &err), KE_OK);
    ck_assert_str_eq(s.spec_json, "{\"v\":2}");
    ck_assert_str_eq(s.spec_hash, "ef01");
    ck_assert_int_eq(s.maximize, 0);   /* a --force to the other direction */
    ck_assert_int_eq(s.state, STUDY_STOPPED);
    ck_assert_ptr_null(s.state_reason);
    ck_assert_ptr_null(s.spec_dir);
    storage_study_free(&s);
    ck_assert_int_eq(storage_study_set_state(st, id, STUDY_FAILED, "10 trials in a row failed", &err),
                     KE_OK);
    ck_assert_int_eq(storage_study_set_dir(st, id, "/srv/specs", &err), KE_OK);
    ck_assert_int_eq(storage_study_get_id(st, id, &s, &err), KE_OK);
    ck_assert_int_eq(s.state, STUDY_FAILED);
    ck_assert_str_eq(s.state_reason, "10 trials in a row failed");
    ck_assert_str_eq(s.spec_dir, "/srv/specs");
    storage_study_free(&s);
    /* a new state clears the reason */
    ck_assert_int_eq(storage_study_set_state(st, id, STUDY_RUNNING, NULL, &err), KE_OK);
    ck_assert_int_eq(storage_study_get_id(st, id, &s, &err), KE_OK);
    ck_assert_ptr_null(s.state_reason);
    storage_study_free(&s);
}
END_TEST

/* Every enum value is a name the studies table's CHECK admits, and reads
 * back as itself: the one name table and the SQL agree. */
START_TEST(study_states_round_trip)
{
    open_db();
    int64_t id = new_study("states", 0);
    for (int k = 0; k < STUDY_STATES; k++) {
        ck_assert_int_eq(study_state_parse(study_state_name((study_state)k)), k);
        ck_assert_int_eq(storage_study_set_state(st, id, (study_state)k, NULL, &err), KE_OK);
        storage_study s;
        ck_assert_int_eq(storage_study_get_id(st, id, &s, &err), KE_OK);
        ck_assert_int_eq(s.state, k);
        storage_study_free(&s);
        char sql[96], want[16];
        snprintf(sql, sizeof sql, "SELECT state FROM studies WHERE id = %lld", (long long)id);
        snprintf(want, sizeof want, "%s", study_state_name((study_state)k));
        assert_sql(sql, want);
    }
    ck_assert_int_eq(study_state_parse("PAUSED"), -1);
    ck_assert_str_eq(study_state_name((study_state)STUDY_STATES), "UNKNOWN");
}
END_TEST

START_TEST(study_list_counts_and_best)
{
    open_db();
    int64_t lo = new_study("lo", 0), hi = new_study("hi", 1), none = new_study("none", 0);
    double values[] = {3.0, 1.0, 5.0, 1.0, 0.5};
    trial_state states[] = {TRIAL_COMPLETE, TRIAL_COMPLETE, TRIAL_COMPLETE,
                            TRIAL_COMPLETE, TRIAL_PRUNED};
    for (int i = 0; i < 5; i++) {
        finish(numbered_trial(lo, i), states[i], 1, values[i]);
        finish(numbered_trial(hi, i), states[i], 1, values[i]);
    }
    numbered_trial(lo, 5);
    finish(numbered_trial(lo, 6), TRIAL_FAILED, 0, 0);
    /* a stop interrupted this one: counted apart from the failed */
    int64_t stopped = numbered_trial(lo, 7);
    ck_assert_int_eq(storage_trial_finish(st, stopped, TRIAL_FAILED, 0, 0, NULL, 0,
                                          TRIAL_INTERRUPTED "the study was stopped", NULL, NULL,
                                          &err), KE_OK);
    numbered_trial(none, 0);
    /* A promotion and a retry are trials but not configurations. */
    storage_trial promo = {.resumed_from = 2, .retry_of = -1}, retry = {.resumed_from = -1, .retry_of = 6};
    ck_assert_int_eq(storage_trial_insert(st, hi, &promo, &err), KE_OK);
    ck_assert_int_eq(storage_trial_insert(st, hi, &retry, &err), KE_OK);
    finish(promo.id, TRIAL_COMPLETE, 1, 4.0);
    finish(retry.id, TRIAL_FAILED, 0, 0);

    storage_study *list;
    int n;
    ck_assert_int_eq(storage_study_list(st, &list, &n, &err), KE_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(list[0].id, lo);
    ck_assert_int_eq(list[1].id, hi);
    ck_assert_int_eq(list[2].id, none);
    ck_assert_int_eq(list[0].n_trials, 8);
    ck_assert_int_eq(list[0].n_complete, 4);
    ck_assert_int_eq(list[0].n_pruned, 1);
    ck_assert_int_eq(list[0].n_running, 1);
    ck_assert_int_eq(list[0].n_failed, 1);
    ck_assert_int_eq(list[0].n_interrupted, 1);
    ck_assert_int_eq(list[0].n_configs, 7);   /* finished, the RUNNING one is not */
    /* Minimize: 1.0 at numbers 1 and 3, the PRUNED 0.5 does not count. */
    ck_assert(list[0].has_best && list[0].best_value == 1.0 && list[0].best_number == 1);
    ck_assert(list[1].has_best && list[1].best_value == 5.0 && list[1].best_number == 2);
    ck_assert_int_eq(list[1].n_trials, 7);
    ck_assert_int_eq(list[1].n_configs, 5);
    ck_assert_int_eq(list[2].has_best, 0);
    ck_assert_int_eq(list[2].n_running, 1);
    storage_study_list_free(list, n);

    storage_trial best;
    ck_assert_int_eq(storage_trial_best(st, hi, &best, &err), KE_OK);
    ck_assert_int_eq(best.number, 2);
    ck_assert_double_eq(best.params[0].num, 1.0);
    storage_trial_free(&best);
    ck_assert_int_eq(storage_trial_best(st, none, &best, &err), KE_NOTFOUND);
    expect_counts_agree();
}
END_TEST

START_TEST(study_delete_cascades)
{
    open_db();
    int64_t gone = new_study("gone", 0), kept = new_study("kept", 0);
    for (int i = 0; i < 3; i++) {
        int64_t t = numbered_trial(gone, i);
        storage_metric m = {"loss", 1.0};
        ck_assert_int_eq(storage_trial_report(st, t, 1, &m, 1, &err), KE_OK);
        ck_assert_int_eq(storage_trial_finish(st, t, TRIAL_COMPLETE, 1, 1.0, &m, 1,
                                              NULL, "out", "err", &err), KE_OK);
    }
    numbered_trial(kept, 0);
    ck_assert_int_eq(storage_study_delete(st, gone, &err), KE_OK);
    ck_assert_int_eq(storage_study_delete(st, gone, &err), KE_NOTFOUND);
    assert_sql("SELECT count(*) FROM trials", "1");
    expect_counts_agree();
    assert_sql("SELECT count(*) FROM trial_params", "2");
    assert_sql("SELECT (SELECT count(*) FROM trial_values) + (SELECT count(*) FROM "
               "trial_metrics) + (SELECT count(*) FROM trial_logs)", "0");
    storage_study s;
    ck_assert_int_eq(storage_study_get_id(st, kept, &s, &err), KE_OK);
    storage_study_free(&s);
}
END_TEST

/* ---- trials ---- */

START_TEST(trial_numbering_and_params)
{
    open_db();
    int64_t a = new_study("a", 0), b = new_study("b", 0);
    for (int i = 0; i < 3; i++) numbered_trial(a, i);
    numbered_trial(b, 0);
    numbered_trial(a, 3);

    storage_param p[3] = {{.name = "lr", .num = 1e-3}, {.name = "act", .is_text = 1,
                           .text = "gelu"}, {.name = "layers", .num = 4}};
    storage_trial t = {.started_at = 1234.5, .worker = "node7:99", .budget = 27,
                       .resumed_from = 2, .retry_of = -1, .n_params = 3, .params = p};
    ck_assert_int_eq(storage_trial_insert(st, b, &t, &err), KE_OK);
    ck_assert_int_eq(t.number, 1);
    ck_assert_int_eq(t.state, TRIAL_RUNNING);

    storage_trial got;
    ck_assert_int_eq(storage_trial_get(st, b, 1, &got, &err), KE_OK);
    ck_assert_int_eq(got.id, t.id);
    ck_assert_int_eq(got.study_id, b);
    ck_assert_int_eq(got.state, TRIAL_RUNNING);
    ck_assert_int_eq(got.has_value, 0);
    ck_assert_double_eq(got.started_at, 1234.5);
    ck_assert_double_eq(got.finished_at, 0);
    ck_assert_str_eq(got.worker, "node7:99");
    ck_assert_int_eq(got.budget, 27);
    ck_assert_int_eq(got.resumed_from, 2);
    ck_assert_int_eq(got.retry_of, -1);
    ck_assert_int_eq(got.last_step, -1);
    ck_assert_int_eq(got.n_params, 3);
    ck_assert_str_eq(got.params[0].name, "lr");
    ck_assert(!got.params[0].is_text && got.params[0].num == 1e-3);
    ck_assert_str_eq(got.params[1].name, "act");
    ck_assert(got.params[1].is_text);
    ck_assert_str_eq(got.params[1].text, "gelu");
    ck_assert_str_eq(got.params[2].name, "layers");
    ck_assert_double_eq(got.params[2].num, 4);
    storage_trial_free(&got);
    ck_assert_int_eq(storage_trial_get(st, b, 2, &got, &err), KE_NOTFOUND);

    /* A failed insert (unknown study, duplicate param name) leaves nothing. */
    ck_assert_int_eq(storage_trial_insert(st, b + 100, &t, &err), KE_NOTFOUND);
    storage_param dup[2] = {{.name = "x", .num = 1}, {.name = "x", .num = 2}};
    storage_trial bad = {.resumed_from = -1, .retry_of = -1, .n_params = 2, .params = dup};
    ck_assert_int_eq(storage_trial_insert(st, b, &bad, &err), KE_DB);
    assert_sql("SELECT count(*) FROM trials", "6");
    int number;
    new_trial(b, &number);
    ck_assert_int_eq(number, 2);
}
END_TEST

START_TEST(report_finish_logs)
{
    open_db();
    int64_t sid = new_study("r", 0);
    int64_t tid = new_trial(sid, NULL);
    storage_metric at2[2] = {{"loss", 0.7}, {"acc", 0.6}};
    storage_metric at1[1] = {{"loss", 0.9}};
    storage_metric again[1] = {{"loss", 0.8}};
    ck_assert_int_eq(storage_trial_report(st, tid, 2, at2, 2, &err), KE_OK);
    ck_assert_int_eq(storage_trial_report(st, tid, 1, at1, 1, &err), KE_OK);
    ck_assert_int_eq(storage_trial_report(st, tid, 1, again, 1, &err), KE_OK);
    ck_assert_int_eq(storage_trial_report(st, tid + 100, 1, at1, 1, &err), KE_NOTFOUND);
    /* Each report row records when it arrived, in Unix seconds like the
     * trial's start. Not ordered against started_at or the test's clock:
     * wall-clock readings need not increase (clock steps), so the check is
     * only that both are the same kind of time (within a day). */
    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) FROM trial_values v JOIN trials t ON t.id = v.trial_id "
             "WHERE v.trial_id = %lld AND abs(v.at - t.started_at) < 86400",
             (long long)tid);
    assert_sql(q, "3");

    storage_value *v;
    int n;
    ck_assert_int_eq(storage_trial_values(st, tid, &v, &n, &err), KE_OK);
    ck_assert_int_eq(n, 3);
    ck_assert(v[0].step == 1 && strcmp(v[0].name, "loss") == 0 && v[0].value == 0.8);
    ck_assert(v[1].step == 2 && strcmp(v[1].name, "acc") == 0 && v[1].value == 0.6);
    ck_assert(v[2].step == 2 && strcmp(v[2].name, "loss") == 0 && v[2].value == 0.7);
    storage_values_free(v, n);

    storage_trial t;
    ck_assert_int_eq(storage_trial_get(st, sid, 0, &t, &err), KE_OK);
    ck_assert_int_eq(t.last_step, 2);
    storage_trial_free(&t);

    storage_metric final[2] = {{"loss", 0.65}, {"acc", 0.7}};
    ck_assert_int_eq(storage_trial_finish(st, tid, TRIAL_RUNNING, 0, 0, NULL, 0, NULL,
                                          NULL, NULL, &err), KE_INVALID);
    ck_assert_int_eq(storage_trial_finish(st, tid, TRIAL_COMPLETE, 1, 0.65, final, 2,
                                          NULL, "last out", "last err", &err), KE_OK);
    ck_assert_int_eq(storage_trial_get(st, sid, 0, &t, &err), KE_OK);
    ck_assert_int_eq(t.state, TRIAL_COMPLETE);
    ck_assert(t.has_value && t.value == 0.65);
    ck_assert(fabs(t.finished_at - t.started_at) < 86400);   /* Unix seconds, unordered */
    ck_assert_ptr_null(t.failure);
    storage_trial_free(&t);

    storage_metric *m;
    ck_assert_int_eq(storage_trial_metrics(st, tid, &m, &n, &err), KE_OK);
    ck_assert_int_eq(n, 2);
    ck_assert(strcmp(m[0].name, "acc") == 0 && m[0].value == 0.7);
    ck_assert(strcmp(m[1].name, "loss") == 0 && m[1].value == 0.65);
    storage_metrics_free(m, n);
    char *out, *errt;
    ck_assert_int_eq(storage_trial_logs(st, tid, &out, &errt, &err), KE_OK);
    ck_assert_str_eq(out, "last out");
    ck_assert_str_eq(errt, "last err");
    free(out);
    free(errt);

    /* A finished trial takes no more changes, and nothing moves. */
    ck_assert_int_eq(storage_trial_finish(st, tid, TRIAL_FAILED, 0, 0, NULL, 0, "x",
                                          "other", NULL, &err), KE_CONFLICT);
    ck_assert_int_eq(storage_trial_report(st, tid, 9, at1, 1, &err), KE_CONFLICT);
    assert_sql("SELECT state || ' ' || value || ' ' || last_step FROM trials",
               "COMPLETE 0.65 2");
    assert_sql("SELECT stdout_tail FROM trial_logs", "last out");

    /* No logs given: both tails NULL. Unknown trial: not found. */
    int64_t quiet = new_trial(sid, NULL);
    finish(quiet, TRIAL_PRUNED, 0, 0);
    ck_assert_int_eq(storage_trial_logs(st, quiet, &out, &errt, &err), KE_OK);
    ck_assert(out == NULL && errt == NULL);
    ck_assert_int_eq(storage_trial_logs(st, quiet + 100, &out, &errt, &err), KE_NOTFOUND);
    ck_assert_int_eq(storage_trial_values(st, quiet + 100, &v, &n, &err), KE_NOTFOUND);
}
END_TEST

START_TEST(reclaim_running)
{
    open_db();
    int64_t a = new_study("a", 0), b = new_study("b", 0);
    numbered_trial(a, 0);
    finish(numbered_trial(a, 1), TRIAL_COMPLETE, 1, 1.0);
    numbered_trial(a, 2);
    numbered_trial(b, 0);
    int count = -1;
    ck_assert_int_eq(storage_trials_reclaim(st, a, "scheduler died", &count, &err), KE_OK);
    ck_assert_int_eq(count, 2);
    assert_sql("SELECT group_concat(number || state || coalesce(failure, '-'), ',') FROM "
               "(SELECT * FROM trials WHERE study_id = 1 ORDER BY number)",
               "0FAILEDscheduler died,1COMPLETE-,2FAILEDscheduler died");
    assert_sql("SELECT count(*) FROM trials WHERE state = 'FAILED' AND "
               "finished_at IS NULL", "0");
    assert_sql("SELECT state FROM trials WHERE study_id = 2", "RUNNING");
    ck_assert_int_eq(storage_trials_reclaim(st, a, "again", &count, &err), KE_OK);
    ck_assert_int_eq(count, 0);
    expect_counts_agree();
}
END_TEST

/* ---- crash consistency ---- */

#define CRASH_PARAMS 6

/* The child: inserts, reports and finishes trials until killed. */
static void crash_writer(const char *path, int ready_fd)
{
    storage *w;
    kerror e;
    if (storage_open(&w, path, &e) != KE_OK) _exit(2);
    storage_study s;
    int64_t sid;
    if (storage_study_get(w, "crash", &s, &e) == KE_OK) {
        sid = s.id;
        storage_study_free(&s);
    } else if (storage_study_create(w, "crash", "{}", "h", "loss", 0, &sid, &e) != KE_OK) {
        _exit(3);
    }
    char names[CRASH_PARAMS][8];
    storage_param p[CRASH_PARAMS];
    for (int i = 0; i < CRASH_PARAMS; i++) {
        snprintf(names[i], sizeof names[i], "p%d", i);
        p[i] = (storage_param){.name = names[i], .num = i};
    }
    for (int k = 0;; k++) {
        storage_trial t = {.resumed_from = -1, .retry_of = -1,
                           .n_params = CRASH_PARAMS, .params = p};
        if (storage_trial_insert(w, sid, &t, &e) != KE_OK) _exit(4);
        storage_metric m[2] = {{"loss", k}, {"acc", 1.0 / (k + 1)}};
        if (storage_trial_report(w, t.id, 0, m, 2, &e) != KE_OK) _exit(5);
        if (storage_trial_finish(w, t.id, TRIAL_COMPLETE, 1, k, m, 2, NULL,
                                 "out", "err", &e) != KE_OK)
            _exit(6);
        if (k == 0 && write(ready_fd, "r", 1) != 1) _exit(7);
    }
}

START_TEST(crash_consistency)
{
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int round = 0; round < 8; round++) {
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            crash_writer(db_path, fds[1]);
        }
        close(fds[1]);
        char c;
        ck_assert_int_eq(read(fds[0], &c, 1), 1);
        close(fds[0]);
        struct timespec pause = {0, (rand() % 40) * 1000000L};
        nanosleep(&pause, NULL);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status), "writer exited with %d before the kill",
                      WEXITSTATUS(status));
    }
    open_db();
    assert_sql("PRAGMA integrity_check", "ok");
    char want[16];
    snprintf(want, sizeof want, "%d", CRASH_PARAMS);
    char *n = sql_text("SELECT count(*) FROM trials");
    ck_assert_int_ge(atoi(n), 8);
    free(n);
    assert_sql("SELECT count(*) FROM trials t WHERE (SELECT count(*) FROM trial_params p "
               "WHERE p.trial_id = t.id) <> 6", "0");
    /* A trial is RUNNING with nothing reported, RUNNING with its full report,
     * or COMPLETE with its metrics, value and logs: never between. */
    assert_sql("SELECT count(*) FROM trials t WHERE (SELECT count(*) FROM trial_values v "
               "WHERE v.trial_id = t.id) NOT IN (0, 2) OR (state = 'COMPLETE' AND "
               "((SELECT count(*) FROM trial_metrics m WHERE m.trial_id = t.id) <> 2 "
               "OR value IS NULL OR NOT EXISTS (SELECT 1 FROM trial_logs l "
               "WHERE l.trial_id = t.id)))", "0");
    assert_sql("SELECT max(number) + 1 = count(*) FROM trials", "1");
    int count;
    ck_assert_int_eq(storage_trials_reclaim(st, 1, "crashed", &count, &err), KE_OK);
    ck_assert_int_le(count, 8);
}
END_TEST

/* Writers in separate processes, started together on a history that does not
 * exist yet: the schema is created once and trial numbers never collide. */
START_TEST(concurrent_writers)
{
    enum { WRITERS = 4, EACH = 40 };
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        ck_assert_int_ge(pids[w], 0);
        if (pids[w] == 0) {
            storage *mine;
            kerror e;
            int64_t sid;
            if (storage_open(&mine, db_path, &e) != KE_OK) {
                fprintf(stderr, "writer %d: %s\n", w, e.msg);
                _exit(2);
            }
            int rc = storage_study_create(mine, "shared", "{}", "h", "loss", 0, &sid, &e);
            storage_study s;
            if (rc == KE_CONFLICT && storage_study_get(mine, "shared", &s, &e) == KE_OK) {
                sid = s.id;
                storage_study_free(&s);
            } else if (rc != KE_OK) {
                _exit(3);
            }
            storage_param p = {.name = "w", .num = w};
            for (int i = 0; i < EACH; i++) {
                storage_trial t = {.resumed_from = -1, .retry_of = -1,
                                   .n_params = 1, .params = &p};
                if (storage_trial_insert(mine, sid, &t, &e) != KE_OK) _exit(4);
            }
            storage_close(mine);
            _exit(0);
        }
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        ck_assert_int_eq(waitpid(pids[w], &status, 0), pids[w]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "writer %d failed (status %d)", w, status);
    }
    assert_sql("SELECT count(DISTINCT number) || ' ' || min(number) || ' ' || "
               "max(number) FROM trials", "160 0 159");
    assert_sql("SELECT group_concat(n) FROM (SELECT count(*) AS n FROM trial_params "
               "GROUP BY value_num)", "40,40,40,40");
}
END_TEST

/* Lease ids are never reused, even once their rows are gone. */
START_TEST(workers_and_leases)
{
    open_db();
    int64_t w, last;
    unsigned char key_sha256[SHA256_BYTES] = {0};
    ck_assert_int_eq(storage_worker_add(st, "gpu7:42", "{\"slots\": 2}", key_sha256, &w, &err),
                     KE_OK);
    ck_assert_int_eq(storage_lease_last(st, &last, &err), KE_OK);
    ck_assert_int_eq(last, 0);
    ck_assert_int_eq(storage_lease_begin(st, 1, w, 9, 0, &err), KE_OK);
    ck_assert_int_eq(storage_lease_begin(st, 2, w, 9, 1, &err), KE_OK);
    ck_assert_int_eq(storage_lease_end(st, 1, "expired", &err), KE_OK);
    ck_assert_int_eq(storage_lease_end(st, 1, "finished", &err), KE_OK);   /* ended once */
    assert_sql("SELECT group_concat(coalesce(outcome, '-')) FROM leases ORDER BY id", "expired,-");
    sql_exec("DELETE FROM leases");
    ck_assert_int_eq(storage_lease_last(st, &last, &err), KE_OK);
    ck_assert_int_eq(last, 2);
}
END_TEST

static Suite *storage_suite(void)
{
    Suite *s = suite_create("storage");
    TCase *open = tcase_create("open");
    tcase_add_checked_fixture(open, setup, teardown);
    tcase_add_test(open, open_creates_and_migrates);
    tcase_add_test(open, new_history_is_private);
    tcase_add_test(open, dangling_link_refused);
    tcase_add_test(open, reopen_keeps_data);
    tcase_add_test(open, background_checkpoints_copy_the_wal);
    tcase_add_test(open, upgrades_version_1);
    tcase_add_test(open, newer_version_refused);
    tcase_add_test(open, not_sqlite_refused);
    tcase_add_test(open, foreign_sqlite_refused);
    tcase_add_test(open, url_schemes);
    tcase_add_test(open, workers_and_leases);
    suite_add_tcase(s, open);

    TCase *rows = tcase_create("rows");
    tcase_add_checked_fixture(rows, setup, teardown);
    tcase_add_test(rows, study_crud);
    tcase_add_test(rows, study_states_round_trip);
    tcase_add_test(rows, study_list_counts_and_best);
    tcase_add_test(rows, study_delete_cascades);
    tcase_add_test(rows, trial_numbering_and_params);
    tcase_add_test(rows, report_finish_logs);
    tcase_add_test(rows, reclaim_running);
    tcase_add_test(rows, stamp_moves_with_trial_writes);
    tcase_add_test(rows, stamp_moves_with_enqueued_id);
    suite_add_tcase(s, rows);

    TCase *crash = tcase_create("processes");
    tcase_add_checked_fixture(crash, setup, teardown);
    tcase_set_timeout(crash, 60);
    tcase_add_test(crash, crash_consistency);
    tcase_add_test(crash, concurrent_writers);
    suite_add_tcase(s, crash);
    return s;
}

int main(void)
{
    return check_run(storage_suite());
}

