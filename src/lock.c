/* lock: per-study run lock with OFD byte-range locks; see lock.h. OFD locks
 * (not classic POSIX ones) belong to the open file description, so two
 * handles in one process (the service runs many studies) exclude each other
 * and closing an unrelated descriptor never drops a lock. */
#define _GNU_SOURCE
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int lock_study(lock_handle *h, const char *db_path, int64_t study_id, kerror *err)
{
    char path[4096];
    h->fd = -1;
    if (snprintf(path, sizeof path, "%s.lock", db_path) >= (int)sizeof path)
        return kerror_set(err, KE_INVALID, "db", "path too long");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return kerror_set(err, KE_IO, NULL, "cannot open lock file %s: %s", path, strerror(errno));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = study_id, .l_len = 1};
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        int e = errno;
        close(fd);
        if (e == EAGAIN || e == EACCES)
            return kerror_set(err, KE_BUSY, NULL,
                              "the study is being run by another kestrel process right now");
        return kerror_set(err, KE_IO, NULL, "cannot lock %s: %s", path, strerror(e));
    }
    h->fd = fd;
    return KE_OK;
}

void lock_release(lock_handle *h)
{
    if (h->fd >= 0) close(h->fd);
    h->fd = -1;
}
