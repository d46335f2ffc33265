/* cli: shared command-line conventions; see cli.h. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "nearest.h"
#include "storage.h"

int cli_db_path(const char *cmd, const char *opt, const char **file)
{
    const char *env = getenv("KESTREL_DB");
    int from_env = !(opt && *opt) && env && *env;
    const char *loc = opt && *opt ? opt : from_env ? env : CLI_DEFAULT_DB;
    /* the file itself: the study locks and the trial folders are named from
     * it, and 'sqlite:x.db.lock' was a folder that did not exist */
    kerror err;
    *file = storage_location_file(loc, &err);
    if (*file) return CLI_OK;
    return cli_usage(cmd, "%s: %s", from_env ? "KESTREL_DB" : "--db", err.msg);
}

int cli_path_option(const char *cmd, const char *opt, const char *path)
{
    size_t n = strlen(path);
    if (n <= CLI_PATH_MAX) return CLI_OK;
    return cli_usage(cmd, "%s: the path is too long (%zu characters; at most %d, as Kestrel makes "
                     "its files below it): '%.60s...'", opt, n, CLI_PATH_MAX, path);
}

int cli_fail(const char *cmd, const kerror *err)
{
    char buf[KERROR_PATH_MAX + KERROR_MSG_MAX + 4];
    fprintf(stderr, "kestrel %s: %s\n", cmd, kerror_text(err, buf, sizeof buf));
    switch (err->code) {
    case KE_INVALID: return CLI_USAGE;
    case KE_BUSY: return CLI_BUSY;
    case KE_NOTFOUND: return CLI_NOTFOUND;
    case KE_INTERRUPTED: return CLI_STOPPED;
    default: return CLI_FAIL;
    }
}

int cli_open_history(const char *cmd, const char *db, storage **st)
{
    kerror err;
    /* the file, not the location: a path with a colon in it (sqlite:x.db,
     * a date) was once taken for a URL and created empty */
    const char *path = storage_location_file(db, &err);
    if (!path) return cli_fail(cmd, &err);
    if (access(path, F_OK) != 0) {
        kerror_set(&err, KE_NOTFOUND, NULL, "no database at %s (use --db or $KESTREL_DB)", db);
        return cli_fail(cmd, &err);
    }
    /* SQLite takes an empty file for an empty database and storage_open
     * would write Kestrel's schema into it (a `touch`ed name, a file that
     * `>` truncated): it holds no history, so it is left as it is. Its WAL
     * may hold one that no checkpoint has copied in yet. */
    char wal[PATH_MAX + 8];
    struct stat sb, wb;
    snprintf(wal, sizeof wal, "%s-wal", path);
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0 &&
        !(stat(wal, &wb) == 0 && wb.st_size > 0)) {
        kerror_set(&err, KE_NOTFOUND, NULL, "%s is an empty file, not a Kestrel history "
                   "(use --db or $KESTREL_DB; `kestrel run` makes one)", db);
        return cli_fail(cmd, &err);
    }
    if (storage_open(st, db, &err) != KE_OK) return cli_fail(cmd, &err);
    return CLI_OK;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "kestrel %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'kestrel %s --help'.\n", cmd);
    return CLI_USAGE;
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *opts)
{
    int c = getopt_long(argc, argv, shortopts, opts, NULL);
    /* glibc's getopt sets optarg to NULL on every call that takes no value */
    return c != -1 && optarg && !*optarg ? '?' : c;
}

int cli_bad_option(const char *cmd, char **argv, const struct option *opts)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    if (optarg && !*optarg) {   /* cli_getopt: '--name=' or '--name' '' */
        const char *opt = (arg[0] == '-' && arg[1] == '-') || optind < 2 ? arg : argv[optind - 2];
        return cli_usage(cmd, "option '%.*s' needs a value that is not empty", (int)strcspn(opt, "="), opt);
    }
    if (strncmp(arg, "--", 2) != 0) {
        if (optopt) return cli_usage(cmd, "unknown option '-%c'", optopt);
        return cli_usage(cmd, "option '%s' needs a value", arg);
    }
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
    const char *names[128];
    int n = 0;
    for (; n < 127 && opts[n].name; n++) {
        names[n] = opts[n].name;
        if (!strcmp(opts[n].name, name))
            return cli_usage(cmd, opts[n].has_arg == no_argument ? "option '--%s' takes no value"
                                                                : "option '--%s' needs a value",
                             name);
    }
    names[n] = NULL;
    /* '--json' (jq's, many CLIs' spelling) where a command takes --format */
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], "format") && format_parse(name) >= 0)
            return cli_usage(cmd, "unknown option '--%s' (did you mean '--format %s'?)", name,
                             name);
    const char *near = nearest_name(name, names);
    if (near) return cli_usage(cmd, "unknown option '--%s' (did you mean '--%s'?)", name, near);
    return cli_usage(cmd, "unknown option '--%s'", name);
}

