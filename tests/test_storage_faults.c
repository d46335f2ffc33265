/* test_storage_faults: I/O errors injected under the SQLite history, in the
 * manner of SQLite's own fault tests. A VFS shim, registered as the default
 * so storage_open uses it, passes every call to the real VFS but fails
 * writes from the Nth on (until disarmed) or the Nth alone. A trial's
 * completion (one transaction: its state, value, final metrics and output
 * tails) is retried with N = 1, 2, ... until it needs fewer writes than N:
 * every failing N must report the error and leave the file byte for byte
 * what it held before (nothing stored is lost, nothing half-written shows),
 * the database must pass integrity_check, and the same connection must
 * finish the trial once the fault is gone. */
#include <sqlite3.h>

#include "check_main.h"
#include "storage_fixture.h"

/* ---- the shim ---- */

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static int fail_at;          /* the write (1-based, since arming) that fails; 0 = disarmed */
static int fail_sticky;      /* every write after it fails too (a full disk) */
static int writes;           /* writes since arming */
static int failed;           /* writes failed since arming */

typedef struct {
    sqlite3_file base;
    sqlite3_file *real;      /* the real VFS's file, allocated right after */
} fault_file;

static sqlite3_file *real_of(sqlite3_file *f)
{
    return ((fault_file *)f)->real;
}

static void arm(int n, int sticky)
{
    fail_at = n;
    fail_sticky = sticky;
    writes = failed = 0;
}

static int f_close(sqlite3_file *f)
{
    return real_of(f)->pMethods->xClose(real_of(f));
}

static int f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}

static int f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    if (fail_at > 0) {
        writes++;
        if (writes == fail_at || (fail_sticky && writes > fail_at)) {
            failed++;
            return SQLITE_IOERR_WRITE;
        }
    }
    return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
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

/* Every row of every table, and the schema version, as one text: two dumps
 * are equal when the history is. Through its own connection (the shim
 * disarmed), as a reader after the fault would see it. */
static char *dump(void)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    sqlite3_stmt *tables, *rows;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type = 'table' "
                                        "ORDER BY name", -1, &tables, NULL), SQLITE_OK);
    while (sqlite3_step(tables) == SQLITE_ROW) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT * FROM \"%s\"", sqlite3_column_text(tables, 0));
        fprintf(f, "[%s]\n", sqlite3_column_text(tables, 0));
        ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &rows, NULL), SQLITE_OK);
        while (sqlite3_step(rows) == SQLITE_ROW) {
            for (int i = 0; i < sqlite3_column_count(rows); i++) {
                const unsigned char *v = sqlite3_column_text(rows, i);
                fprintf(f, "%s%s", i ? "|" : "", v ? (const char *)v : "NULL");
            }
            fputc('\n', f);
        }
        sqlite3_finalize(rows);
    }
    sqlite3_finalize(tables);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &rows, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(rows), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(rows, 0), "ok");
    sqlite3_finalize(rows);
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

static Suite *storage_faults_suite(void)
{
    Suite *s = suite_create("storage_faults");
    TCase *tc = tcase_create("write");
    tcase_add_checked_fixture(tc, shim_setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, completion_survives_one_failed_write);
    tcase_add_test(tc, completion_survives_a_full_disk);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(storage_faults_suite());
}
