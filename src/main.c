/* main: the `kestrel` command: dispatches to the subcommands, installs the
 * SIGINT/SIGTERM/SIGHUP handler whose flag the long-running commands poll (the only
 * mutable global in the program), ends OpenBLAS's idle threads, and decides
 * the exit code. */
#define _GNU_SOURCE
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gsl/gsl_errno.h>

#include "config.h"
#include "cli.h"
#include "cmd_train.h"
#include "gemm.h"
#include "nearest.h"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

typedef struct {
    const char *name;
    int (*main)(int argc, char **argv, const cli_ctx *ctx);
    const char *summary;
    int stoppable;     /* polls the stop flag; others keep default SIGINT/SIGTERM */
} command;

static int train_main(int argc, char **argv, const cli_ctx *ctx)
{
    (void)ctx;
    return cmd_train_main(argc, argv);
}

static const command commands[] = {
    {"run", cmd_run_main, "run a study headless to its budget (resumes it if stored)", 1},
    {"serve", cmd_serve_main, "run the HTTP service and dashboard (docs/openapi.yaml)", 1},
    {"worker", cmd_worker_main, "run trials leased from a kestrel serve (docs/workers.md)", 1},
    {"slurm", cmd_slurm_main, "submit kestrel workers as a Slurm job array (docs/cluster.md)", 0},
    {"validate", cmd_validate_main, "check a study spec without running it", 0},
    {"studies", cmd_studies_main, "list the studies in the database", 0},
    {"trials", cmd_trials_main, "list a study's trials", 0},
    {"best", cmd_best_main, "show a study's best trial", 0},
    {"trial", cmd_trial_main, "show one trial in detail (reports, metrics, output tails)", 0},
    {"delete", cmd_delete_main, "delete a study, its trials and their folders", 0},
    {"enqueue", cmd_enqueue_main, "give a study configurations to try first", 0},
    {"note", cmd_note_main, "show or set a study's note", 0},
    {"train", train_main, "train an MLP with the built-in trainer (one trial)", 0},
    {"predict", cmd_predict_main, "score rows with a trained model (CSV or JSON lines out)", 0},
    {"evaluate", cmd_evaluate_main, "measure a trained model on labelled rows", 0},
    {"fn", cmd_fn_main, "evaluate a built-in test function (Branin, Hartmann-6, ...)", 0},
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "Usage: kestrel COMMAND [OPTIONS]\n"
                 "Kestrel %s: hyperparameter optimization with an embedded trainer.\n\nCommands:\n",
            PACKAGE_VERSION);
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nEvery command takes --help ('kestrel help COMMAND' says the same); 'kestrel\n"
                 "--version' prints the version. The database is --db FILE, else $KESTREL_DB,\n"
                 "else ./kestrel.db. See 'man kestrel' (in the build tree: 'man -l docs/kestrel.1')\n"
                 "and the README.\n");
}

int main(int argc, char **argv)
{
    /* OpenBLAS's threads served nothing here but spun: 1.6 CPU-seconds of a
     * 16-core machine for a `kestrel train` of one thread, and every other
     * core busy beside each GP suggestion, whose matrices are too small to
     * gain (bench/README.md, "OpenBLAS's threads"). The trainer asks for
     * its `threads`. */
    gemm_blas_quiet();
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    /* kestrel help CMD is CMD --help */
    char *help_argv[] = {argv[0], argc > 2 ? argv[2] : NULL, "--help", NULL};
    if (!strcmp(argv[1], "help") && argc > 2) {
        if (argc > 3) {
            fprintf(stderr, "kestrel help: expected one COMMAND, not %d words\n", argc - 2);
            return CLI_USAGE;
        }
        argv = help_argv;
        argc = 3;
    } else if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("kestrel %s\n", PACKAGE_VERSION);
        return CLI_OK;
    }
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len < 0) {
        perror("kestrel: cannot resolve /proc/self/exe");
        return CLI_FAIL;
    }
    self[len] = '\0';
    /* GSL aborts on errors by default; Kestrel checks every return code. */
    gsl_set_error_handler_off();
    cli_ctx ctx = {.stop = &stop_signal, .self_exe = self};
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            if (commands[i].stoppable) {
                struct sigaction sa = {.sa_handler = on_signal};
                sigemptyset(&sa.sa_mask);
                sigaction(SIGINT, &sa, NULL);
                sigaction(SIGTERM, &sa, NULL);
                /* A closed terminal (SIGHUP) ended the process on the
                 * spot: its study and trials stayed RUNNING with nothing
                 * running them. It stops cleanly now, unless SIGHUP came
                 * ignored (nohup), which it stays. */
                struct sigaction hup;
                if (sigaction(SIGHUP, NULL, &hup) == 0 && hup.sa_handler != SIG_IGN)
                    sigaction(SIGHUP, &sa, NULL);
                signal(SIGPIPE, SIG_IGN);
            }
            optind = 1;
            opterr = 0;   /* cli_bad_option says what was wrong, with a hint */
            return commands[i].main(argc - 1, argv + 1, &ctx);
        }
    if (argv[1][0] == '-') {
        /* 'kestrel --db F studies', as git and sqlite3 take options: the
         * options are the command's, after it */
        for (int j = 2; j < argc; j++)
            for (int i = 0; i < N_COMMANDS; i++)
                if (!strcmp(argv[j], commands[i].name)) {
                    fprintf(stderr, "kestrel: unknown option '%s': options go after the command "
                            "('kestrel %s %s ...')\n", argv[1], commands[i].name, argv[1]);
                    return CLI_USAGE;
                }
        fprintf(stderr, "kestrel: unknown option '%s'\n", argv[1]);
        usage(stderr);
        return CLI_USAGE;
    }
    const char *names[N_COMMANDS + 1];
    for (int i = 0; i < N_COMMANDS; i++) names[i] = commands[i].name;
    names[N_COMMANDS] = NULL;
    const char *near = nearest_name(argv[1], names);
    if (near) fprintf(stderr, "kestrel: unknown command '%s' (did you mean '%s'?)\n", argv[1], near);
    else fprintf(stderr, "kestrel: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
