/* cmd_run: `kestrel run SPEC.json` and `kestrel validate SPEC.json`: run a
 * study headless to its budget (resuming it when the database already has
 * it), with a live progress line on a terminal and plain lines in a pipe or
 * from cron. SIGINT/SIGTERM stop it cleanly; running it again resumes. */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "scheduler.h"
#include "spec.h"
#include "storage.h"

static const char run_help[] =
    "Usage: kestrel run SPEC.json [OPTIONS]\n"
    "Run the study described by SPEC.json to its budget, recording every trial in\n"
    "the database. Running it again resumes the same study (matched by name):\n"
    "trials a dead run left RUNNING are marked FAILED and re-run, and the search\n"
    "continues where it stopped, so a cron line can call it repeatedly.\n"
    "\n"
    "Options:\n"
    "  --db FILE         history database (default: $KESTREL_DB, else ./kestrel.db)\n"
    "  --force           continue a stored study whose spec differs from SPEC.json\n"
    "  --retry-failed    re-run every FAILED trial once (besides budget.max_retries)\n"
    "  --work-dir DIR    per-trial directories for checkpoints (default: DB.trials);\n"
    "                    a DIR/STUDY/N folder Kestrel did not make is never touched\n"
    "  --quiet           print only the final summary\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 the study completed; 1 a runtime failure or no trial\n"
    "succeeded; 2 invalid spec or usage; 3 another process is running the study;\n"
    "4 stopped by a signal or the time budget (run again to resume).\n";

static const char validate_help[] =
    "Usage: kestrel validate SPEC.json\n"
    "Check a study spec without running anything. Prints 'ok' and exits 0, or\n"
    "prints the first problem as PATH: REASON and exits 2 (1 when the file\n"
    "cannot be read).\n";

typedef struct {
    int tty, quiet;
    int maximize;
    int configs, trials, failed, interrupted, pruned, running, max_trials;
    int has_best, best_number;
    double best;
} progress;

static void progress_line(const progress *p)
{
    char best[64] = "-";
    if (p->has_best) snprintf(best, sizeof best, "%.6g (trial %d)", p->best, p->best_number);
    /* max_trials counts configurations; promotions and retries are extra trials. */
    fprintf(stderr, "\r\033[K[%d/%d] trials %d, running %d, failed %d, interrupted %d, "
            "pruned %d | best %s", p->configs, p->max_trials, p->trials, p->running, p->failed,
            p->interrupted, p->pruned, best);
    fflush(stderr);
}

static void on_event(const scheduler_event *ev, void *ctx)
{
    progress *p = ctx;
    if (ev->kind == SCHED_EV_STARTED) p->running++;
    if (ev->kind == SCHED_EV_FINISHED) {
        p->running--;
        p->trials++;
        p->configs += ev->fresh;
        if (ev->state == TRIAL_FAILED) {
            if (trial_interrupted(ev->failure)) p->interrupted++;
            else p->failed++;
        }
        if (ev->state == TRIAL_PRUNED) p->pruned++;
        if (ev->state == TRIAL_COMPLETE && ev->has_value &&
            (!p->has_best || (p->maximize ? ev->value > p->best : ev->value < p->best))) {
            p->has_best = 1;
            p->best = ev->value;
            p->best_number = ev->number;
        }
        if (!p->tty && !p->quiet) {
            printf("trial %d %s", ev->number, trial_state_name(ev->state));
            if (ev->has_value) printf(" value=%.10g", ev->value);
            if (ev->failure) printf(" (%s)", ev->failure);
            if (p->has_best) printf(" best=%.10g", p->best);
            printf("\n");
            fflush(stdout);
        }
    }
    if (p->tty && !p->quiet && ev->kind != SCHED_EV_REPORTED) progress_line(p);
}

