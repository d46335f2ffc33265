/* test_storage_faults: I/O errors injected under the SQLite history, in the
 * manner of SQLite's own fault tests. A VFS shim, registered as the default
 * so storage_open uses it (beneath the history's own VFS, which gathers a
 * commit's WAL frames into one write), passes every call to the real VFS
 * but fails writes from the Nth on (until disarmed) or the Nth alone. While
 * armed it writes in pieces of WRITE_PIECE bytes, each counted as a write,
 * as the unix VFS does when the disk fills mid-write (a short write, then
 * the error): so a fault lands inside a commit's one write too. A trial's
 * completion (one transaction: its state, value, final metrics and output
 * tails) is retried with N = 1, 2, ... until it needs fewer writes than N:
 * every failing N must report the error and leave the file byte for byte
 * what it held before (nothing stored is lost, nothing half-written shows),
 * the database must pass integrity_check, and the same connection must
 * finish the trial once the fault is gone. The same shim under `kestrel
 * serve`'s engine (service + fleet, the worker API's C side) fails the
 * commit that would store a trial's end: of a worker's trial (the engine's
 * one transaction per pass; one I/O error, or a full disk that lasts past a
 * try to resume) and of a local one. Such an error is transient: the study
 * waits RUNNING, resumes from its history by itself, and ends with every
 * trial COMPLETE once, the interrupted one run again. A damaged file
 * (SQLITE_CORRUPT) is not: the study is FAILED at once, saying so; and a
 * full disk that outlasts --storage-retry ends it FAILED with the last
 * error, stored once the disk has room. The fleet keeps no worker whose
 * registration a failed commit rolled back, and drops a lease of a study
 * resumed since at the worker's next call; a given-up study deleted
 * meanwhile leaves the study made since alone. `kestrel run` (cmd_run_main on a
 * thread) resumes its study the same way, and gives up at the first try
 * to resume past --storage-retry, exit 1. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#include "check_main.h"
#include "storage_fixture.h"
#include "../src/cli.h"
#include "../src/events.h"
#include "../src/fleet.h"
#include "../src/lock.h"
#include "../src/sched_trial.h"
#include "../src/scheduler.h"
#include "../src/service.h"

/* ---- the shim ---- */

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
/* atomic: the engine thread writes while the test's thread arms */
static atomic_int fail_at;   /* the write (1-based, since arming) that fails; 0 = disarmed */
static atomic_int fail_sticky; /* every write after it fails too (a full disk) */
static atomic_int writes;    /* writes since arming */
static atomic_int failed;    /* writes failed since arming */
static atomic_int fail_rc;   /* what a failed write returns */
static atomic_int calls;     /* xWrite calls, armed or not */

typedef struct {
    sqlite3_file base;
    sqlite3_file *real;      /* the real VFS's file, allocated right after */
} fault_file;

static sqlite3_file *real_of(sqlite3_file *f)
{
    return ((fault_file *)f)->real;
}

/* Fails the nth write from now on (and every later one when sticky) with rc. */
static void arm_with(int n, int sticky, int rc)
{
    fail_at = 0;
    fail_sticky = sticky;
    fail_rc = rc;
    writes = failed = 0;
    fail_at = n;
}

static void arm(int n, int sticky)
{
    arm_with(n, sticky, SQLITE_IOERR_WRITE);
}

static int f_close(sqlite3_file *f)
{
    return real_of(f)->pMethods->xClose(real_of(f));
}

static int f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}

#define WRITE_PIECE 1024

static int f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    calls++;
    if (fail_at <= 0) return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
    for (int done = 0; done < n;) {
        int w = ++writes, len = n - done < WRITE_PIECE ? n - done : WRITE_PIECE;
        if (w == fail_at || (fail_sticky && w > fail_at)) {
            failed++;
            return fail_rc;
        }
        int rc = real_of(f)->pMethods->xWrite(real_of(f), (const char *)buf + done, len, off + done);
        if (rc != SQLITE_OK) return rc;
        done += len;
    }
    return SQLITE_OK;
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
    return real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int f_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int f_lock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xLock(real_of(f), level);
}

static int f_unlock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static int f_check_reserved(sqlite3_file *f, int *out)
{
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int f_file_control(sqlite3_file *f, int op, void *arg)
{
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int f_sector_size(sqlite3_file *f)
{
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int f_device_chars(sqlite3_file *f)
{
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int f_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **out)
{
    return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, out);
}

static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int f_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}

static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
    return real_of(f)->pMethods->xFetch(real_of(f), off, n, out);
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

static const sqlite3_io_methods fault_methods = {
    3, f_close, f_read, f_write, f_truncate, f_sync, f_file_size, f_lock, f_unlock,
    f_check_reserved, f_file_control, f_sector_size, f_device_chars, f_shm_map, f_shm_lock,
    f_shm_barrier, f_shm_unmap, f_fetch, f_unfetch};

static int f_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    fault_file *ff = (fault_file *)f;
    ff->real = (sqlite3_file *)(ff + 1);
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
    /* the unix VFS is version 3, as fault_methods claims */
    ff->base.pMethods = ff->real->pMethods ? &fault_methods : NULL;
    return rc;
}

/* Registers the shim as the default VFS, once per test process. */
static void shim_setup(void)
{
    setup();
    if (real_vfs) return;
    real_vfs = sqlite3_vfs_find(NULL);
    ck_assert_ptr_nonnull(real_vfs);
    ck_assert_int_ge(real_vfs->iVersion, 1);
    fault_vfs = *real_vfs;
    fault_vfs.zName = "kestrel-fault";
    fault_vfs.szOsFile = (int)sizeof(fault_file) + real_vfs->szOsFile;
    fault_vfs.xOpen = f_open;
    ck_assert_int_eq(sqlite3_vfs_register(&fault_vfs, 1), SQLITE_OK);
}

/* ---- what is stored ---- */

/* A connection of its own, as a user's sqlite3 shell would open. */
static sqlite3 *reader(void)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static void expect_integrity(sqlite3 *db)
{
    sqlite3_stmt *rows;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &rows, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(rows), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(rows, 0), "ok");
    sqlite3_finalize(rows);
}

/* Every row of every table, and the schema version, as one text: two dumps
 * are equal when the history is. Through its own connection (the shim
 * disarmed), as a reader after the fault would see it. */
static char *dump(void)
{
    sqlite3 *db = reader();
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    sqlite3_stmt *tables;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type = 'table' "
                                        "ORDER BY name", -1, &tables, NULL), SQLITE_OK);
    while (sqlite3_step(tables) == SQLITE_ROW) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT * FROM \"%s\"", sqlite3_column_text(tables, 0));
        fprintf(f, "[%s]\n", sqlite3_column_text(tables, 0));
        print_rows(db, f, sql);
    }
    sqlite3_finalize(tables);
    expect_integrity(db);
    sqlite3_close(db);
    fclose(f);
    return text;
}

/* A running trial with reports at two steps, as a study leaves one before
 * its end. */
