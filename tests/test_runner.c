/* Tests for runner: real child processes (/bin/sh -c scripts) spawned,
 * polled, timed out and reaped by src/runner.c. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check_main.h"
#include "../common/monotime.h"
#include "../src/runner.h"

/* What one child sent: its lines in arrival order and its EXIT event. */
typedef struct {
    int n, cap;
    char **line;
    runner_source *src;
    int *cut;
    int exits;
    runner_event exit;
    char *terminate_on;     /* runner_terminate when this report line arrives */
} collect;

static void on_event(const runner_event *ev, void *ctx)
{
    (void)ctx;
    collect *c = ev->user;
    if (ev->kind == RUNNER_EXIT) {
        c->exits++;
        c->exit = *ev;
        return;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->line = realloc(c->line, c->cap * sizeof *c->line);
        c->src = realloc(c->src, c->cap * sizeof *c->src);
        c->cut = realloc(c->cut, c->cap * sizeof *c->cut);
        ck_assert(c->line && c->src && c->cut);
    }
    c->line[c->n] = strdup(ev->line);
    c->src[c->n] = ev->source;
    c->cut[c->n++] = ev->cut;
    if (c->terminate_on && !strcmp(ev->line, c->terminate_on)) runner_terminate(ev->proc);
}

static void collect_free(collect *c)
{
    for (int i = 0; i < c->n; i++) free(c->line[i]);
    free(c->line);
    free(c->src);
    free(c->cut);
    memset(c, 0, sizeof *c);
}

/* The i-th line of source src, or NULL. */
static const char *nth(const collect *c, runner_source src, int i)
{
    for (int k = 0; k < c->n; k++)
        if (c->src[k] == src && i-- == 0) return c->line[k];
    return NULL;
}

/* Checks that the i-th report line is text. */
static void report_is(const collect *c, int i, const char *text)
{
    ck_assert_ptr_nonnull(nth(c, RUNNER_SRC_REPORT, i));
    ck_assert_str_eq(nth(c, RUNNER_SRC_REPORT, i), text);
}

static int count(const collect *c, runner_source src)
{
    int n = 0;
    for (int k = 0; k < c->n; k++) n += c->src[k] == src;
    return n;
}

/* This process's guard, started at its first spawn: Check runs each test
 * in a process of its own, so each test has its own watchdog (a test that
 * forks a spawning child starts one there). */
static runner_guard *guard;

static runner_guard *test_guard(void)
{
    kerror err;
    if (!guard) ck_assert_int_eq(runner_guard_new(&guard, &err), KE_OK);
    return guard;
}

static runner_proc *spawn_cmd(runner_cmd *cmd, collect *c)
{
    runner_proc *p = NULL;
    kerror err;
    cmd->user = c;
    cmd->guard = test_guard();
    ck_assert_int_eq(runner_spawn(&p, cmd, &err), KE_OK);
    ck_assert_ptr_nonnull(p);
    return p;
}

static runner_proc *spawn_sh(const char *script, double timeout, collect *c)
{
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    runner_cmd cmd = {.argv = argv, .timeout = timeout, .kill_grace = 0.3};
    return spawn_cmd(&cmd, c);
}

/* Polls until every proc dispatched its EXIT event. */
static void run_all(runner_proc **procs, collect *cs, int n)
{
    double t0 = monotime_s();
    for (;;) {
        ck_assert_msg(monotime_s() - t0 < 60, "a child still runs after 60 s");   /* a hang guard */
        int left = 0;
        for (int i = 0; i < n; i++) left += cs[i].exits == 0;
        if (!left) break;
        kerror err;
        ck_assert_int_ge(runner_poll(procs, n, 1000, on_event, NULL, &err), 0);
    }
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(cs[i].exits, 1);
        ck_assert(runner_exited(procs[i]));
    }
}

static void run_one(runner_proc *p, collect *c)
{
    run_all(&p, c, 1);
}

/* run.nice: the child leads a session of its own (so that Linux's
 * autogroups apply its nice value against other sessions) at that nice
 * value, and its session's group has it too where the kernel has them;
 * without it the child stays in Kestrel's session at Kestrel's nice value. */
START_TEST(nice_gets_own_session)
{
    /* The autogroup file is absent where the kernel has no autogroups, and
     * may be empty where it placed the new session in none; then only the
     * nice value and the session are checked. */
    const char *script = "cut -d' ' -f1,6,19 /proc/$$/stat;"
                         "echo \"ag $(cat /proc/$$/autogroup 2>/dev/null)\"";
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    for (int nice = 0; nice <= 19; nice += 19) {
        collect c = {0};
        runner_cmd cmd = {.argv = argv, .kill_grace = 0.3, .nice = nice};
        runner_proc *p = spawn_cmd(&cmd, &c);
        run_one(p, &c);
        ck_assert_int_eq(count(&c, RUNNER_SRC_STDOUT), 2);
        long pid, sid, ni;
        ck_assert_int_eq(sscanf(nth(&c, RUNNER_SRC_STDOUT, 0), "%ld %ld %ld", &pid, &sid, &ni), 3);
        ck_assert_int_eq(pid, runner_pid(p));
        if (nice) {
            ck_assert_int_eq(sid, pid);
            ck_assert_int_eq(ni, 19);
            const char *ag = nth(&c, RUNNER_SRC_STDOUT, 1);
            ck_assert_int_eq(strncmp(ag, "ag", 2), 0);
            if (strlen(ag) > 3)
                ck_assert_ptr_nonnull(strstr(ag, "nice 19"));
        } else {
            ck_assert_int_eq(sid, getsid(0));
            ck_assert_int_eq(ni, getpriority(PRIO_PROCESS, 0));
        }
        runner_free(p);
        collect_free(&c);
    }
}
END_TEST

