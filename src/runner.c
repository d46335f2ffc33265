/* runner: runs trial commands as child processes and watches them; see
 * runner.h. Each child leads its own process group so that a timeout or a
 * stop reaches everything it started (sh -c python ...). If Kestrel dies
 * (kill -9), the child dies with it (PR_SET_PDEATHSIG, which fires when the
 * spawning *thread* ends: spawn from a long-lived thread), and the guard's
 * watchdog (one /bin/sh for all the trials of a guard), told each trial's
 * group over a socket only Kestrel writes to, sees EOF and kills the groups
 * left (runner_guard.c). Both are started without fork()'s copy of
 * Kestrel's memory (spawn.c). Invariant: a child that exited stays an
 * unreaped zombie until its EXIT event is dispatched, which pins its pid as
 * the group id, so a signal to the group can never reach a recycled pid. What leaves the
 * group (setsid, a double fork into a new session) is found by the token
 * each trial carries in its environment (KESTREL_TRIAL_TOKEN, inherited by
 * everything it starts; all of a guard's share a prefix): when the trial
 * ends, Kestrel kills every process carrying it (proctoken) before the EXIT
 * event; when Kestrel dies, the watchdog kills every process carrying the
 * prefix. */
#define _GNU_SOURCE
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "monotime.h"
#include "proctoken.h"
#include "spawn.h"

extern char **environ;

#define POLL_CAP_MS 100      /* longest sleep, so exits without EOF are seen */
#define DRAIN_GRACE 0.5      /* s the pipes may stay open after the child exited */
#define DEFAULT_GRACE 5.0    /* s from SIGTERM to SIGKILL */
#define READ_CHUNK 16384
#define READS_PER_POLL 64    /* per stream and poll: a chatty child cannot starve others */

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
    char token[PROCTOKEN_MAX];   /* the guard's prefix and ".<n>": unique per trial */
    runner_guard *guard;
    int guarded;             /* the guard's watchdog has the pid */
    int pidfd;               /* readable once the child exits; -1 without
                              * pidfd_open (then POLL_CAP_MS bounds the wait) */
    int exited, exit_code, signaled, signal;
    int ending;              /* exited and drained: EXIT comes once what is left is killed */
    int done;                /* EXIT dispatched */
    stream s[S_N];
    tail out_tail, err_tail;
};

typedef struct {
    runner_cb cb;
    void *ctx;
    int count;
} dispatch;

/* Signals the trial's group, and its main process by its pid when that left
 * the group (setpgid into another group of the session): a signal to the
 * group no longer reached it, and a timeout or a stop never ended it. Its
 * unreaped zombie pins the pid (the invariant above); one still in the
 * group is not signalled twice, which would run a SIGTERM handler twice. */
static void signal_group(const runner_proc *p, int sig)
{
    kill(-p->pid, sig);      /* ESRCH: the group is already gone */
    if (!p->reaped && getpgid(p->pid) != p->pid) kill(p->pid, sig);
}

/* Kills what is left of the n trials that ended: their groups, and what
 * left a group but carries its token. */
