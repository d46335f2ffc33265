/* lock: per-study run lock, an OFD byte-range lock on the database file
 * itself; see lock.h. OFD locks (not classic POSIX ones) belong to the open
 * file description, so two handles in one process (the service runs many
 * studies) exclude each other and closing an unrelated descriptor never drops
 * a lock. Invariant: a descriptor this module opened on a database is never
 * closed. Closing any descriptor of a file drops every classic POSIX lock the
 * process holds on it, and SQLite's own locks on the database are classic
 * ones; so a released handle's descriptor goes, unlocked, to a pool that the
 * next lock of the same file (device and inode) reuses. */
#define _GNU_SOURCE
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* SQLite locks bytes from 2^30 (its pending byte) to 2^30 + 512: study
 * locks start far above, so the two never meet. */
#define LOCK_BASE ((off_t)1 << 40)

typedef struct idle_fd {
    dev_t dev;
    ino_t ino;
    int fd;
    struct idle_fd *next;
} idle_fd;

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static idle_fd *pool;

/* An unlocked descriptor of the file at path: from the pool, else opened. */
static int take_fd(const char *path, kerror *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return kerror_set(err, KE_IO, NULL, "cannot lock the study in %s: %s", path, strerror(errno));
    pthread_mutex_lock(&pool_mu);
    int fd = -1;
    for (idle_fd **p = &pool; *p; p = &(*p)->next) {
        if ((*p)->dev != st.st_dev || (*p)->ino != st.st_ino) continue;
        idle_fd *e = *p;
        *p = e->next;
        fd = e->fd;
        free(e);
        break;
    }
    pthread_mutex_unlock(&pool_mu);
    if (fd >= 0) return fd;
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return kerror_set(err, KE_IO, NULL, "cannot open %s to lock the study: %s", path,
                          strerror(errno));
    return fd;
}

/* Back to the pool (see the invariant). When out of memory the descriptor
 * stays open, unused, rather than dropping SQLite's locks. */
static void give_fd(int fd)
{
    struct stat st;
    idle_fd *e = malloc(sizeof *e);
    if (!e || fstat(fd, &st) < 0) {
        free(e);
        return;
    }
    *e = (idle_fd){st.st_dev, st.st_ino, fd, NULL};
    pthread_mutex_lock(&pool_mu);
    e->next = pool;
    pool = e;
    pthread_mutex_unlock(&pool_mu);
}

static int set_lock(int fd, int64_t study_id, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = LOCK_BASE + study_id,
                       .l_len = 1};
    return fcntl(fd, F_OFD_SETLK, &fl);
}

int lock_study(lock_handle *h, const char *db_path, int64_t study_id, kerror *err)
{
    h->fd = -1;
    if (study_id < 0 || study_id > INT64_MAX - LOCK_BASE)
        return kerror_set(err, KE_INTERNAL, NULL, "study id %lld out of range", (long long)study_id);
    int fd = take_fd(db_path, err);
    if (fd < 0) return fd;
    if (set_lock(fd, study_id, F_WRLCK) < 0) {
        int e = errno;
        give_fd(fd);
        if (e == EAGAIN || e == EACCES)
            return kerror_set(err, KE_BUSY, NULL,
                              "the study is being run by another kestrel process right now");
        return kerror_set(err, KE_IO, NULL, "cannot lock %s: %s", db_path, strerror(e));
    }
    h->fd = fd;
    h->study_id = study_id;
    return KE_OK;
}

void lock_release(lock_handle *h)
{
    if (h->fd < 0) return;
    set_lock(h->fd, h->study_id, F_UNLCK);
    give_fd(h->fd);
    h->fd = -1;
}
