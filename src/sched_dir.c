/* sched_dir: makes and removes trial folders; see sched_dir.h. A folder is
 * marked right after it is made, so one without the mark was never Kestrel's
 * to clear. */
#define _GNU_SOURCE
#include "sched_dir.h"

#include <stdlib.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "subproc.h"

static int mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* nftw callback, children before their folder (FTW_DEPTH). */
static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    int rc = type == FTW_DP || type == FTW_DNR ? rmdir(path) : unlink(path);
    return rc < 0 && errno != ENOENT ? -1 : 0;
}

/* dir's mark file into buf. */
static void mark_path(char *buf, size_t n, const char *dir)
{
    snprintf(buf, n, "%s/%s", dir, SCHED_DIR_MARK);
}

int sched_dir_remove(const char *dir, kerror *err)
{
    struct stat st;
    if (lstat(dir, &st) < 0) {
        if (errno == ENOENT) return KE_OK;
        return kerror_set(err, KE_IO, NULL, "cannot read %s: %s", dir, strerror(errno));
    }
    char mark[4200];
    mark_path(mark, sizeof mark, dir);
    if (!S_ISDIR(st.st_mode) || lstat(mark, &st) < 0)
        return kerror_set(err, KE_CONFLICT, NULL,
                          "%s exists and Kestrel did not make it (no %s in it): move it away "
                          "or choose another work folder", dir, SCHED_DIR_MARK);
    if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        return kerror_set(err, KE_IO, NULL, "cannot remove %s: %s", dir, strerror(errno));
    return KE_OK;
}

int sched_dir_make(const char *dir, kerror *err)
{
    int rc = sched_dir_remove(dir, err);
    if (rc != KE_OK) return rc;
    if (mkdir_p(dir) < 0)
        return kerror_set(err, KE_IO, NULL, "cannot create %s: %s", dir, strerror(errno));
    char mark[4200];
    mark_path(mark, sizeof mark, dir);
    FILE *f = fopen(mark, "w");
    if (!f || fclose(f) != 0)
        return kerror_set(err, KE_IO, NULL, "cannot create %s: %s", mark, strerror(errno));
    return KE_OK;
}

/* Runs tar with argv; what it prints (nothing, for these) is dropped. */
static int run_tar(char *const *argv, kerror *err)
{
    char *out;
    size_t n;
    int rc = subproc_run(argv, 1 << 16, &out, &n, err);
    if (rc == KE_OK) free(out);
    return rc;
}

int sched_dir_pack(const char *dir, const char *archive, size_t max, size_t *n, kerror *err)
{
    char *argv[] = {"tar", "-czf", (char *)archive, "-C", (char *)dir, ".", NULL};
    struct stat st;
    int rc = run_tar(argv, err);
    if (rc == KE_OK && stat(archive, &st) != 0)
        rc = kerror_set(err, KE_IO, NULL, "cannot read %s: %s", archive, strerror(errno));
    if (rc == KE_OK && (unsigned long long)st.st_size > max)
        rc = kerror_set(err, KE_INVALID, NULL, "%s packs to %lld bytes, over %zu", dir,
                        (long long)st.st_size, max);
    if (rc != KE_OK) unlink(archive);
    else *n = (size_t)st.st_size;
    return rc;
}

/* What a trial folder holds: files, folders and symbolic links. A device
 * file or fifo comes only from a hostile archive (tar run as root makes
 * them as it is told: a disk's block device, readable by all). 1 with the
 * first other entry's path below the folder in odd (rel: the path of dir
 * below it, "" at the top), 0 when there is none, -1 when dir cannot be
 * read. Symbolic links are not followed. */
static int odd_entry(const char *dir, const char *rel, char *odd, size_t n)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[4400], sub[4400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        struct stat st;
        if (lstat(path, &st) < 0) found = -1;
        else if (S_ISDIR(st.st_mode)) found = odd_entry(path, sub, odd, n);
        else if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
            size_t len = strnlen(sub, n - 1);   /* a long name is shown cut */
            memcpy(odd, sub, len);
            odd[len] = '\0';
            found = 1;
        }
    }
    closedir(d);
    return found;
}

/* KE_OK when the gzip file archive inflates to at most max bytes: a few
 * MB of upload can hold a terabyte of zeros, which tar would write out.
 * Read once more by tar after, which for a checkpoint's megabytes is
 * cheap beside the disk it guards. */
static int inflates_within(const char *archive, long long max, kerror *err)
{
    gzFile g = gzopen(archive, "rb");
    if (!g) return kerror_set(err, KE_IO, NULL, "cannot read %s: %s", archive, strerror(errno));
    static const size_t CHUNK = 1 << 16;
    char *buf = malloc(CHUNK);
    long long total = 0;
    int n = 0;
    while (buf && total <= max && (n = gzread(g, buf, (unsigned)CHUNK)) > 0) total += n;
    free(buf);
    gzclose(g);
    if (!buf) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (total > max)
        return kerror_set(err, KE_INVALID, NULL, "the archive unpacks to more than %lld bytes, "
                          "the most a trial folder may hold here", max);
    return KE_OK;   /* a corrupt stream is tar's to report, with its reason */
}

int sched_dir_unpack(const char *dir, const char *archive, long long max, kerror *err)
{
    /* Unpacked beside dir, then put in its place: an archive that breaks
     * off (a truncated or corrupt upload) leaves dir as it was, where
     * unpacking into dir itself left half a checkpoint for a promotion to
     * resume from. The tree is unpacked one level down in a folder only
     * Kestrel's user may enter (0700), so nothing tar made is reachable by
     * anyone else until it was checked; tar's "." member sets the mode of
     * the tree itself, never of the folder around it. */
    char stage[4200], tree[4300];
    snprintf(stage, sizeof stage, "%s.unpack", dir);
    snprintf(tree, sizeof tree, "%s/tree", stage);
    /* GNU tar leaves out members that climb out (".." in their names);
     * --no-same-permissions: the umask applies and no set-user-ID bit is
     * kept, which root's tar keeps by default (a setuid-root program from
     * a worker) */
    char *argv[] = {"tar", "-xzf", (char *)archive, "-C", tree, "--no-same-owner",
                    "--no-same-permissions", NULL};
    int rc = inflates_within(archive, max, err);
    if (rc == KE_OK) rc = sched_dir_make(stage, err);
    if (rc == KE_OK && chmod(stage, 0700) < 0)
        rc = kerror_set(err, KE_IO, NULL, "cannot restrict %s: %s", stage, strerror(errno));
    if (rc == KE_OK) rc = sched_dir_make(tree, err);
    if (rc == KE_OK) rc = run_tar(argv, err);
    if (rc == KE_OK) {
        char odd[256];
        int found = odd_entry(tree, "", odd, sizeof odd);
        if (found < 0)
            rc = kerror_set(err, KE_IO, NULL, "cannot read %s: %s", tree, strerror(errno));
        else if (found)
            rc = kerror_set(err, KE_INVALID, NULL, "the archive holds '%s', a device file, fifo "
                            "or socket: a trial folder holds files, folders and symbolic links "
                            "only", odd);
    }
    if (rc == KE_OK) rc = sched_dir_remove(dir, err);
    if (rc == KE_OK && rename(tree, dir) < 0)
        rc = kerror_set(err, KE_IO, NULL, "cannot rename %s to %s: %s", tree, dir, strerror(errno));
    kerror ignored;     /* the error that matters is err's */
    sched_dir_remove(stage, &ignored);   /* its mark, and the tree when it failed */
    unlink(archive);
    return rc;
}
