/* runner: spawns trial commands as child processes and watches them. Each
 * child gets a dedicated report pipe on fd 3 (KESTREL_REPORT_FD=3), its stdout
 * and stderr piped back; runner_poll multiplexes all children with poll(2),
 * hands complete lines to a callback, keeps bounded tails of stdout/stderr,
 * enforces timeouts (SIGTERM to the child's process group, SIGKILL after a
 * grace period) and reaps exits. Knows nothing of studies or storage. */
#ifndef KESTREL_RUNNER_H
#define KESTREL_RUNNER_H

#include <sys/types.h>

#include "kerror.h"
#include "runner_guard.h"

#define RUNNER_REPORT_FD 3
#define RUNNER_TAIL_MAX 8192      /* bytes of stdout/stderr kept per trial */
#define RUNNER_LINE_MAX 65536     /* longer report lines are cut and flagged */

typedef struct {
    runner_guard *guard;        /* required (runner_guard.h) */
    char *const *argv;          /* NULL-terminated; argv[0] searched in PATH */
    const char *file;           /* executed instead of argv[0] (no PATH search), or NULL;
                                 * "/proc/self/exe" is Kestrel's own binary */
    char *const *env_extra;     /* "K=V" entries added to the environment, and "K" ones
                                 * taken out of it (Kestrel's own K), or NULL */
    const char *cwd;            /* or NULL */
    double timeout;             /* seconds, 0 = none */
    double kill_grace;          /* seconds from SIGTERM to SIGKILL (0 = 5) */
    int nice;                   /* 1-19: the child runs at this niceness in a session
                                 * of its own; 0: Kestrel's, in Kestrel's session */
    void *user;                 /* handed back in every event */
} runner_cmd;

typedef struct runner_proc runner_proc;

typedef enum { RUNNER_LINE, RUNNER_EXIT } runner_event_kind;
typedef enum { RUNNER_SRC_REPORT, RUNNER_SRC_STDOUT } runner_source;

typedef struct {
    runner_event_kind kind;
    runner_proc *proc;
    void *user;
    /* RUNNER_LINE */
    runner_source source;
    const char *line;           /* without newline; valid during the callback */
    int cut;                    /* the line was longer than RUNNER_LINE_MAX: cut there */
    /* RUNNER_EXIT */
    int exited, exit_code;      /* normal exit and its code */
    int signaled, signal;       /* killed by a signal */
    int timed_out;              /* the runner ended it for its timeout */
    int terminated;             /* ended by runner_terminate */
    int exec_failed;            /* argv[0] could not be executed (exit 127) */
    double seconds;             /* wall time */
} runner_event;

typedef void (*runner_cb)(const runner_event *ev, void *ctx);

/* Starts the child. On success the caller owns *out (runner_free after exit). */
int runner_spawn(runner_proc **out, const runner_cmd *cmd, kerror *err);
/* Waits up to timeout_ms for activity on any of the n procs (exited ones are
 * skipped), then calls cb for each complete line and each exit. A RUNNER_EXIT
 * event comes once per child, after all of its lines. Returns the number of
 * events dispatched or a negative KE_* code. cb may call runner_terminate,
 * and runner_free on ev->proc during its RUNNER_EXIT event. */
int runner_poll(runner_proc *const *procs, int n, int timeout_ms,
                runner_cb cb, void *ctx, kerror *err);
/* Asks the child to stop: SIGTERM to its group now, SIGKILL after the grace
 * period (enforced by later runner_poll calls). */
void runner_terminate(runner_proc *p);
int runner_exited(const runner_proc *p);
pid_t runner_pid(const runner_proc *p);
/* NUL-terminated tails of what the child wrote (last RUNNER_TAIL_MAX bytes);
 * a NUL byte it wrote reads as 0xFF, which utf8_fix makes U+FFFD. */
const char *runner_stdout_tail(const runner_proc *p);
const char *runner_stderr_tail(const runner_proc *p);
/* Kills (SIGKILL) a still-running child, reaps it and frees everything. */
void runner_free(runner_proc *p);

#endif