START_TEST(lines_by_source_in_order)
{
    collect c = {0};
    runner_proc *p = spawn_sh("echo '{\"step\": 0, \"loss\": 3}' >&3; echo 'log line';"
                              "echo '{\"step\": 1, \"loss\": 2}' >&3; echo '{\"acc\": 1}';"
                              "printf '{\"loss\": 1}' >&3; printf 'no newline'", 0, &c);
    run_one(p, &c);
    ck_assert_int_eq(count(&c, RUNNER_SRC_REPORT), 3);
    ck_assert_str_eq(nth(&c, RUNNER_SRC_REPORT, 0), "{\"step\": 0, \"loss\": 3}");
    ck_assert_str_eq(nth(&c, RUNNER_SRC_REPORT, 1), "{\"step\": 1, \"loss\": 2}");
    ck_assert_str_eq(nth(&c, RUNNER_SRC_REPORT, 2), "{\"loss\": 1}");
    ck_assert_int_eq(count(&c, RUNNER_SRC_STDOUT), 3);
    ck_assert_str_eq(nth(&c, RUNNER_SRC_STDOUT, 0), "log line");
    ck_assert_str_eq(nth(&c, RUNNER_SRC_STDOUT, 1), "{\"acc\": 1}");
    ck_assert_str_eq(nth(&c, RUNNER_SRC_STDOUT, 2), "no newline");
    ck_assert_str_eq(runner_stdout_tail(p), "log line\n{\"acc\": 1}\nno newline");
    ck_assert_int_eq(c.exit.exited, 1);
    ck_assert_int_eq(c.exit.exit_code, 0);
    ck_assert_int_eq(c.exit.signaled, 0);
    ck_assert_int_eq(c.exit.exec_failed, 0);
    ck_assert_int_eq(c.exit.timed_out, 0);
    ck_assert_ptr_eq(c.exit.proc, p);
    runner_free(p);
    collect_free(&c);
}
END_TEST

START_TEST(long_lines_cut)
{
    collect c = {0};
    char script[512];
    snprintf(script, sizeof script,
             "head -c %d /dev/zero | tr '\\0' x >&3; printf '\\nafter\\n' >&3;"
             "head -c %d /dev/zero | tr '\\0' y >&3; printf '\\n' >&3;"
             "head -c %d /dev/zero | tr '\\0' z", 3 * RUNNER_LINE_MAX, RUNNER_LINE_MAX,
             2 * RUNNER_LINE_MAX);
    runner_proc *p = spawn_sh(script, 0, &c);
    run_one(p, &c);
    ck_assert_int_eq(c.n, 4);
    ck_assert_int_eq(c.src[0], RUNNER_SRC_REPORT);
    ck_assert_int_eq(strlen(c.line[0]), RUNNER_LINE_MAX);
    ck_assert_int_eq(strspn(c.line[0], "x"), RUNNER_LINE_MAX);
    ck_assert_int_eq(c.cut[0], 1);
    ck_assert_str_eq(c.line[1], "after");
    ck_assert_int_eq(c.cut[1], 0);
    ck_assert_int_eq(strlen(c.line[2]), RUNNER_LINE_MAX);   /* exactly the limit: whole */
    ck_assert_int_eq(c.cut[2], 0);
    ck_assert_int_eq(c.src[3], RUNNER_SRC_STDOUT);
    ck_assert_int_eq(strlen(c.line[3]), RUNNER_LINE_MAX);
    ck_assert_int_eq(c.cut[3], 1);
    ck_assert_int_eq(strlen(runner_stdout_tail(p)), RUNNER_TAIL_MAX);
    runner_free(p);
    collect_free(&c);
}
END_TEST

/* A NUL in the output would end the tail's string early: what follows it,
 * such as the error a failed trial's reason quotes, would be lost. */
START_TEST(tail_keeps_bytes_after_nul)
{
    collect c = {0};
    runner_proc *p = spawn_sh("printf 'warming up\\000\\n' >&2; echo 'real error' >&2;"
                              "printf 'a\\000b\\n'", 0, &c);
    run_one(p, &c);
    ck_assert_str_eq(runner_stderr_tail(p), "warming up\xFF\nreal error\n");
    ck_assert_str_eq(runner_stdout_tail(p), "a\xFF" "b\n");
    runner_free(p);
    collect_free(&c);
}
END_TEST

START_TEST(stderr_tail_keeps_last_bytes)
{
    collect c = {0};
    runner_proc *p = spawn_sh("i=0; while [ $i -lt 3000 ]; do echo \"err line $i\" >&2;"
                              "i=$((i+1)); done; echo out", 0, &c);
    run_one(p, &c);
    const char *t = runner_stderr_tail(p);
    size_t len = strlen(t);
    ck_assert_uint_le(len, RUNNER_TAIL_MAX);
    ck_assert_uint_gt(len, RUNNER_TAIL_MAX / 2);
    ck_assert_int_eq(strncmp(t, "err line ", 9), 0);
    ck_assert_str_eq(t + len - 14, "err line 2999\n");
    ck_assert_int_eq(c.n, 1);   /* stderr is not delivered as lines */
    ck_assert_str_eq(runner_stdout_tail(p), "out\n");
    runner_free(p);
    collect_free(&c);
}
END_TEST

