/* cmd_run: `kestrel run SPEC.json` and `kestrel validate SPEC.json`: run a
 * study headless to its budget (resuming it when the database already has
 * it), with a live progress line on a terminal and plain lines in a pipe or
 * from cron. SIGINT/SIGTERM/SIGHUP stop it cleanly; running it again resumes. A
 * storage error that a later try may not meet does not end it: it resumes
 * the study from its history with backoff, as `kestrel serve` does. */
#define _GNU_SOURCE
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "backoff.h"
#include "cli.h"
#include "klog.h"
#include "monotime.h"
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
    "  --work-dir DIR    per-trial directories for checkpoints (default: the last\n"
    "                    --work-dir the study ran with, else DB.trials, beside the\n"
    "                    file itself when DB is a symbolic link); DIR, made absolute,\n"
    "                    is stored with the study, so that kestrel serve, a run\n"
    "                    without it, delete and best's model export use it; a DIR\n"
    "                    that differs from the stored one replaces it, with a\n"
    "                    warning when the old one holds the study's folders;\n"
    "                    a DIR/STUDY/N folder Kestrel did not make is never touched,\n"
    "                    nor a DIR/STUDY that is a symbolic link (its trials fail)\n"
    "  --quiet           print only the final summary, and nothing at all when the\n"
    "                    study was already complete (for cron)\n"
    "  --storage-retry S after a transient storage error (full disk, I/O error, busy\n"
    "                    file) resume the study from its history, trying for up to\n"
    "                    S seconds before it is FAILED (default 600; 0: exit at once)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 the study completed; 1 a runtime failure or no trial\n"
    "succeeded; 2 invalid spec or usage; 3 another process is running the study;\n"
    "4 stopped by a signal (SIGINT, SIGTERM, SIGHUP; SIGHUP stays ignored under\n"
    "nohup) or the time budget (run again to resume).\n";

static const char validate_help[] =
    "Usage: kestrel validate SPEC.json\n"
    "Check a study spec without running anything. Prints 'ok' and exits 0, or\n"
    "prints the first problem as PATH: REASON and exits 2 (1 when the file\n"
    "cannot be read).\n";

typedef struct {
    int tty, quiet;
    int maximize;
    const char *name;
    int configs, trials, failed, interrupted, pruned, running, max_trials;
    int has_best, best_number;
    double best;
    int before;             /* trials stored when this run began */
    int configs0;           /* configurations finished then */
    int started;            /* trials this run started */
    int retry_failed;       /* --retry-failed */
    double t0;              /* monotonic seconds at the start */
} progress;

/* A line on stdout: timestamped in a pipe or a cron log, plain on a terminal. */
static void say(const progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const progress *p, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (p->tty) {
        printf("%s\n", line);
        fflush(stdout);
    } else {
        klog(stdout, "%s", line);
    }
}

static void clock_text(double secs, char *buf, size_t n)
{
    long s = (long)(secs + 0.5);
    if (s >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, n, "%ld:%02ld", s / 60, s % 60);
}

/* The terminal's width in columns (80 when it does not say). */
static int term_cols(void)
{
    struct winsize ws;
    return ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
}

/* ", failed 2" when n is not 0, else nothing (brief), or always (not brief). */
static int count_text(char *buf, size_t size, int brief, const char *what, int n)
{
    return brief && !n ? 0 : snprintf(buf, size, ", %s %d", what, n);
}

static void progress_line(const progress *p)
{
    char best[64] = "-", elapsed[32], eta[48] = "";
    double t = monotime_s() - p->t0;
    clock_text(t, elapsed, sizeof elapsed);
    /* the ETA extrapolates this run's pace over the configurations left */
    int done = p->configs - p->configs0, left = p->max_trials - p->configs;
    if (done > 0 && left > 0) {
        char c[32];
        clock_text(t / done * left, c, sizeof c);
        snprintf(eta, sizeof eta, ", ETA %s", c);
    }
    /* A line wider than the terminal wraps, and '\r' goes back to the start
     * of its last row only, so each update left a row behind: when the whole
     * line does not fit, the counts that are 0 and the best trial's number
     * go, and what still does not fit is cut. max_trials counts
     * configurations; promotions and retries are extra trials. */
    int cols = term_cols();
    char line[512];
    for (int brief = 0; brief < 2; brief++) {
        char counts[128] = "";
        size_t n = 0;
        n += count_text(counts + n, sizeof counts - n, brief, "failed", p->failed);
        n += count_text(counts + n, sizeof counts - n, brief, "interrupted", p->interrupted);
        count_text(counts + n, sizeof counts - n, brief, "pruned", p->pruned);
        if (p->has_best && brief) snprintf(best, sizeof best, "%.6g", p->best);
        else if (p->has_best) snprintf(best, sizeof best, "%.6g (trial %d)", p->best, p->best_number);
        snprintf(line, sizeof line, "[%d/%d] trials %d, running %d%s | best %s | %s%s", p->configs,
                 p->max_trials, p->trials, p->running, counts, best, elapsed, eta);
        if ((int)strlen(line) < cols) break;
    }
    if (cols > 1 && (int)strlen(line) >= cols) line[cols - 1] = '\0';
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
}

