/* cli: what every `kestrel` subcommand shares: exit codes, the database path
 * rule (--db, then $KESTREL_DB, then ./kestrel.db), error printing, and the
 * context main hands to commands (the stop flag its signal handler sets). */
#ifndef KESTREL_CLI_H
#define KESTREL_CLI_H

#include <signal.h>
#include <stdio.h>

#include "kerror.h"

enum {
    CLI_OK = 0,        /* done: the study completed, the query answered */
    CLI_FAIL = 1,      /* a runtime failure (storage, I/O), or no trial succeeded */
    CLI_USAGE = 2,     /* bad command line or invalid spec */
    CLI_BUSY = 3,      /* the study is being run by another process */
    CLI_STOPPED = 4,   /* stopped by a signal or the time budget; run again to resume */
    CLI_NOTFOUND = 5   /* no such study or trial */
};

typedef struct {
    volatile sig_atomic_t *stop;   /* set to the signal number by SIGINT/SIGTERM */
    const char *self_exe;          /* absolute path of this binary */
} cli_ctx;

#define CLI_DEFAULT_DB "kestrel.db"

/* The database file into *file: opt if given, else $KESTREL_DB, else
 * kestrel.db, with a sqlite: or sqlite:// prefix taken off (docs/schema.md).
 * CLI_OK, or CLI_USAGE after a usage error naming --db (or KESTREL_DB) for
 * a location that names no file of ours (sqlite: alone, postgres://...). */
int cli_db_path(const char *cmd, const char *opt, const char **file);
/* The longest folder or file path an option may name (--work-dir,
 * --log-dir, --export-model): Kestrel makes paths below and beside it
 * (STUDY/N/.kestrel-trial, N.unpack/tree, FILE.XXXXXX) in buffers of
 * PATH_MAX, the most the kernel takes, and a path cut to fit one names
 * another folder. */
#define CLI_PATH_MAX 3584
/* CLI_OK when path fits CLI_PATH_MAX, else CLI_USAGE after a usage error
 * naming opt ("--work-dir") and the path's length. */
int cli_path_option(const char *cmd, const char *opt, const char *path);
/* Prints "kestrel CMD: <path>: <message>" to stderr and returns the exit code
 * that fits err->code. */
int cli_fail(const char *cmd, const kerror *err);
/* Opens an existing history for a command that reads or edits one: never
 * creates an empty database as a side effect of a mistyped --db, nor turns
 * an empty file into one (exit CLI_NOTFOUND). On CLI_OK *st is open
 * (storage_close). */
struct storage;
int cli_open_history(const char *cmd, const char *db, struct storage **st);
/* Prints "kestrel CMD: <message>\nTry 'kestrel CMD --help'." and returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* getopt_long for the subcommands, except that an option given an empty
 * value ('--db ""', '--work-dir=') comes back as '?', optarg "": no option
 * takes one, and an unset variable in a cron line would otherwise mean the
 * default database or trial folders at the filesystem root. */
struct option;
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *opts);
/* After cli_getopt returned '?' (main sets opterr = 0, so getopt printed
 * nothing): names the option argv[optind - 1] got wrong, with the closest
 * of opts when one is near ("did you mean '--db'?"), or the option whose
 * value was empty; returns CLI_USAGE. */
int cli_bad_option(const char *cmd, char **argv, const struct option *opts);

/* Whether argv[1..] (up to a "--") holds --help or -h: for the commands
 * that read their arguments without getopt, which finds one anywhere. */
int cli_wants_help(int argc, char **argv);

/* The integer value arg of option opt ("--slots"), lo to hi, into *out:
 * CLI_OK, or CLI_USAGE after naming the option and its range. The whole
 * of arg, in range as written: one past an int's range once wrapped into
 * it (--max-parallel 4294967296 was 0). */
int cli_int_option(const char *cmd, const char *opt, const char *arg, long long lo, long long hi,
                   long long *out);

/* Option opt's seconds (arg: a decimal number, no leading blank) into *out:
 * more than 0 (or 0 too, with zero_ok), at most max; CLI_OK, or CLI_USAGE
 * after a usage error naming opt and the range. */
int cli_seconds_option(const char *cmd, const char *opt, const char *arg, int zero_ok, double max,
                       double *out);
#define CLI_STORAGE_RETRY_MAX (86400.0 * 7)   /* --storage-retry: a week (0: no retry) */

/* The first line of a token file (malloc'd, the caller frees), or NULL with
 * err saying why (it cannot be read, or its first line is empty). Warns on
 * stderr, as kestrel cmd, of a file its group or other users can read. */
char *cli_read_token(const char *cmd, const char *path, kerror *err);
/* One line on stderr, as kestrel cmd, when its group or other users can
 * read the file at path (`what`: "history", "--token-file"; mode: its mode)
 * or one of its companions that exist (path with each suffix of the
 * NULL-terminated companions appended, or NULL for none: a history's -wal
 * and -shm, which SQLite keeps with the mode they were made with): it names
 * the first such file, its mode and the fix, chmod 600 of each. */
void cli_warn_readable(const char *cmd, const char *what, const char *path, unsigned mode,
                       const char *const *companions);

/* The trial report channel for a command that reports (fn, train): a stream
 * on fd $KESTREL_REPORT_FD when it is set and open, else stdout. */
FILE *cli_report_stream(void);
/* The same channel as a raw descriptor (1 for stdout). */
int cli_report_fd(void);
/* Keeps freed memory in the process (up to 64 MB) instead of glibc's giving
 * the heap's top back to the kernel at each free there: for the commands
 * that run studies, whose engine allocates and frees a pass's or a trial's
 * work at that top (SQLite's temporary tables, histories, answers), each
 * shrink cost a TLB flush on every core and the next use page faults. */
void cli_keep_heap(void);

/* The subcommands, each in its own cmd_*.c. argv[0] is the command name. */
int cmd_run_main(int argc, char **argv, const cli_ctx *ctx);
int cmd_studies_main(int argc, char **argv, const cli_ctx *ctx);
int cmd_trials_main(int argc, char **argv, const cli_ctx *ctx);
int cmd_best_main(int argc, char **argv, const cli_ctx *ctx);
int cmd_fn_main(int argc, char **argv, const cli_ctx *ctx);
int cmd_validate_main(int argc, char **argv, const cli_ctx *ctx);
int cmd_serve_main(int argc, char **argv, const cli_ctx *ctx);
int cmd_delete_main(int argc, char **argv, const cli_ctx *ctx);
int cmd_trial_main(int argc, char **argv, const cli_ctx *ctx);
int cmd_worker_main(int argc, char **argv, const cli_ctx *ctx);
int cmd_predict_main(int argc, char **argv, const cli_ctx *ctx);
int cmd_evaluate_main(int argc, char **argv, const cli_ctx *ctx);
int cmd_slurm_main(int argc, char **argv, const cli_ctx *ctx);
int cmd_enqueue_main(int argc, char **argv, const cli_ctx *ctx);
int cmd_note_main(int argc, char **argv, const cli_ctx *ctx);

#endif