START_TEST(exit_code_and_signal)
{
    collect c[3] = {{0}};
    runner_proc *p[3] = {spawn_sh("exit 3", 0, &c[0]),
                         spawn_sh("ulimit -c 0; kill -SEGV $$", 0, &c[1]),
                         spawn_sh("exit 127", 0, &c[2])};
    run_all(p, c, 3);
    ck_assert_int_eq(c[0].exit.exited, 1);
    ck_assert_int_eq(c[0].exit.exit_code, 3);
    ck_assert_int_eq(c[1].exit.exited, 0);
    ck_assert_int_eq(c[1].exit.signaled, 1);
    ck_assert_int_eq(c[1].exit.signal, SIGSEGV);
    ck_assert_int_eq(c[2].exit.exit_code, 127);
    ck_assert_int_eq(c[2].exit.exec_failed, 0);   /* a real 127 is not an exec failure */
    for (int i = 0; i < 3; i++) {
        runner_free(p[i]);
        collect_free(&c[i]);
    }
}
END_TEST

START_TEST(exec_failure)
{
    collect c = {0};
    char *argv[] = {"kestrel-no-such-program-xyz", "--x", "1", NULL};
    runner_cmd cmd = {.argv = argv};
    runner_proc *p = spawn_cmd(&cmd, &c);
    run_one(p, &c);
    ck_assert_int_eq(c.exit.exec_failed, 1);
    ck_assert_int_eq(c.exit.exit_code, 127);
    ck_assert_ptr_nonnull(strstr(runner_stderr_tail(p), "kestrel-no-such-program-xyz"));
    ck_assert_ptr_nonnull(strstr(runner_stderr_tail(p), strerror(ENOENT)));
    runner_free(p);
    collect_free(&c);

    char *sh[] = {"/bin/sh", "-c", "echo never", NULL};
    runner_cmd bad_cwd = {.argv = sh, .cwd = "/nonexistent/kestrel-dir"};
    p = spawn_cmd(&bad_cwd, &c);
    run_one(p, &c);
    ck_assert_int_eq(c.exit.exec_failed, 1);
    ck_assert_int_eq(c.n, 0);
    ck_assert_ptr_nonnull(strstr(runner_stderr_tail(p), "/nonexistent/kestrel-dir"));
    runner_free(p);
    collect_free(&c);
}
END_TEST

START_TEST(timeout_kills_after_grace_when_sigterm_ignored)
{
    collect c = {0};
    /* The timeout must outlast the shell's start on a loaded machine: if
     * SIGTERM came before the trap was set, it would end the shell itself. */
    runner_proc *p = spawn_sh("trap '' TERM; echo started >&3; while :; do sleep 0.05; done",
                              5.0, &c);
    run_one(p, &c);
    ck_assert_str_eq(nth(&c, RUNNER_SRC_REPORT, 0), "started");
    ck_assert_int_eq(c.exit.timed_out, 1);
    ck_assert_int_eq(c.exit.terminated, 0);
    ck_assert_int_eq(c.exit.signaled, 1);
    ck_assert_int_eq(c.exit.signal, SIGKILL);
    runner_free(p);
    collect_free(&c);
}
END_TEST

/* Runs script under sh -c with timeout and kill_grace, stops it once it
 * reports "started", and checks that the stop ended it (no timeout) and that
 * its SIGTERM handler's "saved" came; its EXIT event in *ev. */
static void stop_lets_it_save(const char *script, double timeout, double grace, runner_event *ev)
{
    collect c = {0};
    c.terminate_on = "started";
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    runner_cmd cmd = {.argv = argv, .timeout = timeout, .kill_grace = grace};
    runner_proc *p = spawn_cmd(&cmd, &c);
    run_one(p, &c);
    ck_assert_int_eq(c.exit.terminated, 1);
    ck_assert_int_eq(c.exit.timed_out, 0);
    report_is(&c, 1, "saved");
    *ev = c.exit;
    runner_free(p);
    collect_free(&c);
}

/* A string command runs under `sh -c`, which SIGTERM ends at once; the
 * trial it started catches SIGTERM to save its checkpoint and is owed the
 * whole kill_grace (it was killed 0.5 s after the shell's exit). */
START_TEST(stop_gives_the_group_its_grace_after_the_shell_exits)
{
    runner_event ev;
    stop_lets_it_save("sh -c 'trap \"sleep 1; echo saved >&3; exit 0\" TERM; echo started >&3;"
                      " while :; do sleep 0.05; done'; echo after",
                      0, 60, &ev);
}
END_TEST

/* A timeout and a kill_grace past any trial's life (docs/spec.md: any
 * finite number) are no limit: the timeout never fires, and a stopped trial
 * that catches SIGTERM is waited for, never killed. */
START_TEST(huge_timeout_and_grace_are_no_limit)
{
    const double huge[] = { 1e18, 1e300, DBL_MAX };
    for (int i = 0; i < 3; i++) {
        runner_event ev;
        stop_lets_it_save("trap 'sleep 0.2; echo saved >&3; exit 0' TERM; echo started >&3;"
                          " while :; do sleep 0.05; done",
                          huge[i], huge[i], &ev);
        ck_assert_int_eq(ev.signaled, 0);
        ck_assert_int_eq(ev.exit_code, 0);
    }
}
END_TEST