static int64_t running_trial(int64_t study, int *number)
{
    int64_t id = new_trial(study, number);
    storage_metric m[2] = {{"loss", 0.9}, {"acc", 0.4}};
    for (int step = 1; step <= 2; step++)
        ck_assert_msg(storage_trial_report(st, id, step, m, 2, &err) == KE_OK, "%s", err.msg);
    return id;
}

/* The completion under test: a value, final metrics and both output tails,
 * so the transaction writes to every table a completion touches. */
static int complete(int64_t id, double value)
{
    storage_metric final[2] = {{"loss", value}, {"acc", 0.8}};
    kerror_clear(&err);
    return storage_trial_finish(st, id, TRIAL_COMPLETE, 1, value, final, 2, NULL,
                                "stdout tail", "stderr tail", &err);
}

static void expect_complete(int64_t study, int number, double value)
{
    storage_trial t;
    ck_assert_msg(storage_trial_get(st, study, number, &t, &err) == KE_OK, "%s", err.msg);
    ck_assert_int_eq(t.state, TRIAL_COMPLETE);
    ck_assert(t.has_value && t.value == value);
    storage_trial_free(&t);
}

/* Fails the completion at each write in turn; returns how many writes a
 * completion took (the first N that did not fail). */
static int fault_each_write(int sticky)
{
    open_db();
    int64_t sid = new_study("faults", 0);
    int64_t done = running_trial(sid, NULL);
    ck_assert_int_eq(complete(done, 0.5), KE_OK);
    for (int n = 1;; n++) {
        int number;
        int64_t id = running_trial(sid, &number);
        char *before = dump();
        arm(n, sticky);
        int rc = complete(id, 0.25);
        int hit = failed;
        arm(0, 0);
        if (rc == KE_OK) {
            ck_assert_int_eq(hit, 0);   /* a swallowed write error would be a lost row */
            free(before);
            expect_complete(sid, number, 0.25);
            return n;
        }
        ck_assert_msg(hit > 0, "write %d: failed (%s) without a fault", n, err.msg);
        ck_assert_int_eq(rc, KE_DB);
        ck_assert_msg(strstr(err.msg, "I/O error"), "write %d: %s", n, err.msg);
        char *after = dump();
        int same = strcmp(before, after) == 0;
        if (!same) fprintf(stderr, "before:\n%s\nafter:\n%s\n", before, after);
        ck_assert_msg(same, "write %d (%s): the history changed (both dumps on stderr)", n,
                      sticky ? "from it on" : "alone");
        free(before);
        free(after);
        /* the connection recovers: the same completion goes through now */
        ck_assert_msg(complete(id, 0.25) == KE_OK, "write %d: retry: %s", n, err.msg);
        expect_complete(sid, number, 0.25);
        expect_complete(sid, 0, 0.5);
    }
}

START_TEST(completion_survives_one_failed_write)
{
    /* more than one write, so some fault lands mid-transaction */
    ck_assert_int_gt(fault_each_write(0), 2);
}
END_TEST

START_TEST(completion_survives_a_full_disk)
{
    ck_assert_int_gt(fault_each_write(1), 2);
}
END_TEST

static int count_rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    int n = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* The history's VFS writes a commit's frames (about ten header and page
 * writes) as one write, made before the commit returns: another
 * connection sees the trial complete at once. */
START_TEST(commit_reaches_the_wal_in_one_write)
{
    open_db();
    int64_t sid = new_study("one-write", 0);
    int number;
    int64_t id = running_trial(sid, &number);
    calls = 0;
    ck_assert_int_eq(complete(id, 0.25), KE_OK);
    ck_assert_int_eq(calls, 1);
    sqlite3 *db = reader();
    ck_assert_int_eq(count_rows(db, "SELECT count(*) FROM trials WHERE state = 'COMPLETE' "
                                    "AND value = 0.25"), 1);
    expect_integrity(db);
    sqlite3_close(db);
}
END_TEST

/* A commit of more than the VFS's buffer (64 KB) goes out in parts, each
 * continuing the last, and reads back whole. */
START_TEST(long_commit_written_in_parts)
{
    open_db();
    int64_t sid = new_study("long", 0);
    int64_t id = running_trial(sid, NULL);
    enum { STEPS = 20000 };
    ck_assert_int_eq(storage_batch_begin(st, &err), KE_OK);
    calls = 0;
    for (int step = 3; step < 3 + STEPS; step++) {
        storage_metric m[2] = {{"loss", 1.0 / step}, {"acc", step * 1e-5}};
        ck_assert_msg(storage_trial_report(st, id, step, m, 2, &err) == KE_OK, "%s", err.msg);
    }
    ck_assert_msg(storage_batch_end(st, &err) == KE_OK, "%s", err.msg);
    sqlite3 *db = reader();
    ck_assert_int_eq(count_rows(db, "SELECT count(*) FROM trial_values WHERE step >= 3"), 2 * STEPS);
    expect_integrity(db);
    sqlite3_close(db);
    struct stat wal;
    char wal_path[sizeof db_path + 4];
    snprintf(wal_path, sizeof wal_path, "%s-wal", db_path);
    ck_assert_int_eq(stat(wal_path, &wal), 0);
    ck_assert_int_gt(wal.st_size, 4 * (64 << 10));
    ck_assert_int_ge(calls, 2);
    ck_assert_int_lt(calls, wal.st_size / 4096 / 4);
}
END_TEST

/* A commit whose last page does not fit what the VFS holds (the 16th
 * frame from an empty buffer, the 31st, ...) still reaches the WAL before
 * the commit returns: the buffer written to make room for that page held
 * the commit frame's header, and the page alone was kept back, so another
 * connection (a reader, the checkpoint thread) read a frame the WAL index
 * already listed from bytes not in the file: a short read, or a stale page
 * of the WAL's last round. Commits of 1 to 40 rows hit the 16th and the
 * 31st frame. */
START_TEST(commit_page_past_the_buffer_reaches_the_wal)
{
    open_db();
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, "kestrel-walbuf"),
                     SQLITE_OK);
    /* NORMAL, as every connection to a history: no sync at a commit
     * writes what the buffer holds */
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA synchronous = NORMAL; CREATE TABLE t (k INTEGER "
                                  "PRIMARY KEY, v BLOB)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3 *r = reader();
    int rows = 0;
    for (int pages = 1; pages <= 40; pages++) {
        /* a 3000-byte row fills a page of its own */
        ck_assert_int_eq(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
        for (int i = 0; i < pages; i++, rows++)
            ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO t (v) VALUES (randomblob(3000))",
                                          NULL, NULL, NULL), SQLITE_OK);
        ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_stmt *q;
        ck_assert_int_eq(sqlite3_prepare_v2(r, "SELECT count(*), sum(length(v)) FROM t", -1, &q,
                                            NULL), SQLITE_OK);
        int rc = sqlite3_step(q);
        ck_assert_msg(rc == SQLITE_ROW, "a commit of %d rows: the reader: %s", pages,
                      sqlite3_errmsg(r));
        ck_assert_int_eq(sqlite3_column_int(q, 0), rows);
        ck_assert_int_eq(sqlite3_column_int64(q, 1), 3000LL * rows);
        sqlite3_finalize(q);
    }
    expect_integrity(r);
    sqlite3_close(r);
    sqlite3_close(db);
}
END_TEST

