/* test_lock: the per-study run lock on a real database file. Another name
 * for the same file (symbolic link, hard link) meets the same lock, other
 * studies and released locks are free, a lock file beside the database plays
 * no part, and taking and releasing locks leaves the process's classic POSIX
 * locks on the file (SQLite's) in place. */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_main.h"
#include "../src/lock.h"
#include "../src/storage.h"

static char dir[] = "/tmp/test_lock.XXXXXX";
static char db[300], sym[300], hard[300];

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/a.db", dir);
    snprintf(sym, sizeof sym, "%s/b.db", dir);
    snprintf(hard, sizeof hard, "%s/c.db", dir);
    storage *st;
    kerror err;
    ck_assert_int_eq(storage_open(&st, db, &err), KE_OK);
    storage_close(st);
    ck_assert_int_eq(symlink("a.db", sym), 0);
    ck_assert_int_eq(link(db, hard), 0);
}

static void cleanup(void)
{
    char p[320];
    const char *const files[] = { db, sym, hard };
    for (int i = 0; i < 3; i++) {
        unlink(files[i]);
        snprintf(p, sizeof p, "%s-wal", files[i]);
        unlink(p);
        snprintf(p, sizeof p, "%s-shm", files[i]);
        unlink(p);
    }
    rmdir(dir);
}

START_TEST(test_one_holder_whatever_the_name)
{
    setup();
    kerror err;
    lock_handle a, b, c;
    ck_assert_int_eq(lock_study(&a, db, 1, &err), KE_OK);
    ck_assert_int_eq(lock_study(&b, sym, 1, &err), KE_BUSY);
    ck_assert_int_eq(lock_study(&b, hard, 1, &err), KE_BUSY);
    ck_assert_int_eq(lock_study(&b, db, 1, &err), KE_BUSY);
    /* the file the lock used to live in means nothing now */
    char old[320];
    snprintf(old, sizeof old, "%s.lock", db);
    unlink(old);
    ck_assert_int_eq(lock_study(&b, db, 1, &err), KE_BUSY);
    ck_assert_int_eq(lock_study(&c, sym, 2, &err), KE_OK);
    lock_release(&a);
    ck_assert_int_eq(lock_study(&b, hard, 1, &err), KE_OK);
    lock_release(&b);
    lock_release(&c);
    ck_assert_int_eq(lock_study(&a, db, 1, &err), KE_OK);
    lock_release(&a);
    cleanup();
}
END_TEST

/* 1 when a child process (which holds no lock) sees a classic POSIX write
 * lock on byte `at` of path. */
static int locked_elsewhere(const char *path, off_t at)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(path, O_RDWR);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = at, .l_len = 1};
        _exit(fd >= 0 && fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK ? 1 : 0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) && WEXITSTATUS(status) == 1;
}

START_TEST(test_keeps_sqlites_locks)
{
    setup();
    int fd = open(db, O_RDWR);
    ck_assert_int_ge(fd, 0);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 1 << 30, .l_len = 1};
    ck_assert_int_eq(fcntl(fd, F_SETLK, &fl), 0);
    ck_assert(locked_elsewhere(db, 1 << 30));
    kerror err;
    lock_handle a, b;
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(lock_study(&a, db, 7, &err), KE_OK);
        ck_assert_int_eq(lock_study(&b, sym, 7, &err), KE_BUSY);
        lock_release(&a);
    }
    ck_assert_msg(locked_elsewhere(db, 1 << 30), "a study lock dropped the process's POSIX lock");
    close(fd);
    cleanup();
}
END_TEST

int main(void)
{
    Suite *su = suite_create("lock");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_one_holder_whatever_the_name);
    tcase_add_test(tc, test_keeps_sqlites_locks);
    suite_add_tcase(su, tc);
    return check_run(su);
}
