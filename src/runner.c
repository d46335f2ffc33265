/* runner: runs trial commands as child processes and watches them; see
 * runner.h. Each child leads its own process group so that a timeout or a
 * stop reaches everything it started (sh -c python ...). If Kestrel dies
 * (kill -9), the child dies with it (PR_SET_PDEATHSIG, which fires when the
 * spawning *thread* ends: spawn from a long-lived thread), and a watchdog
 * process per child (a /bin/sh), blocked on a pipe only Kestrel writes to,
 * sees EOF and kills the rest of the group. The watchdog leads a process
 * group of its own: a signal to Kestrel's group (kill -9 -PGID, timeout -s
 * KILL) must not end it along with Kestrel. Both are started without
 * fork()'s copy of Kestrel's memory (spawn_shared). Invariant: a child that exited stays an
 * unreaped zombie until its EXIT event is dispatched, which pins its pid as
 * the group id, so a signal to the group can never reach a recycled pid.
 * What leaves the group (setsid, a double fork into a new session) is found
 * by the token each trial carries in its environment (KESTREL_TRIAL_TOKEN,
 * inherited by everything it starts): when the trial ends, Kestrel kills
 * every process carrying it; when Kestrel dies, the watchdog does. */
#define _GNU_SOURCE
#include "runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define POLL_CAP_MS 100      /* longest sleep, so exits without EOF are seen */
#define DRAIN_GRACE 0.5      /* s the pipes may stay open after the child exited */
#define DEFAULT_GRACE 5.0    /* s from SIGTERM to SIGKILL */
#define READ_CHUNK 16384
#define READS_PER_POLL 64    /* per stream and poll: a chatty child cannot starve others */
#define TOKEN_NAME "KESTREL_TRIAL_TOKEN"
#define TOKEN_ROUNDS 64      /* kill rounds: each catches what the last one's victims forked */

enum { STAGE_SETUP = 1, STAGE_CWD, STAGE_EXEC };

typedef struct {             /* child -> parent on the CLOEXEC status pipe */
    int stage;
    int err;
} child_msg;

typedef struct {
    char buf[RUNNER_TAIL_MAX + 1];
    size_t len;
    size_t start;            /* first byte shown: past a partial first line */
    int cut;                 /* older bytes were dropped */
    int at_line;             /* the last dropped byte was a newline */
} tail;

typedef struct {
    int fd;                  /* parent's read end, -1 once closed */
    runner_source source;
    char *line;              /* partial line, RUNNER_LINE_MAX + 1 bytes, or NULL: no lines */
    size_t len;
    int skipping;            /* dropping the rest of a cut line */
    tail *tail;              /* or NULL */
    int pidx;                /* slot in this poll's pollfd array, -1 none */
} stream;

enum { S_REPORT, S_OUT, S_ERR, S_N };

struct runner_proc {
    pid_t pid;
    void *user;
    double timeout, grace;
    double t_start, t_term, t_exit;   /* CLOCK_MONOTONIC s; t_term < 0: not signalled */
    int timed_out, terminated, killed, exec_failed;
    int exit_seen;           /* the child exited (a zombie unless reaped) */
    int reaped;
    char token[80];          /* "KESTREL_TRIAL_TOKEN=<kestrel pid>.<ns>.<p>": unique per trial */
    pid_t watchdog;          /* 0 once stood down */
    int watch_fd;            /* our end of the watchdog's pipe */
    int pidfd;               /* readable once the child exits; -1 without
                              * pidfd_open (then POLL_CAP_MS bounds the wait) */
    int exited, exit_code, signaled, signal;
    int done;                /* EXIT dispatched */
    stream s[S_N];
    tail out_tail, err_tail;
};

typedef struct {
    runner_cb cb;
    void *ctx;
    int count;
} dispatch;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void signal_group(const runner_proc *p, int sig)
{
    kill(-p->pid, sig);      /* ESRCH: the group is already gone */
}

/* 1 when the NUL-separated environment read from fd has the entry tok, 0
 * when not, -1 when it reads empty. */
static int env_has(int fd, const char *tok)
{
    char buf[READ_CHUNK];
    size_t pos = 0, n = strlen(tok), total = 0;
    int match = 1;           /* the current entry equals tok so far */
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        total += (size_t)r;
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] == '\0') {
                if (match && pos == n) return 1;
                pos = 0;
                match = 1;
            } else {
                match = match && pos < n && tok[pos] == buf[i];
                pos++;
            }
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

