/* storage_workers: the SQLite backend's record of workers and their leases
 * (migration 006; see storage.h). A lease row is written when a trial is
 * handed to a worker and closed when its attempt ends, so the history says
 * which worker ran each attempt; ids are never reused (AUTOINCREMENT). */
#include <stdio.h>

#include "storage_sqlite_impl.h"

/* Statement q (cached) with the int64s in args (n of them), then text if
 * any, then the time now, stepped to its end. */
static int write_ints(storage *st, int q, const int64_t *args, int n, const char *text,
                      kerror *err, const char *what)
{
    sqlite3_stmt *s = sq_query(st, q, err);
    if (!s) return KE_DB;
    for (int i = 0; i < n; i++) sqlite3_bind_int64(s, i + 1, args[i]);
    if (text) sqlite3_bind_text(s, n + 1, text, -1, SQLITE_STATIC);
    sqlite3_bind_double(s, n + (text ? 2 : 1), sq_now_unix());
    return sq_run_write(st, s, err, what);
}

int storage_worker_add(storage *st, const char *name, const char *info_json, int64_t *id,
                       kerror *err)
{
    sqlite3_stmt *s = sq_query(st, Q_WORKER_ADD, err);
    if (!s) return KE_DB;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, info_json, -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 3, sq_now_unix());
    int rc = sq_run_write(st, s, err, "cannot add a worker");
    if (rc == KE_OK) *id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int storage_lease_last(storage *st, int64_t *id, kerror *err)
{
    sqlite3_stmt *s = sq_query(st, Q_LEASE_LAST, err);
    if (!s) return KE_DB;
    int rc = sq_one_row(st, s, err, "no last lease");
    if (rc != KE_OK) return rc;
    *id = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return KE_OK;
}

int storage_lease_begin(storage *st, int64_t id, int64_t worker_id, int64_t study_id, int number,
                        kerror *err)
{
    int64_t args[] = {id, worker_id, study_id, number};
    return write_ints(st, Q_LEASE_BEGIN, args, 4, NULL, err, "cannot record a lease");
}

int storage_lease_end(storage *st, int64_t id, const char *outcome, kerror *err)
{
    int64_t args[] = {id};
    return write_ints(st, Q_LEASE_END, args, 1, outcome, err, "cannot end a lease");
}

int storage_lease_end_all(storage *st, const char *outcome, int *n, kerror *err)
{
    int rc = write_ints(st, Q_LEASE_END_ALL, NULL, 0, outcome, err, "cannot end the leases");
    *n = rc == KE_OK ? sqlite3_changes(st->db) : 0;
    return rc;
}