/* A reader that holds its snapshot (a sqlite3 shell's open transaction)
 * keeps the checkpoints from reaching the WAL's end, so the commits after
 * it grow the file past its usual size. Once the reader lets go, the WAL
 * starts over and the file is trimmed back (journal_size_limit): it kept
 * its largest size until the history's last connection closed (453 MB
 * beside a live study of fast trials after a 25 s read). */
START_TEST(wal_file_trimmed_after_a_long_reader)
{
    open_db();
    int64_t sid = new_study("trim", 0);
    int64_t id = running_trial(sid, NULL);
    sqlite3 *r = reader();
    ck_assert_int_eq(sqlite3_exec(r, "BEGIN; SELECT count(*) FROM trials", NULL, NULL, NULL),
                     SQLITE_OK);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    struct stat sb = {0};
    storage_metric m[2] = {{"loss", 0.5}, {"acc", 0.5}};
    int step = 3;
    for (; stat(wal, &sb) == 0 && sb.st_size <= (40 << 20); step++)
        ck_assert_msg(storage_trial_report(st, id, step, m, 2, &err) == KE_OK, "%s", err.msg);
    ck_assert_int_gt(sb.st_size, 40 << 20);
    ck_assert_int_eq(sqlite3_exec(r, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(r);
    /* commits until the log starts over (a checkpoint, then a restart);
     * the bound only ends a loop that would never see it */
    for (int i = 0; i < 100000 && stat(wal, &sb) == 0 && sb.st_size > (32 << 20); i++, step++)
        ck_assert_msg(storage_trial_report(st, id, step, m, 2, &err) == KE_OK, "%s", err.msg);
    ck_assert_msg(sb.st_size <= (32 << 20), "the WAL is still %lld bytes", (long long)sb.st_size);
}
END_TEST

/* A transaction larger than a 5-page cache spills pages to the WAL before
 * its commit, reads them back, and writes some of them again in place: the
 * history's VFS (opened by name, as storage_open registered it) must write
 * what it holds before each read and each write elsewhere. */
START_TEST(spilled_transaction_through_the_buffer)
{
    open_db();
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, "kestrel-walbuf"),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA cache_size = 5; CREATE TABLE t (k INTEGER "
                                      "PRIMARY KEY, v TEXT); BEGIN", NULL, NULL, NULL), SQLITE_OK);
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 2000; k++) {
            char sql[160];
            snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO t VALUES (%d, "
                     "printf('%%d-%%d-%%.*c', %d, %d, 60, 'x'))", k, k, round);
            ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s",
                          sqlite3_errmsg(db));
        }
    ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3 *r = reader();
    ck_assert_int_eq(count_rows(r, "SELECT count(*) FROM t WHERE v = k || '-2-' || "
                                   "printf('%.*c', 60, 'x')"), 2000);
    expect_integrity(r);
    sqlite3_close(r);
    sqlite3_close(db);
}
END_TEST

/* ---- under the scheduler ---- */

/* A worker's lease takes a queued retry, and the insert of the retry's trial
 * fails: the retry stays queued, and the next lease runs it (it was dropped,
 * and the study went on without it). */
START_TEST(retry_kept_when_its_insert_fails)
{
    char trials[192];
    snprintf(trials, sizeof trials, "%s/trials", dir);
    spec_study spec;
    ck_assert_msg(spec_parse(&spec, "{\"name\": \"retry\", \"objective\": {\"metric\": "
                             "\"loss\", \"direction\": \"minimize\"}, \"space\": {\"x\": "
                             "{\"type\": \"float\", \"low\": 0, \"high\": 1}}, \"strategy\": "
                             "{\"name\": \"random\", \"seed\": 1}, \"budget\": {\"max_trials\": "
                             "2, \"max_parallel\": 2, \"max_retries\": 1}, \"run\": "
                             "{\"command\": [\"true\"]}}", &err) == KE_OK, "%s", err.msg);
    open_db();
    scheduler_opts o = {.db_path = db_path, .self_exe = "kestrel", .work_dir = trials};
    scheduler *s;
    ck_assert_msg(scheduler_open(&s, st, &spec, &o, &err) == KE_OK, "%s", err.msg);
    scheduler_set_parallel(s, 0);   /* a worker runs every trial */
    scheduler_remote rem = {.tag = 1, .worker = "w", .batch = 1};
    ck_assert_msg(scheduler_lease(s, &rem, &err) == KE_OK, "%s", err.msg);
    ck_assert(rem.leased);
    int lost = rem.trial->number;
    ck_assert_msg(scheduler_remote_lost(s, 1, "the worker vanished", &err) == KE_OK, "%s", err.msg);
    arm(1, 1);
    rem = (scheduler_remote){.tag = 2, .worker = "w", .batch = 1};
    ck_assert_int_eq(scheduler_lease(s, &rem, &err), KE_DB);
    ck_assert_int_gt(failed, 0);
    arm(0, 0);
    rem = (scheduler_remote){.tag = 3, .worker = "w", .batch = 1};
    ck_assert_msg(scheduler_lease(s, &rem, &err) == KE_OK, "%s", err.msg);
    ck_assert(rem.leased);
    ck_assert_int_eq(rem.trial->retry_of, lost);
    scheduler_stop(s, "test over");
    while (scheduler_step(s, 0, &err) > 0) {}
    scheduler_close(s);
    spec_free(&spec);
}
END_TEST

/* ---- under the engine of `kestrel serve` ---- */

/* The engine on its own thread, as cmd_serve runs it; the test's thread
 * plays the HTTP threads (the fleet's and the service's calls). */
static struct {
    service *sv;
    volatile sig_atomic_t stop;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int no_local, opened, rc;
    double storage_retry;       /* the service's option; 0: its default */
    kerror err;
} eng;

static void *engine_main(void *arg)
{
    (void)arg;
    service_opts o = {.db_path = db_path, .self_exe = "kestrel", .no_local = eng.no_local,
                      .lease_seconds = 3600, .storage_retry = eng.storage_retry};
    kerror err;
    int rc = service_open(&eng.sv, &o, &err);
    /* the server's commits leave checkpoints to their own thread (a pass of
     * a thousand workers' calls never waits for one) */
    if (rc == KE_OK && !storage_wal_is_background(service_storage(eng.sv)))
        rc = kerror_set(&err, KE_INTERNAL, NULL, "the server's checkpoints are not on their thread");
    pthread_mutex_lock(&eng.mu);
    eng.rc = rc;
    eng.err = err;
    eng.opened = 1;
    pthread_cond_signal(&eng.cv);
    pthread_mutex_unlock(&eng.mu);
    if (rc != KE_OK) return NULL;
    service_run(eng.sv, &eng.stop, &err);
    service_close(eng.sv);
    return NULL;
}