/* SIGKILLs every process whose environment we may read (our user's) and
 * holds tok; returns how many, plus those that may be in an exec and have
 * to be looked at again. One pass over /proc: about 10 ms with 130
 * processes on a loaded machine, once or twice per trial. The environ file
 * is opened first and the pidfd second, so a token read from it proves the
 * pidfd is that process, not a recycled pid. */
static int kill_holders_once(const char *tok)
{
    DIR *d = opendir("/proc");
    if (!d) return 0;
    int n = 0;
    pid_t self = getpid();
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end, path[64];
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == self) continue;
        snprintf(path, sizeof path, "/proc/%ld/environ", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;    /* gone, or another user's */
        int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
        int has = env_has(fd, tok);
        if (has > 0) {
            if (pidfd >= 0) syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
            else kill((pid_t)pid, SIGKILL);
        }
        n += has > 0 || (has < 0 && may_be_execing(pid));
        close(fd);
        if (pidfd >= 0) close(pidfd);
    }
    closedir(d);
    return n;
}

/* Kills what is left of the trial: its group, and what left the group but
 * carries its token. Rounds, because a victim may have forked meanwhile or
 * been in an exec; a round that needs another one waits a millisecond. */
static void kill_rest(runner_proc *p)
{
    if (!p->reaped) signal_group(p, SIGKILL);
    for (int i = 0; i < TOKEN_ROUNDS && kill_holders_once(p->token) > 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
}

/* Keeps the last RUNNER_TAIL_MAX bytes, slid down rather than wrapped round
 * so the getters can hand out one NUL-terminated string. When older bytes
 * were dropped, the text shown starts after the first newline if that loses
 * little. */
static void tail_append(tail *t, const char *d, size_t n)
{
    if (n > RUNNER_TAIL_MAX) {
        t->at_line = d[n - RUNNER_TAIL_MAX - 1] == '\n';
        t->cut = 1;
        t->len = 0;
        d += n - RUNNER_TAIL_MAX;
        n = RUNNER_TAIL_MAX;
    } else if (t->len + n > RUNNER_TAIL_MAX) {
        size_t drop = t->len + n - RUNNER_TAIL_MAX;
        t->at_line = t->buf[drop - 1] == '\n';
        t->cut = 1;
        memmove(t->buf, t->buf + drop, t->len - drop);
        t->len -= drop;
    }
    memcpy(t->buf + t->len, d, n);
    t->len += n;
    t->buf[t->len] = '\0';
    t->start = 0;
    if (t->cut && !t->at_line) {
        const char *nl = memchr(t->buf, '\n', t->len / 4);
        if (nl) t->start = (size_t)(nl - t->buf) + 1;
    }
}

static void emit_line(runner_proc *p, stream *s, int cut, dispatch *d)
{
    s->line[s->len] = '\0';
    runner_event ev = {.kind = RUNNER_LINE, .proc = p, .user = p->user,
                       .source = s->source, .line = s->line, .cut = cut};
    s->len = 0;
    d->count++;
    d->cb(&ev, d->ctx);
}

/* Splits data into lines; a line longer than RUNNER_LINE_MAX is delivered
 * cut at that length and the rest of it, up to its newline, dropped. */
static void feed_lines(runner_proc *p, stream *s, const char *data, size_t n, dispatch *d)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t seg = nl ? (size_t)(nl - data) : n;
        size_t step = nl ? seg + 1 : n;
        if (s->skipping) {
            s->skipping = !nl;
        } else if (seg > RUNNER_LINE_MAX - s->len) {
            size_t room = RUNNER_LINE_MAX - s->len;
            memcpy(s->line + s->len, data, room);
            s->len += room;
            emit_line(p, s, 1, d);
            s->skipping = !nl;
        } else {
            memcpy(s->line + s->len, data, seg);
            s->len += seg;
            if (nl) emit_line(p, s, 0, d);
        }
        data += step;
        n -= step;
    }
}

/* EOF: the writer is gone, so a pending partial line is complete. */
static void close_stream(runner_proc *p, stream *s, dispatch *d)
{
    if (s->line && s->len > 0 && !s->skipping) emit_line(p, s, 0, d);
    s->len = 0;
    s->skipping = 0;
    close_fd(&s->fd);
}

