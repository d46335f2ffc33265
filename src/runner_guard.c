/* runner_guard: the watchdog that outlives Kestrel to kill what is left of
 * the trials a guard spawned if Kestrel dies, even by kill -9; see
 * runner_guard.h. The watchdog (one /bin/sh per guard, started by
 * spawn_shared) is told each trial's group over a socket only Kestrel
 * writes to and sees EOF only when Kestrel died. It leads a process group
 * of its own: a signal to Kestrel's group (kill -9 -PGID, timeout -s KILL)
 * must not end it along with Kestrel. Invariant: the watchdog's list is
 * the guard's groups; one that cannot be told a change is replaced by one
 * told the whole list, so it never kills a group id the reap freed. */
#define _GNU_SOURCE
#include "runner_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "monotime.h"
#include "proctoken.h"
#include "spawn.h"

#define TOKEN_ROUNDS 64      /* kill rounds: each catches what the last one's victims forked */

struct runner_guard {
    pid_t pid;               /* the watchdog, 0 when none */
    int fd;                  /* our end of its socket, -1 when none */
    char prefix[PROCTOKEN_MAX - 12];  /* "KESTREL_TRIAL_TOKEN=<kestrel pid>.<ns>.<g>" */
    proctoken *known;        /* what the kills of its trials' rests learnt */
    unsigned long next;      /* the number in the next trial's token */
    pid_t *groups;           /* the trials' groups it guards (unreaped), to
                              * tell a watchdog that replaces another */
    int n_groups, cap_groups;
};

/* Sends "+ PID" or "- PID" to the watchdog (two words, as its read takes
 * them); never blocks (nor raises SIGPIPE): a watchdog that is gone or
 * stuck fails it. */
static int guard_say(runner_guard *g, char op, pid_t pid)
{
    char line[32];
    int n = snprintf(line, sizeof line, "%c %ld\n", op, (long)pid);
    if (g->fd < 0) return -1;
    return send(g->fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == n ? 0 : -1;
}

typedef struct {
    int fd;                  /* the watchdog's end of its socket */
    char script[1024];       /* sh -c: the groups to kill, until EOF; then kill */
} watchdog_args;

static int watchdog_main(void *arg)
{
    watchdog_args *a = arg;
    setpgid(0, 0);   /* out of Kestrel's group (done before Kestrel resumes: vfork) */
    /* fd 0 when Kestrel runs with stdin closed: dup2 would keep CLOEXEC */
    if (a->fd == 0 ? fcntl(0, F_SETFD, 0) == 0 : dup2(a->fd, 0) == 0) {
        spawn_close_fds(1, INT_MAX);
        char *argv[] = {(char *)"kestrel-watchdog", (char *)"-c", a->script, NULL};
        char *envp[] = {(char *)"PATH=/usr/bin:/bin", NULL};   /* for grep */
        execve("/bin/sh", argv, envp);
    }
    _exit(127);
}

/* Starts the guard's watchdog: a /bin/sh that holds no other fd (it must
 * not keep trials' pipes open), has every signal blocked (a Ctrl-C for
 * Kestrel must not end it first: the mask survives exec) and reads lines
 * "+ PID" (a trial's group to kill) and "- PID" (no longer: reaped) until
 * EOF, which comes only when Kestrel died (runner_guard_free stands it down
 * with SIGKILL): then it kills the groups left and, in rounds until three
 * found none (one in an exec reads empty a moment), every process whose
 * environment holds a token of this guard. */
static int guard_start(runner_guard *g)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return -1;
    char re[2 * sizeof g->prefix];     /* the prefix as a regular expression */
    size_t k = 0;
    for (const char *c = g->prefix; *c; c++) {
        if (*c == '.') re[k++] = '\\';
        re[k++] = *c;
    }
    re[k] = '\0';
    watchdog_args a = {.fd = sv[1]};
    snprintf(a.script, sizeof a.script,
             "g=' '; while read -r o n; do case $o in +) g=\"$g$n \";;"
             " -) case $g in *\" $n \"*) g=\"${g%%%% $n *} ${g#* $n }\";; esac;; esac; done;"
             " for n in $g; do kill -s KILL -- -$n; done; n=0; e=0;"
             " while [ $n -lt %d ] && [ $e -lt 3 ]; do"
             " f=$(grep -lz '^%s\\.' /proc/[0-9]*/environ 2>/dev/null); e=$((e+1)); n=$((n+1));"
             " for p in $f; do p=${p#/proc/}; kill -s KILL ${p%%/environ}; e=0; done; sleep 0.1; done",
             TOKEN_ROUNDS, re);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = spawn_shared(watchdog_main, &a);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(sv[1]);
    /* the child has exec'd or exited by now (CLONE_VFORK): exited, the exec failed */
    if (pid > 0 && waitpid(pid, NULL, WNOHANG) == pid) {
        pid = -1;
        e = ENOEXEC;
    }
    if (pid < 0) {
        close(sv[0]);
        errno = e;
        return -1;
    }
    g->pid = pid;
    g->fd = sv[0];
    return 0;
}

