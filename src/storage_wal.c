/* storage_wal: a storage handle's WAL checkpoints on a thread of their own
 * (storage_wal_background in storage.h). A checkpoint copies the WAL into
 * the database and fsyncs both: SQLite's automatic one runs inside the
 * commit that crosses its mark, which held the engine's pass (a thousand
 * workers' calls waiting on it) for 30-50 ms whenever the disk was busy.
 * Invariant: the handle's commits never checkpoint once this runs; the
 * thread's own connection does, after each commit that leaves the WAL past
 * WAL_PAGES: PASSIVE (it never blocks the writer). Checkpointing that
 * often keeps what is left to copy small, so the RESTART below holds the
 * writer for a few ms only (once every 1000 pages instead: 10-60 ms more at
 * the p99 of a thousand workers' leases, bench/README.md). A passive checkpoint
 * alone never lets the WAL start over while the writer commits without a
 * pause (it restarts only at a write that begins with every frame copied,
 * and the writer appends while the copy runs): past WAL_RESTART pages the
 * thread also tries a RESTART, which holds the writer off while it copies
 * the few frames the passive one left, only when the write lock is free at
 * that moment (no busy handler: it never waits for the writer or for a
 * long reader, a dashboard's export, with the write lock held). */
#include <pthread.h>
#include <stdlib.h>

#include "storage_sqlite_impl.h"

#define WAL_PAGES 1000          /* SQLite's automatic checkpoint mark */
#define WAL_RESTART 8000        /* pages (32 MB) past which the WAL is made to start over */

struct storage_wal {
    sqlite3 *db;                /* the thread's own connection */
    pthread_t th;
    pthread_mutex_t mu;         /* due, stop */
    pthread_cond_t cv;
    int due, stop;
};

/* SQLite's WAL hook on the writer, after each commit: pages in the WAL. */
static int on_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db;
    (void)name;
    storage_wal *w = arg;
    if (pages < WAL_PAGES) return SQLITE_OK;
    pthread_mutex_lock(&w->mu);
    if (!w->due) pthread_cond_signal(&w->cv);
    w->due = 1;
    pthread_mutex_unlock(&w->mu);
    return SQLITE_OK;
}

static void *wal_main(void *arg)
{
    storage_wal *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->due && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop) break;
        w->due = 0;
        pthread_mutex_unlock(&w->mu);
        /* one that cannot finish (a reader on an old snapshot, the writer
         * holding its lock) is taken up again after the next commit */
        int pages = 0;
        sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &pages, NULL);
        if (pages >= WAL_RESTART)
            sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void wal_free(storage_wal *w)
{
    sqlite3_close(w->db);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

int storage_wal_background(storage *st, kerror *err)
{
    if (st->wal) return KE_OK;
    storage_wal *w = calloc(1, sizeof *w);
    if (!w) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    const char *path = sqlite3_db_filename(st->db, "main");
    if (sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE, storage_walbuf_vfs()) != SQLITE_OK) {
        kerror_set(err, KE_DB, NULL, "cannot open history '%s' for checkpoints: %s", path,
                   w->db ? sqlite3_errmsg(w->db) : "out of memory");
        wal_free(w);
        return KE_DB;
    }
    /* a connection sees WAL mode (and can checkpoint) once it has read */
    if (sqlite3_exec(w->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK) {
        kerror_set(err, KE_DB, NULL, "cannot read history '%s' for checkpoints: %s", path,
                   sqlite3_errmsg(w->db));
        wal_free(w);
        return KE_DB;
    }
    if (pthread_create(&w->th, NULL, wal_main, w) != 0) {
        wal_free(w);
        return kerror_set(err, KE_NOMEM, NULL, "cannot start the checkpoint thread");
    }
    st->wal = w;
    sqlite3_wal_hook(st->db, on_commit, w);   /* replaces the automatic checkpoint */
    return KE_OK;
}

int storage_wal_is_background(const storage *st)
{
    return st->wal != NULL;
}

void storage_wal_stop(storage *st)
{
    storage_wal *w = st->wal;
    if (!w) return;
    sqlite3_wal_hook(st->db, NULL, NULL);
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    wal_free(w);
    st->wal = NULL;
}