/* Starts the engine and submits the study of spec_text. */
static void engine_start_with(int no_local, double storage_retry, const char *spec_text)
{
    eng.no_local = no_local;
    eng.storage_retry = storage_retry;
    eng.stop = 0;
    eng.opened = 0;
    pthread_mutex_init(&eng.mu, NULL);
    pthread_cond_init(&eng.cv, NULL);
    ck_assert_int_eq(pthread_create(&eng.thread, NULL, engine_main, NULL), 0);
    pthread_mutex_lock(&eng.mu);
    while (!eng.opened) pthread_cond_wait(&eng.cv, &eng.mu);
    pthread_mutex_unlock(&eng.mu);
    ck_assert_msg(eng.rc == KE_OK, "service_open: %s", eng.err.msg);
    spec_study spec;
    ck_assert_msg(spec_parse(&spec, spec_text, &err) == KE_OK, "%s", err.msg);
    int created;
    ck_assert_msg(service_submit(eng.sv, &spec, &created, &err) == KE_OK, "%s", err.msg);
    ck_assert_int_eq(created, 1);
}

static void engine_start(int no_local, const char *spec_text)
{
    engine_start_with(no_local, 0, spec_text);
}

static void engine_stop(void)
{
    eng.stop = 1;
    pthread_join(eng.thread, NULL);
    pthread_mutex_destroy(&eng.mu);
    pthread_cond_destroy(&eng.cv);
}

static void engine_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The rows of the study's trials numbered below `below` (params, values,
 * metrics, logs too) but trial `except`'s, through a reader's connection,
 * which also checks the file's integrity. One study per test: numbers name
 * trials. */
static char *trials_but(int except, int below)
{
#define OLD "(SELECT id FROM trials WHERE number != %d AND number < %d)"
    static const char *const sql[] = {
        "SELECT * FROM trials WHERE id IN " OLD " ORDER BY id",
        "SELECT * FROM trial_params WHERE trial_id IN " OLD " ORDER BY trial_id, name",
        "SELECT * FROM trial_values WHERE trial_id IN " OLD " ORDER BY trial_id, step, name",
        "SELECT * FROM trial_metrics WHERE trial_id IN " OLD " ORDER BY trial_id, name",
        "SELECT * FROM trial_logs WHERE trial_id IN " OLD " ORDER BY trial_id"};
#undef OLD
    sqlite3 *db = reader();
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < sizeof sql / sizeof *sql; i++) {
        char q[256];
        snprintf(q, sizeof q, sql[i], except, below);
        print_rows(db, f, q);
    }
    expect_integrity(db);
    sqlite3_close(db);
    fclose(f);
    return text;
}

/* One integer that sql selects. */
static long long count(const char *sql)
{
    sqlite3 *db = reader();
    sqlite3_stmt *q;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK, "%s", sql);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    long long n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

/* The trial that a failed commit was to end: not COMPLETE but FAILED as
 * interrupted, so a resume runs it again (`why`: the reason's start after
 * "interrupted: "); exactly one trial holds its outcome in the end. */
static void expect_interrupted(int number, const char *why)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM trials WHERE number = %d AND state = 'FAILED' "
             "AND value IS NULL AND failure LIKE 'interrupted: %s%%'", number, why);
    ck_assert_int_eq(count(sql), 1);
}

static void expect_ended_once(int number)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM trials WHERE state = 'COMPLETE' AND "
             "(number = %d OR retry_of = %d)", number, number);
    ck_assert_int_eq(count(sql), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM trials WHERE state = 'RUNNING'"), 0);
}

/* The fleet's calls as a worker makes them (api_workers.c moves them). */
static int64_t worker_id;
static char worker_key[64];

static void worker_register(void)
{
    fleet_call c = {.op = FLEET_REGISTER,
                    .req = json_pack("{s:s, s:i, s:i}", "host", "h", "pid", 1, "slots", 2)};
    ck_assert_msg(fleet_call_run(eng.sv, &c, &err) == KE_OK, "%s", err.msg);
    json_decref(c.req);
    json_t *out = c.out;
    worker_id = json_integer_value(json_object_get(out, "id"));
    snprintf(worker_key, sizeof worker_key, "%s", json_string_value(json_object_get(out, "key")));
    json_decref(out);
}

/* A lease's id, its trial's number in *number; 0 when none is due. */
static int64_t worker_lease(int *number)
{
    fleet_call c = {.op = FLEET_LEASE, .id = worker_id,
                    .req = json_pack("{s:s, s:i}", "key", worker_key, "gpus_free", 0)};
    ck_assert_msg(fleet_call_run(eng.sv, &c, &err) == KE_OK, "%s", err.msg);
    json_decref(c.req);
    json_t *out = c.out;
    if (!out) return 0;
    int64_t lease = json_integer_value(json_object_get(out, "lease"));
    *number = (int)json_integer_value(json_object_get(json_object_get(out, "trial"), "number"));
    json_decref(out);
    return lease;
}

/* The trial exited 0 after reporting loss. */
static int worker_finish(int64_t lease, double loss)
{
    char line[64];
    snprintf(line, sizeof line, "{\"loss\": %g}", loss);
    fleet_call c = {.op = FLEET_FINISH, .id = lease,
                    .req = json_pack("{s:I, s:s, s:[s], s:{s:b, s:i}}", "worker",
                                     (json_int_t)worker_id, "key", worker_key, "lines", line,
                                     "exit", "exited", 1, "exit_code", 0)};
    kerror_clear(&err);
    int rc = fleet_call_run(eng.sv, &c, &err);
    json_decref(c.req);
    json_decref(c.out);
    return rc;
}

/* The state the last study_state event of study announced (a new string),
 * or NULL. */
static char *last_state_event(const char *study)
{
    uint64_t after = 0, seq;
    char *frame, *state = NULL;
    while (events_next(service_events(eng.sv), after, study, 0, &frame, &seq) == 1) {
        const char *s = strstr(frame, "\"state\":\"");
        if (strstr(frame, "event: study_state") && s) {
            free(state);
            state = strndup(s + 9, strcspn(s + 9, "\""));
        }
        free(frame);
        after = seq;
    }
    return state;
}

/* Opens the FIFO trial `number` reads its report from, once it reads it
 * (the trial is running: its row is stored). */
static int trial_fifo(int number)
{
    char path[192];
    snprintf(path, sizeof path, "%s/fifo%d", dir, number);
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    return fd;
}

static void report_loss(int fd, double loss)
{
    ck_assert_int_gt(dprintf(fd, "{\"loss\": %g}\n", loss), 0);
    close(fd);
}

/* Waits (a hang guard: the test's timeout) for the engine to end the study. */
static void wait_inactive(void)
{
    service_stats ss;
    for (service_get_stats(eng.sv, &ss); ss.active; service_get_stats(eng.sv, &ss))
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
}

/* Waits (a hang guard: the test's timeout) until n studies wait to resume. */
static void wait_waiting(int n)
{
    service_stats ss;
    for (service_get_stats(eng.sv, &ss); ss.waiting != n; service_get_stats(eng.sv, &ss))
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
}

/* Every trial of the study ended once, `complete` of them COMPLETE, and
 * the study is COMPLETE. */