static void on_event(const scheduler_event *ev, void *ctx)
{
    progress *p = ctx;
    /* said once there is something to do, so a complete study stays quiet */
    if (ev->kind == SCHED_EV_STARTED && !p->started++ && p->before > 0 && !p->quiet) {
        if (p->tty) fprintf(stderr, "\r\033[K");
        say(p, "resuming study %s: %d trials so far", p->name, p->before);
    }
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
            char value[48] = "", best[48] = "";
            if (ev->has_value) snprintf(value, sizeof value, " value=%.10g", ev->value);
            if (p->has_best) snprintf(best, sizeof best, " best=%.10g", p->best);
            say(p, "trial %d %s%s%s%s%s%s", ev->number, trial_state_name(ev->state), value,
                ev->failure ? " (" : "", ev->failure ? ev->failure : "", ev->failure ? ")" : "",
                best);
        }
    }
    if (p->tty && !p->quiet && ev->kind != SCHED_EV_REPORTED) progress_line(p);
}

/* One line, or none when --quiet and a complete study had nothing left to
 * run (a cron line that calls it again mails nothing). A failed one that
 * ran nothing says so too, as the server's 409 for its resume does. */
static int summary(const spec_study *spec, const scheduler_status *st, const progress *p)
{
    if (p->tty && !p->quiet) fprintf(stderr, "\r\033[K");
    int idle = p->started == 0 && st->completed;
    int ran_nothing = p->started == 0 && (st->completed || st->failed);
    char best[128] = "", retry[96] = "";
    if (st->has_best)
        snprintf(best, sizeof best, ", best %s %.10g at trial %d", spec->metric, st->best_value,
                 st->best_number);
    /* its end is for good: running it again re-runs none of its FAILED
     * trials, and said nothing of them, while "nothing left to run" */
    if ((st->completed || st->failed) && st->n_retryable > 0)
        snprintf(retry, sizeof retry, "; %d FAILED trial%s left: --retry-failed runs %s again",
                 st->n_retryable, st->n_retryable == 1 ? "" : "s",
                 st->n_retryable == 1 ? "it" : "them");
    /* --retry-failed given, and none to retry: as the server's 409 says */
    else if (ran_nothing && p->retry_failed && !st->goal_reached)
        snprintf(retry, sizeof retry, "; no FAILED trial to retry (each was retried already)");
    if (!(idle && p->quiet))
        say(p, "study %s: %s, %d trials (%d complete, %d pruned, %d failed, %d interrupted)%s%s%s%s",
            spec->name, st->failed ? "failed" : st->completed ? "complete" : "stopped",
            st->n_trials, st->n_complete, st->n_pruned, st->n_failed, st->n_interrupted, best,
            st->goal_reached && st->completed ? "; objective.goal reached" : "",
            ran_nothing ? "; nothing left to run" : "", retry);
    if (st->stop_reason)
        say(p, "stopped: %s; run the same command again to resume", st->stop_reason);
    if (st->failed) {
        /* the failure quotes the last trial's stderr: its \r and colours
         * made the terminal write over the line's start, and went raw into
         * a cron log */
        char why[2048];
        klog_escape(why, sizeof why, st->failure ? st->failure : "");
        fprintf(stderr, "kestrel run: study '%s' failed: %s; see 'kestrel trials %s "
                "--state FAILED'\n", spec->name, why, spec->name);
        return CLI_FAIL;
    }
    return st->completed ? CLI_OK : CLI_STOPPED;
}

/* The stop reason a signal gives (static: the scheduler keeps it). */
static const char *stop_reason(int sig)
{
    return sig == SIGTERM ? "stopped by SIGTERM" : sig == SIGHUP ? "stopped by SIGHUP"
                                                                   : "stopped by SIGINT";
}

static int run_loop(scheduler *s, const cli_ctx *ctx, kerror *err)
{
    int rc;
    int signalled = 0;
    while ((rc = scheduler_step(s, 200, err)) > 0) {
        if (*ctx->stop && !signalled) {
            signalled = 1;
            scheduler_stop(s, stop_reason(*ctx->stop));
        }
    }
    return rc;
}