static void kill_rest(runner_proc *const *ps, int n)
{
    const char *toks[n];
    double since = INFINITY;
    for (int i = 0; i < n; i++) {
        if (!ps[i]->reaped) signal_group(ps[i], SIGKILL);
        toks[i] = ps[i]->token;
        since = fmin(since, ps[i]->t_start);
    }
    runner_guard_kill(ps[0]->guard, toks, n, since);
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
    /* a NUL would end the tail's string there, hiding what came after (the
     * error a failure quotes); 0xFF starts no UTF-8 sequence, so it is
     * stored as U+FFFD (utf8.h) */
    for (char *z = t->buf + t->len; (z = memchr(z, '\0', (size_t)(t->buf + t->len + n - z))); z++)
        *z = (char)0xFF;
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
    spawn_close_fd(&s->fd);
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

/* Tells the guard's watchdog that the trial's group is no longer one to
 * kill (before the reap frees its id for reuse), and reaps the child. */
static void reap(runner_proc *p)
{
    if (p->guarded) runner_guard_remove(p->guard, p->pid);
    p->guarded = 0;
    if (!p->reaped) spawn_wait(p->pid);
    p->reaped = 1;
    spawn_close_fd(&p->pidfd);
}

/* Ends a proc whose child exited and whose rest kill_rest killed: its pipes
 * are closed, the child reaped, and the EXIT event dispatched, after which
 * p is not touched: the callback may free it. */
static void finish(runner_proc *p, dispatch *d)
{
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

/* When a proc whose child exited ends, if its pipes stay open: soon after
 * the exit, but no sooner than its grace once stopped. A string command runs
 * under `sh -c`, which SIGTERM ends at once while the trial it started, which
 * may be saving a checkpoint, is owed run.kill_grace like any other. */
static double drain_until(const runner_proc *p)
{
    double until = p->t_exit + DRAIN_GRACE;
    if (p->t_term >= 0 && !p->killed && p->t_term + p->grace > until) until = p->t_term + p->grace;
    return until;
}

/* The next moment at which p needs attention without any I/O. */
static double next_deadline(const runner_proc *p)
{
    if (p->exit_seen) return drain_until(p);
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
    double now = monotime_s();
    if (!p->exit_seen) check_exit(p, now);
    if (p->exit_seen) {
        /* Lines written just before the exit may not have been polled yet. */
        for (int k = 0; k < S_N; k++)
            if (p->s[k].fd >= 0) read_stream(p, &p->s[k], d);
        p->ending = all_closed(p) || now >= drain_until(p);
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
    if (poll(pfd, np, wait_ms(procs, n, timeout_ms, monotime_s())) < 0 && errno != EINTR) {
        int e = errno;
        free(pfd);
        return kerror_set(err, KE_IO, NULL, "poll: %s", strerror(e));
    }
    dispatch d = {cb, ctx, 0};
    runner_proc *ending[n];
    int ne = 0;
    for (int i = 0; i < n; i++) {
        if (!procs[i] || procs[i]->done) continue;
        service(procs[i], pfd, &d);
        if (procs[i]->ending) ending[ne++] = procs[i];
    }
    free(pfd);
    /* The trials that ended in this poll share one kill_rest (its pass over
     * /proc is most of what a trial's end costs), and each EXIT comes after
     * it: when a trial's end is recorded, nothing of it runs any more. */
    if (ne > 0) kill_rest(ending, ne);
    for (int i = 0; i < ne; i++) finish(ending[i], &d);
    return d.count;
}

/* 1 when entry's name is one only Kestrel sets: KESTREL_REPORT_FD, the
 * trial's token (neither Kestrel's environment nor a spec may change it). */
static int reserved(const char *entry)
{
    size_t len = (size_t)(strchrnul(entry, '=') - entry);
    return (len == strlen("KESTREL_REPORT_FD") && !strncmp(entry, "KESTREL_REPORT_FD", len)) ||
           (len == strlen(RUNNER_TOKEN_NAME) && !strncmp(entry, RUNNER_TOKEN_NAME, len));
}

/* 1 when entry's name is reserved or set (or unset) again in extra. */
static int overridden(const char *entry, char *const *extra)
{
    size_t len = (size_t)(strchrnul(entry, '=') - entry);
    if (reserved(entry)) return 1;
    for (size_t i = 0; extra && extra[i]; i++)
        if (!strncmp(entry, extra[i], len) && (extra[i][len] == '=' || !extra[i][len])) return 1;
    return 0;
}

/* The environment: ours, less the names the command sets or unsets (an
 * entry without '='), plus KESTREL_REPORT_FD, the trial's token and
 * env_extra (the last of a name set twice). Borrows every string. */
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
        if (strchr(extra[i], '=') && !reserved(extra[i]) && !overridden(extra[i], extra + i + 1))
            env[k++] = extra[i];
    env[k] = NULL;
    return env;
}

/* In the child: only async-signal-safe calls. fds: stdin, stdout, stderr,
 * report, status. Each is first copied above 9, so that moving them onto
 * 0-4 cannot overwrite one that is still to be moved. */
static void child_exec(const runner_cmd *cmd, char **envp, const int fds[5], pid_t parent)
{
    int st = fds[4], stage = STAGE_SETUP, hi[5];
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    /* Under Linux's autogroups the scheduler shares the CPU between sessions
     * first and applies a nice value only within its session, so a trial
     * at a lower priority than a browser or shell in another session (the
     * dashboard's) needs a session of its own, with the nice value given to
     * that session's group; setpriority covers kernels without autogroups. */
    if (cmd->nice > 0 && setsid() >= 0) {
        int ag = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
        if (ag >= 0) {
            char v[4] = {(char)('0' + cmd->nice / 10), (char)('0' + cmd->nice % 10), '\n', 0};
            (void)!write(ag, cmd->nice >= 10 ? v : v + 1, cmd->nice >= 10 ? 3 : 2);
            close(ag);
        }
        setpriority(PRIO_PROCESS, 0, cmd->nice);
    } else setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent) _exit(127);
    for (int k = 0; k < 5; k++)
        if ((hi[k] = fcntl(fds[k], F_DUPFD_CLOEXEC, 10)) < 0) goto fail;
    st = hi[4];
    for (int k = 0; k < 4; k++)
        if (dup2(hi[k], k) < 0) goto fail;
    if (dup3(hi[4], 4, O_CLOEXEC) < 0) goto fail;
    st = 4;
    spawn_close_fds(5, INT_MAX);
    if (cmd->cwd && chdir(cmd->cwd) < 0) {
        stage = STAGE_CWD;
        goto fail;
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    spawn_exec_path(cmd->file ? cmd->file : cmd->argv[0], cmd->argv, envp);
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
    p->pidfd = -1;
    p->guard = cmd->guard;
    runner_guard_token(cmd->guard, p->token, sizeof p->token);
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
    if (!cmd->guard) return kerror_set(err, KE_INVALID, NULL, "runner_spawn: no guard");
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
        p->t_start = monotime_s();
        pid = spawn_shared(child_main, &a);
        int e = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        errno = e;
    }
    int e = errno;
    free(envp);
    spawn_close_fd(&devnull);
    for (int k = 0; k < 4; k++) spawn_close_fd(&pp[k][1]);
    if (pid < 0) {
        for (int k = 0; k < 4; k++) spawn_close_fd(&pp[k][0]);
        runner_free(p);
        return kerror_set(err, KE_IO, NULL, "cannot start '%s': %s", cmd->argv[0], strerror(e));
    }
    p->pid = pid;
    /* A child closes its pipes before it becomes a zombie: without a pidfd
     * the exit after the last EOF was only seen at the next POLL_CAP_MS
     * wake-up, 50 ms late on average, every trial. */
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    read_child_status(p, pp[3][0], cmd);
    spawn_close_fd(&pp[3][0]);
    if (runner_guard_add(p->guard, pid) < 0) {
        e = errno;
        for (int k = 0; k < 3; k++) spawn_close_fd(&pp[k][0]);
        runner_free(p);
        return kerror_set(err, KE_IO, NULL, "cannot start a watchdog for '%s': %s",
                          cmd->argv[0], strerror(e));
    }
    p->guarded = 1;
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
    stop_group(p, monotime_s());
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
        if (!p->done) kill_rest(&p, 1);   /* else runner_poll did */
        reap(p);
    }
    for (int k = 0; k < S_N; k++) {
        spawn_close_fd(&p->s[k].fd);
        free(p->s[k].line);
    }
    spawn_close_fd(&p->pidfd);
    free(p);
}
