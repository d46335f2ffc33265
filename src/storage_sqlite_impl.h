/* storage_sqlite_impl: private to the SQLite backend of storage.h; only
 * storage_sqlite.c (opening, migrations, studies, these helpers),
 * storage_path.c (the history's path, checked before opening),
 * storage_trials.c (trials), storage_wal.c (checkpoints) and storage_walbuf.c
 * (the VFS that batches WAL writes) include it. It defines the storage handle, the
 * ids of the statements it caches and the helpers both halves share (sq_
 * names, internal to the backend).
 * Invariant: a statement from sq_query comes back reset with no bindings, and
 * every helper that steps a statement leaves it reset on any failure. */
#ifndef KESTREL_STORAGE_SQLITE_IMPL_H
#define KESTREL_STORAGE_SQLITE_IMPL_H

#include <sqlite3.h>
#include <stddef.h>

#include "storage.h"

/* Statement ids; their SQL is the query_sql table in storage_sqlite.c. */
enum {
    Q_STUDY_INSERT, Q_STUDY_BY_NAME, Q_STUDY_BY_ID, Q_STUDY_LIST,
    Q_STUDY_SPEC, Q_STUDY_STATE, Q_STUDY_DIR, Q_STUDY_WORK_DIR, Q_STUDY_NOTE, Q_STUDY_DELETE, Q_DATA_VERSION, Q_STUDY_MAXIMIZE,
    Q_STUDY_STAMP, Q_TRIAL_INSERT, Q_PARAM_INSERT, Q_PARAMS, Q_PAGE_PARAMS, Q_TRIAL_STATE,
    Q_VALUE_INSERT, Q_LAST_STEP, Q_TRIAL_END, Q_METRIC_INSERT, Q_LOGS_INSERT,
    Q_RECLAIM, Q_TRIAL_GET, Q_TRIAL_BEST, Q_VALUES, Q_METRICS, Q_METRIC_NAMES, Q_PARAM_NAMES, Q_LOGS,
    /* the same six for any state and one: storage_trial_each adds to the first */
    Q_EACH_ANY_NUM, Q_EACH_ANY_MIN, Q_EACH_ANY_MAX,
    Q_EACH_ANY_MIN_AFTER, Q_EACH_ANY_MAX_AFTER, Q_EACH_ANY_NONE_AFTER,
    Q_EACH_ONE_NUM, Q_EACH_ONE_MIN, Q_EACH_ONE_MAX,
    Q_EACH_ONE_MIN_AFTER, Q_EACH_ONE_MAX_AFTER, Q_EACH_ONE_NONE_AFTER,
    Q_CURVES,
    Q_WORKER_ADD, Q_LEASE_LAST, Q_LEASE_BEGIN, Q_LEASE_END, Q_LEASE_END_UNKEPT, Q_LEASE_KEPT,
    Q_ENQUEUE_LIST, Q_BEGIN, Q_COMMIT, Q_SAVEPOINT, Q_RELEASE,
    Q_COUNT
};

struct storage {
    sqlite3 *db;
    int version;
    sqlite3_stmt *q[Q_COUNT];   /* prepared on first use, finalized on close */
    int batch;                  /* in storage_batch_begin's transaction: sq_begin nests */
    storage_wal *wal;           /* its checkpoint thread, or NULL (storage_wal.c) */
};

/* Stops and frees st's checkpoint thread, if any (storage_close). */
void storage_wal_stop(storage *st);

/* The name of the VFS that gathers a commit's WAL frames into one write
 * (storage_walbuf.c), registered on the first call; NULL (use SQLite's
 * default) if it could not be. Every connection to a history opens with it. */
#define STORAGE_WALBUF_VFS "kestrel-walbuf"
/* Bytes the WAL file is trimmed to when it starts over (journal_size_limit):
 * storage_wal's restart mark, so a steady study never trims. */
#define STORAGE_WAL_LIMIT_TEXT "33554432"
const char *storage_walbuf_vfs(void);

/* Before SQLite opens the history file path (storage_path.c): KE_DB,
 * naming the cause, for a folder, fifo, socket or device, a file with more
 * than one name (hard links: SQLite's log goes by name) or a symbolic link
 * to nothing; a missing file is made empty with mode 0600. KE_OK else. */
int storage_path_prepare(const char *path, kerror *err);

/* Current Unix time in seconds, sub-second precision. */
double sq_now_unix(void);
/* Sets err to KE_DB with what and SQLite's message; returns KE_DB. */
int sq_db_error(storage *st, kerror *err, const char *what);
/* The statement for id (Q_*), owned by st; NULL (err set) if preparing failed. */
sqlite3_stmt *sq_query(storage *st, int id, kerror *err);
/* Steps a write to completion and resets it: KE_OK or KE_DB. */
int sq_run_write(storage *st, sqlite3_stmt *s, kerror *err, const char *what);
/* Steps s to its one row: KE_OK with the row current (the caller resets s),
 * else s reset and KE_NOTFOUND (message from fmt) or KE_DB. */
int sq_one_row(storage *st, sqlite3_stmt *s, kerror *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* BEGIN IMMEDIATE (a savepoint inside a batch); sq_end_txn commits (releases)
 * if rc is KE_OK, else rolls back (to the savepoint), and returns the first
 * failure. */
int sq_begin(storage *st, kerror *err);
int sq_end_txn(storage *st, int rc, kerror *err);
/* Binds text (a trial's output may be any bytes) as valid UTF-8, each bad
 * byte stored as U+FFFD, so every reader can put it in JSON. */
void sq_bind_text_or_null(sqlite3_stmt *s, int i, const char *text);
/* A malloc'd copy of text column i (the caller frees it), NULL for SQL NULL;
 * *oom set when the copy failed. */
char *sq_column_dup(sqlite3_stmt *s, int i, int *oom);
/* Integer column i, or none for SQL NULL. */
int sq_column_int_or(sqlite3_stmt *s, int i, int none);
/* Defines kestrel_sha256(text) on db: the lowercase hex SHA-256 of the
 * text's bytes, NULL for NULL (storage_workers.c). Migration 013 hashes the
 * workers' plain keys with it, which SQL alone cannot. SQLite's code. */
int sq_define_key_hash(sqlite3 *db);
/* arr, grown (doubling *cap) if it has no room for element `count` of size
 * bytes; NULL, arr left as it was, if memory ran out. */
void *sq_grow(void *arr, int count, int *cap, size_t size);

#endif