static void guard_stop(runner_guard *g)
{
    if (g->pid > 0) {
        kill(g->pid, SIGKILL);
        spawn_wait(g->pid);
    }
    g->pid = 0;
    spawn_close_fd(&g->fd);
}

/* Replaces the watchdog (gone, stuck, or one whose list went wrong) by one
 * told every group the guard holds; on failure none is left (no watchdog
 * with a list that is not the guard's), and the next spawn tries again. */
static int guard_restart(runner_guard *g)
{
    guard_stop(g);
    if (guard_start(g) < 0) return -1;
    for (int i = 0; i < g->n_groups; i++)
        if (guard_say(g, '+', g->groups[i]) < 0) {
            guard_stop(g);
            errno = EPIPE;
            return -1;
        }
    return 0;
}

/* Hands the trial's group to the watchdog; one that is gone (killed by
 * hand) or stuck is replaced first. */
int runner_guard_add(runner_guard *g, pid_t pid)
{
    if (g->n_groups == g->cap_groups) {
        int cap = g->cap_groups ? 2 * g->cap_groups : 8;
        pid_t *grown = realloc(g->groups, (size_t)cap * sizeof *grown);
        if (!grown) {
            errno = ENOMEM;
            return -1;
        }
        g->groups = grown;
        g->cap_groups = cap;
    }
    g->groups[g->n_groups++] = pid;
    if (guard_say(g, '+', pid) == 0 || guard_restart(g) == 0) return 0;
    g->n_groups--;      /* no watchdog holds it: the trial is not started */
    return -1;
}

/* Takes the reaped-to-be group off the watchdog's list. A watchdog that
 * cannot be told (stuck, its socket full, gone) would keep the id, which
 * the reap frees for reuse, and kill whatever group has it when Kestrel
 * dies: it is replaced by one told only the groups left. */
void runner_guard_remove(runner_guard *g, pid_t pid)
{
    for (int i = 0; i < g->n_groups; i++)
        if (g->groups[i] == pid) {
            g->groups[i] = g->groups[--g->n_groups];
            break;
        }
    if (guard_say(g, '-', pid) < 0) guard_restart(g);
}

int runner_guard_new(runner_guard **out, kerror *err)
{
    runner_guard *g = calloc(1, sizeof *g);
    *out = NULL;
    if (!g) return kerror_set(err, KE_NOMEM, NULL, "runner_guard_new: out of memory");
    g->fd = -1;
    if (proctoken_new(&g->known) < 0) {
        free(g);
        return kerror_set(err, KE_NOMEM, NULL, "runner_guard_new: out of memory");
    }
    snprintf(g->prefix, sizeof g->prefix, RUNNER_TOKEN_NAME "=%ld.%llx.%llx", (long)getpid(),
             (unsigned long long)(monotime_s() * 1e9), (unsigned long long)(uintptr_t)g);
    if (guard_start(g) < 0) {
        int e = errno;
        proctoken_free(g->known);
        free(g);
        return kerror_set(err, KE_IO, NULL, "cannot start Kestrel's watchdog: %s", strerror(e));
    }
    *out = g;
    return KE_OK;
}

void runner_guard_free(runner_guard *g)
{
    if (!g) return;
    guard_stop(g);
    proctoken_free(g->known);
    free(g->groups);
    free(g);
}

void runner_guard_token(runner_guard *g, char *buf, size_t n)
{
    snprintf(buf, n, "%s.%lx", g->prefix, g->next++);
}

void runner_guard_kill(runner_guard *g, const char *const *toks, int n, double since)
{
    proctoken_kill(g->known, toks, n, since);
}