static void expect_study_complete(int complete)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM trials WHERE state = 'COMPLETE'");
    ck_assert_int_eq(count(sql), complete);
    ck_assert_int_eq(count("SELECT count(*) FROM trials WHERE state = 'RUNNING'"), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM studies WHERE state = 'COMPLETE' AND "
                           "state_reason IS NULL"), 1);
}

/* The last study_state event of study said state. */
static void expect_announced(const char *study, const char *state)
{
    char *announced = last_state_event(study);
    ck_assert_ptr_nonnull(announced);
    ck_assert_str_eq(announced, state);
    free(announced);
}

/* Study (the only one) is FAILED with a reason LIKE reason, told so, and its
 * 2 trials are ended: `trial` interrupted (why: its reason's start). */
static void expect_failed(const char *study, const char *reason, int trial, const char *why)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM studies WHERE state = 'FAILED' AND "
             "state_reason LIKE '%s'", reason);
    ck_assert_int_eq(count(sql), 1);
    expect_interrupted(trial, why);
    ck_assert_int_eq(count("SELECT count(*) FROM trials"), 2);
    expect_announced(study, "FAILED");
}

/* Starts the engine as a pure coordinator (storage_retry: its option) with
 * study "remote" of 3 trials, 2 at a time; a worker leases trials a and b
 * and ends a. Returns b's lease. */
static int64_t worker_study(double storage_retry, int *a, int *b)
{
    engine_start_with(1, storage_retry, "{\"name\": \"remote\", \"objective\": {\"metric\": "
                      "\"loss\", \"direction\": \"minimize\"}, \"space\": {\"x\": {\"type\": "
                      "\"float\", \"low\": 0, \"high\": 1}}, \"strategy\": {\"name\": \"random\","
                      " \"seed\": 1}, \"budget\": {\"max_trials\": 3, \"max_parallel\": 2},"
                      " \"run\": {\"command\": [\"true\"]}}");
    worker_register();
    int64_t la = worker_lease(a), lb = worker_lease(b);
    ck_assert(la > 0 && lb > 0);
    ck_assert_int_eq(worker_finish(la, 0.5), KE_OK);
    return lb;
}

/* _i = 0: one write fails (an I/O error). _i = 1: the disk is full (every
 * write fails) until a try to resume has failed too: the study's wait
 * cannot even be stored, it stays RUNNING with the trial, and the resume
 * reclaims the trial. Either way the study resumes by itself once storage
 * works, runs b again, and ends with its 3 trials COMPLETE, b's once. */
START_TEST(worker_completion_in_a_failed_commit)
{
    int sticky = _i;
    int a, b;
    int64_t lb = worker_study(0, &a, &b);
    char *before = trials_but(b, 2);
    /* a pure coordinator with nothing due writes nothing between passes:
     * the first write is the commit of the pass holding b's end */
    arm_with(1, sticky, sticky ? SQLITE_FULL : SQLITE_IOERR_WRITE);
    int rc = worker_finish(lb, 0.25);
    ck_assert_int_gt(failed, 0);
    ck_assert_msg(rc == KE_DB && strstr(err.msg, sticky ? "disk is full" : "I/O error"),
                  "the worker heard %d: %s", rc, err.msg);
    /* the worker sends it again: its lease ended with the study's scheduler */
    ck_assert_int_eq(worker_finish(lb, 0.25), KE_CONFLICT);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM trials WHERE number = %d AND state = "
             "'RUNNING'", b);
    ck_assert_int_eq(count(sql), sticky);
    if (sticky) {
        /* the study waits, and its first try to resume meets the full disk */
        wait_waiting(1);
        int f = failed;
        while (failed == f) nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
        wait_waiting(1);
    }
    arm(0, 0);
    /* never FAILED, and the failed commit changed no other trial */
    expect_announced("remote", "RUNNING");
    ck_assert_int_eq(count("SELECT count(*) FROM studies WHERE state != 'RUNNING'"), 0);
    char *after = trials_but(b, 2);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    /* it resumes by itself: b's retry and the third trial come to the worker */
    int number, n = 0;
    while (n < 2) {
        int64_t l = worker_lease(&number);
        if (!l) {
            ck_assert_int_eq(count("SELECT count(*) FROM studies WHERE state = 'FAILED'"), 0);
            nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
            continue;
        }
        ck_assert_msg(worker_finish(l, 0.1 * number) == KE_OK, "%s", err.msg);
        n++;
    }
    wait_inactive();
    wait_waiting(0);
    expect_interrupted(b, sticky ? "the kestrel process running it died" : "a storage error: %I/O error");
    expect_ended_once(b);
    expect_ended_once(a);
    expect_study_complete(3);
    /* b's lease, dropped in the failed pass, has its row ended all the same */
    ck_assert_int_eq(count("SELECT count(*) FROM leases WHERE ended_at IS NULL"), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM leases WHERE outcome = 'dropped'"), 1);
    engine_stop();
}
END_TEST

/* A stop (POST .../stop) of a study that waits to resume on a full disk,
 * whose STOPPED cannot be stored either: the server forgot the study all
 * the same, which then stayed RUNNING with its wait's reason, resumed by
 * nobody, and the next stop was refused as one "another kestrel process"
 * waits to resume. It waits on, and a stop once the disk has room stops
 * it. */
START_TEST(stop_of_a_waiting_study_not_stored_keeps_it_waiting)
{
    int a, b;
    int64_t lb = worker_study(0, &a, &b);
    arm_with(1, 1, SQLITE_FULL);
    ck_assert_int_eq(worker_finish(lb, 0.25), KE_DB);
    wait_waiting(1);
    ck_assert_int_eq(service_stop(eng.sv, "remote", &err), KE_DB);
    ck_assert_msg(strstr(err.msg, "disk is full"), "%s", err.msg);
    service_stats ss;
    service_get_stats(eng.sv, &ss);
    ck_assert_msg(ss.waiting == 1, "the server waits on the study no more");
    arm(0, 0);
    ck_assert_msg(service_stop(eng.sv, "remote", &err) == KE_OK, "%s", err.msg);
    ck_assert_int_eq(count("SELECT count(*) FROM studies WHERE state = 'STOPPED'"), 1);
    engine_stop();
}
END_TEST

/* A worker's study on a disk that stays full past --storage-retry (10 ms):
 * its finish fails, the study waits, and a try after that meets the full
 * disk (given up); the fault stays armed. *b (b may be NULL): the trial
 * left unended. */
static void give_up_on_a_full_disk(int *b)
{
    int a, unended;
    int64_t lb = worker_study(0.01, &a, b ? b : &unended);
    arm_with(1, 1, SQLITE_FULL);
    ck_assert_int_eq(worker_finish(lb, 0.25), KE_DB);
    wait_waiting(1);
    int f = failed;
    while (failed == f) nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
}

/* A full disk that outlasts --storage-retry (here 10 ms: the first try to
 * resume is already past it): the study is given up, FAILED with the last
 * error once that can be stored (the server keeps trying to store it), and
 * the trial it could not end is marked interrupted. */