static void read_stream(runner_proc *p, stream *s, dispatch *d)
{
    char chunk[READ_CHUNK];
    for (int i = 0; i < READS_PER_POLL && s->fd >= 0; i++) {
        ssize_t r = read(s->fd, chunk, sizeof chunk);
        if (r > 0) {
            if (s->tail) tail_append(s->tail, chunk, (size_t)r);
            if (s->line) feed_lines(p, s, chunk, (size_t)r, d);
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else if (r < 0 && errno == EAGAIN) {
            return;
        } else {
            close_stream(p, s, d);  /* EOF, or an error that leaves nothing to read */
        }
    }
}

/* Notices the exit without reaping (WNOWAIT): see the invariant above. */
static void check_exit(runner_proc *p, double now)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r;
    do r = waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        /* ECHILD: someone else reaped it; its status is lost, it counts as
         * neither exited nor signalled, i.e. failed. */
        p->exit_seen = p->reaped = 1;
        p->t_exit = now;
        return;
    }
    if (si.si_pid == 0) return;
    p->exit_seen = 1;
    p->t_exit = now;
    if (si.si_code == CLD_EXITED) {
        p->exited = 1;
        p->exit_code = si.si_status;
    } else {
        p->signaled = 1;
        p->signal = si.si_status;
    }
}