/* The counts of the study as scheduler_open found it (first: this run's
 * first open, which its ETA and "resuming" line start from). */
static void progress_open(progress *p, const scheduler_status *ss, int first)
{
    p->configs = ss->n_configs;
    p->trials = ss->n_trials;
    p->failed = ss->n_failed;
    p->interrupted = ss->n_interrupted;
    p->pruned = ss->n_pruned;
    p->running = 0;
    p->has_best = ss->has_best;
    p->best = ss->best_value;
    p->best_number = ss->best_number;
    if (first) {
        p->before = ss->n_trials;
        p->configs0 = ss->n_configs;
    }
}

/* The study, opened again after each storage error that a later try may
 * not meet. */
typedef struct {
    storage *st;
    const spec_study *spec;
    scheduler_opts so;
    progress *p;
    backoff_list waiting;   /* the study, from such an error to an open that worked */
    scheduler *s;           /* open, or NULL */
    int64_t id;             /* the study's, once an open found it; else 0 */
    int opens;
} study_run;

/* A line on stderr, as the errors: said under --quiet too. */
static void warn(const study_run *r, const char *what, const char *why)
{
    if (r->p->tty && !r->p->quiet) fprintf(stderr, "\r\033[K");
    klog(stderr, "study %s: %s%s", r->spec->name, what, why);
}

/* Opens the study and runs it to its end or an error. */
static int open_and_run(study_run *r, const cli_ctx *ctx, kerror *err)
{
    int rc = scheduler_open(&r->s, r->st, r->spec, &r->so, err);
    if (rc != KE_OK) return rc;
    backoff_free(&r->waiting);      /* a later error waits afresh */
    r->id = scheduler_study_id(r->s);
    scheduler_status ss;
    scheduler_get_status(r->s, &ss);
    progress_open(r->p, &ss, !r->opens++);
    const char *moved = scheduler_moved_from(r->s);
    if (moved) {
        char why[2 * PATH_MAX + 200];
        snprintf(why, sizeof why, "%s (--work-dir, stored for the next runs); the folders of its "
                 "earlier trials stay in %s: move %s/%s there, or its promotions train from the "
                 "start", scheduler_work_dir(r->s), moved, moved, r->spec->name);
        warn(r, "its trial folders are now in ", why);
    }
    if (!r->p->quiet && ss.reclaimed)
        say(r->p, "study %s: %d trials left RUNNING by a dead run were marked FAILED "
            "(interrupted) and run again", r->spec->name, ss.reclaimed);
    return run_loop(r->s, ctx, err);
}

/* After a storage error (err) that a later try may not meet: closes the
 * study's scheduler, its running trials interrupted, and waits for the next
 * try to resume (KE_OK); or gives up, once --storage-retry's seconds have
 * run out (err says so; the study is stored FAILED if it can be), or on a
 * signal (KE_INTERRUPTED; the study is stored STOPPED). */
static int wait_to_resume(study_run *r, const cli_ctx *ctx, kerror *err)
{
    double now = monotime_s();
    backoff_entry *e = r->waiting.head;
    int again = 1;
    if (!e) {
        if (backoff_add(&r->waiting, r->spec->name, r->id, err->msg, now) != KE_OK) return err->code;
        e = r->waiting.head;
    } else {
        again = backoff_again(&r->waiting, e, err->msg, now);
    }
    char reason[KERROR_MSG_MAX + 64];
    backoff_waiting_reason(e, now, reason, sizeof reason);
    kerror serr;
    if (r->s && scheduler_suspend(r->s, err, again ? reason : NULL, &serr) != KE_OK)
        warn(r, "cannot store its interrupted trials or its wait yet: ", serr.msg);
    r->s = NULL;
    if (!again) {
        backoff_give_up(e, err->msg, 1, now);
        int frc = r->id ? scheduler_fail_stored(r->st, r->so.db_path, r->id, e->why, &serr) : KE_OK;
        if (frc == KE_BUSY)
            warn(r, "not marked FAILED: another kestrel process resumed it and runs it now", "");
        else if (frc != KE_OK)
            warn(r, "stays RUNNING (running it again resumes it): cannot store its FAILED: ",
                 serr.msg);
        return kerror_set(err, KE_DB, NULL, "%s", e->why);
    }
    warn(r, "", reason);
    /* a signal ends the wait within a tenth of a second */
    double left;
    while (!*ctx->stop && (left = backoff_wait(e, monotime_s())) > 0) {
        double nap = left < 0.1 ? left : 0.1;
        nanosleep(&(struct timespec){0, (long)(nap * 1e9)}, NULL);
    }
    if (!*ctx->stop) {
        warn(r, "resuming after a storage error", "");
        return KE_OK;
    }
    if (r->id) storage_study_set_state(r->st, r->id, STUDY_STOPPED, NULL, err);
    return kerror_set(err, KE_INTERRUPTED, NULL, "%s while waiting to resume after a "
                      "storage error; run the same command again to resume",
                      stop_reason(*ctx->stop));
}

