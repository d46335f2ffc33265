/* test_cmd_query: `kestrel trials` and `kestrel best` run in-process on a
 * real history, with their study deleted by another connection between
 * two of their reads: `kestrel delete`, or the API, winning the race with
 * the command. The point is chosen, not timed: a trace hook, set on every
 * connection as it opens (sqlite3_auto_extension), deletes the study when
 * a chosen statement starts, before it reads anything. */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "storage_fixture.h"
#include "../src/cli.h"

/* What a statement's SQL holds when its start is to delete the study named
 * delete_name (once); NULL: none is. */
static const char *delete_at, *delete_name;

static int on_statement(unsigned type, void *ctx, void *stmt, void *unused)
{
    (void)type;
    (void)ctx;
    (void)unused;
    const char *text = sqlite3_sql(stmt);
    if (!delete_at || !text || !strstr(text, delete_at)) return 0;
    delete_at = NULL;   /* before the delete's own statements start */
    storage *other;
    kerror e;
    ck_assert_int_eq(storage_open(&other, db_path, &e), KE_OK);
    storage_study s;
    ck_assert_int_eq(storage_study_get(other, delete_name, &s, &e), KE_OK);
    ck_assert_msg(storage_study_delete(other, s.id, &e) == KE_OK, "%s", e.msg);
    storage_study_free(&s);
    storage_close(other);
    return 0;
}

static int trace_connection(sqlite3 *db, char **msg, const void *api)
{
    (void)msg;
    (void)api;
    sqlite3_trace_v2(db, SQLITE_TRACE_STMT, on_statement, NULL);
    return SQLITE_OK;
}

/* Runs `kestrel cmd study --db db_path` in-process (main_fn), its output in
 * dir/out.txt and its errors into errs; returns its exit status. */
static int run_query(int (*main_fn)(int, char **, const cli_ctx *), const char *cmd,
                     const char *study, char *errs, size_t size)
{
    char out_path[128], err_path[128];
    snprintf(out_path, sizeof out_path, "%s/out.txt", dir);
    snprintf(err_path, sizeof err_path, "%s/err.txt", dir);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    int out = open(out_path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    int err_fd = open(err_path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    ck_assert(saved_out >= 0 && saved_err >= 0 && out >= 0 && err_fd >= 0);
    dup2(out, 1);
    dup2(err_fd, 2);
    char *argv[] = {(char *)cmd, (char *)study, "--db", db_path, "--format", "csv", NULL};
    optind = 0;   /* getopt afresh, as for a process of its own */
    int status = main_fn(6, argv, &(cli_ctx){0});
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    ssize_t got = pread(err_fd, errs, size - 1, 0);
    errs[got > 0 ? got : 0] = '\0';
    close(out);
    close(err_fd);
    close(saved_out);
    close(saved_err);
    return status;
}

/* A study "gone" with a COMPLETE trial, deleted when the statement whose
 * SQL holds at starts in `kestrel cmd gone`: the command exits 5 with
 * want. */
static void deleted_at(int (*main_fn)(int, char **, const cli_ctx *), const char *cmd,
                       const char *at, const char *want)
{
    open_db();
    int64_t id = new_study("gone", 0);
    finish(new_trial(id, NULL), TRIAL_COMPLETE, 1, 0.5);
    storage_close(st);
    st = NULL;
    ck_assert_int_eq(sqlite3_auto_extension((void (*)(void))(void *)trace_connection), SQLITE_OK);
    delete_name = "gone";
    delete_at = at;
    char errs[1024];
    int status = run_query(main_fn, cmd, "gone", errs, sizeof errs);
    ck_assert_msg(delete_at == NULL, "no statement held '%s'", at);
    ck_assert_msg(status == CLI_NOTFOUND && strcmp(errs, want) == 0, "exit %d: %s", status, errs);
}

/* The study deleted after `kestrel trials` read it by name, before its
 * first page: its first read by id found no study, and the command said
 * "no study with id 1", an id the user never gave, where one deleted after
 * its first page is said to be. */
START_TEST(trials_of_a_study_deleted_before_its_first_page)
{
    deleted_at(cmd_trials_main, "trials", "direction = 'maximize', name FROM studies",
               "kestrel trials: study 'gone' was deleted while its trials were listed\n");
}
END_TEST

/* The same for `kestrel best`, which said "study 'gone' has no COMPLETE
 * trial yet" of a study with one. */
START_TEST(best_of_a_study_deleted_before_its_best_is_read)
{
    deleted_at(cmd_best_main, "best", "FROM study_best",
               "kestrel best: study 'gone' was deleted while its trials were listed\n");
}
END_TEST

/* A study left alone with no COMPLETE trial is still said to have none. */
START_TEST(best_of_a_study_with_no_complete_trial)
{
    open_db();
    int64_t id = new_study("open", 0);
    finish(new_trial(id, NULL), TRIAL_FAILED, 0, 0);
    char errs[1024];
    ck_assert_int_eq(run_query(cmd_best_main, "best", "open", errs, sizeof errs), CLI_NOTFOUND);
    ck_assert_str_eq(errs, "kestrel best: study 'open' has no COMPLETE trial yet\n");
}
END_TEST

static Suite *cmd_query_suite(void)
{
    Suite *s = suite_create("cmd_query");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, trials_of_a_study_deleted_before_its_first_page);
    tcase_add_test(tc, best_of_a_study_deleted_before_its_best_is_read);
    tcase_add_test(tc, best_of_a_study_with_no_complete_trial);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(cmd_query_suite());
}
