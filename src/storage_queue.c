/* storage_queue: the SQLite backend's enqueued configurations (migration
 * 007; see storage.h). A row is pending while no trial names it in
 * enqueued_id; the unique index on that column makes the trial's insert the
 * one place a configuration is consumed, so none runs twice. */
#include <stdlib.h>
#include <string.h>

#include "storage_sqlite_impl.h"

int storage_enqueue_add(storage *st, int64_t study_id, const char *const *params_json, int n,
                        const char *origin, kerror *err)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "INSERT INTO enqueued (study_id, params, origin, created_at) "
                           "VALUES (?1, ?2, ?3, ?4)", -1, &s, NULL) != SQLITE_OK)
        return sq_db_error(st, err, "cannot enqueue");
    int rc = sq_begin(st, err);
    for (int i = 0; rc == KE_OK && i < n; i++) {
        sqlite3_bind_int64(s, 1, study_id);
        sqlite3_bind_text(s, 2, params_json[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, origin, -1, SQLITE_STATIC);
        sqlite3_bind_double(s, 4, sq_now_unix());
        if (sqlite3_step(s) != SQLITE_DONE)
            /* the study's row went between the caller's read and this write
             * (a delete by another request or process) */
            rc = sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_FOREIGNKEY
                     ? kerror_set(err, KE_NOTFOUND, NULL, "no study with id %lld",
                                  (long long)study_id)
                     : sq_db_error(st, err, "cannot enqueue");
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    return sq_end_txn(st, rc, err);
}

int storage_enqueue_list(storage *st, int64_t study_id, int pending_only,
                         storage_enqueued **out, int *n, kerror *err)
{
    *out = NULL;
    *n = 0;
    /* cached: each lease asks (another process may have enqueued since) */
    sqlite3_stmt *s = sq_query(st, Q_ENQUEUE_LIST, err);
    if (!s) return KE_DB;
    sqlite3_bind_int64(s, 1, study_id);
    sqlite3_bind_int(s, 2, pending_only);
    int rc = KE_OK, step, cap = 0, oom = 0;
    storage_enqueued *list = NULL;
    while (rc == KE_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        storage_enqueued *bigger = sq_grow(list, *n, &cap, sizeof *bigger);
        if (!bigger) {
            rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
            break;
        }
        list = bigger;
        storage_enqueued *e = &list[(*n)++];
        e->id = sqlite3_column_int64(s, 0);
        e->params_json = sq_column_dup(s, 1, &oom);
        e->origin = sq_column_dup(s, 2, &oom);
        e->created_at = sqlite3_column_double(s, 3);
        e->trial_number = sq_column_int_or(s, 4, -1);
    }
    if (rc == KE_OK && step != SQLITE_DONE)
        rc = sq_db_error(st, err, "cannot read the enqueued configurations");
    if (rc == KE_OK && oom) rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    sqlite3_reset(s);
    if (rc != KE_OK) {
        storage_enqueue_free(list, *n);
        *n = 0;
        return rc;
    }
    *out = list;
    return KE_OK;
}

void storage_enqueue_free(storage_enqueued *e, int n)
{
    for (int i = 0; i < n; i++) {
        free(e[i].params_json);
        free(e[i].origin);
    }
    free(e);
}
