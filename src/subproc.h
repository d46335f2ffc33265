/* subproc: runs a helper program (sbatch, squeue, tar) to its end and
 * collects what it prints, for the few places Kestrel leans on standard
 * tools. Its stderr is the caller's (a failing tool says why itself). */
#ifndef KESTREL_SUBPROC_H
#define KESTREL_SUBPROC_H

#include <stddef.h>

#include "kerror.h"

/* Runs argv (argv[0] searched in PATH) with stdin from /dev/null; *out gets
 * its stdout (malloc'd, NUL-terminated, *n bytes; the caller frees). KE_IO
 * unless it exits 0, KE_INVALID (nothing in *out) when it prints more than
 * max bytes. */
int subproc_run(char *const *argv, size_t max, char **out, size_t *n, kerror *err);

#endif