/* Checks that p, ended by runner_terminate, died of sig; frees p and c. */
static void ended_by_stop(runner_proc *p, collect *c, int sig)
{
    ck_assert_int_eq(c->exit.terminated, 1);
    ck_assert_int_eq(c->exit.timed_out, 0);
    ck_assert_int_eq(c->exit.signaled, 1);
    ck_assert_int_eq(c->exit.signal, sig);
    runner_free(p);
    c->terminate_on = NULL;
    collect_free(c);
}

/* A main process that moves itself into another group (here the test's,
 * as setpgid allows within the session) is out of reach of a signal to its
 * trial's group: a stop or a timeout must still end it, SIGTERM ignored and
 * all. It ran on, and the trial with it, for ever. */
START_TEST(stop_reaches_a_main_process_that_left_its_group)
{
    collect c = {.terminate_on = "moved"};
    char *argv[] = {"python3", "-c",
                    "import os, signal\n"
                    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                    "os.setpgid(0, os.getpgid(os.getppid()))\n"
                    "if os.getpgid(0) == os.getpgid(os.getppid()): os.write(3, b'moved\\n')\n"
                    "signal.pause()\n",
                    NULL};
    runner_cmd cmd = {.argv = argv, .kill_grace = 0.3};
    runner_proc *p = spawn_cmd(&cmd, &c);
    run_one(p, &c);
    report_is(&c, 0, "moved");
    ended_by_stop(p, &c, SIGKILL);
}
END_TEST

START_TEST(timeout_with_grandchild_holding_pipes)
{
    collect c = {0};
    /* the subshell ignores SIGTERM and keeps stdout, stderr and fd 3 open */
    runner_proc *p = spawn_sh("(trap '' TERM; sleep 30) & wait", 0.3, &c);
    run_one(p, &c);
    ck_assert_int_eq(c.exit.timed_out, 1);
    ck_assert_int_eq(c.exit.signaled, 1);
    ck_assert_int_eq(c.exit.signal, SIGTERM);
    runner_free(p);
    collect_free(&c);
}
END_TEST

/* 1 when pid is gone or a zombie. */
static int dead(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return !rp || rp[2] == 'Z' || rp[2] == 'X';
}

/* Waits (bounded) for pid to die; 1 if it did. */
static int dies(pid_t pid)
{
    for (int i = 0; i < 2400; i++) {   /* a 60 s hang guard, not a deadline */
        if (dead(pid)) return 1;
        nanosleep(&(struct timespec){0, 25000000}, NULL);
    }
    return 0;
}

START_TEST(exit_with_background_grandchild)
{
    collect c = {0};
    runner_proc *p = spawn_sh("sleep 30 & echo $!", 0, &c);
    run_one(p, &c);
    ck_assert_int_eq(c.exit.exited, 1);
    ck_assert_int_eq(c.exit.exit_code, 0);
    ck_assert_int_eq(c.n, 1);
    pid_t grandchild = (pid_t)atoi(c.line[0]);
    ck_assert_int_gt(grandchild, 1);
    ck_assert(dies(grandchild));   /* what is left of the trial's group is killed */
    runner_free(p);
    collect_free(&c);
}
END_TEST

/* Starts a sleep in a session of its own (setsid) and one through a double
 * fork whose middle process leaves the session before it exits: neither is
 * in the trial's group nor a child of the trial. Their pids go to fd 3, the
 * second once the middle process is gone ($(...) waits for its stdout). */
#define ESCAPING_SLEEPS "setsid sleep 1000 & s1=$!; echo $s1 >&3;" \
    " s2=$( (setsid sh -c 'sleep 1000 >/dev/null & echo $!' &) ); echo $s2 >&3;"
/* Waits until both are sleeps with their environment in place: one caught
 * in an exec reads as having none, for a moment. */
#define SLEEPS_EXECED "for s in $s1 $s2; do until [ \"$(cat /proc/$s/comm)\" = sleep ] &&" \
    " grep -qz KESTREL_TRIAL_TOKEN /proc/$s/environ; do sleep 0.01; done; done;"

/* The two escaping sleeps' pids from c's report lines, checked. */
static void escaped_pids(const collect *c, pid_t out[2])
{
    ck_assert_int_ge(count(c, RUNNER_SRC_REPORT), 2);
    for (int i = 0; i < 2; i++) {
        out[i] = (pid_t)atoi(nth(c, RUNNER_SRC_REPORT, i));
        ck_assert_int_gt(out[i], 1);
    }
}

/* Checks that the two escaping sleeps of p's ended trial die; frees p. */
static void escaped_died(runner_proc *p, collect *c)
{
    pid_t gone[2];
    escaped_pids(c, gone);
    ck_assert(dies(gone[0]));
    ck_assert(dies(gone[1]));
    runner_free(p);
    collect_free(c);
}

START_TEST(exit_with_grandchild_in_other_session)
{
    collect c = {0};
    /* out of the group's reach: they end with the trial through its token */
    runner_proc *p = spawn_sh(ESCAPING_SLEEPS " echo done", 0, &c);
    run_one(p, &c);
    ck_assert_int_eq(c.exit.exited, 1);
    ck_assert_str_eq(nth(&c, RUNNER_SRC_STDOUT, 0), "done");
    escaped_died(p, &c);
}
END_TEST

/* Trials that end in the same poll share one pass over /proc: each one's
 * escaped processes still die. */