static int summary(const spec_study *spec, const scheduler_status *st, int tty, int quiet)
{
    if (tty && !quiet) fprintf(stderr, "\r\033[K");
    printf("study %s: %s, %d trials (%d complete, %d pruned, %d failed, %d interrupted)",
           spec->name, st->failed ? "failed" : st->completed ? "complete" : "stopped",
           st->n_trials, st->n_complete, st->n_pruned, st->n_failed, st->n_interrupted);
    if (st->has_best) printf(", best %s %.10g at trial %d", spec->metric, st->best_value, st->best_number);
    printf("\n");
    if (st->stop_reason) printf("stopped: %s; run the same command again to resume\n", st->stop_reason);
    fflush(stdout);
    if (st->failed) {
        fprintf(stderr, "kestrel run: study '%s' failed: %s; see 'kestrel trials %s "
                "--state failed'\n", spec->name, st->failure, spec->name);
        return CLI_FAIL;
    }
    return st->completed ? CLI_OK : CLI_STOPPED;
}

static int run_loop(scheduler *s, const cli_ctx *ctx, kerror *err)
{
    int rc;
    int signalled = 0;
    while ((rc = scheduler_step(s, 200, err)) > 0) {
        if (*ctx->stop && !signalled) {
            signalled = 1;
            scheduler_stop(s, *ctx->stop == SIGTERM ? "stopped by SIGTERM" : "stopped by SIGINT");
        }
    }
    return rc;
}

int cmd_run_main(int argc, char **argv, const cli_ctx *ctx)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},     {"force", no_argument, 0, 'f'},
        {"retry-failed", no_argument, 0, 'r'}, {"work-dir", required_argument, 0, 'w'},
        {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *db_opt = NULL, *work_opt = NULL;
    int force = 0, retry = 0, quiet = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db_opt = optarg; break;
        case 'f': force = 1; break;
        case 'r': retry = 1; break;
        case 'w': work_opt = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(run_help, stdout); return CLI_OK;
        default: return cli_usage("run", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage("run", "expected one SPEC.json argument");
    kerror err;
    kerror_clear(&err);
    spec_study spec;
    if (spec_load_file(&spec, argv[optind], &err) != KE_OK) return cli_fail("run", &err);
    const char *db = cli_db_path(db_opt);
    storage *st = NULL;
    int rc = storage_open(&st, db, &err);
    char work[4096], cache[4096];
    scheduler_default_dirs(db, work, sizeof work, cache, sizeof cache);
    progress p = {.tty = isatty(STDERR_FILENO), .quiet = quiet, .maximize = spec.maximize,
                  .max_trials = spec.budget.max_trials};
    scheduler_opts so = {.db_path = db, .self_exe = ctx->self_exe,
                         .work_dir = work_opt ? work_opt : work, .cache_dir = cache,
                         .force = force, .retry_failed = retry, .on_event = on_event, .ctx = &p};
    scheduler *s = NULL;
    if (rc == KE_OK) rc = scheduler_open(&s, st, &spec, &so, &err);
    int code = CLI_OK;
    if (rc == KE_OK) {
        scheduler_status ss;
        scheduler_get_status(s, &ss);
        p.configs = ss.n_configs;
        p.trials = ss.n_trials;
        p.failed = ss.n_failed;
        p.interrupted = ss.n_interrupted;
        p.pruned = ss.n_pruned;
        p.has_best = ss.has_best;
        p.best = ss.best_value;
        p.best_number = ss.best_number;
        if (!quiet && ss.n_trials > 0)
            printf("resuming study %s: %d trials so far%s\n", spec.name, ss.n_trials,
                   ss.reclaimed ? ", some left RUNNING by a dead run were marked FAILED" : "");
        rc = run_loop(s, ctx, &err);
        if (rc == KE_OK) {
            scheduler_get_status(s, &ss);
            code = summary(&spec, &ss, p.tty, quiet);
        }
    }
    if (rc != KE_OK) code = cli_fail("run", &err);
    scheduler_close(s);
    storage_close(st);
    spec_free(&spec);
    return code;
}

int cmd_validate_main(int argc, char **argv, const cli_ctx *ctx)
{
    (void)ctx;
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(validate_help, stdout);
        return CLI_OK;
    }
    if (argc != 2) return cli_usage("validate", "expected one SPEC.json argument");
    kerror err;
    spec_study spec;
    if (spec_load_file(&spec, argv[1], &err) != KE_OK) return cli_fail("validate", &err);
    printf("ok: study '%s', %d parameters, strategy %s, hash %s\n", spec.name, spec.space.n,
           spec.strategy, spec.hash);
    spec_free(&spec);
    return CLI_OK;
}
