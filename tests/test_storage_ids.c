/* test_storage_ids: a study's id is never handed out again, on real files
 * in a temp dir. A new history's studies, and a history of schema version
 * 10 (made here with this binary's own migrations 001 to 010, as every
 * kestrel up to that version made it) that migration 011 rebuilds: every
 * row, view, index and trigger kept, and the id of its largest study,
 * deleted before the upgrade, not given to the next one (a lease row still
 * names it). Before 011 a deleted study's id, when it was the largest, went
 * to the next study made, and what is kept by id (leases.study_id, a
 * waiting study in `kestrel serve`: test_storage_faults) took the old study
 * for the new. */
#include "check_main.h"
#include "storage_fixture.h"

#define OLD_VERSION 10

/* A history at schema version 10 with three studies (trials, their rows,
 * enqueued configurations, a worker's leases), the largest (c, id 3)
 * deleted as kestrel 10 deleted it: its rows go with it, its leases stay. */
static void make_version_10_history(void)
{
    ck_assert_str_eq(storage_migrations_names[OLD_VERSION - 1], "010_settled_values.sql");
    sqlite3 *db = old_history(OLD_VERSION);
    static const char rows[] =
        "INSERT INTO studies (name, spec, spec_hash, metric, direction, state, created_at,"
        " updated_at, state_reason, spec_dir, note) VALUES"
        " ('a', '{\"name\":\"a\"}', 'h1', 'loss', 'minimize', 'COMPLETE', 100.5, 101.5, NULL,"
        "  '/data/a', 'first'),"
        " ('b', '{\"name\":\"b\"}', 'h2', 'acc', 'maximize', 'FAILED', 200.25, 201, 'why', NULL,"
        "  NULL),"
        " ('c', '{\"name\":\"c\"}', 'h3', 'loss', 'minimize', 'RUNNING', 300, 300, NULL, NULL,"
        "  NULL);"
        "INSERT INTO enqueued (study_id, params, origin, created_at) VALUES"
        " (1, '{\"x\":0.25}', 'cli', 100.55), (1, '{\"x\":0.3}', 'api', 100.56),"
        " (3, '{\"x\":1}', 'spec', 300.1);"
        "INSERT INTO trials (study_id, number, state, value, started_at, finished_at, worker,"
        " failure, spec_hash, last_step, budget, resumed_from, retry_of, enqueued_id) VALUES"
        " (1, 0, 'COMPLETE', 0.5, 100.6, 100.9, 'h:1', NULL, 'h1', 2, 0, NULL, NULL, 1),"
        " (1, 1, 'FAILED', NULL, 100.7, 100.8, 'h:1', 'interrupted: stop', 'h1', -1, 0, NULL,"
        "  NULL, NULL),"
        " (1, 2, 'RUNNING', NULL, 100.95, NULL, 'h:1', NULL, 'h1', -1, 3, 0, NULL, NULL),"
        " (2, 0, 'COMPLETE', 0.9, 200.3, 200.4, 'h:9', NULL, 'h2', -1, 0, NULL, NULL, NULL),"
        " (3, 0, 'COMPLETE', 0.1, 300.1, 300.3, 'h:9', NULL, 'h3', -1, 0, NULL, NULL, 3),"
        " (3, 1, 'RUNNING', NULL, 300.2, NULL, 'h:9', NULL, 'h3', -1, 0, NULL, NULL, NULL);"
        "INSERT INTO trial_params VALUES (1, 'x', 0, 0.25, NULL), (1, 'tag', 1, NULL, 't0'),"
        " (4, 'x', 0, 0.5, NULL), (5, 'x', 0, 1, NULL);"
        "INSERT INTO trial_values VALUES (1, 1, 'loss', 0.7, 100.65), (1, 2, 'loss', 0.5, 100.8),"
        " (3, 1, 'loss', 0.6, 101), (5, 1, 'loss', 0.2, 300.2);"
        "INSERT INTO trial_metrics VALUES (1, 'loss', 0.5), (4, 'acc', 0.9), (5, 'loss', 0.1);"
        "INSERT INTO trial_logs VALUES (1, 'out', 'err'), (5, 'o', 'e');"
        "INSERT INTO workers (name, info, registered_at) VALUES ('h:9', '{\"host\":\"h\"}', 200);"
        "INSERT INTO leases (worker_id, study_id, trial_number, started_at, ended_at, outcome)"
        " VALUES (1, 2, 0, 200.3, 200.4, 'finished'), (1, 3, 0, 300.1, 300.3, 'finished'),"
        " (1, 3, 1, 300.2, 300.25, 'dropped');"
        "DELETE FROM studies WHERE name = 'c';";
    ck_assert_msg(sqlite3_exec(db, rows, NULL, NULL, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* The rows of every table but studies' definition, the views' answers,
 * and the schema of everything but the studies table and its own index,
 * through a plain connection: equal texts, equal histories. */
static char *history_text(void)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    static const char *const what[] = {
        "studies", "trials", "trial_params", "trial_values", "trial_metrics", "trial_logs",
        "study_counts", "enqueued", "workers", "leases", "trial_overview", "study_best",
        "best_trials", "study_summary"};
    char sql[200];
    for (size_t i = 0; i <= sizeof what / sizeof *what; i++) {
        /* every row in the order of all its columns */
        /* later versions add to workers (012: its key column, and the
         * kept_leases view on it; 013: the key's hash in its place) and to
         * studies (014: work_dir): compared as version 10 had them */
        if (i < sizeof what / sizeof *what)
            snprintf(sql, sizeof sql, "SELECT %s FROM %s ORDER BY 1, 2",
                     !strcmp(what[i], "workers") ? "id, name, info, registered_at"
                     : !strcmp(what[i], "studies") ? "id, name, spec, spec_hash, metric, "
                     "direction, state, created_at, updated_at, state_reason, spec_dir, note"
                     : "*", what[i]);
        else
            snprintf(sql, sizeof sql, "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE "
                     "tbl_name NOT IN ('studies', 'sqlite_sequence', 'workers', 'kept_leases') "
                     "ORDER BY 1, 2");
        sqlite3_stmt *q;
        ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK, "%s: %s", sql,
                      sqlite3_errmsg(db));
        for (int c = 3; c <= sqlite3_column_count(q); c++)
            snprintf(sql + strlen(sql), sizeof sql - strlen(sql), ", %d", c);
        sqlite3_finalize(q);
        fprintf(f, "%s\n", sql);
        print_rows(db, f, sql);
    }
    sqlite3_close(db);
    fclose(f);
    return text;
}

/* What makes the history whole: SQLite's checks, no row whose parent is
 * gone, and the trigger-kept counts equal to counting the trials. */
static void expect_whole(void)
{
    assert_sql("PRAGMA integrity_check", "ok");
    assert_sql("SELECT count(*) FROM pragma_foreign_key_check", "0");
    assert_sql("SELECT count(*) FROM studies s LEFT JOIN study_counts c ON c.study_id = s.id "
               "WHERE c.study_id IS NULL OR (c.n_trials, c.n_running, c.n_complete) IS NOT "
               "(SELECT count(*), count(CASE WHEN state = 'RUNNING' THEN 1 END), count(CASE WHEN "
               "state = 'COMPLETE' THEN 1 END) FROM trials t WHERE t.study_id = s.id)", "0");
}

/* The largest study deleted, the next study made takes a new id, and the
 * deleted one's lease rows do not name it. */
START_TEST(deleted_study_id_not_given_again)
{
    open_db();
    int64_t a = new_study("a", 0), b = new_study("b", 0);
    int64_t worker;
    unsigned char key_sha256[SHA256_BYTES] = {0};
    ck_assert_int_eq(storage_worker_add(st, "h:1", "{}", key_sha256, &worker, &err), KE_OK);
    ck_assert_int_eq(storage_lease_begin(st, 1, worker, b, 0, &err), KE_OK);
    finish(numbered_trial(b, 0), TRIAL_COMPLETE, 1, 0.5);
    ck_assert_int_eq(storage_study_delete(st, b, &err), KE_OK);
    int64_t again = new_study("b", 0);
    ck_assert_int_gt(again, b);
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM leases WHERE study_id = %lld", (long long)again);
    assert_sql(sql, "0");
    /* every study gone: still never an id given before */
    ck_assert_int_eq(storage_study_delete(st, a, &err), KE_OK);
    ck_assert_int_eq(storage_study_delete(st, again, &err), KE_OK);
    ck_assert_int_gt(new_study("c", 0), again);
    expect_whole();
}
END_TEST

/* A version-10 history is upgraded in place with every row it held, and
 * its deleted largest study's id (3, which its leases still name) is not
 * given to the next study. */
START_TEST(version_10_history_upgraded_whole)
{
    make_version_10_history();
    char *before = history_text();
    open_db();
    ck_assert_int_gt(storage_schema_version(st), OLD_VERSION);
    char *after = history_text();
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    assert_sql("SELECT sql LIKE '%id%INTEGER PRIMARY KEY AUTOINCREMENT%' FROM sqlite_schema "
               "WHERE name = 'studies'", "1");
    expect_whole();
    int64_t d = new_study("d", 0);
    ck_assert_int_eq(d, 4);
    storage_study s;
    ck_assert_int_eq(storage_study_get(st, "d", &s, &err), KE_OK);
    ck_assert_int_eq(s.n_trials, 0);
    storage_study_free(&s);
    /* the study's unique name, and its children's cascade, hold as before */
    ck_assert_int_eq(storage_study_create(st, "a", "{}", "h", "loss", 0, &d, &err), KE_CONFLICT);
    ck_assert_int_eq(storage_study_delete(st, 1, &err), KE_OK);
    assert_sql("SELECT (SELECT count(*) FROM trials WHERE study_id = 1) + (SELECT count(*) FROM "
               "trial_params WHERE trial_id <= 3) + (SELECT count(*) FROM enqueued WHERE study_id "
               "= 1) + (SELECT count(*) FROM study_counts WHERE study_id = 1)", "0");
    finish(numbered_trial(2, 1), TRIAL_COMPLETE, 1, 0.95);
    expect_whole();
    assert_sql("SELECT study || ':' || n_trials || ':' || best_value FROM study_summary "
               "WHERE study_id = 2", "b:2:0.95");
    /* opened again: nothing more to do */
    storage_close(st);
    st = NULL;
    open_db();
    ck_assert_int_gt(new_study("e", 0), 4);
}
END_TEST

/* A history whose every study was deleted, and that never leased: the
 * ids start over from 1 only where no row remembers any. */
START_TEST(empty_version_10_history_upgraded)
{
    make_version_10_history();
    sql_exec("PRAGMA foreign_keys = ON; DELETE FROM studies; DELETE FROM leases");
    open_db();
    expect_whole();
    ck_assert_int_eq(new_study("a", 0), 1);
    assert_sql("SELECT count(*) FROM workers", "1");
}
END_TEST

/* A row left without its parent before (a hand delete in a sqlite3 shell,
 * whose foreign keys are off) does not stop the upgrade, and stays. */
START_TEST(version_10_history_with_an_orphan_upgraded)
{
    make_version_10_history();
    sql_exec("INSERT INTO trial_metrics VALUES (99, 'loss', 1)");
    open_db();
    ck_assert_int_gt(storage_schema_version(st), OLD_VERSION);
    assert_sql("SELECT count(*) FROM pragma_foreign_key_check", "1");
    assert_sql("SELECT value FROM trial_metrics WHERE trial_id = 99", "1.0");
}
END_TEST

static Suite *storage_ids_suite(void)
{
    Suite *s = suite_create("storage_ids");
    TCase *tc = tcase_create("ids");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, deleted_study_id_not_given_again);
    tcase_add_test(tc, version_10_history_upgraded_whole);
    tcase_add_test(tc, empty_version_10_history_upgraded);
    tcase_add_test(tc, version_10_history_with_an_orphan_upgraded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(storage_ids_suite());
}
