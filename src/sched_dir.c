/* sched_dir: makes and removes trial folders; see sched_dir.h. A folder is
 * marked right after it is made, so one without the mark was never Kestrel's
 * to clear. */
#define _GNU_SOURCE
#include "sched_dir.h"

#include <stdarg.h>
#include <stdlib.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "subproc.h"

int sched_dir_mkdirs(const char *path)
{
    char buf[PATH_MAX];
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

int sched_dir_path(char *buf, size_t n, kerror *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    if (len >= 0 && (size_t)len < n) return KE_OK;
    return kerror_set(err, KE_INVALID, NULL, "the path '%.60s...' is too long (%d characters; "
                      "at most %zu)", buf, len, n - 1);
}

/* Whether the folder dir is in (its study's, for a trial folder) is a
 * symbolic link, its path then in parent. Kestrel makes study folders
 * itself: one that is a link was planted, or left pointing at another
 * study's folder, and following it would clear and fill folders that are not
 * this study's (sched_dir_remove checks dir's last part only). */
static int parent_is_link(const char *dir, char *parent, size_t n)
{
    const char *slash = strrchr(dir, '/');
    struct stat st;
    if (!slash || slash == dir) return 0;
    snprintf(parent, n, "%.*s", (int)(slash - dir), dir);
    return lstat(parent, &st) == 0 && S_ISLNK(st.st_mode);
}

int sched_dir_remove(const char *dir, kerror *err)
{
    struct stat st;
    char parent[PATH_MAX], mark[PATH_MAX];
    /* dir itself fits then too (sched_dir_mkdirs's buffer) */
    int rc = sched_dir_path(mark, sizeof mark, err, "%s/%s", dir, SCHED_DIR_MARK);
    if (rc != KE_OK) return rc;
    if (parent_is_link(dir, parent, sizeof parent))
        return kerror_set(err, KE_CONFLICT, NULL, "%s is a symbolic link: Kestrel does not follow "
                          "it to make or clear trial folders (remove it, or choose another work "
                          "folder)", parent);
    if (lstat(dir, &st) < 0) {
        /* a file where a folder of its path must be: no folder is there */
        if (errno == ENOENT || errno == ENOTDIR) return KE_OK;
        return kerror_set(err, KE_IO, NULL, "cannot read %s: %s", dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode) || lstat(mark, &st) < 0)
        return kerror_set(err, KE_CONFLICT, NULL,
                          "%s exists and Kestrel did not make it (no %s in it): move it away "
                          "or choose another work folder", dir, SCHED_DIR_MARK);
    if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        return kerror_set(err, KE_IO, NULL, "cannot remove %s: %s", dir, strerror(errno));
    return KE_OK;
}

/* The first folder of dir's path that is something else (a file), in
 * way: 1, or 0 when there is none. */
static int file_in_way(const char *dir, char *way, size_t n)
{
    struct stat st;
    snprintf(way, n, "%s", dir);
    for (char *p = way + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (stat(way, &st) == 0 && !S_ISDIR(st.st_mode)) return 1;
        *p = '/';
    }
    return 0;
}

int sched_dir_make(const char *dir, kerror *err)
{
    int rc = sched_dir_remove(dir, err);
    if (rc != KE_OK) return rc;
    if (sched_dir_mkdirs(dir) < 0) {
        int e = errno;
        char way[PATH_MAX];
        /* "Not a directory" named the trial's folder, not what is wrong */
        if (e == ENOTDIR && file_in_way(dir, way, sizeof way))
            return kerror_set(err, KE_IO, NULL, "cannot create %s: %s is a file, not a folder: "
                              "move it away or choose another work folder", dir, way);
        return kerror_set(err, KE_IO, NULL, "cannot create %s: %s", dir, strerror(e));
    }
    char mark[PATH_MAX];
    snprintf(mark, sizeof mark, "%s/%s", dir, SCHED_DIR_MARK);   /* it fits: sched_dir_remove */
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
    /* --hard-dereference: a folder's hard links are packed as the files they
     * are, as an unpack takes no hard link */
    char *argv[] = {"tar", "-czf", (char *)archive, "--hard-dereference", "-C", (char *)dir, ".",
                    NULL};
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
 * them as it is told: a disk's block device, readable by all), and a file
 * of more than one link from a hard link the walk of the archive did not
 * see (archive_check refuses those it sees, before tar runs). 1 with the
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
        else if ((!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) ||
                 (S_ISREG(st.st_mode) && st.st_nlink > 1)) {
            size_t len = strnlen(sub, n - 1);   /* a long name is shown cut */
            memcpy(odd, sub, len);
            odd[len] = '\0';
            found = 1;
        }
    }
    closedir(d);
    return found;
}