static void wait_for(pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* The watchdog is stood down with SIGKILL (what is left of the trial was
 * killed by kill_rest): EOF alone must mean Kestrel died, as a dying
 * Kestrel closes its files before its children see another parent. It is
 * waited for before the child is reaped, while the group id is pinned. */
static void reap(runner_proc *p)
{
    if (p->watchdog > 0) {
        kill(p->watchdog, SIGKILL);
        close_fd(&p->watch_fd);
        wait_for(p->watchdog);
        p->watchdog = 0;
    }
    if (!p->reaped) wait_for(p->pid);
    p->reaped = 1;
    close_fd(&p->pidfd);
}

/* Ends a proc whose child exited: what is left of the trial is killed (it
 * would outlive it), its pipes closed, the child reaped, and the
 * EXIT event dispatched, after which p is not touched: the callback may
 * free it. */
static void finish(runner_proc *p, dispatch *d)
{
    kill_rest(p);
    for (int k = 0; k < S_N; k++)
        if (p->s[k].fd >= 0) close_stream(p, &p->s[k], d);
    reap(p);
    p->done = 1;
    runner_event ev = {.kind = RUNNER_EXIT, .proc = p, .user = p->user,
                       .exited = p->exited, .exit_code = p->exit_code,
                       .signaled = p->signaled, .signal = p->signal,
                       .timed_out = p->timed_out, .terminated = p->terminated,
                       .exec_failed = p->exec_failed, .seconds = p->t_exit - p->t_start};
    d->count++;
    d->cb(&ev, d->ctx);
}

static void stop_group(runner_proc *p, double now)
{
    signal_group(p, SIGTERM);
    signal_group(p, SIGCONT);   /* a stopped process would hold SIGTERM pending */
    p->t_term = now;
}

static void enforce_timers(runner_proc *p, double now)
{
    if (p->exit_seen) return;
    if (p->timeout > 0 && p->t_term < 0 && now - p->t_start > p->timeout) {
        p->timed_out = 1;
        stop_group(p, now);
    }
    if (p->t_term >= 0 && !p->killed && now - p->t_term >= p->grace) {
        signal_group(p, SIGKILL);
        p->killed = 1;
    }
}

/* The next moment at which p needs attention without any I/O. */
static double next_deadline(const runner_proc *p)
{
    if (p->exit_seen) return p->t_exit + DRAIN_GRACE;
    if (p->t_term >= 0) return p->killed ? INFINITY : p->t_term + p->grace;
    return p->timeout > 0 ? p->t_start + p->timeout : INFINITY;
}

static int all_closed(const runner_proc *p)
{
    for (int k = 0; k < S_N; k++)
        if (p->s[k].fd >= 0) return 0;
    return 1;
}

static int wait_ms(runner_proc *const *procs, int n, int timeout_ms, double now)
{
    double ms = POLL_CAP_MS;
    if (timeout_ms >= 0 && timeout_ms < ms) ms = timeout_ms;
    for (int i = 0; i < n; i++) {
        if (!procs[i] || procs[i]->done) continue;
        double left = (next_deadline(procs[i]) - now) * 1000.0;
        if (left < ms) ms = left > 0 ? left + 1 : 0;   /* +1: never wake just before it */
    }
    return (int)ms;
}

static void service(runner_proc *p, const struct pollfd *pfd, dispatch *d)
{
    for (int k = 0; k < S_N; k++) {
        stream *s = &p->s[k];
        if (s->fd >= 0 && s->pidx >= 0 && pfd[s->pidx].revents) read_stream(p, s, d);
    }
    double now = now_s();
    if (!p->exit_seen) check_exit(p, now);
    if (p->exit_seen) {
        /* Lines written just before the exit may not have been polled yet. */
        for (int k = 0; k < S_N; k++)
            if (p->s[k].fd >= 0) read_stream(p, &p->s[k], d);
        if (all_closed(p) || now >= p->t_exit + DRAIN_GRACE) finish(p, d);
        return;
    }
    enforce_timers(p, now);
}

int runner_poll(runner_proc *const *procs, int n, int timeout_ms,
                runner_cb cb, void *ctx, kerror *err)
{
    struct pollfd *pfd = malloc(((size_t)n * (S_N + 1) + 1) * sizeof *pfd);
    if (!pfd) return kerror_set(err, KE_NOMEM, NULL, "runner_poll: out of memory");
    nfds_t np = 0;
    for (int i = 0; i < n; i++) {
        runner_proc *p = procs[i];
        if (!p || p->done) continue;
        for (int k = 0; k < S_N; k++) {
            p->s[k].pidx = -1;
            if (p->s[k].fd < 0) continue;
            p->s[k].pidx = (int)np;
            pfd[np++] = (struct pollfd){.fd = p->s[k].fd, .events = POLLIN};
        }
        /* until the exit is seen: a zombie's pidfd stays readable */
        if (p->pidfd >= 0 && !p->exit_seen) pfd[np++] = (struct pollfd){.fd = p->pidfd, .events = POLLIN};
    }
    if (poll(pfd, np, wait_ms(procs, n, timeout_ms, now_s())) < 0 && errno != EINTR) {
        int e = errno;
        free(pfd);
        return kerror_set(err, KE_IO, NULL, "poll: %s", strerror(e));
    }
    dispatch d = {cb, ctx, 0};
    for (int i = 0; i < n; i++)
        if (procs[i] && !procs[i]->done) service(procs[i], pfd, &d);
    free(pfd);
    return d.count;
}

/* 1 when entry's name is one only Kestrel sets: KESTREL_REPORT_FD, the
 * trial's token (neither Kestrel's environment nor a spec may change it). */
static int reserved(const char *entry)
{
    size_t len = (size_t)(strchrnul(entry, '=') - entry);
    return (len == strlen("KESTREL_REPORT_FD") && !strncmp(entry, "KESTREL_REPORT_FD", len)) ||
           (len == strlen(TOKEN_NAME) && !strncmp(entry, TOKEN_NAME, len));
}

/* 1 when entry's name is reserved or set again in extra. */
static int overridden(const char *entry, char *const *extra)
{
    size_t len = (size_t)(strchrnul(entry, '=') - entry);
    if (reserved(entry)) return 1;
    for (size_t i = 0; extra && extra[i]; i++)
        if (!strncmp(entry, extra[i], len) && extra[i][len] == '=') return 1;
    return 0;
}

/* The environment: ours, less the names the command sets, plus
 * KESTREL_REPORT_FD, the trial's token and env_extra (the last of a name
 * set twice). Borrows every string. */
static char **build_env(char *const *extra, const char *token)
{
    size_t ne = 0, nx = 0;
    while (environ && environ[ne]) ne++;
    while (extra && extra[nx]) nx++;
    char **env = malloc((ne + nx + 3) * sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (!overridden(environ[i], extra)) env[k++] = environ[i];
    env[k++] = (char *)"KESTREL_REPORT_FD=3";
    env[k++] = (char *)token;
    /* a name set twice in extra keeps its last value (a spec's run.env
     * comes after Kestrel's own entries and may replace them) */
    for (size_t i = 0; i < nx; i++)
        if (!reserved(extra[i]) && !overridden(extra[i], extra + i + 1))
            env[k++] = extra[i];
    env[k] = NULL;
    return env;
}

static void close_fds(int from, int to)
{
    if (from > to || close_range((unsigned)from, (unsigned)to, 0) == 0) return;
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = from; fd <= to && fd < max; fd++) close((int)fd);
}

/* Runs fn(arg) in a child that shares Kestrel's memory until it execs or
 * exits (clone(CLONE_VM | CLONE_VFORK), what posix_spawn does), on a stack
 * of its own. A fork() instead copies the page tables and write-protects
 * every page, and each later write of Kestrel's then faults and flushes the
 * TLB on every CPU: most of the scheduler's CPU per trial. The caller blocks
 * all signals around it (no handler may run on the shared memory), and fn
 * may only make system calls, writing nothing but its own stack. Returns
 * the pid or -1 with errno. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RUNNER_FORK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RUNNER_FORK 1
#endif
#endif

static pid_t spawn_shared(int (*fn)(void *), void *arg)
{
#ifdef RUNNER_FORK
    /* ASan and TSan cannot follow a child running instrumented code on a
     * stack they did not make, in memory they share: a sanitizer build
     * forks (the child's setup is the same; only the cost differs). */
    pid_t child = fork();
    if (child == 0) _exit(fn(arg));
    return child;
#else
    size_t size = 256 * 1024;
    char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                       -1, 0);
    if (stack == MAP_FAILED) return -1;
    pid_t pid = clone(fn, stack + size, CLONE_VM | CLONE_VFORK | SIGCHLD, arg);
    int e = errno;
    munmap(stack, size);
    errno = e;
    return pid;