START_TEST(worker_study_given_up_on_a_lasting_full_disk)
{
    int b;
    give_up_on_a_full_disk(&b);
    arm(0, 0);
    wait_waiting(0);
    expect_failed("remote", "storage errors for % s (given up): %disk is full", b,
                  "the study failed: storage errors for ");
    engine_stop();
}
END_TEST

/* A study given up after storage errors that another process resumed
 * meanwhile (it holds the study's lock when the FAILED can be stored) is
 * that process's: it stays RUNNING, not FAILED under the other's run, and
 * this server waits on it no more. */
/* Takes study id's lock as another process would: the server's own tries
 * to store the give-up take it too, for a moment each, so a busy lock is
 * waited out (a first try that met one failed the test on a loaded
 * machine). */
static void lock_when_free(lock_handle *h, int64_t id)
{
    int rc;
    while ((rc = lock_study(h, db_path, id, &err)) == KE_BUSY)
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    ck_assert_msg(rc == KE_OK, "%s", err.msg);
}

START_TEST(given_up_study_resumed_elsewhere)
{
    give_up_on_a_full_disk(NULL);
    lock_handle other;
    lock_when_free(&other, count("SELECT id FROM studies"));
    arm(0, 0);
    wait_waiting(0);
    ck_assert_int_eq(count("SELECT count(*) FROM studies WHERE state = 'RUNNING'"), 1);
    lock_release(&other);
    engine_stop();
}
END_TEST

/* A given-up study deleted by another process while the disk is full
 * (`kestrel delete` takes its lock, free while it waits), and a study made
 * since: once the server can store again, the FAILED it owes the deleted
 * study must not land on the new one, which before migration 011 had its
 * id (the largest, deleted, was handed out again) and was stored FAILED
 * with the other's reason. The new study is left as it was. */
START_TEST(given_up_study_deleted_and_its_id_taken)
{
    give_up_on_a_full_disk(NULL);
    /* the give-up's first try to store FAILED: the engine asks no more for
     * the study by its name, only by the id it holds */
    int f = failed;
    while (failed == f) nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    int64_t id = count("SELECT id FROM studies");
    sqlite3 *db;   /* another process's, on a disk with room for it */
    ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, "unix"), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    lock_handle h;
    lock_when_free(&h, id);
    ck_assert_msg(sqlite3_exec(db, "PRAGMA foreign_keys = ON; DELETE FROM studies; INSERT INTO "
                               "studies (name, spec, spec_hash, metric, direction, state, "
                               "created_at, updated_at) VALUES ('other', '{}', 'h', 'loss', "
                               "'minimize', 'COMPLETE', 1, 1)", NULL, NULL, NULL) == SQLITE_OK,
                  "%s", sqlite3_errmsg(db));
    lock_release(&h);
    sqlite3_close(db);
    arm(0, 0);
    wait_waiting(0);
    ck_assert_int_eq(count("SELECT count(*) FROM studies WHERE name = 'other' AND state = "
                           "'COMPLETE' AND state_reason IS NULL"), 1);
    engine_stop();
}
END_TEST

/* The workers GET /workers lists, and those service_get_stats counts
 * with the leases they run. */
static void expect_fleet(int workers, int leases)
{
    json_t *out;
    ck_assert_msg(fleet_list(eng.sv, &out, &err) == KE_OK, "%s", err.msg);
    ck_assert_int_eq(json_array_size(json_object_get(out, "workers")), workers);
    json_decref(out);
    service_stats ss;
    service_get_stats(eng.sv, &ss);
    ck_assert_int_eq(ss.workers, workers);
    ck_assert_int_eq(ss.remote, leases);
}

/* A registration whose commit fails is not kept: the worker heard the
 * error and registers again (getting the id the rolled-back row had, as
 * AUTOINCREMENT hands it out again), and the fleet holds that one worker. */
START_TEST(worker_registration_in_a_failed_commit)
{
    int a, b;
    worker_study(0, &a, &b);
    int64_t first = worker_id;
    fleet_call c = {.op = FLEET_REGISTER,
                    .req = json_pack("{s:s, s:i, s:i}", "host", "h2", "pid", 2, "slots", 1)};
    arm(1, 0);
    ck_assert_int_eq(fleet_call_run(eng.sv, &c, &err), KE_DB);
    ck_assert_int_gt(failed, 0);
    arm(0, 0);
    json_decref(c.out);
    c.out = NULL;
    ck_assert_msg(fleet_call_run(eng.sv, &c, &err) == KE_OK, "%s", err.msg);
    json_decref(c.req);
    ck_assert_int_eq(json_integer_value(json_object_get(c.out, "id")), first + 1);
    json_decref(c.out);
    ck_assert_int_eq(count("SELECT count(*) FROM workers"), 2);
    /* the failed commit also took the study off the engine: b's lease is
     * dropped at its next call */
    expect_fleet(2, 1);
    wait_waiting(0);
    engine_stop();
}
END_TEST

/* A lease of a study that a failed commit took off the engine (the commit
 * of the pass holding a report of the lease's trial), and which resumed
 * before the worker's next call: that call drops the lease (the resumed
 * study's scheduler does not know it) instead of answering 409 and keeping
 * it, counted as running, until heartbeats left it out and it went into
 * the worker's lost trials. */
START_TEST(worker_lease_of_a_resumed_study)
{
    int a, b;
    int64_t lb = worker_study(0, &a, &b);
    fleet_call c = {.op = FLEET_REPORT, .id = lb,
                    .req = json_pack("{s:I, s:s, s:[s]}", "worker", (json_int_t)worker_id, "key",
                                     worker_key, "lines", "{\"step\": 1, \"loss\": 0.3}")};
    arm(1, 0);
    ck_assert_int_eq(fleet_call_run(eng.sv, &c, &err), KE_DB);
    ck_assert_int_gt(failed, 0);
    arm(0, 0);
    json_decref(c.req);
    json_decref(c.out);
    wait_waiting(1);
    wait_waiting(0);    /* resumed, a second after the error */
    expect_fleet(1, 1);
    ck_assert_int_eq(worker_finish(lb, 0.25), KE_CONFLICT);
    expect_fleet(1, 0);
    /* b's retry and the third trial, on this worker */
    int number, n = 0;
    while (n < 2) {
        int64_t l = worker_lease(&number);
        if (!l) {
            nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
            continue;
        }
        ck_assert_msg(worker_finish(l, 0.1 * number) == KE_OK, "%s", err.msg);
        n++;
    }
    wait_inactive();
    expect_ended_once(b);
    expect_study_complete(3);
    engine_stop();
}
END_TEST

