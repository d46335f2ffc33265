/* kerror: the project's one error-code enum and the caller-owned error struct
 * every fallible function fills. A function returns KE_OK (0) or a negative
 * KE_* code and, on failure, writes a readable message (and, for input errors,
 * the JSON path of the offending field) into the kerror the caller passed.
 * Passing NULL for the kerror is allowed: the message is then dropped. */
#ifndef KESTREL_KERROR_H
#define KESTREL_KERROR_H

#include <stddef.h>

enum {
    KE_OK = 0,
    KE_INVALID = -1,   /* bad input: spec, option, request body */
    KE_IO = -2,        /* file, pipe or process I/O failed */
    KE_NOMEM = -3,
    KE_DB = -4,        /* storage backend error */
    KE_BUSY = -5,      /* resource held by someone else (study lock) */
    KE_CONFLICT = -6,  /* state does not allow it (changed spec, ...) */
    KE_NOTFOUND = -7,
    KE_INTERNAL = -8,  /* a broken invariant: a bug */
    KE_INTERRUPTED = -9 /* stopped by a signal on request */
};

#define KERROR_PATH_MAX 256
#define KERROR_MSG_MAX 768

typedef struct {
    int code;                     /* KE_* */
    int cause;                    /* KE_DB: the backend's own code (SQLite's
                                   * extended result code), which tells a busy
                                   * or full disk from a damaged file; 0 none */
    char path[KERROR_PATH_MAX];   /* JSON path or option name, "" if none */
    char msg[KERROR_MSG_MAX];     /* reason, without the path */
} kerror;

/* Sets err (if non-NULL; its cause to 0) and returns code, so callers write
 * `return kerror_set(err, KE_INVALID, "space.lr.low", "must be > 0");`.
 * path may be NULL; path and the arguments may be err's own texts (to wrap
 * the reason it holds). */
int kerror_set(kerror *err, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Clears err to KE_OK with empty texts. */
void kerror_clear(kerror *err);

/* "path: msg" or just "msg", into buf of size n. Returns buf. */
const char *kerror_text(const kerror *err, char *buf, size_t n);

/* Short stable name of a code ("invalid", "io", ...), for JSON error bodies. */
const char *kerror_code_name(int code);

#endif
