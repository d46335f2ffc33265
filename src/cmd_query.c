/* cmd_query: the read-only history commands `kestrel studies`, `kestrel
 * trials STUDY` and `kestrel best STUDY`, each printing a table, JSON or CSV,
 * and `kestrel trial STUDY N`, one trial in detail as the API's JSON.
 * Trials stream page by page from storage, so a study of any size lists in
 * constant memory. Parameters become columns, named from the study's spec. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "api_json.h"
#include "cli.h"
#include "format.h"
#include "sched_ckpt.h"
#include "scheduler.h"
#include "storage.h"


typedef struct {
    const char *db;
    format_kind fmt;
    int state;                 /* -1 = all */
    int limit, offset, best_first;
    const char *study;
    const char *export_model, *work_dir;   /* best only */
} query_opts;

static const char studies_help[] =
    "Usage: kestrel studies [--db FILE] [--format table|json|csv]\n"
    "List every study with its state, trial counts, best value and note.\n";
static const char trials_help[] =
    "Usage: kestrel trials STUDY [--db FILE] [--format table|json|csv]\n"
    "                     [--state RUNNING|COMPLETE|PRUNED|FAILED] [--sort number|best]\n"
    "                     [--limit N] [--offset N]   (--limit 0: no limit)\n"
    "List a study's trials with their parameters as columns, value, state and\n"
    "failure reason. Output streams, so it works on studies of any size. Exit\n"
    "status 5 when there is no such study, or it is deleted while it lists (the\n"
    "output cut there and left unclosed: the JSON without its closing bracket);\n"
    "1 when the output cannot be written (a full disk).\n";
static const char trial_help[] =
    "Usage: kestrel trial STUDY NUMBER [--db FILE]\n"
    "Show one trial in detail as JSON (the object of GET\n"
    "/api/v1/studies/STUDY/trials/NUMBER): state, parameters, value, failure,\n"
    "every reported value by step, the final metrics and the tails of its\n"
    "stdout and stderr. Exit status 5 when there is no such study or trial.\n";
static const char best_help[] =
    "Usage: kestrel best STUDY [--db FILE] [--format table|json|csv]\n"
    "                   [--export-model FILE [--work-dir DIR]]\n"
    "Show the best COMPLETE trial of a study (by its objective's direction) with\n"
    "its parameters. Exit status 5 when the study has no complete trial, is\n"
    "deleted while it is read, or its best trial has no model to export.\n"
    "  --export-model FILE  also copy that trial's model (a trainer study's\n"
    "                       checkpoint.kck) to FILE, for kestrel predict and\n"
    "                       kestrel evaluate\n"
    "  --work-dir DIR       the trial folders (default: the --work-dir the study\n"
    "                       was run with, stored in the history; else DB.trials,\n"
    "                       beside the file itself when DB is a symbolic link)\n";

/* list: the command lists trials (trials), so --state, --sort, --limit and
 * --offset apply; elsewhere they are refused rather than ignored. */
static int parse_opts(int argc, char **argv, const char *cmd, const char *help, int want_study,
                      int list, query_opts *q)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},    {"format", required_argument, 0, 'F'},
        {"state", required_argument, 0, 's'}, {"limit", required_argument, 0, 'l'},
        {"offset", required_argument, 0, 'o'}, {"sort", required_argument, 0, 'S'},
        {"export-model", required_argument, 0, 'x'}, {"work-dir", required_argument, 0, 'w'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    memset(q, 0, sizeof *q);
    q->state = -1;
    const char *db = NULL;
    int c;
    while ((c = cli_getopt(argc, argv, "h", opts)) != -1) {
        if (!list && (c == 's' || c == 'l' || c == 'o' || c == 'S'))
            return cli_usage(cmd, "--state, --sort, --limit and --offset are options of "
                                  "'kestrel trials' only");
        if (strcmp(cmd, "best") && (c == 'x' || c == 'w'))
            return cli_usage(cmd, "--export-model and --work-dir are options of 'kestrel best' only");
        switch (c) {
        case 'd': db = optarg; break;
        case 'F': {
            int f = format_parse(optarg);
            if (f < 0) return cli_usage(cmd, "--format: expected table, json or csv, not '%s'", optarg);
            q->fmt = f;
            break;
        }
        case 's':
            if ((q->state = trial_state_parse(optarg)) < 0)
                return cli_usage(cmd, "--state: expected RUNNING, COMPLETE, PRUNED or FAILED, not '%s'",
                                 optarg);
            break;
        case 'l':
        case 'o': {
            long long v;
            if (cli_int_option(cmd, c == 'l' ? "--limit" : "--offset", optarg, 0, 1000000000, &v))
                return CLI_USAGE;
            *(c == 'l' ? &q->limit : &q->offset) = (int)v;
            break;
        }
        case 'S':
            if (strcmp(optarg, "best") && strcmp(optarg, "number"))
                return cli_usage(cmd, "--sort: expected number or best, not '%s'", optarg);
            q->best_first = !strcmp(optarg, "best");
            break;
        case 'x':
        case 'w':
            if (cli_path_option(cmd, c == 'x' ? "--export-model" : "--work-dir", optarg) != CLI_OK)
                return CLI_USAGE;
            *(c == 'x' ? &q->export_model : &q->work_dir) = optarg;
            break;
        case 'h': fputs(help, stdout); return -1;
        default: return cli_bad_option(cmd, argv, opts);
        }
    }
    /* alone it would be ignored, and the user left thinking it was used */
    if (q->work_dir && !q->export_model)
        return cli_usage(cmd, "--work-dir says where --export-model finds the model: give both");
    if (want_study && optind != argc - 1) return cli_usage(cmd, "expected one STUDY argument");
    if (!want_study && optind != argc) return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    q->study = want_study ? argv[optind] : NULL;
    return cli_db_path(cmd, db, &q->db);
}