START_TEST(escaped_processes_of_trials_ending_together)
{
    enum { N = 3 };
    collect c[N] = {{0}};
    runner_proc *p[N];
    for (int i = 0; i < N; i++) p[i] = spawn_sh(ESCAPING_SLEEPS " echo done", 0, &c[i]);
    run_all(p, c, N);
    for (int i = 0; i < N; i++) escaped_died(p[i], &c[i]);
}
END_TEST

/* A trial's escaped processes, seen (and learnt about) while another
 * trial's end killed the rest of that one, still die when it ends. */
START_TEST(escaped_processes_of_trials_ending_apart)
{
    collect c[2] = {{0}};
    runner_proc *p[2];
    p[1] = spawn_sh(ESCAPING_SLEEPS SLEEPS_EXECED " echo ready >&3; exec sleep 1000", 0, &c[1]);
    kerror err;
    while (count(&c[1], RUNNER_SRC_REPORT) < 3 && !c[1].exits)
        ck_assert_int_ge(runner_poll(&p[1], 1, 1000, on_event, NULL, &err), 0);
    p[0] = spawn_sh(ESCAPING_SLEEPS SLEEPS_EXECED " echo done", 0, &c[0]);
    run_one(p[0], &c[0]);
    ck_assert(!c[1].exits);
    runner_terminate(p[1]);
    run_one(p[1], &c[1]);
    for (int i = 0; i < 2; i++) escaped_died(p[i], &c[i]);
}
END_TEST

/* This process's children that are not among the n pids (at most 8). */
static int other_children(const pid_t *pids, int n, pid_t out[8])
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    int others = 0;
    for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n")) {
        int known = 0;
        for (int i = 0; i < n; i++) known |= atoi(tok) == pids[i];
        if (!known && others < 8) out[others++] = (pid_t)atoi(tok);
    }
    return others;
}

/* One watchdog for all the trials of a guard, not one each; killed by
 * hand, it is replaced at the next spawn. */
START_TEST(one_watchdog_per_guard)
{
    enum { N = 4 };
    collect c[N] = {{0}};
    runner_proc *p[N];
    pid_t pids[N], watchdog[8];
    for (int i = 0; i < N; i++) {
        if (i == N - 1) {
            ck_assert_int_eq(kill(watchdog[0], SIGKILL), 0);
            ck_assert_int_eq(waitpid(watchdog[0], NULL, 0), watchdog[0]);
        }
        p[i] = spawn_sh("read x", 0, &c[i]);
        pids[i] = runner_pid(p[i]);
        ck_assert_int_eq(other_children(pids, i + 1, watchdog), 1);
    }
    for (int i = 0; i < N; i++) {
        runner_free(p[i]);
        collect_free(&c[i]);
    }
}
END_TEST

/* This process's one socket, its end of the guard's watchdog's; -1 when
 * it has none or several. */
static int guard_socket(void)
{
    DIR *d = opendir("/proc/self/fd");
    int found = -1, n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], link[64];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, link, sizeof link - 1);
        if (len > 7 && !strncmp(link, "socket:", 7)) {
            found = atoi(e->d_name);
            n++;
        }
    }
    if (d) closedir(d);
    return n == 1 ? found : -1;
}

static int stopped(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t len = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[len] = '\0';
    const char *st = strrchr(buf, ')');
    return st && st[1] == ' ' && st[2] == 'T';
}

/* A watchdog that cannot be told a trial's group ended (stopped, its
 * socket full: "- PID" fails) must not keep that id, which the reap frees
 * for reuse and which it would kill when Kestrel dies: it is replaced by
 * one that holds the groups still running. Here trial L runs on (a
 * grandchild without the token, in L's group) while trial T ends; then the
 * spawning process dies and L's grandchild must die by its group. */
START_TEST(watchdog_replaced_when_a_group_end_cannot_be_told)
{
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    pid_t mid = fork();
    ck_assert_int_ge(mid, 0);
    if (mid == 0) {
        collect cl = {0}, ct = {0};
        kerror err;
        runner_proc *l = spawn_sh("env -i sleep 1000 & s=$!; until [ \"$(cat /proc/$s/comm)\" ="
                                  " sleep ]; do sleep 0.01; done; echo $s >&3; wait", 0, &cl);
        while (cl.n < 1 && !cl.exits) runner_poll(&l, 1, 1000, on_event, NULL, &err);
        runner_proc *t = spawn_sh("sleep 1000", 0, &ct);
        pid_t known[2] = {runner_pid(l), runner_pid(t)}, w[8];
        /* out: L's grandchild, the old watchdog, the new one, the old one
         * gone, how many watchdogs before and after, the socket */
        pid_t out[7] = {cl.n ? (pid_t)atoi(cl.line[0]) : 0};
        out[4] = other_children(known, 2, w);
        out[1] = w[0];
        out[6] = guard_socket();
        kill(out[1], SIGSTOP);
        while (!stopped(out[1])) nanosleep(&(struct timespec){0, 1000000}, NULL);
        while (out[6] >= 0 && send(out[6], "- 0\n", 4, MSG_DONTWAIT | MSG_NOSIGNAL) == 4)
            ;
        runner_free(t);
        out[3] = kill(out[1], 0) < 0 && errno == ESRCH;
        out[5] = other_children(known, 1, w);
        out[2] = w[0];
        if (write(fd[1], out, sizeof out) != sizeof out) _exit(1);
        raise(SIGKILL);
    }
    close(fd[1]);
    pid_t out[7] = {0};
    ck_assert_int_eq(read(fd[0], out, sizeof out), sizeof out);
    close(fd[0]);
    ck_assert_int_eq(waitpid(mid, NULL, 0), mid);
    ck_assert_int_gt(out[0], 1);
    ck_assert_int_ge(out[6], 0);
    ck_assert_int_eq(out[4], 1);
    if (!out[3]) {     /* the old watchdog runs on, stopped: end it and L's rest */
        kill(out[1], SIGKILL);
        kill(out[0], SIGKILL);
        ck_abort_msg("the watchdog that missed '- %d' still runs", (int)out[1]);
    }
    ck_assert_int_eq(out[5], 1);
    ck_assert_int_ne(out[2], out[1]);
    ck_assert_msg(dies(out[0]), "trial L's grandchild outlived its parent");
}
END_TEST