int cmd_run_main(int argc, char **argv, const cli_ctx *ctx)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},     {"force", no_argument, 0, 'f'},
        {"retry-failed", no_argument, 0, 'r'}, {"work-dir", required_argument, 0, 'w'},
        {"quiet", no_argument, 0, 'q'},        {"storage-retry", required_argument, 0, 'R'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *db_opt = NULL, *work_opt = NULL;
    int force = 0, retry = 0, quiet = 0, c;
    double give_up_s = BACKOFF_GIVE_UP_S;
    while ((c = cli_getopt(argc, argv, "h", opts)) != -1) {
        switch (c) {
        case 'd': db_opt = optarg; break;
        case 'f': force = 1; break;
        case 'r': retry = 1; break;
        case 'w':
            if (cli_path_option("run", "--work-dir", optarg) != CLI_OK) return CLI_USAGE;
            work_opt = optarg;
            break;
        case 'q': quiet = 1; break;
        case 'R':
            if (cli_seconds_option("run", "--storage-retry", optarg, 1, CLI_STORAGE_RETRY_MAX,
                                   &give_up_s) != CLI_OK)
                return CLI_USAGE;
            break;
        case 'h': fputs(run_help, stdout); return CLI_OK;
        default: return cli_bad_option("run", argv, opts);
        }
    }
    if (optind != argc - 1) return cli_usage("run", "expected one SPEC.json argument");
    kerror err;
    kerror_clear(&err);
    spec_study spec;
    if (spec_load_file(&spec, argv[optind], &err) != KE_OK) return cli_fail("run", &err);
    const char *db;
    if (cli_db_path("run", db_opt, &db) != CLI_OK) {
        spec_free(&spec);
        return CLI_USAGE;
    }
    cli_keep_heap();   /* a fifth to a third of its CPU per trial (bench/README.md) */
    storage *st = NULL;
    int rc = storage_open(&st, db, &err);
    /* the cache only: the study's trial folders are scheduler_open's to
     * choose (work_opt, else the one the history keeps, else DB.trials) */
    char work[4096], cache[4096];
    scheduler_default_dirs(db, work, sizeof work, cache, sizeof cache);
    /* the progress line only when both are a terminal: stdout in a pipe or a
     * log ('| tee run.log') gets the timestamped lines a pipe is promised */
    progress p = {.tty = isatty(STDOUT_FILENO) && isatty(STDERR_FILENO), .quiet = quiet, .maximize = spec.maximize,
                  .name = spec.name, .max_trials = spec.budget.max_trials, .t0 = monotime_s(),
                  .retry_failed = retry};
    study_run r = {.st = st, .spec = &spec, .p = &p, .waiting = {.give_up_s = give_up_s},
                   .so = {.db_path = db, .self_exe = ctx->self_exe, .run_self = 1,
                          .work_dir = work_opt, .cache_dir = cache,
                          .force = force, .retry_failed = retry, .on_event = on_event, .ctx = &p}};
    while (rc == KE_OK && (rc = open_and_run(&r, ctx, &err)) != KE_OK &&
           storage_error_transient(&err) && give_up_s > 0 && !*ctx->stop)
        rc = wait_to_resume(&r, ctx, &err);
    int code;
    if (rc == KE_OK) {
        scheduler_status ss;
        scheduler_get_status(r.s, &ss);
        code = summary(&spec, &ss, &p);
    } else {
        code = cli_fail("run", &err);
    }
    backoff_free(&r.waiting);
    scheduler_close(r.s);
    storage_close(st);
    spec_free(&spec);
    return code;
}

int cmd_validate_main(int argc, char **argv, const cli_ctx *ctx)
{
    (void)ctx;
    if (cli_wants_help(argc, argv)) {
        fputs(validate_help, stdout);
        return CLI_OK;
    }
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-' && argv[i][1])
            return cli_usage("validate", "unknown option '%s'", argv[i]);
    if (argc != 2) return cli_usage("validate", "expected one SPEC.json argument");
    kerror err;
    spec_study spec;
    if (spec_load_file(&spec, argv[1], &err) != KE_OK) return cli_fail("validate", &err);
    printf("ok: study '%s', %d parameters, strategy %s, hash %s\n", spec.name, spec.space.n,
           spec.strategy, spec.hash);
    spec_free(&spec);
    return CLI_OK;
}
