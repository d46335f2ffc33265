/* dynlib: loads a shared library when a part of Kestrel first needs it and
 * fills that part's table of the library's functions, so the processes that
 * never call it (every trial, every CLI read) do not load it, nor the
 * libraries under it. */
#ifndef KESTREL_DYNLIB_H
#define KESTREL_DYNLIB_H

#include <stddef.h>

#include "kerror.h"

/* One function: its name in the library, its pointer's offset in the table. */
typedef struct {
    const char *name;
    size_t off;
} dynlib_sym;

/* dlopens soname (RTLD_NODELETE: a library that registers exit handlers,
 * such as a TLS library under it, must not outlive its code) into *dl and
 * stores each of the n functions at table + off. what names the library and
 * who needs it, package the Debian package that has it, for the error.
 * KE_IO when it cannot be loaded or lacks a function (then *dl may be set:
 * the caller dlcloses it as on success). */
int dynlib_load(void **dl, const char *soname, const char *what, const char *package,
                const dynlib_sym *syms, size_t n, void *table, kerror *err);

#endif