START_TEST(terminate)
{
    collect c = {.terminate_on = "ready"};
    runner_proc *p = spawn_sh("echo ready >&3; sleep 30", 0, &c);
    run_one(p, &c);
    ended_by_stop(p, &c, SIGTERM);
}
END_TEST

START_TEST(eight_children_at_once)
{
    enum { N = 8, LINES = 100 };
    collect c[N] = {{0}};
    runner_proc *p[N];
    for (int i = 0; i < N; i++) {
        char script[256];
        snprintf(script, sizeof script,
                 "i=0; while [ $i -lt %d ]; do echo \"{\\\"step\\\": $i, \\\"id\\\": %d}\" >&3;"
                 "echo \"out $i\"; i=$((i+1)); done; exit %d", LINES, i, i);
        p[i] = spawn_sh(script, 0, &c[i]);
    }
    run_all(p, c, N);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(count(&c[i], RUNNER_SRC_REPORT), LINES);
        ck_assert_int_eq(count(&c[i], RUNNER_SRC_STDOUT), LINES);
        for (int k = 0; k < LINES; k++) {
            char want[64];
            snprintf(want, sizeof want, "{\"step\": %d, \"id\": %d}", k, i);
            ck_assert_str_eq(nth(&c[i], RUNNER_SRC_REPORT, k), want);
            snprintf(want, sizeof want, "out %d", k);
            ck_assert_str_eq(nth(&c[i], RUNNER_SRC_STDOUT, k), want);
        }
        ck_assert_int_eq(c[i].exit.exit_code, i);
        runner_free(p[i]);
        collect_free(&c[i]);
    }
    runner_guard_free(guard);
    guard = NULL;
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);   /* no child left behind */
    ck_assert_int_eq(errno, ECHILD);
}
END_TEST

START_TEST(environment)
{
    collect c = {0};
    setenv("KESTREL_REPORT_FD", "9", 1);   /* ours must not leak through */
    setenv("KESTREL_TEST_KEEP", "kept", 1);
    setenv("KESTREL_TRIAL", "old", 1);
    setenv("KESTREL_BUDGET", "3", 1);   /* a name without '=' takes ours out */
    setenv("KESTREL_CACHE_DIR", "ours", 1);
    char *argv[] = {"/bin/sh", "-c",
                    "echo \"$KESTREL_REPORT_FD|$KESTREL_TRIAL|$FOO|$KESTREL_TEST_KEEP|$OMP_NUM_THREADS|"
                    "${KESTREL_BUDGET-unset}|$KESTREL_CACHE_DIR\"; "
                    "env | grep -c '^KESTREL_TRIAL='; env | grep -c '^OMP_NUM_THREADS='", NULL};
    /* a name given twice (Kestrel's own, then a spec's run.env) keeps the last */
    char *env[] = {"KESTREL_TRIAL=7", "OMP_NUM_THREADS=2", "FOO=bar baz", "OMP_NUM_THREADS=1",
                   "KESTREL_BUDGET", "KESTREL_CACHE_DIR", "KESTREL_CACHE_DIR=spec", NULL};
    runner_cmd cmd = {.argv = argv, .env_extra = env};
    runner_proc *p = spawn_cmd(&cmd, &c);
    run_one(p, &c);
    ck_assert_int_eq(c.n, 3);
    ck_assert_str_eq(c.line[0], "3|7|bar baz|kept|1|unset|spec");
    ck_assert_str_eq(c.line[1], "1");
    ck_assert_str_eq(c.line[2], "1");
    runner_free(p);
    collect_free(&c);
}
END_TEST

/* argv with env_extra cannot be executed, for the reason e (in the stderr tail). */
static void exec_fails(char **argv, char **env, int e)
{
    collect c = {0};
    runner_cmd cmd = {.argv = argv, .env_extra = env};
    runner_proc *p = spawn_cmd(&cmd, &c);
    run_one(p, &c);
    ck_assert_int_eq(c.exit.exec_failed, 1);
    ck_assert_ptr_nonnull(strstr(runner_stderr_tail(p), strerror(e)));
    runner_free(p);
    collect_free(&c);
}

/* A bare command name is looked up in the trial's PATH (a spec's run.env
 * may set it), not Kestrel's, which stays as it was: a file without
 * execute permission is passed over (EACCES when nothing else is found), a
 * script without a #! line runs under /bin/sh. */