#endif
}

/* The value of name in envp, or NULL. */
static const char *env_value(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (; envp && *envp; envp++)
        if (!strncmp(*envp, name, n) && (*envp)[n] == '=') return *envp + n + 1;
    return NULL;
}

/* execvp() with the PATH of envp, not of Kestrel's environment (which a
 * child sharing Kestrel's memory must not replace): each PATH entry in
 * turn, a file without a #! line run by /bin/sh, EACCES reported if any
 * candidate gave it. Returns only on failure, errno set. */
static void exec_path(char *const *argv, char *const *envp)
{
    const char *file = argv[0];
    size_t argc = 0;
    while (argv[argc]) argc++;
    const char *path = strchr(file, '/') ? "" : env_value(envp, "PATH");
    if (!path) path = "/bin:/usr/bin";
    int eacces = 0;
    for (const char *p = path;; p++) {
        const char *end = strchrnul(p, ':');
        char buf[PATH_MAX];
        size_t dl = (size_t)(end - p), fl = strlen(file);
        if (dl + fl + 2 <= sizeof buf) {
            memcpy(buf, p, dl);
            buf[dl] = '/';
            memcpy(buf + dl + 1, file, fl + 1);
            const char *target = *path ? (dl ? buf : buf + 1) : file;
            execve(target, argv, envp);
            if (errno == ENOEXEC) {
                char *sh[argc + 2];
                sh[0] = (char *)"/bin/sh";
                sh[1] = (char *)target;
                memcpy(sh + 2, argv + 1, argc * sizeof *sh);
                execve("/bin/sh", sh, envp);
                return;
            }
            if (errno == EACCES) eacces = 1;
            else if (errno != ENOENT && errno != ENOTDIR) return;
        }
        if (!*end) break;
        p = end;
    }
    if (eacces) errno = EACCES;
}

typedef struct {
    int fd;                  /* the read end of the watchdog's pipe */
    char script[512];        /* sh -c: wait for EOF, kill the group, the token's holders */
} watchdog_args;

static int watchdog_main(void *arg)
{
    watchdog_args *a = arg;
    setpgid(0, 0);   /* out of Kestrel's group (done before Kestrel resumes: vfork) */
    /* fd 0 when Kestrel runs with stdin closed: dup2 would keep CLOEXEC */
    if (a->fd == 0 ? fcntl(0, F_SETFD, 0) == 0 : dup2(a->fd, 0) == 0) {
        close_fds(1, INT_MAX);
        char *argv[] = {(char *)"kestrel-watchdog", (char *)"-c", a->script, NULL};
        char *envp[] = {(char *)"PATH=/usr/bin:/bin", NULL};   /* for grep */
        execve("/bin/sh", argv, envp);
    }
    _exit(127);
}

/* Starts the process that outlives Kestrel to kill the child's group: a
 * /bin/sh that holds no other fd (it must not keep other trials' pipes
 * open), has every signal blocked (a Ctrl-C for Kestrel must not end it
 * first: the mask survives exec) and waits for EOF on its pipe, which comes
 * only when Kestrel died (see reap): then it kills the group and, in rounds
 * until three found none (one in an exec reads empty a moment), every
 * process whose environment holds the token. */
