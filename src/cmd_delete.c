/* cmd_delete: `kestrel delete STUDY`: removes a study with its trials (and
 * their reports and logs) from a history, and its trial folders, from a shell
 * or cron as DELETE /api/v1/studies/NAME does over HTTP. It holds the study's
 * lock throughout, so a study another process is running is refused, never
 * deleted under it. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "scheduler.h"
#include "storage.h"

static const char delete_help[] =
    "Usage: kestrel delete STUDY [--db FILE] [--work-dir DIR]\n"
    "Delete a study with all its trials, their reports and logs from the database,\n"
    "and its trial folders (checkpoints) from the work directory (only folders\n"
    "Kestrel made, marked by a .kestrel-trial file; a link is removed, never\n"
    "followed). Refused while another process (kestrel run, kestrel serve)\n"
    "runs the study, or waits to resume it after a storage error: stop it first.\n"
    "\n"
    "Options:\n"
    "  --db FILE         history database (default: $KESTREL_DB, else ./kestrel.db)\n"
    "  --work-dir DIR    trial folders (default: the --work-dir the study was run\n"
    "                    with, stored in the history; else DB.trials, beside the\n"
    "                    file itself when DB is a symbolic link)\n"
    "\n"
    "Exit status: 0 deleted, 3 the study is being run by another process,\n"
    "5 no such study or database.\n";

int cmd_delete_main(int argc, char **argv, const cli_ctx *ctx)
{
    (void)ctx;
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'}, {"work-dir", required_argument, 0, 'w'},
        {"help", no_argument, 0, 'h'},     {0, 0, 0, 0}};
    const char *db_opt = NULL, *work_opt = NULL;
    int c;
    while ((c = cli_getopt(argc, argv, "h", opts)) != -1) {
        switch (c) {
        case 'd': db_opt = optarg; break;
        case 'w':
            if (cli_path_option("delete", "--work-dir", optarg) != CLI_OK) return CLI_USAGE;
            work_opt = optarg;
            break;
        case 'h': fputs(delete_help, stdout); return CLI_OK;
        default: return cli_bad_option("delete", argv, opts);
        }
    }
    if (optind != argc - 1) return cli_usage("delete", "expected one STUDY argument");
    const char *name = argv[optind], *db;
    if (cli_db_path("delete", db_opt, &db) != CLI_OK) return CLI_USAGE;
    storage *st;
    int code = cli_open_history("delete", db, &st);
    if (code != CLI_OK) return code;
    kerror err;
    int n_trials, rows_gone;
    /* its folders go after its rows: a failure in between leaves folders
     * without a study (and says so), never a study without its checkpoints */
    int rc = scheduler_delete_stored(st, db, name, work_opt, &n_trials, &rows_gone, &err);
    storage_close(st);
    if (rc != KE_OK && rows_gone) {
        char why[KERROR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err.msg);
        kerror_set(&err, rc, NULL, "study '%s' deleted from the database, but %s", name, why);
    }
    if (rc != KE_OK) return cli_fail("delete", &err);
    printf("deleted study %s (%d trials)\n", name, n_trials);
    return CLI_OK;
}
