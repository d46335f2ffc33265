/* storage_path: what a history's path must be before SQLite opens it
 * (storage_location_file, storage_path_prepare) and the one path of the
 * file that its names reach (storage_path_resolve); see storage.h and
 * storage_sqlite_impl.h). SQLite's own words for a path it cannot use
 * ("unable to open database file", "disk I/O error") name no cause, and by
 * then it may have made a file: every refusal here comes first, says why,
 * and leaves the file system as it was. */
#define _GNU_SOURCE
#include "storage_sqlite_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Whether SQLite can open path: it makes it absolute first, and refuses
 * one that leaves no room for "-journal" within what its VFS takes (512
 * characters for unix: 504 then) with "unable to open database file",
 * which reads as a permission problem, after storage_open made the file.
 * Symbolic links it resolves are not counted. */
static int path_fits(const char *path, kerror *err)
{
    sqlite3_vfs *vfs = sqlite3_vfs_find(storage_walbuf_vfs());
    size_t max = vfs ? (size_t)vfs->mxPathname - strlen("-journal") : SIZE_MAX;
    size_t n = strlen(path);
    if (n > max) goto too_long;
    /* as SQLite reads it: its folder's links and "..", made absolute */
    char folder[PATH_MAX], real[PATH_MAX];
    const char *slash = strrchr(path, '/');
    snprintf(folder, sizeof folder, "%.*s", slash ? (int)(slash - path) + 1 : 1,
             slash ? path : ".");
    if (realpath(folder, real)) n = strlen(real) + 1 + strlen(slash ? slash + 1 : path);
    if (n <= max) return 1;
too_long:
    kerror_set(err, KE_INVALID, NULL, "the path is too long (%zu characters made absolute; "
               "SQLite opens a history by a path of at most %zu): '%.60s...'", n, max, path);
    return 0;
}

const char *storage_location_file(const char *location, kerror *err)
{
    if (strncmp(location, "sqlite:", 7) == 0) {
        size_t prefix = strncmp(location, "sqlite://", 9) == 0 ? 9 : 7;
        /* SQLite opens "" as a private temporary file: a history gone at close */
        if (!location[prefix]) {
            kerror_set(err, KE_INVALID, NULL, "'%s' names no file (write %sPATH)", location, location);
            return NULL;
        }
        return path_fits(location + prefix, err) ? location + prefix : NULL;
    }
    const char *p = location;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
           (p > location && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '.' || *p == '-')))
        p++;
    if (p > location && strncmp(p, "://", 3) == 0) {
        kerror_set(err, KE_INVALID, NULL,
                   "unsupported storage backend '%.*s' (this build has: sqlite)",
                   (int)(p - location), location);
        return NULL;
    }
    return path_fits(location, err) ? location : NULL;
}

int storage_path_prepare(const char *path, kerror *err)
{
    /* SQLite says only "unable to open database file" of a folder, and
     * "disk I/O error" of a fifo or device (--db /dev/stdin), where it
     * also makes DEVICE-journal beside it when it may */
    struct stat sb;
    int found = stat(path, &sb) == 0, missing = !found && errno == ENOENT;
    if (found && !S_ISREG(sb.st_mode))
        return kerror_set(err, KE_DB, NULL, "cannot open history '%s': '%s' is a %s, not a "
                          "history file", path, path,
                          S_ISDIR(sb.st_mode) ? "folder" : S_ISFIFO(sb.st_mode) ? "fifo"
                          : S_ISSOCK(sb.st_mode) ? "socket" : "device");
    /* SQLite keeps PATH-wal and PATH-shm beside the name it opens (a
     * symbolic link is resolved first): through two names of one file,
     * two processes would each write a log of their own, and the first
     * checkpoint of either would overwrite what the other stored. The study
     * locks (lock.c), on the file itself, would not keep them apart. */
    if (found && sb.st_nlink > 1)
        return kerror_set(err, KE_DB, NULL, "cannot open history '%s': it has %ju names (hard "
                          "links), and SQLite would keep a separate log beside each: remove "
                          "the other names (find / -samefile '%s'), or use a symbolic link",
                          path, (uintmax_t)sb.st_nlink, path);
    char to[PATH_MAX];
    ssize_t link_n = missing ? readlink(path, to, sizeof to - 1) : -1;
    /* A symbolic link to nothing: O_EXCL does not follow it, and SQLite
     * would make what it names with its own mode (0644), wherever that is
     * (a link planted in a shared folder) */
    if (link_n >= 0) {
        to[link_n] = '\0';
        return kerror_set(err, KE_DB, NULL, "cannot open history '%s': it is a symbolic link to "
                          "'%s', which does not exist (remove the link, or make the history "
                          "at the path it names)", path, to);
    }
    /* A new history is its user's alone: it holds the workers' keys (012),
     * which let whoever reads them end a worker's trials. SQLite would make
     * it 0644 less the umask; made empty here (an empty file is an empty
     * database), and SQLite gives -wal and -shm its mode. One that exists
     * keeps its own. */
    if (missing) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) close(fd);
    }
    return KE_OK;
}

int storage_path_resolve(const char *path, char *out, size_t n, kerror *err)
{
    char real[PATH_MAX];
    if (realpath(path, real)) {
        if (snprintf(out, n, "%s", real) < (int)n) return KE_OK;
        return kerror_set(err, KE_INVALID, NULL, "the path '%.60s...' is too long", real);
    }
    if (errno != ENOENT)
        return kerror_set(err, KE_IO, NULL, "cannot resolve '%s': %s", path, strerror(errno));
    /* not made yet: storage_path_prepare makes it where its folder's path
     * leads (a dangling link there it refuses), so this is the file's path
     * once made */
    char folder[PATH_MAX];
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    snprintf(folder, sizeof folder, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
    if (!realpath(folder, real))
        return kerror_set(err, KE_IO, NULL, "cannot resolve the folder of '%s': %s", path,
                          strerror(errno));
    int len = snprintf(out, n, "%s%s%s", real, strcmp(real, "/") ? "/" : "", base);
    if (len >= 0 && (size_t)len < n) return KE_OK;
    return kerror_set(err, KE_INVALID, NULL, "the path '%.60s...' is too long", real);
}