static int start_watchdog(runner_proc *p)
{
    int wp[2];
    if (pipe2(wp, O_CLOEXEC) < 0) return -1;
    watchdog_args a = {.fd = wp[0]};
    snprintf(a.script, sizeof a.script,
             "read -r x; kill -s KILL -- -%ld; n=0; e=0; while [ $n -lt %d ] && [ $e -lt 3 ]; do"
             " f=$(grep -lzxF '%s' /proc/[0-9]*/environ 2>/dev/null); e=$((e+1)); n=$((n+1));"
             " for p in $f; do p=${p#/proc/}; kill -s KILL ${p%%/environ}; e=0; done; sleep 0.1; done",
             (long)p->pid, TOKEN_ROUNDS, p->token);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = spawn_shared(watchdog_main, &a);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(wp[0]);
    /* the child has exec'd or exited by now (CLONE_VFORK): exited, the exec failed */
    if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid) {
        pid = -1;
        e = ENOEXEC;
    }
    if (pid < 0) {
        close(wp[1]);
        errno = e;
        return -1;
    }
    p->watchdog = pid;
    p->watch_fd = wp[1];
    return 0;
}

/* In the child: only async-signal-safe calls. fds: stdin, stdout, stderr,
 * report, status. Each is first copied above 9, so that moving them onto
 * 0-4 cannot overwrite one that is still to be moved. */
static void child_exec(const runner_cmd *cmd, char **envp, const int fds[5], pid_t parent)
{
    int st = fds[4], stage = STAGE_SETUP, hi[5];
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent) _exit(127);
    for (int k = 0; k < 5; k++)
        if ((hi[k] = fcntl(fds[k], F_DUPFD_CLOEXEC, 10)) < 0) goto fail;
    st = hi[4];
    for (int k = 0; k < 4; k++)
        if (dup2(hi[k], k) < 0) goto fail;
    if (dup3(hi[4], 4, O_CLOEXEC) < 0) goto fail;
    st = 4;
    close_fds(5, INT_MAX);
    if (cmd->cwd && chdir(cmd->cwd) < 0) {
        stage = STAGE_CWD;
        goto fail;
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    exec_path(cmd->argv, envp);
    stage = STAGE_EXEC;
fail:;
    child_msg m = {stage, errno};
    ssize_t w = write(st, &m, sizeof m);
    (void)w;
    _exit(127);
}

typedef struct {
    const runner_cmd *cmd;
    char **envp;
    const int *fds;
    pid_t parent;
} child_args;

static int child_main(void *arg)
{
    const child_args *a = arg;
    child_exec(a->cmd, a->envp, a->fds, a->parent);
    return 127;
}

/* Blocks until the child exec'd (EOF: the CLOEXEC end closed) or reported
 * why it could not; the reason goes to the stderr tail. */
static void read_child_status(runner_proc *p, int fd, const runner_cmd *cmd)
{
    child_msg m;
    size_t got = 0;
    while (got < sizeof m) {
        ssize_t r = read(fd, (char *)&m + got, sizeof m - got);
        if (r > 0) got += (size_t)r;
        else if (!(r < 0 && errno == EINTR)) break;
    }
    if (got < sizeof m) return;
    p->exec_failed = 1;
    char ebuf[128], msg[1024];
    const char *etext = strerror_r(m.err, ebuf, sizeof ebuf);
    if (m.stage == STAGE_CWD)
        snprintf(msg, sizeof msg, "kestrel: cannot change to directory '%s': %s\n", cmd->cwd, etext);
    else if (m.stage == STAGE_EXEC)
        snprintf(msg, sizeof msg, "kestrel: cannot execute '%s': %s\n", cmd->argv[0], etext);
    else
        snprintf(msg, sizeof msg, "kestrel: cannot set up the child's files: %s\n", etext);
    tail_append(&p->err_tail, msg, strlen(msg));
}

