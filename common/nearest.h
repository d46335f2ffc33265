/* nearest: the known name closest to a mistyped one, for "did you mean"
 * hints on unknown options, subcommands, spec fields and parameters. */
#ifndef KESTREL_NEAREST_H
#define KESTREL_NEAREST_H

/* The name of names (NULL-terminated) closest to word by edit distance
 * (Damerau: a swap of two neighbours counts one), when it is close enough
 * to be a typo: at most a third of the longer's length, and at least 1;
 * NULL when none is. The result points into names. */
const char *nearest_name(const char *word, const char *const *names);

#endif
