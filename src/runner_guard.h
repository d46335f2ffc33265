/* runner_guard: the one process (a watchdog) that outlives Kestrel to kill
 * what is left of the trials spawned with a guard if Kestrel dies, even by
 * kill -9: their groups, and the processes that left a group but carry its
 * token (KESTREL_TRIAL_TOKEN, each trial's unique, with the guard's prefix).
 * The runner (runner.h) hands it each trial's group as it spawns and takes
 * it back before the reap. */
#ifndef KESTREL_RUNNER_GUARD_H
#define KESTREL_RUNNER_GUARD_H

#include <stddef.h>
#include <sys/types.h>

#include "kerror.h"

/* The environment name of a trial's token: only Kestrel sets it. */
#define RUNNER_TOKEN_NAME "KESTREL_TRIAL_TOKEN"

/* One per spawning thread (not thread-safe); free it after every proc
 * spawned with it. */
typedef struct runner_guard runner_guard;

/* Starts the guard's watchdog. On success the caller owns *out. */
int runner_guard_new(runner_guard **out, kerror *err);
/* Stands the watchdog down (its trials are over or are Kestrel's to end). */
void runner_guard_free(runner_guard *g);

/* For the runner. */

/* Writes the next trial's token, unique per trial: the guard's prefix
 * ("KESTREL_TRIAL_TOKEN=<kestrel pid>.<ns>.<g>") and ".<n>", in at most n
 * bytes with the NUL (PROCTOKEN_MAX holds one). */
void runner_guard_token(runner_guard *g, char *buf, size_t n);
/* Hands the trial's group (pid) to the watchdog; one that is gone or stuck
 * is replaced first. 0, or -1 with errno: no watchdog holds it. */
int runner_guard_add(runner_guard *g, pid_t pid);
/* Takes the group off the watchdog's list, before its reap frees the id. */
void runner_guard_remove(runner_guard *g, pid_t pid);
/* SIGKILLs every process carrying one of the n tokens (proctoken_kill),
 * with what the guard's earlier kills learnt. */
void runner_guard_kill(runner_guard *g, const char *const *toks, int n, double since);

#endif