START_TEST(path_search_uses_the_trials_env)
{
    char dir[] = "/tmp/test_runner_path.XXXXXX", cmd[512];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "mkdir %s/a %s/b && echo 'echo no' > %s/a/kt-tool && "
             "echo 'echo \"$1-ran\"' > %s/b/kt-tool && chmod +x %s/b/kt-tool", dir, dir, dir, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    const char *before = getenv("PATH");
    char path[256], only_a[256];
    snprintf(path, sizeof path, "PATH=%s/a:%s/b", dir, dir);
    snprintf(only_a, sizeof only_a, "PATH=%s/a", dir);
    collect c = {0};
    char *argv[] = {"kt-tool", "x", NULL}, *env[] = {path, NULL};
    runner_cmd rc = {.argv = argv, .env_extra = env};
    runner_proc *p = spawn_cmd(&rc, &c);
    run_one(p, &c);
    ck_assert_int_eq(c.exit.exit_code, 0);
    ck_assert_int_eq(c.n, 1);
    ck_assert_str_eq(c.line[0], "x-ran");
    ck_assert_pstr_eq(getenv("PATH"), before);   /* NULL where Kestrel runs with no PATH */
    runner_free(p);
    collect_free(&c);
    char *env_a[] = {only_a, NULL}, *sleep_argv[] = {"sleep", "0", NULL};
    exec_fails(argv, env_a, EACCES);
    exec_fails(sleep_argv, env_a, ENOENT);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(cwd_honoured)
{
    char dir[] = "/tmp/kestrel-runner-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char real[PATH_MAX];
    ck_assert_ptr_nonnull(realpath(dir, real));
    collect c = {0};
    char *argv[] = {"/bin/sh", "-c", "pwd -P; echo x > made", NULL};
    runner_cmd cmd = {.argv = argv, .cwd = dir};
    runner_proc *p = spawn_cmd(&cmd, &c);
    run_one(p, &c);
    ck_assert_str_eq(c.line[0], real);
    char made[PATH_MAX + 8];
    snprintf(made, sizeof made, "%s/made", dir);
    ck_assert_int_eq(unlink(made), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    runner_free(p);
    collect_free(&c);
}
END_TEST

/* Returns 0 when the fds in the /proc/PID/fd folder dir are exactly 0-3,
 * else -1 with the first other one in buf. */
static int list_fds(const char *dir, char *buf, size_t size)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(buf, size, "cannot list %s", dir);
        return -1;
    }
    int seen = 0, other = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd >= 0 && fd <= 3) {
            seen |= 1 << fd;
        } else if (!other++) {
            char link[320], target[128] = "";
            snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
            ssize_t len = readlink(link, target, sizeof target - 1);
            target[len > 0 ? len : 0] = '\0';
            snprintf(buf, size, "fd %.32s (%s) leaked into the child", e->d_name, target);
        }
    }
    closedir(d);
    if (!other && seen != 0xf) snprintf(buf, size, "the child's fds are 0x%x, not 0-3", seen);
    return other || seen != 0xf ? -1 : 0;
}

/* Spawns a child that sleeps once it has read stdin to EOF and reported on
 * fd 3, and lists its fds from outside (a listing from inside would show the
 * listing's own directory fd). Returns NULL when they are exactly 0-3 with
 * stdin on /dev/null, else what is wrong in buf. No ck_assert: the low-fd
 * test runs this where Check's own channel may be closed. */
static const char *fd_problem(char *buf, size_t size)
{
    char *argv[] = {"/bin/sh", "-c", "cat; echo ready >&3; echo stdin-done; exec sleep 30", NULL};
    collect c = {0};
    runner_proc *p = NULL;
    kerror err;
    if (!guard && runner_guard_new(&guard, &err) != KE_OK) {
        snprintf(buf, size, "guard: %.200s", err.msg);
        return buf;
    }
    runner_cmd cmd = {.guard = guard, .argv = argv, .user = &c};
    if (runner_spawn(&p, &cmd, &err) != KE_OK) {
        snprintf(buf, size, "spawn: %.200s", err.msg);
        return buf;
    }
    while (count(&c, RUNNER_SRC_STDOUT) == 0 && !c.exits)
        runner_poll(&p, 1, 1000, on_event, NULL, &err);
    const char *r = nth(&c, RUNNER_SRC_REPORT, 0), *o = nth(&c, RUNNER_SRC_STDOUT, 0);
    snprintf(buf, size, "no ready/stdin-done lines: %s / %s", r ? r : "-", o ? o : "-");
    int ok = r && o && !strcmp(r, "ready") && !strcmp(o, "stdin-done");   /* cat saw EOF */
    /* Transient fds are fine (the shell saves fd 3 around a redirection,
     * sleep's loader reads ld.so.cache): a leaked one stays for good. */
    char path[64], target[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)runner_pid(p));
    int clean = 0;
    for (int i = 0; ok && !clean && i < 2400; i++) {   /* a 60 s hang guard */
        if (i) nanosleep(&(struct timespec){0, 25000000}, NULL);
        clean = list_fds(path, buf, size) == 0;
    }
    ok = ok && clean;
    snprintf(path, sizeof path, "/proc/%d/fd/0", (int)runner_pid(p));
    ssize_t len = readlink(path, target, sizeof target - 1);
    target[len > 0 ? len : 0] = '\0';
    if (ok && strcmp(target, "/dev/null")) {
        snprintf(buf, size, "stdin is %.200s", target);
        ok = 0;
    }
    runner_free(p);
    collect_free(&c);
    return ok ? NULL : buf;
}

START_TEST(no_fd_leaks)
{
    int leak = open("/dev/null", O_RDONLY);   /* not CLOEXEC: must still not reach the child */
    ck_assert_int_ge(leak, 0);
    char buf[256];
    const char *problem = fd_problem(buf, sizeof buf);
    ck_assert_msg(!problem, "%s", problem);
    close(leak);
}
END_TEST

