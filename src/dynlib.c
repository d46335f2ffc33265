/* dynlib: see dynlib.h. */
#include "dynlib.h"

#include <dlfcn.h>
#include <string.h>

int dynlib_load(void **dl, const char *soname, const char *what, const char *package,
                const dynlib_sym *syms, size_t n, void *table, kerror *err)
{
    *dl = dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!*dl)
        return kerror_set(err, KE_IO, NULL, "cannot load %s: %s (Debian's package %s)", what,
                          dlerror(), package);
    for (size_t k = 0; k < n; k++) {
        void *p = dlsym(*dl, syms[k].name);
        if (!p) return kerror_set(err, KE_IO, NULL, "%s (%s) lacks %s", what, soname, syms[k].name);
        /* a function pointer's bytes are an object pointer's (POSIX dlsym) */
        memcpy((char *)table + syms[k].off, &p, sizeof p);
    }
    return KE_OK;
}
