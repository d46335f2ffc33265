/* storage_fixture: what the storage tests share: a temp dir with a
 * database path per test (setup/teardown for Check fixtures), rows made by
 * hand through the storage API, and reads through a separate plain sqlite3
 * connection, as a user's sqlite3 shell would. */
#ifndef KESTREL_STORAGE_FIXTURE_H
#define KESTREL_STORAGE_FIXTURE_H

#include <check.h>
#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/storage.h"

static char dir[64];
static char db_path[128];
static storage *st;
static kerror err;

static inline void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/kestrel-storage-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(db_path, sizeof db_path, "%s/history.db", dir);
    st = NULL;
    kerror_clear(&err);
}

static inline void teardown(void)
{
    storage_close(st);
    st = NULL;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[400];
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                unlink(path);
            }
        closedir(d);
    }
    rmdir(dir);
}

static inline void open_db(void)
{
    int rc = storage_open(&st, db_path, &err);
    ck_assert_msg(rc == KE_OK, "storage_open: %s", err.msg);
}

static inline int64_t new_study(const char *name, int maximize)
{
    int64_t id = 0;
    int rc = storage_study_create(st, name, "{\"name\":\"x\"}", "abcd", "loss",
                                  maximize, &id, &err);
    ck_assert_msg(rc == KE_OK, "study_create: %s", err.msg);
    return id;
}

/* Inserts a trial with fixed params; returns its id, its number in *number. */
static inline int64_t new_trial(int64_t study, int *number)
{
    storage_param p[2] = {{.name = "x", .num = -1}, {.name = "tag", .is_text = 1,
                                                     .text = "any"}};
    storage_trial t = {.resumed_from = -1, .retry_of = -1, .worker = "host:1",
                       .n_params = 2, .params = p};
    int rc = storage_trial_insert(st, study, &t, &err);
    ck_assert_msg(rc == KE_OK, "trial_insert: %s", err.msg);
    if (number) *number = t.number;
    return t.id;
}

/* Inserts the trial that must get number n, with params x = n / 2 (number)
 * and tag = "t<n>" (text); returns its id. */
static inline int64_t numbered_trial(int64_t study, int n)
{
    char tag[32];
    snprintf(tag, sizeof tag, "t%d", n);
    storage_param p[2] = {{.name = "x", .num = n / 2.0},
                          {.name = "tag", .is_text = 1, .text = tag}};
    storage_trial t = {.resumed_from = -1, .retry_of = -1, .n_params = 2, .params = p};
    int rc = storage_trial_insert(st, study, &t, &err);
    ck_assert_msg(rc == KE_OK, "trial_insert: %s", err.msg);
    ck_assert_int_eq(t.number, n);
    return t.id;
}

static inline void finish(int64_t trial, trial_state state, int has_value, double value)
{
    int rc = storage_trial_finish(st, trial, state, has_value, value, NULL, 0,
                                  state == TRIAL_COMPLETE ? NULL : "reason",
                                  NULL, NULL, &err);
    ck_assert_msg(rc == KE_OK, "trial_finish: %s", err.msg);
}

/* One text cell from a query on a separate plain sqlite3 connection. */
static char *sql_text(const char *sql)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_stmt *s;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s",
                  sql, sqlite3_errmsg(db));
    char *out = NULL;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        out = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
}

/* build-aux/embed.sh's array of the sql/ files, in order */
extern const char *const storage_migrations[];
extern const char *const storage_migrations_names[];

/* A plain connection (WAL, foreign keys on) to a new history at db_path at
 * schema version `version`, made with this binary's migrations 001 to
 * `version`, as the kestrel of that version made it; the caller adds its
 * rows and closes it. */
static inline sqlite3 *old_history(int version)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON",
                                  NULL, NULL, NULL), SQLITE_OK);
    for (int i = 0; i < version; i++)
        ck_assert_msg(sqlite3_exec(db, storage_migrations[i], NULL, NULL, NULL) == SQLITE_OK,
                      "%s: %s", storage_migrations_names[i], sqlite3_errmsg(db));
    char sql[48];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    return db;
}

static inline void sql_exec(const char *sql)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s",
                  sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* Every row that sql selects on db, one line each, columns split by '|'. */
static inline void print_rows(sqlite3 *db, FILE *f, const char *sql)
{
    sqlite3_stmt *rows;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &rows, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    while (sqlite3_step(rows) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(rows); i++) {
            const unsigned char *v = sqlite3_column_text(rows, i);
            fprintf(f, "%s%s", i ? "|" : "", v ? (const char *)v : "NULL");
        }
        fputc('\n', f);
    }
    sqlite3_finalize(rows);
}

static inline void assert_sql(const char *sql, const char *want)
{
    char *got = sql_text(sql);
    ck_assert_msg(got && strcmp(got, want) == 0, "%s\n  gave %s\n  want %s", sql,
                  got ? got : "NULL", want);
    free(got);
}


#endif
