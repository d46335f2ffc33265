/* worker_dir: a worker's trial folders, <work_dir>/<study>/<number>: which
 * study a folder of that name is, a promoted trial's parent's folder
 * fetched from the server, an ended trial's folder packed for upload; see
 * worker_impl.h. With shared_dir (the folders are the server's own) none
 * of this is done. Only folders Kestrel marked (SCHED_DIR_MARK) are removed. */
#define _GNU_SOURCE
#include "worker_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "klog.h"
#include "sched_dir.h"

#define FOLDER_MAX (1LL << 31)   /* bytes of archive a worker packs at most */

/* The file in this worker's folder of a study that names which study it
 * is on the server (when its row was made: the folder goes by the study's
 * name, which a study deleted and posted again takes, and a server before
 * schema version 11 could give it the old id too, never the old time),
 * written once a trial of it starts here. */
#define STUDY_ID_FILE ".kestrel-study"

/* The file in a --work-dir that its worker holds locked (flock: the kernel
 * lets it go when the worker dies, even by kill -9), with its pid in it. Two
 * workers on one folder removed each other's running trial folders (a first
 * trial of a study, with no STUDY_ID_FILE yet, took the other's for a stale
 * study's) and wrote the same temporary and download files; every step here
 * takes the folder for this worker's alone, so a second worker is refused.
 * Workers on the server's own folder (--shared-dir) copy and remove nothing
 * and share it. */
#define LOCK_FILE ".kestrel-worker.lock"

/* Whether name is one of the files a worker writes beside its trial
 * folders and removes itself once done: a parent's archive being fetched
 * ("P.download"), an ended trial's being packed ("N.tgz"), the study's
 * record being written (STUDY_ID_FILE ".tmp"). */
static int transient_file(const char *name)
{
    if (!strcmp(name, STUDY_ID_FILE ".tmp")) return 1;
    size_t digits = strspn(name, "0123456789");
    return digits > 0 && (!strcmp(name + digits, ".download") || !strcmp(name + digits, ".tgz"));
}

/* Removes what a worker killed on this folder (kill -9, its node lost)
 * left half written: a partial P.download stayed until the next fetch of
 * that parent overwrote it, a megabyte or a gigabyte a parent, an N.tgz for
 * good. Run with the folder's lock held, so no other worker writes them now.
 * Study folders that are symbolic links are not followed (as no removal of
 * a worker's is). Logs how many went, and each that could not. */
static void sweep_transients(const char *work_dir)
{
    DIR *top = opendir(work_dir);
    if (!top) return;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(top))) {
        if (e->d_name[0] == '.') continue;   /* no study's name; the lock file */
        int fd = openat(dirfd(top), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
            if (fd >= 0) close(fd);
            continue;
        }
        struct dirent *f;
        struct stat st;
        while ((f = readdir(d))) {
            if (!transient_file(f->d_name) ||
                fstatat(fd, f->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
                continue;
            if (unlinkat(fd, f->d_name, 0) == 0) removed++;
            else klog(stderr, "worker: cannot remove %s/%s/%s: %s", work_dir, e->d_name,
                      f->d_name, strerror(errno));
        }
        closedir(d);
    }
    closedir(top);
    if (removed)
        klog(stderr, "worker: removed %d partial file%s (a download or an archive) left in %s "
             "by a worker killed there", removed, removed == 1 ? "" : "s", work_dir);
}

int worker_dir_lock(worker *w, kerror *err)
{
    const char *dir = w->o->work_dir;
    if (w->o->shared_dir) return KE_OK;
    if (sched_dir_mkdirs(dir) < 0)
        return kerror_set(err, KE_IO, "--work-dir", "cannot make %s: %s", dir, strerror(errno));
    char file[4300];
    snprintf(file, sizeof file, "%s/" LOCK_FILE, dir);
    int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);   /* no trial inherits it */
    if (fd < 0) return kerror_set(err, KE_IO, "--work-dir", "cannot open %s: %s", file, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = e == EWOULDBLOCK ? read(fd, pid, sizeof pid - 1) : 0;
        pid[n > 0 ? strcspn(pid, "\n") : 0] = '\0';
        close(fd);
        if (e != EWOULDBLOCK)
            return kerror_set(err, KE_IO, "--work-dir", "cannot lock %s: %s", file, strerror(e));
        return kerror_set(err, KE_BUSY, "--work-dir",
                          "%s is the folder of another kestrel worker%s%s%s, running now: give "
                          "each worker a --work-dir of its own (--shared-dir only for the "
                          "server's own trial folder)", dir, pid[0] ? " (pid " : "", pid,
                          pid[0] ? ")" : "");
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        klog(stderr, "worker: cannot write its pid in %s: %s", file, strerror(errno));
    w->dir_lock = fd + 1;
    sweep_transients(dir);
    return KE_OK;
}

/* A study deleted on the server and posted again under its name, and this
 * worker's folders of the old one (a worker removes nothing) passed for the
 * new one's: a promotion went on from a stale checkpoint of the same trial
 * number. When the study's folder records another study than the lease's,
 * or none, its trial folders go (Kestrel's only: marked), but for those of
 * trials this worker runs now. The closing line counts what went and what
 * could not (a study folder that is a link: each removal is refused), the
 * first refusal said in full: one line per folder would say the same. */
void worker_dir_forget(worker *w, const char *study, double created)
{
    if (w->o->shared_dir || created <= 0) return;   /* the server's own folders; an older server */
    char dir[4200], file[4300];
    snprintf(dir, sizeof dir, "%s/%s", w->o->work_dir, study);
    snprintf(file, sizeof file, "%s/" STUDY_ID_FILE, dir);
    double had = -1;
    FILE *f = fopen(file, "r");
    if (f && fscanf(f, "%lf", &had) != 1) had = -1;
    if (f) fclose(f);
    DIR *d = had == created ? NULL : opendir(dir);
    if (!d) return;
    struct dirent *e;
    int removed = 0, refused = 0;
    while ((e = readdir(d))) {
        char trial[4500], mark[4600];
        snprintf(trial, sizeof trial, "%s/%s", dir, e->d_name);
        snprintf(mark, sizeof mark, "%s/" SCHED_DIR_MARK, trial);
        int running = 0;
        for (int i = 0; i < w->o->slots; i++)
            running |= w->slots[i].busy && !strcmp(w->slots[i].dir, trial);
        struct stat st;
        kerror rerr;
        if (running || e->d_name[0] == '.' || stat(mark, &st) != 0) continue;
        if (sched_dir_remove(trial, &rerr) == KE_OK) {
            removed++;
        } else if (refused++ == 0) {
            worker_log_err("cannot remove a stale trial folder", &rerr);
        }
    }
    closedir(d);
    char gone[32], kept[64] = "";
    snprintf(gone, sizeof gone, removed ? "%d removed" : "none removed", removed);
    if (refused) snprintf(kept, sizeof kept, ", %d could not be (said above)", refused);
    klog(stderr, "worker: study %s is not the study of this worker's folders of that name "
         "(made at %.6f, they at %.6f): %s%s", study, created, had, gone, kept);
}

/* Records which study its folder is (made by its first trial here). */
void worker_dir_record(const worker *w, const char *study, double created)
{
    if (w->o->shared_dir || created <= 0) return;
    char file[4300], tmp[4400];
    snprintf(file, sizeof file, "%s/%s/" STUDY_ID_FILE, w->o->work_dir, study);
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    FILE *f = fopen(tmp, "w");
    int ok = f && fprintf(f, "%.17g\n", created) > 0;   /* reads back as the same double */
    if (f && fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, file) != 0) {
        unlink(tmp);
        klog(stderr, "worker: cannot write %s: %s", file, strerror(errno));
    }
}