int cmd_studies_main(int argc, char **argv, const cli_ctx *ctx)
{
    (void)ctx;
    query_opts q;
    int code = parse_opts(argc, argv, "studies", studies_help, 0, 0, &q);
    if (code) return code < 0 ? CLI_OK : code;
    kerror err;
    storage *st;
    storage_study *list = NULL;
    int n = 0;
    if ((code = cli_open_history("studies", q.db, &st)) != CLI_OK) return code;
    if (storage_study_list(st, &list, &n, &err) != KE_OK) {
        storage_close(st);
        return cli_fail("studies", &err);
    }
    static const char *const cols[] = {"name", "state", "direction", "metric", "trials",
                                       "running", "complete", "pruned", "failed",
                                       "interrupted", "best", "best_trial", "note"};
    format_writer w;
    format_begin(&w, q.fmt, stdout, cols, 13);
    for (int i = 0; i < n; i++) format_widen(&w, 0, (int)strlen(list[i].name));
    for (int i = 0; i < n; i++) {
        const storage_study *s = &list[i];
        format_cell c[13] = {
            {CELL_TEXT, 0, s->name}, {CELL_TEXT, 0, study_state_name(s->state)},
            {CELL_TEXT, 0, s->maximize ? "maximize" : "minimize"}, {CELL_TEXT, 0, s->metric},
            {CELL_INT, s->n_trials, 0}, {CELL_INT, s->n_running, 0}, {CELL_INT, s->n_complete, 0},
            {CELL_INT, s->n_pruned, 0}, {CELL_INT, s->n_failed, 0}, {CELL_INT, s->n_interrupted, 0},
            {s->has_best ? CELL_NUM : CELL_NULL, s->best_value, 0},
            {s->has_best ? CELL_INT : CELL_NULL, s->best_number, 0},
            {s->note ? CELL_TEXT : CELL_NULL, 0, s->note}};
        format_row(&w, c);
    }
    format_end(&w);
    storage_study_list_free(list, n);
    storage_close(st);
    return format_status(&w, &err) == KE_OK ? CLI_OK : cli_fail("studies", &err);
}

typedef struct {
    format_writer w;
    api_csv layout;
    storage *st;
    int *keep;                  /* the layout's columns shown, in order */
    const char **cols;          /* their names */
    format_cell *all, *shown;   /* a row's cells: the layout's, those shown */
    int n;
    kerror *err;
    int rc;
} trial_printer;

/* The layout's columns; a table leaves out the wide ones that a terminal
 * reader rarely needs (times as Unix seconds, the worker). Allocates tp's
 * arrays (freed by free_printer); KE_NOMEM. */
static int choose_columns(trial_printer *tp, format_kind kind)
{
    size_t n = (size_t)tp->layout.ncols;
    tp->n = 0;
    tp->keep = calloc(n, sizeof *tp->keep);
    tp->cols = calloc(n, sizeof *tp->cols);
    tp->all = calloc(n, sizeof *tp->all);
    tp->shown = calloc(n, sizeof *tp->shown);
    if (!tp->keep || !tp->cols || !tp->all || !tp->shown)
        return kerror_set(tp->err, KE_NOMEM, NULL, "out of memory");
    for (int i = 0; i < tp->layout.ncols; i++) {
        const char *c = tp->layout.cols[i];
        if (kind == FORMAT_TABLE && (!strcmp(c, "started_at") || !strcmp(c, "finished_at") ||
                                     !strcmp(c, "worker")))
            continue;
        tp->cols[tp->n] = c;
        tp->keep[tp->n++] = i;
    }
    return KE_OK;
}

