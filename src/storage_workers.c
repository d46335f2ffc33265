/* storage_workers: the SQLite backend's record of workers and their leases
 * (migration 006; see storage.h). A lease row is written when a trial is
 * handed to a worker and closed when its attempt ends, so the history says
 * which worker ran each attempt; ids are never reused (AUTOINCREMENT). */
#include <stdio.h>

#include "storage_sqlite_impl.h"

/* Prepares sql, binds the int64s in args (n of them), steps it to its end. */
static int write_ints(storage *st, const char *sql, const int64_t *args, int n, const char *text,
                      kerror *err, const char *what)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return sq_db_error(st, err, what);
    for (int i = 0; i < n; i++) sqlite3_bind_int64(s, i + 1, args[i]);
    if (text) sqlite3_bind_text(s, n + 1, text, -1, SQLITE_STATIC);
    sqlite3_bind_double(s, n + (text ? 2 : 1), sq_now_unix());
    int rc = sqlite3_step(s) == SQLITE_DONE ? KE_OK : sq_db_error(st, err, what);
    sqlite3_finalize(s);
    return rc;
}

int storage_worker_add(storage *st, const char *name, const char *info_json, int64_t *id,
                       kerror *err)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "INSERT INTO workers (name, info, registered_at) "
                           "VALUES (?1, ?2, ?3)", -1, &s, NULL) != SQLITE_OK)
        return sq_db_error(st, err, "cannot add a worker");
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, info_json, -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 3, sq_now_unix());
    int rc = sqlite3_step(s) == SQLITE_DONE ? KE_OK : sq_db_error(st, err, "cannot add a worker");
    sqlite3_finalize(s);
    if (rc == KE_OK) *id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int storage_lease_last(storage *st, int64_t *id, kerror *err)
{
    sqlite3_stmt *s;
    /* sqlite_sequence keeps the highest id ever given, deleted rows' too */
    if (sqlite3_prepare_v2(st->db, "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE "
                           "name = 'leases'), 0)", -1, &s, NULL) != SQLITE_OK)
        return sq_db_error(st, err, "cannot read the last lease");
    int rc = sqlite3_step(s) == SQLITE_ROW ? KE_OK : sq_db_error(st, err, "cannot read the last lease");
    if (rc == KE_OK) *id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc;
}

int storage_lease_begin(storage *st, int64_t id, int64_t worker_id, int64_t study_id, int number,
                        kerror *err)
{
    int64_t args[] = {id, worker_id, study_id, number};
    return write_ints(st, "INSERT INTO leases (id, worker_id, study_id, trial_number, started_at) "
                      "VALUES (?1, ?2, ?3, ?4, ?5)", args, 4, NULL, err, "cannot record a lease");
}

int storage_lease_end(storage *st, int64_t id, const char *outcome, kerror *err)
{
    int64_t args[] = {id};
    return write_ints(st, "UPDATE leases SET outcome = ?2, ended_at = ?3 WHERE id = ?1 AND "
                      "ended_at IS NULL", args, 1, outcome, err, "cannot end a lease");
}

int storage_lease_end_all(storage *st, const char *outcome, int *n, kerror *err)
{
    int rc = write_ints(st, "UPDATE leases SET outcome = ?1, ended_at = ?2 WHERE ended_at IS NULL",
                        NULL, 0, outcome, err, "cannot end the leases");
    *n = rc == KE_OK ? sqlite3_changes(st->db) : 0;
    return rc;
}