/* With fds 0-3 closed, the pipes land on them: the child's fds must still
 * come out right. Run in a process of its own, whose exit status says. */
START_TEST(low_fds_in_parent)
{
    int msg[2];
    ck_assert_int_eq(pipe(msg), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int out = fcntl(msg[1], F_DUPFD_CLOEXEC, 20);
        for (int i = 0; i < 4; i++) close(i);
        char buf[256];
        const char *problem = fd_problem(buf, sizeof buf);
        if (problem && write(out, problem, strlen(problem)) < 0) _exit(2);
        _exit(problem ? 1 : 0);
    }
    close(msg[1]);
    char buf[256] = "";
    ssize_t n = read(msg[0], buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(msg[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", buf);
}
END_TEST

START_TEST(free_kills_live_child)
{
    collect c = {0};
    runner_proc *p = spawn_sh("exec sleep 30", 0, &c);
    pid_t pid = runner_pid(p);
    ck_assert_int_gt(pid, 0);
    ck_assert(!runner_exited(p));
    runner_free(p);
    ck_assert_int_eq(kill(pid, 0), -1);   /* killed and reaped */
    ck_assert_int_eq(errno, ESRCH);
    ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    collect_free(&c);
}
END_TEST

/* A kill -9 of the spawning process must not leave the trial running: not
 * the child (sh), what it started (sleep), what left its group and session
 * (the watchdog finds those by the trial's token), nor what stayed in its
 * group without the token (env -i: the watchdog kills the trial's group).
 * Sleeps longer than dies()'s bound, which a sleep 30 ended by itself. */
START_TEST(trial_dies_with_parent)
{
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    pid_t mid = fork();
    ck_assert_int_ge(mid, 0);
    if (mid == 0) {
        collect c = {0};
        runner_proc *p = spawn_sh(ESCAPING_SLEEPS SLEEPS_EXECED " sleep 1000 & echo $! >&3;"
                                  " env -i sleep 1000 & s=$!; until [ \"$(cat /proc/$s/comm)\" ="
                                  " sleep ]; do sleep 0.01; done; echo $s >&3; wait", 0, &c);
        kerror err;
        while (c.n < 4 && !c.exits) runner_poll(&p, 1, 1000, on_event, NULL, &err);
        pid_t pids[5] = {runner_pid(p)};
        for (int i = 0; i < 4 && i < c.n; i++) pids[i + 1] = (pid_t)atoi(c.line[i]);
        if (write(fd[1], pids, sizeof pids) != sizeof pids) _exit(1);
        raise(SIGKILL);
    }
    close(fd[1]);
    pid_t pids[5] = {0};
    ck_assert_int_eq(read(fd[0], pids, sizeof pids), sizeof pids);
    close(fd[0]);
    ck_assert_int_eq(waitpid(mid, NULL, 0), mid);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_gt(pids[i], 1);
        ck_assert_msg(dies(pids[i]), "process %d of the trial outlived its parent", i);
    }
}
END_TEST

START_TEST(empty_command_rejected)
{
    runner_proc *p = (runner_proc *)1;
    char *argv[] = {NULL};
    runner_cmd cmd = {.argv = argv};
    kerror err;
    ck_assert_int_eq(runner_spawn(&p, &cmd, &err), KE_INVALID);
    ck_assert_ptr_null(p);
}
END_TEST

static Suite *runner_suite(void)
{
    Suite *s = suite_create("runner");
    TCase *tc = tcase_create("children");
    tcase_set_timeout(tc, 120);   /* a hang guard: the waits inside are bounded at 60 s */
    tcase_add_test(tc, lines_by_source_in_order);
    tcase_add_test(tc, nice_gets_own_session);
    tcase_add_test(tc, long_lines_cut);
    tcase_add_test(tc, stderr_tail_keeps_last_bytes);
    tcase_add_test(tc, tail_keeps_bytes_after_nul);
    tcase_add_test(tc, exit_code_and_signal);
    tcase_add_test(tc, exec_failure);
    tcase_add_test(tc, timeout_kills_after_grace_when_sigterm_ignored);
    tcase_add_test(tc, stop_gives_the_group_its_grace_after_the_shell_exits);
    tcase_add_test(tc, huge_timeout_and_grace_are_no_limit);
    tcase_add_test(tc, timeout_with_grandchild_holding_pipes);
    tcase_add_test(tc, stop_reaches_a_main_process_that_left_its_group);
    tcase_add_test(tc, exit_with_background_grandchild);
    tcase_add_test(tc, exit_with_grandchild_in_other_session);
    tcase_add_test(tc, escaped_processes_of_trials_ending_together);
    tcase_add_test(tc, escaped_processes_of_trials_ending_apart);
    tcase_add_test(tc, one_watchdog_per_guard);
    tcase_add_test(tc, watchdog_replaced_when_a_group_end_cannot_be_told);
    tcase_add_test(tc, terminate);
    tcase_add_test(tc, eight_children_at_once);
    tcase_add_test(tc, environment);
    tcase_add_test(tc, cwd_honoured);
    tcase_add_test(tc, path_search_uses_the_trials_env);
    tcase_add_test(tc, no_fd_leaks);
    tcase_add_test(tc, low_fds_in_parent);
    tcase_add_test(tc, free_kills_live_child);
    tcase_add_test(tc, trial_dies_with_parent);
    tcase_add_test(tc, empty_command_rejected);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(runner_suite());
}