static runner_proc *proc_new(const runner_cmd *cmd)
{
    runner_proc *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->user = cmd->user;
    p->timeout = cmd->timeout;
    p->grace = cmd->kill_grace > 0 ? cmd->kill_grace : DEFAULT_GRACE;
    p->t_term = -1;
    p->watch_fd = -1;
    p->pidfd = -1;
    snprintf(p->token, sizeof p->token, TOKEN_NAME "=%ld.%llx.%llx", (long)getpid(),
             (unsigned long long)(now_s() * 1e9), (unsigned long long)(uintptr_t)p);
    p->s[S_REPORT] = (stream){.fd = -1, .source = RUNNER_SRC_REPORT};
    p->s[S_OUT] = (stream){.fd = -1, .source = RUNNER_SRC_STDOUT, .tail = &p->out_tail};
    p->s[S_ERR] = (stream){.fd = -1, .tail = &p->err_tail};
    p->s[S_REPORT].line = malloc(RUNNER_LINE_MAX + 1);
    p->s[S_OUT].line = malloc(RUNNER_LINE_MAX + 1);
    if (!p->s[S_REPORT].line || !p->s[S_OUT].line) {
        runner_free(p);
        return NULL;
    }
    return p;
}

int runner_spawn(runner_proc **out, const runner_cmd *cmd, kerror *err)
{
    *out = NULL;
    if (!cmd || !cmd->argv || !cmd->argv[0] || !cmd->argv[0][0])
        return kerror_set(err, KE_INVALID, "argv", "the command is empty");
    runner_proc *p = proc_new(cmd);
    char **envp = p ? build_env(cmd->env_extra, p->token) : NULL;
    if (!p || !envp) {
        runner_free(p);
        free(envp);
        return kerror_set(err, KE_NOMEM, NULL, "runner_spawn: out of memory");
    }
    /* pipes: report, stdout, stderr, status; [0] is the parent's end */
    int pp[4][2] = {{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}};
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int rc = devnull < 0 ? -1 : 0;
    for (int k = 0; k < 4 && rc == 0; k++) rc = pipe2(pp[k], O_CLOEXEC);
    pid_t pid = -1;
    if (rc == 0) {
        int fds[5] = {devnull, pp[1][1], pp[2][1], pp[0][1], pp[3][1]};
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);  /* no parent handler may run in the child */
        child_args a = {cmd, envp, fds, getpid()};
        p->t_start = now_s();
        pid = spawn_shared(child_main, &a);
        int e = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        errno = e;
    }
    int e = errno;
    free(envp);
    close_fd(&devnull);
    for (int k = 0; k < 4; k++) close_fd(&pp[k][1]);
    if (pid < 0) {
        for (int k = 0; k < 4; k++) close_fd(&pp[k][0]);
        runner_free(p);
        return kerror_set(err, KE_IO, NULL, "cannot start '%s': %s", cmd->argv[0], strerror(e));
    }
    p->pid = pid;
    /* A child closes its pipes before it becomes a zombie: without a pidfd
     * the exit after the last EOF was only seen at the next POLL_CAP_MS
     * wake-up, 50 ms late on average, every trial. */
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    read_child_status(p, pp[3][0], cmd);
    close_fd(&pp[3][0]);
    if (start_watchdog(p) < 0) {
        e = errno;
        for (int k = 0; k < 3; k++) close_fd(&pp[k][0]);
        runner_free(p);
        return kerror_set(err, KE_IO, NULL, "cannot start a watchdog for '%s': %s",
                          cmd->argv[0], strerror(e));
    }
    for (int k = 0; k < S_N; k++) {
        p->s[k].fd = pp[k][0];
        fcntl(p->s[k].fd, F_SETFL, fcntl(p->s[k].fd, F_GETFL) | O_NONBLOCK);
    }
    *out = p;
    return KE_OK;
}

void runner_terminate(runner_proc *p)
{
    if (!p || p->exit_seen || p->t_term >= 0) return;
    p->terminated = 1;
    stop_group(p, now_s());
}

int runner_exited(const runner_proc *p)
{
    return p->done;
}

pid_t runner_pid(const runner_proc *p)
{
    return p->pid;
}

const char *runner_stdout_tail(const runner_proc *p)
{
    return p->out_tail.buf + p->out_tail.start;
}

const char *runner_stderr_tail(const runner_proc *p)
{
    return p->err_tail.buf + p->err_tail.start;
}

void runner_free(runner_proc *p)
{
    if (!p) return;
    if (p->pid > 0) {
        if (!p->done) kill_rest(p);   /* else finish did */
        reap(p);
    }
    for (int k = 0; k < S_N; k++) {
        close_fd(&p->s[k].fd);
        free(p->s[k].line);
    }
    close_fd(&p->watch_fd);
    close_fd(&p->pidfd);
    free(p);
}