/* ---- the archive's walk, before tar runs ---- */

#define TAR_RECORD 512
#define TAR_META_MAX 4096   /* the bytes of a long name or pax header kept */

/* What the walk of a tar stream keeps between its 512-byte records. */
typedef struct {
    long long left;             /* bytes of the current member's data still to come */
    char meta_type;             /* 'L' or 'x' while their data comes, else 0 */
    char meta[TAR_META_MAX + 1];
    size_t meta_len;
    char name[TAR_META_MAX + 1]; /* the next member's name from 'L' or pax, or "" */
    long long size;             /* the next member's size from pax, or -1 */
    int extensions;             /* old GNU sparse: extension records still to come */
    int ended;                  /* a record of zeros came: the end */
} tar_walk;

/* The number in a header field: octal text, or base-256 (high bit set) as
 * GNU tar writes sizes past 8 GB; -1 when it is neither. */
static long long tar_number(const unsigned char *f, size_t n)
{
    long long v = 0;
    if (f[0] & 0x80) {
        for (size_t i = 1; i < n; i++) {
            if (v > (LLONG_MAX >> 8)) return -1;
            v = (v << 8) | f[i];
        }
        return v;
    }
    size_t i = 0;
    while (i < n && f[i] == ' ') i++;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v > (LLONG_MAX >> 3)) return -1;
        v = v * 8 + (f[i] - '0');
    }
    return i == n || f[i] == ' ' || f[i] == '\0' ? v : -1;
}

/* Whether the header's checksum holds (POSIX: the bytes summed with the
 * checksum field as spaces; old tars summed them as signed chars). */
static int tar_checksum_ok(const unsigned char *h)
{
    long long want = tar_number(h + 148, 8);
    long u = 0, s = 0;
    for (int i = 0; i < TAR_RECORD; i++) {
        unsigned char c = i >= 148 && i < 156 ? ' ' : h[i];
        u += c;
        s += (signed char)c;
    }
    return want >= 0 && (want == u || want == s);
}

/* The pax records of w->meta ("LEN key=value\n" each) that the walk uses:
 * path and size, for the next member. */
static void tar_pax(tar_walk *w)
{
    for (size_t at = 0; at < w->meta_len;) {
        char *rec = w->meta + at, *end;
        long len = strtol(rec, &end, 10);
        if (len <= 0 || (size_t)len > w->meta_len - at || *end != ' ') return;
        char *key = end + 1, *eq = memchr(key, '=', (size_t)(rec + len - key));
        if (!eq || rec[len - 1] != '\n') return;
        int vlen = (int)(rec + len - 1 - (eq + 1));
        if (eq - key == 4 && !strncmp(key, "path", 4))
            snprintf(w->name, sizeof w->name, "%.*s", vlen, eq + 1);
        else if (eq - key == 4 && !strncmp(key, "size", 4))
            w->size = strtoll(eq + 1, NULL, 10);
        at += (size_t)len;
    }
}

/* One record of member data: kept when it is a long name or pax header's. */
static void tar_data(tar_walk *w, const unsigned char *rec)
{
    size_t n = w->left < TAR_RECORD ? (size_t)w->left : TAR_RECORD;
    size_t room = TAR_META_MAX - w->meta_len;
    if (w->meta_type) {
        memcpy(w->meta + w->meta_len, rec, n < room ? n : room);
        w->meta_len += n < room ? n : room;
    }
    w->left -= n;
    if (w->left > 0 || !w->meta_type) return;
    w->meta[w->meta_len] = '\0';
    if (w->meta_type == 'L') snprintf(w->name, sizeof w->name, "%s", w->meta);
    else tar_pax(w);
    w->meta_type = 0;
}

