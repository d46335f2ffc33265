/* proctoken: finds the processes of our user whose environment holds an
 * entry ("NAME=VALUE", a token) and SIGKILLs them, by a pass over /proc.
 * Knows nothing of trials: the runner gives each trial a token that
 * everything it starts inherits (docs/protocol.md). */
#ifndef KESTREL_PROCTOKEN_H
#define KESTREL_PROCTOKEN_H

#define PROCTOKEN_MAX 96    /* longest token, with its NUL */

/* SIGKILLs every process (but this one) whose environment holds one of the
 * n tokens toks, in passes until one finds none: a victim may have forked
 * meanwhile, and one caught in an exec reads empty for a moment. Tokens
 * longer than PROCTOKEN_MAX - 1 bytes match nothing. */
void proctoken_kill(const char *const *toks, int n);

#endif