/* A promoted trial continues from its parent's folder: fetched from the
 * server unless this worker has it (it ran the parent, or shares a folder). */
void worker_dir_fetch_parent(worker *w, const char *study, int parent)
{
    char dir[4200], mark[4300], path[512], file[4400];
    snprintf(dir, sizeof dir, "%s/%s/%d", w->o->work_dir, study, parent);
    snprintf(mark, sizeof mark, "%s/%s", dir, SCHED_DIR_MARK);
    struct stat st;
    if (w->o->shared_dir || stat(mark, &st) == 0) return;
    snprintf(path, sizeof path, "/api/v1/studies/%s/trials/%d/checkpoint", study, parent);
    snprintf(file, sizeof file, "%s.download", dir);
    kerror err;
    kerror_clear(&err);
    /* Streamed to a file beside the folder, in the study's folder (made
     * first). Not the marked folder itself: one made before the download
     * and left by a worker killed during it was taken for the parent's by
     * the next promotion, which went on from an empty folder; unpacking
     * makes it whole or not at all. */
    char study_dir[4200];
    snprintf(study_dir, sizeof study_dir, "%s/%s", w->o->work_dir, study);
    int status = 0, rc = KE_OK;
    if (sched_dir_mkdirs(study_dir) < 0)
        rc = kerror_set(&err, KE_IO, NULL, "cannot make %s: %s", study_dir, strerror(errno));
    FILE *f = rc == KE_OK ? fopen(file, "w") : NULL;
    if (rc == KE_OK && !f) rc = kerror_set(&err, KE_IO, NULL, "cannot write %s", file);
    if (f) rc = wclient_download(w->c, path, f, &status, &err);
    long n = f ? ftell(f) : 0;
    if (f && fclose(f) != 0 && rc == KE_OK) rc = kerror_set(&err, KE_IO, NULL, "cannot write %s", file);
    if (rc == KE_OK && status == 200 && (rc = sched_dir_unpack(dir, file, FOLDER_MAX, &err)) == KE_OK) {
        klog(stderr, "worker: fetched the folder of trial %d of study %s (%ld bytes)", parent,
             study, n);
        return;
    }
    unlink(file);
    klog(stderr, "worker: no folder of trial %d of study %s (HTTP %d)%s%s", parent, study,
         status, err.msg[0] ? ": " : "", err.msg);
}

/* Packs the slot's trial folder into an archive beside it, kept open and
 * unlinked (nothing is left behind, whatever happens to the worker). */
int worker_dir_pack(wslot *sl, kerror *err)
{
    char archive[4300];
    snprintf(archive, sizeof archive, "%s.tgz", sl->dir);
    int rc = sched_dir_pack(sl->dir, archive, FOLDER_MAX, &sl->folder_n, err);
    if (rc != KE_OK) return rc;
    int fd = open(archive, O_RDONLY | O_CLOEXEC);
    unlink(archive);
    if (fd < 0) return kerror_set(err, KE_IO, NULL, "cannot read %s: %s", archive, strerror(errno));
    sl->folder = fd + 1;
    return KE_OK;
}
