/* spawn: starts child processes from Kestrel, a large multi-threaded
 * process, without fork()'s copy of its memory (clone(CLONE_VM |
 * CLONE_VFORK)), execs in them with a PATH of their own environment, and
 * closes and reaps around that. Knows nothing of trials (runner.h) nor of
 * the watchdog (runner_guard.h), which both start their children here. */
#ifndef KESTREL_SPAWN_H
#define KESTREL_SPAWN_H

#include <sys/types.h>

/* Closes *fd unless it is -1 already, and sets it to -1. */
void spawn_close_fd(int *fd);

/* Closes every fd from `from` to `to` (close_range, else one by one); a
 * child of spawn_shared calls it before its exec. */
void spawn_close_fds(int from, int to);

/* Reaps pid, waiting for it (EINTR retried). */
void spawn_wait(pid_t pid);

/* Runs fn(arg) in a child that shares Kestrel's memory until it execs or
 * exits, on a stack of its own (a sanitizer build forks instead). The
 * caller blocks all signals around it, and fn may only make system calls,
 * writing nothing but its own stack. Returns the pid or -1 with errno. */
pid_t spawn_shared(int (*fn)(void *), void *arg);

/* execvp() with the PATH of envp, not of Kestrel's environment; for a
 * child of spawn_shared. Returns only on failure, errno set. */
void spawn_exec_path(const char *file, char *const *argv, char *const *envp);

#endif