/* Runs sql on a connection of the test's own (the engine between passes). */
static void exec_sql(const char *sql)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* A lease whose row cannot be stored (its INSERT alone fails: a trigger
 * raises, the pass's commit is fine) leaves nothing behind: the worker hears
 * the error, the fleet holds no such lease (the worker's slot stays free),
 * no trial stays RUNNING for it: the scheduler's trial is interrupted and
 * retried, and the next lease runs that retry. */
START_TEST(worker_lease_row_not_stored)
{
    int a, b;
    int64_t lb = worker_study(0, &a, &b);
    exec_sql("CREATE TRIGGER lease_fault BEFORE INSERT ON leases "
             "BEGIN SELECT RAISE(ABORT, 'injected fault'); END");
    fleet_call c = {.op = FLEET_LEASE, .id = worker_id,
                    .req = json_pack("{s:s, s:i}", "key", worker_key, "gpus_free", 0)};
    kerror_clear(&err);
    ck_assert_int_eq(fleet_call_run(eng.sv, &c, &err), KE_DB);
    ck_assert_msg(strstr(err.msg, "cannot record a lease") && strstr(err.msg, "injected fault"),
                  "%s", err.msg);
    ck_assert_ptr_null(c.out);
    json_decref(c.req);
    expect_fleet(1, 1);
    ck_assert_int_eq(count("SELECT count(*) FROM trials WHERE state = 'RUNNING'"), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM trials WHERE number = 2 AND state = 'FAILED' "
                           "AND failure LIKE 'interrupted: %cannot record a lease%'"), 1);
    exec_sql("DROP TRIGGER lease_fault");
    ck_assert_msg(worker_finish(lb, 0.25) == KE_OK, "%s", err.msg);
    int number;
    int64_t l = worker_lease(&number);
    ck_assert(l > lb);
    ck_assert_int_eq(count("SELECT retry_of FROM trials WHERE number = 3"), 2);
    ck_assert_msg(worker_finish(l, 0.1) == KE_OK, "%s", err.msg);
    wait_inactive();
    expect_study_complete(3);
    ck_assert_int_eq(count("SELECT count(*) FROM leases"), 3);
    ck_assert_int_eq(count("SELECT count(*) FROM leases WHERE ended_at IS NULL"), 0);
    engine_stop();
}
END_TEST

/* Starts a local study of max_trials trials (one at a time), each of which
 * reads its loss from its FIFO; trial 0 ends with 0.5, and trial 1, stored
 * RUNNING with nothing else due, gets the returned FIFO. */
static int local_study(const char *name, int max_trials)
{
    for (int k = 0; k < max_trials + 1; k++) {
        char path[192];
        snprintf(path, sizeof path, "%s/fifo%d", dir, k);
        ck_assert_int_eq(mkfifo(path, 0600), 0);
    }
    char spec[1024];
    snprintf(spec, sizeof spec,
             "{\"name\": \"%s\", \"objective\": {\"metric\": \"loss\", \"direction\": "
             "\"minimize\"}, \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}},"
             " \"strategy\": {\"name\": \"random\", \"seed\": 1},"
             " \"budget\": {\"max_trials\": %d, \"max_parallel\": 1},"
             " \"run\": {\"command\": [\"cat\", \"%s/fifo{trial}\"]}}", name, max_trials, dir);
    engine_start(0, spec);
    report_loss(trial_fifo(0), 0.5);
    return trial_fifo(1);
}

/* Trial 1's end met one I/O error, and the study, resumed, runs it again as
 * trial 2; the other trials are as they were (before: trials_but(1, 2)
 * then; freed). */
static void expect_rerun_of_1(char *before)
{
    char *after = trials_but(1, 2);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    expect_interrupted(1, "a storage error: %I/O error");
    ck_assert_int_eq(count("SELECT count(*) FROM trials WHERE number = 2 AND retry_of = 1"), 1);
}

/* ... and trial 2 ended it: its 2 configurations COMPLETE, each once. */
static void expect_rerun_complete(void)
{
    expect_ended_once(1);
    expect_ended_once(0);
    expect_study_complete(2);
}

START_TEST(local_completion_in_a_failed_commit)
{
    int fd = local_study("local", 2);
    char *before = trials_but(1, 2);
    /* the first write is the commit of trial 1's end */
    arm(1, 0);
    report_loss(fd, 0.25);
    /* the study waits, resumes from its history and runs trial 1 again as
     * trial 2, which opens its FIFO */
    fd = trial_fifo(2);
    ck_assert_int_gt(failed, 0);
    arm(0, 0);
    expect_rerun_of_1(before);
    report_loss(fd, 0.25);
    wait_inactive();
    expect_rerun_complete();
    engine_stop();
}
END_TEST

/* A write that fails as a damaged file's (SQLITE_CORRUPT): no retry can
 * mend it, so the study is FAILED at once and says why. */
START_TEST(local_completion_on_a_damaged_file)
{
    int fd = local_study("damaged", 3);
    arm_with(1, 0, SQLITE_CORRUPT);
    report_loss(fd, 0.25);
    wait_inactive();
    ck_assert_int_gt(failed, 0);
    arm(0, 0);
    service_stats ss;
    service_get_stats(eng.sv, &ss);
    ck_assert_int_eq(ss.waiting, 0);
    expect_failed("damaged", "a storage error that retrying cannot mend: %malformed%", 1,
                  "the study failed: %malformed");
    engine_stop();
}
END_TEST

/* A given-up study's FAILED (scheduler_fail_stored, after storage errors
 * outlasted --storage-retry) is stored with its RUNNING trials' reclaim or
 * not at all: a full disk from each write on in turn must leave the history
 * as it was (the study RUNNING with its trial), never FAILED with a trial
 * still RUNNING that no process will end; once there is room, the study is
 * FAILED and its trial interrupted. */
START_TEST(given_up_study_failed_with_its_trials)
{
    open_db();
    int64_t sid = new_study("given-up", 0);
    int number;
    running_trial(sid, &number);
    for (int n = 1;; n++) {
        char *before = dump();
        arm_with(n, 1, SQLITE_FULL);
        kerror_clear(&err);
        int rc = scheduler_fail_stored(st, db_path, sid, "storage errors for 600 s", &err);
        int hit = failed;
        arm(0, 0);
        if (rc == KE_OK) {
            ck_assert_int_eq(hit, 0);
            free(before);
            break;
        }
        ck_assert_msg(hit > 0, "write %d: failed (%s) without a fault", n, err.msg);
        char *after = dump();
        int same = strcmp(before, after) == 0;
        if (!same) fprintf(stderr, "before:\n%s\nafter:\n%s\n", before, after);
        ck_assert_msg(same, "write %d: half the FAILED was stored (both dumps on stderr)", n);
        free(before);
        free(after);
    }
    ck_assert_int_eq(count("SELECT count(*) FROM studies WHERE state = 'FAILED'"), 1);
    expect_interrupted(number, "the study failed: storage errors for 600 s");
    ck_assert_int_eq(count("SELECT count(*) FROM trials WHERE state = 'RUNNING'"), 0);
}
END_TEST

/* ---- under `kestrel run` ---- */

/* cmd_run_main on a thread of its own, as main runs it: its trials read
 * their loss from FIFOs the test's thread writes. */
static struct {
    pthread_t thread;
    char *argv[8];
    int argc;
    volatile sig_atomic_t stop;
    atomic_int done;
    int code;
} run;

static void *run_main(void *arg)
{
    (void)arg;
    cli_ctx ctx = {.stop = &run.stop, .self_exe = "kestrel"};
    optind = 0;     /* getopt_long starts over */
    run.code = cmd_run_main(run.argc, run.argv, &ctx);
    run.done = 1;
    return NULL;
}

/* Starts `kestrel run` on a local study of max_trials trials, one at a time,
 * with options (NULL-ended); trial 0 ends with 0.5. */
static void run_start(int max_trials, const char *const *options)
{
    static char spec_path[192], db_opt[160];
    for (int k = 0; k < max_trials + 2; k++) {
        char path[192];
        snprintf(path, sizeof path, "%s/fifo%d", dir, k);
        ck_assert(mkfifo(path, 0600) == 0 || errno == EEXIST);   /* a run before made it */
    }
    snprintf(spec_path, sizeof spec_path, "%s/spec.json", dir);
    FILE *f = fopen(spec_path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "{\"name\": \"headless\", \"objective\": {\"metric\": \"loss\", \"direction\": "
            "\"minimize\"}, \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}},"
            " \"strategy\": {\"name\": \"random\", \"seed\": 1},"
            " \"budget\": {\"max_trials\": %d, \"max_parallel\": 1},"
            " \"run\": {\"command\": [\"cat\", \"%s/fifo{trial}\"]}}", max_trials, dir);
    ck_assert_int_eq(fclose(f), 0);
    snprintf(db_opt, sizeof db_opt, "--db=%s", db_path);
    run.argc = 0;
    run.argv[run.argc++] = "run";
    run.argv[run.argc++] = spec_path;
    run.argv[run.argc++] = db_opt;
    for (; *options; options++) run.argv[run.argc++] = (char *)*options;
    run.argv[run.argc] = NULL;
    run.stop = 0;
    run.done = 0;
    ck_assert_int_eq(pthread_create(&run.thread, NULL, run_main, NULL), 0);
}

/* The FIFO of trial `number` once the trial reads it, or -1 when the run
 * ended first. */
static int run_fifo(int number)
{
    char path[192];
    snprintf(path, sizeof path, "%s/fifo%d", dir, number);
    for (;;) {
        int fd = open(path, O_WRONLY | O_NONBLOCK);
        if (fd >= 0) {
            ck_assert_int_eq(fcntl(fd, F_SETFL, 0), 0);
            return fd;
        }
        ck_assert_int_eq(errno, ENXIO);   /* no reader yet */
        if (run.done) return -1;
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    }
}

static int run_end(void)
{
    pthread_join(run.thread, NULL);
    return run.code;
}

/* One I/O error in the commit of trial 1's end: the run does not end but
 * resumes the study from its history (as `kestrel serve` does), runs trial
 * 1 again as trial 2, and completes the study with every trial ended once. */
START_TEST(run_resumes_after_a_failed_commit)
{
    run_start(2, (const char *[]){"--quiet", NULL});
    report_loss(run_fifo(0), 0.5);
    int fd = run_fifo(1);
    ck_assert_int_ge(fd, 0);
    char *before = trials_but(1, 2);
    arm(1, 0);
    report_loss(fd, 0.25);
    fd = run_fifo(2);
    ck_assert_int_gt(failed, 0);
    arm(0, 0);
    ck_assert_msg(fd >= 0, "the run ended (exit %d) instead of resuming", run_end());
    expect_rerun_of_1(before);
    report_loss(fd, 0.25);
    ck_assert_int_eq(run_end(), CLI_OK);
    expect_rerun_complete();
}
END_TEST

/* A full disk that outlasts --storage-retry (10 ms: the first try to resume,
 * a second after the error, is past it already): the run gives up at that
 * try and exits 1; what it could not store (the trial's end, the study's
 * FAILED) the next run finds RUNNING, reclaims and runs again. */
START_TEST(run_gives_up_on_a_lasting_full_disk)
{
    run_start(2, (const char *[]){"--storage-retry", "0.01", NULL});
    report_loss(run_fifo(0), 0.5);
    int fd = run_fifo(1);
    ck_assert_int_ge(fd, 0);
    arm_with(1, 1, SQLITE_FULL);
    report_loss(fd, 0.25);
    ck_assert_int_eq(run_fifo(2), -1);
    ck_assert_int_eq(run_end(), CLI_FAIL);
    int f = failed;
    arm(0, 0);
    /* the error, then a failed try to resume (it opens the study: writes) */
    ck_assert_int_gt(f, 1);
    ck_assert_int_eq(count("SELECT count(*) FROM studies WHERE state = 'RUNNING'"), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM trials WHERE number = 1 AND state = 'RUNNING'"), 1);
    /* --storage-retry 0: no retry, as before it existed */
    run_start(2, (const char *[]){"--storage-retry", "0", NULL});
    fd = run_fifo(2);
    ck_assert_int_ge(fd, 0);
    expect_interrupted(1, "the kestrel process running it died");
    arm(1, 0);
    report_loss(fd, 0.25);
    ck_assert_int_eq(run_fifo(3), -1);
    ck_assert_int_gt(failed, 0);
    arm(0, 0);
    ck_assert_int_eq(run_end(), CLI_FAIL);
    ck_assert_int_eq(count("SELECT count(*) FROM trials WHERE number = 2 AND state = 'RUNNING'"), 1);
}
END_TEST

static Suite *storage_faults_suite(void)
{
    Suite *s = suite_create("storage_faults");
    TCase *tc = tcase_create("write");
    tcase_add_checked_fixture(tc, shim_setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, completion_survives_one_failed_write);
    tcase_add_test(tc, completion_survives_a_full_disk);
    tcase_add_test(tc, retry_kept_when_its_insert_fails);
    tcase_add_test(tc, given_up_study_failed_with_its_trials);
    tcase_add_test(tc, commit_reaches_the_wal_in_one_write);
    tcase_add_test(tc, long_commit_written_in_parts);
    tcase_add_test(tc, commit_page_past_the_buffer_reaches_the_wal);
    tcase_add_test(tc, wal_file_trimmed_after_a_long_reader);
    tcase_add_test(tc, spilled_transaction_through_the_buffer);
    suite_add_tcase(s, tc);
    tc = tcase_create("engine");
    tcase_add_checked_fixture(tc, shim_setup, engine_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, worker_completion_in_a_failed_commit, 0, 2);
    tcase_add_test(tc, local_completion_in_a_failed_commit);
    tcase_add_test(tc, local_completion_on_a_damaged_file);
    tcase_add_test(tc, worker_study_given_up_on_a_lasting_full_disk);
    tcase_add_test(tc, stop_of_a_waiting_study_not_stored_keeps_it_waiting);
    tcase_add_test(tc, given_up_study_resumed_elsewhere);
    tcase_add_test(tc, given_up_study_deleted_and_its_id_taken);
    tcase_add_test(tc, worker_registration_in_a_failed_commit);
    tcase_add_test(tc, worker_lease_of_a_resumed_study);
    tcase_add_test(tc, worker_lease_row_not_stored);
    suite_add_tcase(s, tc);
    tc = tcase_create("run");
    tcase_add_checked_fixture(tc, shim_setup, engine_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, run_resumes_after_a_failed_commit);
    tcase_add_test(tc, run_gives_up_on_a_lasting_full_disk);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(storage_faults_suite());
}
