/* proctoken: kills the holders of environment tokens; see proctoken.h.
 * Invariants: a process is signalled only through a pidfd opened while the
 * process that showed the token was still alive, never by a pid that may
 * have been recycled; a process is passed over only through a pidfd that
 * shows it is the very process pt learnt about. */
#define _GNU_SOURCE
#include "proctoken.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "monotime.h"

#define READ_CHUNK 16384
#define ROUNDS 64            /* passes at most: each catches what the last one's victims forked */

typedef struct {
    pid_t pid;
    int pidfd;
    double seen;             /* CLOCK_MONOTONIC s, once the pidfd was open: alive since */
    int read;                /* its environment was read, without the tokens asked for */
    char tok[PROCTOKEN_MAX]; /* if read: the token of that name it holds, or "" */
} known;

struct proctoken {
    known k[2][PROCTOKEN_KNOWN];   /* by pid; one pass reads k[cur], writes the other */
    int n, cur;
};

static int among(const char *tok, const char *const *toks, int n)
{
    for (int k = 0; k < n; k++)
        if (toks[k][0] == tok[0] && !strcmp(tok, toks[k])) return 1;
    return 0;
}

/* 1 when the NUL-separated environment read from fd (from its start) has
 * one of the n entries toks, 0 when not (then other, if not NULL, gets an
 * entry of the same name as toks[0], or ""), -1 when it reads empty. */
static int env_has(int fd, const char *const *toks, int n, char other[PROCTOKEN_MAX])
{
    char buf[READ_CHUNK], cur[PROCTOKEN_MAX];
    size_t pos = 0, total = 0, name = (size_t)(strchrnul(toks[0], '=') - toks[0]) + 1;
    ssize_t r;
    if (other) other[0] = '\0';
    while ((r = pread(fd, buf, sizeof buf, (off_t)total)) > 0) {
        total += (size_t)r;
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] != '\0') {
                if (pos < sizeof cur) cur[pos] = buf[i];
                pos++;
                continue;
            }
            if (pos < sizeof cur) {
                cur[pos] = '\0';
                if (among(cur, toks, n)) return 1;
                if (other && pos > name && !strncmp(cur, toks[0], name)) memcpy(other, cur, pos + 1);
            }
            pos = 0;
        }
    }
    return total ? 0 : -1;
}

/* 1 when pid, whose environment read empty, may be in the middle of an
 * exec (the new image's environment is set up last): not a zombie (the
 * trial's own child is one), not a kernel thread (kthreadd, pid 2, and its
 * children). */
static int may_be_execing(long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    const char *rp = strrchr(buf, ')');
    char state;
    long ppid;
    if (!rp || sscanf(rp + 1, " %c %ld", &state, &ppid) != 2) return 0;
    return state != 'Z' && state != 'X' && pid != 2 && ppid != 2;
}

/* 1 when a process pt knows cannot hold one of the n tokens toks, whose
 * processes all started after since: one alive since before then (no
 * descendant of theirs), or one whose environment was read and held none
 * of them (an environment changes only by an exec, and one that adds a
 * token it did not inherit is not looked for). */
static int known_clear(const known *e, const char *const *toks, int n, double since)
{
    return e->seen < since || (e->read && !among(e->tok, toks, n));
}

/* Keeps e in next, or forgets it when next is full. */
static void keep(known *next, int *nn, const known *e)
{
    if (*nn < PROCTOKEN_KNOWN) next[(*nn)++] = *e;
    else close(e->pidfd);
}

/* Adds pid to next (a pidfd opened now) unless it is full. fd, its
 * environ file or -1, is read again once the pidfd is open: a read proves
 * the pidfd is the process read, not a recycled pid. */
static void learn(known *next, int *nn, long pid, int fd, const char *const *toks, int ntok)
{
    if (*nn == PROCTOKEN_KNOWN) return;
    int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (pidfd < 0) return;
    known *e = &next[(*nn)++];
    *e = (known){.pid = (pid_t)pid, .pidfd = pidfd};
    e->read = fd >= 0 && env_has(fd, toks, ntok, e->tok) == 0;
    e->seen = monotime_s();
}

/* SIGKILLs every process whose environment we may read (our user's) and
 * holds one of the n tokens toks; returns how many, plus those that may be
 * in an exec and have to be looked at again. One pass over /proc, which
 * costs the same for one token as for many: about 10 ms with 130 processes
 * on a loaded machine, less what pt knows (its processes are looked at with
 * one system call, not an open, two reads and a close). A match is read again
 * once its pidfd is open: the environ file, opened first, reads only while
 * its process lives, so the second read proves the pidfd is that process,
 * not a recycled pid (a pidfd for every process read would cost a third of
 * the pass). */
static int kill_holders_once(proctoken *pt, const char *const *toks, int ntok, double since)
{
    DIR *d = opendir("/proc");
    if (!d) return 0;
    known *old = pt ? pt->k[pt->cur] : NULL, *next = pt ? pt->k[!pt->cur] : NULL;
    int n = 0, i = 0, nold = pt ? pt->n : 0, nn = 0;
    pid_t self = getpid();
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end, path[64];
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0 || pid == self) continue;
        for (; i < nold && old[i].pid < pid; i++) close(old[i].pidfd);   /* gone */
        known *e = i < nold && old[i].pid == pid ? &old[i++] : NULL;   /* /proc lists by pid */
        /* the pidfd tells whether it is still the process pt saw (EPERM:
         * another user's, alive) */
        if (e && syscall(SYS_pidfd_send_signal, e->pidfd, 0, NULL, 0) != 0 && errno != EPERM) {
            close(e->pidfd);
            e = NULL;
        }
        if (e && known_clear(e, toks, ntok, since)) {
            keep(next, &nn, e);
            continue;
        }
        snprintf(path, sizeof path, "/proc/%ld/environ", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {            /* gone, or another user's: its age may clear it next time */
            if (e) keep(next, &nn, e);
            else if (pt && errno != ENOENT) learn(next, &nn, pid, -1, toks, ntok);
            continue;
        }
        int has = env_has(fd, toks, ntok, NULL);
        if (has > 0) {
            int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
            if (pidfd >= 0 && env_has(fd, toks, ntok, NULL) > 0)
                syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
            if (pidfd >= 0) close(pidfd);
            if (e) close(e->pidfd);
        } else if (e) {
            keep(next, &nn, e);
        } else if (has == 0 && pt) {
            learn(next, &nn, pid, fd, toks, ntok);
        }
        n += has > 0 || (has < 0 && may_be_execing(pid));
        close(fd);
    }
    closedir(d);
    for (; i < nold; i++) close(old[i].pidfd);
    if (pt) {
        pt->cur = !pt->cur;
        pt->n = nn;
    }
    return n;
}

int proctoken_new(proctoken **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -1;
}

void proctoken_free(proctoken *pt)
{
    if (!pt) return;
    for (int i = 0; i < pt->n; i++) close(pt->k[pt->cur][i].pidfd);
    free(pt);
}

void proctoken_kill(proctoken *pt, const char *const *toks, int n, double since)
{
    for (int i = 0; i < ROUNDS && kill_holders_once(pt, toks, n, since) > 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);   /* a round that needs another */
}
