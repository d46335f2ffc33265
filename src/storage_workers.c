/* storage_workers: the SQLite backend's record of workers and their leases
 * (migration 006; a worker's key as its SHA-256 since 013; see storage.h).
 * A lease row is written when a trial is handed to a worker and closed when
 * its attempt ends, so the history says which worker ran each attempt; ids
 * are never reused (AUTOINCREMENT). */
#include <stdio.h>
#include <stdlib.h>

#include "sha256.h"
#include "storage_sqlite_impl.h"

/* kestrel_sha256(text): see sq_define_key_hash */
static void key_hash(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;   /* NULL stays NULL */
    const unsigned char *text = sqlite3_value_text(argv[0]);
    if (!text) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    unsigned char digest[SHA256_BYTES];
    char hex[SHA256_HEX];
    sha256(text, (size_t)sqlite3_value_bytes(argv[0]), digest);
    sha256_to_hex(digest, hex);
    sqlite3_result_text(ctx, hex, -1, SQLITE_TRANSIENT);
}

int sq_define_key_hash(sqlite3 *db)
{
    /* DIRECTONLY: not for a view or trigger a hand edit might add, which
     * another program's connection could not run */
    return sqlite3_create_function_v2(db, "kestrel_sha256", 1,
                                      SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
                                      NULL, key_hash, NULL, NULL, NULL);
}

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

int storage_worker_add(storage *st, const char *name, const char *info_json,
                       const unsigned char key_sha256[SHA256_BYTES], int64_t *id, kerror *err)
{
    sqlite3_stmt *s = sq_query(st, Q_WORKER_ADD, err);
    if (!s) return KE_DB;
    char hex[SHA256_HEX];
    sha256_to_hex(key_sha256, hex);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, info_json, -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 3, sq_now_unix());
    sqlite3_bind_text(s, 4, hex, -1, SQLITE_TRANSIENT);
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

int storage_lease_end_unkept(storage *st, const char *outcome, int *n, kerror *err)
{
    int rc = write_ints(st, Q_LEASE_END_UNKEPT, NULL, 0, outcome, err, "cannot end the leases");
    *n = rc == KE_OK ? sqlite3_changes(st->db) : 0;
    return rc;
}

void storage_leases_free(storage_lease *l, int n)
{
    for (int i = 0; l && i < n; i++) {
        free(l[i].study);
        free(l[i].worker);
        free(l[i].info);
        free(l[i].key_sha256);
    }
    free(l);
}

int storage_lease_kept(storage *st, storage_lease **out, int *n, kerror *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = sq_query(st, Q_LEASE_KEPT, err);
    if (!s) return KE_DB;
    int cap = 0, step = SQLITE_DONE, oom = 0;
    while (!oom && (step = sqlite3_step(s)) == SQLITE_ROW) {
        storage_lease *bigger = sq_grow(*out, *n, &cap, sizeof **out);
        if (!bigger) {
            oom = 1;
            break;
        }
        *out = bigger;
        storage_lease *l = &bigger[(*n)++];
        l->id = sqlite3_column_int64(s, 0);
        l->worker_id = sqlite3_column_int64(s, 1);
        l->study_id = sqlite3_column_int64(s, 2);
        l->number = sqlite3_column_int(s, 3);
        l->study = sq_column_dup(s, 4, &oom);
        l->worker = sq_column_dup(s, 5, &oom);
        l->info = sq_column_dup(s, 6, &oom);
        l->key_sha256 = sq_column_dup(s, 7, &oom);
    }
    int rc = oom ? kerror_set(err, KE_NOMEM, NULL, "out of memory")
                 : step != SQLITE_DONE ? sq_db_error(st, err, "reading the open leases") : KE_OK;
    sqlite3_reset(s);
    if (rc != KE_OK) {
        storage_leases_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}
