/* proctoken: finds the processes of our user whose environment holds an
 * entry ("NAME=VALUE", a token) and SIGKILLs them, by a pass over /proc.
 * Knows nothing of trials: the runner gives each trial a token that
 * everything it starts inherits (docs/protocol.md). */
#ifndef KESTREL_PROCTOKEN_H
#define KESTREL_PROCTOKEN_H

#define PROCTOKEN_MAX 96    /* longest token, with its NUL */
#define PROCTOKEN_KNOWN 256 /* processes a proctoken keeps a pidfd of, at most */

/* What passes learnt, so that later ones pass over processes that cannot
 * hold the tokens asked for: those alive since before the processes of the
 * tokens started, and those whose environment held none of them when read
 * (an environment changes only by an exec; a process that adds by an exec a
 * token it did not inherit is not looked for). Holds a pidfd for each. Not
 * thread-safe. */
typedef struct proctoken proctoken;

int proctoken_new(proctoken **out);     /* 0, or -1: out of memory */
void proctoken_free(proctoken *pt);

/* SIGKILLs every process (but this one) whose environment holds one of the
 * n tokens toks (all "NAME=..." of one NAME), in passes until one finds
 * none: a victim may have forked meanwhile, and one caught in an exec reads
 * empty for a moment. since: a CLOCK_MONOTONIC time (s) before which none
 * of their processes started. pt may be NULL (nothing learnt or kept).
 * Tokens longer than PROCTOKEN_MAX - 1 bytes match nothing. */
void proctoken_kill(proctoken *pt, const char *const *toks, int n, double since);

#endif
