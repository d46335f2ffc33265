/* spawn: starts child processes from Kestrel, a large multi-threaded
 * process, without fork()'s copy of its memory, and the fd and reaping
 * helpers around that; see spawn.h. Invariant: a child of spawn_shared
 * writes nothing but its own stack until it execs or exits, so Kestrel's
 * memory, which it shares, is as the suspended thread left it. */
#define _GNU_SOURCE
#include "spawn.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void spawn_close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

void spawn_close_fds(int from, int to)
{
    if (from > to || close_range((unsigned)from, (unsigned)to, 0) == 0) return;
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = from; fd <= to && fd < max; fd++) close((int)fd);
}

void spawn_wait(pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
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
#define SPAWN_FORK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SPAWN_FORK 1
#endif
#endif

#define SPAWN_STACK (256 * 1024)   /* the child's: spawn_exec_path's buffers and the argv it copies */

pid_t spawn_shared(int (*fn)(void *), void *arg)
{
#ifdef SPAWN_FORK
    /* ASan and TSan cannot follow a child running instrumented code on a
     * stack they did not make, in memory they share: a sanitizer build
     * forks (the child's setup is the same; only the cost differs). */
    pid_t child = fork();
    if (child == 0) _exit(fn(arg));
    return child;
#else
    /* The child runs on this frame's array: Kestrel's thread is suspended
     * until the child execs or exits (CLONE_VFORK), so nothing else uses
     * it, and unlike a fresh mapping it costs no page faults nor, when
     * unmapped, a TLB shootdown across CPUs. */
    _Alignas(16) char stack[SPAWN_STACK];
    return clone(fn, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, arg);
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
void spawn_exec_path(const char *file, char *const *argv, char *const *envp)
{
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