/* One header record: KE_INVALID when it is none, or a hard link's. */
static int tar_header(tar_walk *w, const unsigned char *h, long long at, kerror *err)
{
    static const unsigned char zeros[TAR_RECORD];
    if (!memcmp(h, zeros, TAR_RECORD)) {
        w->ended = 1;
        return KE_OK;
    }
    long long size = w->size >= 0 ? w->size : tar_number(h + 124, 12);
    if (!tar_checksum_ok(h) || size < 0)
        return kerror_set(err, KE_INVALID, NULL, "not a tar archive (no tar header at byte %lld "
                          "of the unpacked stream)", at);
    char name[TAR_META_MAX + 1];
    if (w->name[0]) snprintf(name, sizeof name, "%s", w->name);
    else if (!memcmp(h + 257, "ustar", 5) && h[345])
        snprintf(name, sizeof name, "%.155s/%.100s", (const char *)h + 345, (const char *)h);
    else snprintf(name, sizeof name, "%.100s", (const char *)h);
    w->name[0] = '\0';
    w->size = -1;
    char type = (char)h[156];
    /* a hard link names another member tar must have made before: one it
     * lacks failed tar, and a trial folder holds none (packs dereference) */
    if (type == '1')
        return kerror_set(err, KE_INVALID, NULL, "the archive holds '%.200s', a hard link: a "
                          "trial folder holds files, folders and symbolic links only", name);
    /* which members have data as tarfile reads it: links, devices, fifos
     * and folders none */
    w->left = strchr("23456", type) && type ? 0 : size;
    w->meta_type = type == 'L' || type == 'x' ? type : 0;
    w->meta_len = 0;
    w->extensions = type == 'S' && h[482];
    return KE_OK;
}

/* KE_OK when the gzip file archive is a tar stream that unpacks to at most
 * max bytes and holds no hard link: a few MB of upload can hold a terabyte
 * of zeros, which tar would write out. Read once more by tar after, which
 * for a checkpoint's megabytes is cheap beside the disk it guards. */
static int archive_check(const char *archive, long long max, kerror *err)
{
    gzFile g = gzopen(archive, "rb");
    if (!g) return kerror_set(err, KE_IO, NULL, "cannot read %s: %s", archive, strerror(errno));
    tar_walk *w = calloc(1, sizeof *w);
    unsigned char rec[TAR_RECORD];
    long long total = 0;
    int n = 0, rc = w ? KE_OK : kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (w) w->size = -1;
    while (rc == KE_OK && (n = gzread(g, rec, TAR_RECORD)) == TAR_RECORD) {
        if ((total += n) > max) break;
        if (w->ended) continue;                      /* the padding after the end */
        if (w->extensions) w->extensions = rec[504]; /* old GNU sparse map */
        else if (w->left > 0) tar_data(w, rec);
        else rc = tar_header(w, rec, total - n, err);
    }
    int gz_errno = errno, gz_code = Z_OK;
    gzerror(g, &gz_code);
    if (rc == KE_OK && total > max)
        rc = kerror_set(err, KE_INVALID, NULL, "the archive unpacks to more than %lld bytes, "
                        "the most a trial folder may hold here", max);
    else if (rc == KE_OK && gz_code == Z_ERRNO)
        rc = kerror_set(err, KE_IO, NULL, "cannot read %s: %s", archive, strerror(gz_errno));
    else if (rc == KE_OK && gz_code != Z_OK)   /* zlib's text names the file: not told */
        rc = kerror_set(err, KE_INVALID, NULL, "the archive is %s",
                        gz_code == Z_BUF_ERROR ? "cut short (the gzip stream ends early)"
                                               : "corrupt (not a valid gzip stream)");
    else if (rc == KE_OK && (n != 0 || w->left > 0))
        rc = kerror_set(err, KE_INVALID, NULL, "the archive is cut short (it ends inside a "
                        "tar member)");
    free(w);
    gzclose(g);
    return rc;
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
    char stage[PATH_MAX], tree[PATH_MAX];
    int rc = sched_dir_path(stage, sizeof stage, err, "%s.unpack", dir);
    if (rc == KE_OK) rc = sched_dir_path(tree, sizeof tree, err, "%s/tree", stage);
    if (rc != KE_OK) {
        unlink(archive);
        return rc;
    }
    /* GNU tar leaves out members that climb out (".." in their names);
     * --no-same-permissions: the umask applies and no set-user-ID bit is
     * kept, which root's tar keeps by default (a setuid-root program from
     * a worker) */
    char *argv[] = {"tar", "-xzf", (char *)archive, "-C", tree, "--no-same-owner",
                    "--no-same-permissions", NULL};
    rc = archive_check(archive, max, err);
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
            rc = kerror_set(err, KE_INVALID, NULL, "the archive holds '%s', a device file, fifo, "
                            "socket or hard link: a trial folder holds files, folders and "
                            "symbolic links only", odd);
    }
    if (rc == KE_OK) rc = sched_dir_remove(dir, err);
    if (rc == KE_OK && rename(tree, dir) < 0)
        rc = kerror_set(err, KE_IO, NULL, "cannot rename %s to %s: %s", tree, dir, strerror(errno));
    kerror ignored;     /* the error that matters is err's */
    sched_dir_remove(stage, &ignored);   /* its mark, and the tree when it failed */
    unlink(archive);
    return rc;
}