static void free_printer(trial_printer *tp)
{
    free(tp->keep);
    free(tp->cols);
    free(tp->all);
    free(tp->shown);
    api_csv_close(&tp->layout);
}

static int print_trial(const storage_trial *t, void *ctx)
{
    trial_printer *tp = ctx;
    tp->rc = api_csv_cells(&tp->layout, tp->st, t, tp->all, tp->err);
    if (tp->rc != KE_OK) return 1;
    for (int i = 0; i < tp->n; i++) tp->shown[i] = tp->all[tp->keep[i]];
    format_row(&tp->w, tp->shown);
    return ferror(tp->w.out) != 0;   /* the rest would not reach it either */
}

/* Copies trial `number`'s checkpoint (the trainer's model file) to
 * q->export_model, through a temporary file of its own beside it (mkstemp:
 * a FILE.tmp already there, the user's or a link planted in a shared
 * folder, was truncated, written through and removed) renamed over it. */
static int export_model(const query_opts *q, int number, kerror *err)
{
    char work[4096], from[4400], tmp[4200];
    if (!q->work_dir) {
        /* the folder the study keeps, read on a handle of its own: list_trials's
         * is its listing's */
        storage *st;
        storage_study row;
        int rc = storage_open(&st, q->db, err);
        if (rc == KE_OK) rc = storage_study_get(st, q->study, &row, err);
        if (rc == KE_OK) scheduler_study_work_dir(q->db, row.work_dir, q->study, work, sizeof work);
        if (rc == KE_OK) storage_study_free(&row);
        storage_close(st);
        if (rc != KE_OK) return rc;
    }
    snprintf(from, sizeof from, "%s/%s/%d/%s", q->work_dir ? q->work_dir : work, q->study, number,
             SCHED_CKPT_FILE);
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", q->export_model);
    FILE *in = fopen(from, "rb"), *out = NULL;
    int rc = KE_OK, fd = in ? mkstemp(tmp) : -1;
    mode_t mask = umask(0);   /* mkstemp's 0600: the mode a new file gets */
    umask(mask);
    if (!in)
        rc = kerror_set(err, KE_NOTFOUND, "export-model", "trial %d has no model file %s (not a "
                        "trainer study, or its checkpoint was removed)", number, from);
    else if (fd < 0 || fchmod(fd, 0666 & ~mask) < 0 || !(out = fdopen(fd, "wb")))
        rc = kerror_set(err, KE_IO, "export-model", "%s: cannot create: %s", tmp, strerror(errno));
    if (fd >= 0 && !out) close(fd);
    char buf[65536];
    size_t n;
    while (!rc && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            rc = kerror_set(err, KE_IO, "export-model", "%s: write failed: %s", tmp, strerror(errno));
    if (!rc && ferror(in)) rc = kerror_set(err, KE_IO, "export-model", "%s: read failed", from);
    if (out && fclose(out) && !rc)
        rc = kerror_set(err, KE_IO, "export-model", "%s: write failed: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, q->export_model))
        rc = kerror_set(err, KE_IO, "export-model", "%s: cannot rename into place: %s",
                        q->export_model, strerror(errno));
    if (fd >= 0 && rc) unlink(tmp);
    if (in) fclose(in);
    return rc;
}

/* A listing's KE_NOTFOUND (err saying why) said for what it was: the study
 * read by name, then by id, was deleted in between (its first read by id
 * said "no study with id N", of an id the user never gave, and `best` "no
 * COMPLETE trial yet"), as a deletion after the first page is; else, for
 * `best`, no COMPLETE trial. The API's trial_not_found does the same. */
static int not_found(storage *st, const storage_study *study, int best_only, kerror *err)
{
    int rc = storage_study_still_there(st, study->id, study->name, err);
    if (rc != KE_OK) return rc;
    if (best_only)
        return kerror_set(err, KE_NOTFOUND, NULL, "study '%s' has no COMPLETE trial yet",
                          study->name);
    return KE_NOTFOUND;   /* err as the listing left it */
}

/* Shared by `trials` and `best`: resolves the study, prints matching trials
 * with the columns of the CSV export (api_csv). */
static int list_trials(const char *cmd, const query_opts *q, int best_only)
{
    kerror err;
    kerror_clear(&err);
    storage *st;
    int code = cli_open_history(cmd, q->db, &st);
    if (code != CLI_OK) return code;
    storage_study study;
    int rc = storage_study_get(st, q->study, &study, &err);
    trial_printer tp = {.st = st, .err = &err};
    if (rc == KE_OK) {
        rc = api_csv_open(&tp.layout, st, &study, &err);
        if (rc != KE_OK) storage_study_free(&study);
    }
    if (rc != KE_OK) {
        storage_close(st);
        return cli_fail(cmd, &err);
    }
    storage_trial t;
    /* `best` checks first, so an error comes alone, without a header: its
     * model's export too (a row and an unclosed JSON came before it) */
    if (best_only && (rc = storage_trial_best(st, study.id, &t, &err)) == KE_NOTFOUND)
        rc = not_found(st, &study, 1, &err);
    if (best_only && rc == KE_OK && q->export_model && (rc = export_model(q, t.number, &err)))
        storage_trial_free(&t);
    if (rc == KE_OK && (rc = choose_columns(&tp, q->fmt)) != KE_OK && best_only)
        storage_trial_free(&t);
    if (rc == KE_OK) {
        format_begin(&tp.w, q->fmt, stdout, tp.cols, tp.n);
        if (best_only) {
            print_trial(&t, &tp);
            storage_trial_free(&t);
        } else {
            storage_filter f = {.state = q->state, .offset = q->offset, .limit = q->limit,
                                .best_first = q->best_first};
            rc = storage_trial_each(st, study.id, &f, print_trial, &tp, &err);
            if (rc == KE_NOTFOUND) rc = not_found(st, &study, 0, &err);
        }
        if (rc == KE_OK) rc = tp.rc;
        /* a cut listing (its study deleted meanwhile, a read failed) stays
         * unclosed, the JSON without its ']', as a cut export: a reader
         * refuses it rather than take part of a study for the whole */
        if (rc == KE_OK) format_end(&tp.w);
        else format_abandon(&tp.w);
        if (rc == KE_OK) rc = format_status(&tp.w, &err);
    }
    free_printer(&tp);
    storage_study_free(&study);
    storage_close(st);
    return rc == KE_OK ? CLI_OK : cli_fail(cmd, &err);
}

int cmd_trials_main(int argc, char **argv, const cli_ctx *ctx)
{
    (void)ctx;
    query_opts q;
    int code = parse_opts(argc, argv, "trials", trials_help, 1, 1, &q);
    if (code) return code < 0 ? CLI_OK : code;
    return list_trials("trials", &q, 0);
}

int cmd_best_main(int argc, char **argv, const cli_ctx *ctx)
{
    (void)ctx;
    query_opts q;
    int code = parse_opts(argc, argv, "best", best_help, 1, 0, &q);
    if (code) return code < 0 ? CLI_OK : code;
    return list_trials("best", &q, 1);
}

int cmd_trial_main(int argc, char **argv, const cli_ctx *ctx)
{
    (void)ctx;
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *db = NULL;
    int c;
    while ((c = cli_getopt(argc, argv, "h", opts)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'h': fputs(trial_help, stdout); return CLI_OK;
        default: return cli_bad_option("trial", argv, opts);
        }
    }
    if (optind != argc - 2) return cli_usage("trial", "expected STUDY and NUMBER");
    const char *name = argv[optind], *arg = argv[optind + 1];
    char *end;
    long number = strtol(arg, &end, 10);
    if (!*arg || *end || number < 0 || number > 1000000000)
        return cli_usage("trial", "not a trial number: '%s'", arg);
    storage *st;
    const char *file;
    if (cli_db_path("trial", db, &file) != CLI_OK) return CLI_USAGE;
    int code = cli_open_history("trial", file, &st);
    if (code != CLI_OK) return code;
    kerror err;
    kerror_clear(&err);
    storage_study study;
    storage_trial t;
    int rc = storage_study_get(st, name, &study, &err);
    if (rc == KE_OK) {
        rc = storage_trial_get(st, study.id, (int)number, &t, &err);
        if (rc == KE_NOTFOUND)
            kerror_set(&err, KE_NOTFOUND, NULL, "study '%s' has no trial %ld", name, number);
        storage_study_free(&study);
    }
    if (rc == KE_OK) {
        json_t *o = api_trial_json(&t);
        rc = o ? api_trial_detail(st, &t, o, &err) : kerror_set(&err, KE_NOMEM, NULL, "out of memory");
        char *text = rc == KE_OK ? format_json(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (text) puts(text);
        else if (rc == KE_OK) rc = kerror_set(&err, KE_NOMEM, NULL, "out of memory");
        if (rc == KE_OK) rc = format_flush(stdout, &err);
        free(text);
        json_decref(o);
        storage_trial_free(&t);
    }
    storage_close(st);
    return rc == KE_OK ? CLI_OK : cli_fail("trial", &err);
}