int cli_report_fd(void)
{
    const char *env = getenv("KESTREL_REPORT_FD");
    if (!env || !*env) return 1;
    char *end;
    long fd = strtol(env, &end, 10);
    if (*end || fd <= 2 || fd > 65535 || fcntl((int)fd, F_GETFD) < 0) return 1;
    return (int)fd;
}

void cli_keep_heap(void)
{
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_MMAP_THRESHOLD, 16 << 20);
}

FILE *cli_report_stream(void)
{
    int fd = cli_report_fd();
    FILE *f = fd == 1 ? NULL : fdopen(fd, "w");
    return f ? f : stdout;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

int cli_int_option(const char *cmd, const char *opt, const char *arg, long long lo, long long hi,
                   long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    /* strtoll skips leading blanks: ' 5' is not what a user meant as 5 */
    if (!*arg || isspace((unsigned char)*arg) || *end || errno == ERANGE || v < lo || v > hi)
        return cli_usage(cmd, "%s: expected an integer from %lld to %lld, not '%s'", opt, lo, hi, arg);
    *out = v;
    return CLI_OK;
}

int cli_seconds_option(const char *cmd, const char *opt, const char *arg, int zero_ok, double max,
                       double *out)
{
    char *end;
    *out = strtod(arg, &end);
    /* strtod skips leading blanks, as strtoll: see cli_int_option */
    if (!*arg || isspace((unsigned char)*arg) || *end ||
        !((zero_ok ? *out >= 0 : *out > 0) && *out <= max))
        return cli_usage(cmd, "%s: expected seconds %s 0 (at most %.0f), not '%s'", opt,
                         zero_ok ? ">=" : ">", max, arg);
    return CLI_OK;
}

/* Whether the group or other users can read mode's file: a credential or a
 * history is theirs as well then, the one as much as the other. */
static int readable_by_others(unsigned mode)
{
    return (mode & (S_IRGRP | S_IROTH)) != 0;
}

void cli_warn_readable(const char *cmd, const char *what, const char *path, unsigned mode,
                       const char *const *companions)
{
    char names[3 * PATH_MAX];   /* the files to chmod, space-separated */
    char first[PATH_MAX];       /* the first of them, named with its mode */
    unsigned first_mode = 0;
    size_t len = 0;
    for (int i = -1; i < 0 || (companions && companions[i]); i++) {
        char name[PATH_MAX];
        struct stat st;
        if (i < 0) {
            snprintf(name, sizeof name, "%s", path);
            st.st_mode = mode;
        } else if (snprintf(name, sizeof name, "%s%s", path, companions[i]) >= (int)sizeof name ||
                   stat(name, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if (!readable_by_others(st.st_mode)) continue;
        int n = snprintf(names + len, sizeof names - len, "%s%s", len ? " " : "", name);
        if (n < 0 || (size_t)n >= sizeof names - len) break;
        if (!len) {
            snprintf(first, sizeof first, "%s", name);
            first_mode = st.st_mode;
        }
        len += (size_t)n;
    }
    if (len)
        fprintf(stderr, "kestrel %s: warning: %s '%s' can be read by other users (mode %04o): "
                "chmod 600 %s\n", cmd, what, first, first_mode & 07777, names);
}

char *cli_read_token(const char *cmd, const char *path, kerror *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        kerror_set(err, KE_IO, NULL, "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    /* The token lets whoever holds it run a spec's commands as this user:
     * one its group or others can read is theirs too (ssh refuses such a
     * key). A pipe
     * (--token-file <(pass show x)) has no such mode. */
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode))
        cli_warn_readable(cmd, "--token-file", path, st.st_mode, NULL);
    char *line = NULL;
    size_t cap = 0;
    errno = 0;
    ssize_t n = getline(&line, &cap, f);
    int read_errno = errno;
    fclose(f);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    if (n <= 0) {
        free(line);
        if (read_errno && read_errno != ENOMEM)   /* a folder: EISDIR */
            kerror_set(err, KE_IO, NULL, "cannot read '%s': %s", path, strerror(read_errno));
        else
            kerror_set(err, KE_INVALID, NULL, "'%s' is empty (the token is its first line)",
                       path);
        return NULL;
    }
    return line;
}
