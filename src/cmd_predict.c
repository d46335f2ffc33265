/* cmd_predict: `kestrel predict` and `kestrel evaluate`, a trained model
 * (a checkpoint of `kestrel train`, or `kestrel best --export-model`'s file)
 * scoring rows; the scoring itself is trainer/predict.c. Invariant: every
 * usage error (exit 2) is reported before the model or the data is read;
 * what is met after is the model's or the data's (exit 1). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "format.h"
#include "../trainer/predict.h"

static const char predict_help[] =
    "Usage: kestrel predict --model FILE --data SOURCE [--data-dir DIR]\n"
    "                       [--format csv|jsonl] [--output FILE] [--labels]\n"
    "Scores rows with a trained model (a checkpoint of kestrel train, which\n"
    "stores the fitted feature scaler; with restore_best, the best epoch's).\n"
    "SOURCE: csv:PATH (a header line, then rows holding the training file's\n"
    "feature columns, matched by name in any order, and optionally its label\n"
    "column, which predict does not read (its cells may be empty); other\n"
    "columns are ignored) or\n"
    "fashion-mnist / mnist (their official test images; --data-dir: the IDX\n"
    "folder, which mnist needs; refused with csv:PATH). One output per row, in\n"
    "input order:\n"
    "  csv:   row,prediction,p_0,...,p_{k-1}   (classification: the argmax class\n"
    "         index, then the class probabilities)\n"
    "         row,prediction                   (regression; prediction_0.. for\n"
    "         several targets)\n"
    "  jsonl: {\"row\":0,\"prediction\":3,\"probabilities\":[...]} or\n"
    "         {\"row\":0,\"prediction\":1.25}\n"
    "A CSV's classes are numbered as in training: the distinct labels, sorted;\n"
    "class i's probability is p_i. --labels writes the prediction as the class's\n"
    "label in the training file (\"yes\"; a JSON string) instead of its index.\n"
    "Categorical columns (the trainer's categorical option) are one-hot encoded by\n"
    "the categories the model stores; a category training never saw is an error.\n"
    "A model file of an older Kestrel (format version 4) takes a CSV's columns by\n"
    "position (the features in training order, with or without the label column)\n"
    "and has no labels for --labels.\n"
    "--output FILE is put in place once every row is scored: a failure leaves it\n"
    "as it was (a device or FIFO, such as /dev/stdout, is written directly).\n";

static const char evaluate_help[] =
    "Usage: kestrel evaluate --model FILE --data SOURCE [--data-dir DIR]\n"
    "Measures a trained model on labelled rows (SOURCE as for kestrel predict;\n"
    "a CSV must hold the label column, and a label training never saw is an\n"
    "error naming its line; with a model file of format version 4, every class)\n"
    "and prints one JSON line:\n"
    "{\"rows\":N,\"loss\":L,\"accuracy\":A,...}: the loss and, for classification,\n"
    "accuracy, precision_macro, recall_macro, f1_macro, top5_accuracy (more than\n"
    "5 classes), auc (2 classes), confusion_matrix (up to 32 classes); for\n"
    "regression mae, rmse, r2. They are defined as kestrel train's val_ figures:\n"
    "on a run's test rows they are its test_ figures (bit for bit for a run of\n"
    "threads=1; to float rounding for one of more threads).\n";

typedef struct {
    const char *model, *data, *dir, *output;
    int jsonl, labels;
} predict_opts;

/* 0: parsed; -1: --help printed; else the exit code of a usage error. */
static int parse(int argc, char **argv, const char *cmd, const char *help, int predict,
                 predict_opts *o)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},  {"data", required_argument, 0, 'D'},
        {"data-dir", required_argument, 0, 'd'}, {"format", required_argument, 0, 'F'},
        {"output", required_argument, 0, 'o'}, {"labels", no_argument, 0, 'L'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    int c;
    while ((c = cli_getopt(argc, argv, "h", opts)) != -1) {
        if (!predict && (c == 'F' || c == 'o' || c == 'L'))
            return cli_usage(cmd, "--format, --output and --labels are options of 'kestrel predict'");
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'D': o->data = optarg; break;
        case 'd': o->dir = optarg; break;
        case 'o': o->output = optarg; break;
        case 'L': o->labels = 1; break;
        case 'F':
            if (strcmp(optarg, "csv") && strcmp(optarg, "jsonl"))
                return cli_usage(cmd, "--format: expected csv or jsonl, not '%s'", optarg);
            o->jsonl = !strcmp(optarg, "jsonl");
            break;
        case 'h': fputs(help, stdout); return -1;
        default: return cli_bad_option(cmd, argv, opts);
        }
    }
    if (optind != argc) return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o->model || !o->data) return cli_usage(cmd, "--model and --data are required");
    /* "csv:" names no file: it was opened as "" ("data: : cannot open",
     * exit 1), where kestrel train's data=csv: is refused as this is */
    if ((strncmp(o->data, "csv:", 4) || !o->data[4]) && strcmp(o->data, "fashion-mnist") &&
        strcmp(o->data, "mnist"))
        return cli_usage(cmd, "--data: expected csv:PATH, fashion-mnist or mnist, not '%s'", o->data);
    /* only the IDX sources are read from a folder: a CSV given with one was
     * read from its own path, the folder dropped without a word */
    /* a usage error before the model is read, in this command's words:
     * dataset_load's ("data_dir: source 'mnist' needs ...") name the
     * trainer's option */
    if (!o->dir && !strcmp(o->data, "mnist"))
        return cli_usage(cmd, "--data mnist needs --data-dir DIR, the folder of its IDX files "
                         "(fashion-mnist's defaults to %s)", DATASET_FASHION_MNIST_DIR);
    if (o->dir && !strncmp(o->data, "csv:", 4))
        return cli_usage(cmd, "--data-dir: only fashion-mnist and mnist are read from a folder; "
                         "%s is read from its own path (the file in that folder: --data "
                         "csv:%s/%s)", o->data, o->dir, o->data + 4);
    return 0;
}

/* Reports err. Past the command line every failure is the model's or the
 * data's (a column missing, a label training never saw, a row that does
 * not fit): exit 1, as kestrel train's are once it reads data, not 2,
 * which says the command itself was wrong. */
static int failed(const char *cmd, const kerror *err)
{
    int code = cli_fail(cmd, err);
    return code == CLI_USAGE ? CLI_FAIL : code;
}

typedef struct {
    FILE *out;
    int jsonl, regression, n_out;
    const char *const *labels;   /* --labels: class k's training label; NULL: its index */
} writer;

static void write_header(const writer *w)
{
    if (w->jsonl) return;
    int one = w->regression && w->n_out == 1;
    fputs(w->regression && !one ? "row" : "row,prediction", w->out);
    for (int j = 0; j < w->n_out && !one; j++)
        fprintf(w->out, ",%s_%d", w->regression ? "prediction" : "p", j);
    fputc('\n', w->out);
}

static int argmax(const float *v, int n)
{
    int k = 0;
    for (int j = 1; j < n; j++) k = v[j] > v[k] ? j : k;
    return k;
}

/* The predicted class k: its label (a JSON string or a CSV field) or its
 * index. */
static void write_class(const writer *w, int k)
{
    if (!w->labels) fprintf(w->out, "%d", k);
    else if (w->jsonl) format_json_string(w->out, w->labels[k]);
    else format_csv_field(w->out, w->labels[k]);
}

/* One output row; each float in the shortest text that reads back as the
 * same float32. */
static int write_row(size_t row, const float *out, void *ctx)
{
    const writer *w = ctx;
    int n = w->n_out;
    char num[40];
    if (w->jsonl) {
        fprintf(w->out, "{\"row\":%zu,\"prediction\":", row);
        if (!w->regression) {
            write_class(w, argmax(out, n));
            fputs(",\"probabilities\":", w->out);
        }
        if (n > 1 || !w->regression) fputc('[', w->out);
        for (int j = 0; j < n; j++) {
            format_float(out[j], num, sizeof num);
            fprintf(w->out, "%s%s", j ? "," : "", num);
        }
        if (n > 1 || !w->regression) fputc(']', w->out);
        fputs("}\n", w->out);
    } else {
        fprintf(w->out, "%zu", row);
        if (!w->regression) {
            fputc(',', w->out);
            write_class(w, argmax(out, n));
        }
        for (int j = 0; j < n; j++) {
            format_float(out[j], num, sizeof num);
            fprintf(w->out, ",%s", num);
        }
        fputc('\n', w->out);
    }
    return ferror(w->out) ? -1 : 0;
}

/* What both commands work on once their arguments are read. */
typedef struct {
    predict_opts o;
    kerror err;
    predictor *p;
    dataset ds;
    size_t first;
    int labeled;
} job;

/* Parses the arguments, opens the model and reads the data. 0: ready (the
 * caller ends it with finish); -1: --help printed; else the exit code of a
 * failure already reported. */
static int start(int argc, char **argv, const char *cmd, const char *help, int predict, job *j)
{
    int code = parse(argc, argv, cmd, help, predict, &j->o);
    if (code) return code;
    kerror_clear(&j->err);
    if (predict_open(&j->p, j->o.model, &j->err)) {
        if (!j->err.path[0]) snprintf(j->err.path, sizeof j->err.path, "%s", j->o.model);
        return failed(cmd, &j->err);
    }
    if (predict_load(j->p, j->o.data, j->o.dir, &j->ds, &j->first, predict ? NULL : &j->labeled,
                     &j->err)) {
        /* the IDX folder's errors name the trainer's option; here it is
         * this command's */
        if (!strcmp(j->err.path, "data_dir")) snprintf(j->err.path, sizeof j->err.path, "--data-dir");
        predict_close(j->p);
        return failed(cmd, &j->err);
    }
    return 0;
}

/* Frees j and returns the command's exit code. */
static int finish(const char *cmd, job *j)
{
    dataset_free(&j->ds);
    predict_close(j->p);
    return j->err.code ? failed(cmd, &j->err) : CLI_OK;
}

/* --output's file. A regular file (or none yet) is written through a
 * temporary file of its own beside it (mkstemp), renamed over it once
 * every row is scored: the file was opened "w" before scoring, and a row
 * refused midway left it holding the header alone, its old contents lost.
 * A link is followed (its target replaced, the link kept). Anything else
 * (a FIFO, a terminal) is written directly, as it cannot be replaced, and
 * so is a name under /dev or /proc: /dev/stdout of `>> log` is a regular
 * file, to be appended to, not replaced. */
typedef struct {
    const char *path;   /* the user's; NULL: stdout */
    char real[PATH_MAX], tmp[PATH_MAX + 16];
    int direct;
} output;

static int output_open(output *o, const char *path, FILE **out, kerror *err)
{
    struct stat st;
    memset(o, 0, sizeof *o);
    o->path = path;
    if (!path) return *out = stdout, KE_OK;
    int exists = stat(path, &st) == 0;
    o->direct = exists && (!S_ISREG(st.st_mode) || !strncmp(path, "/dev/", 5) ||
                           !strncmp(path, "/proc/", 6));
    if (o->direct) {
        if (!(*out = fopen(path, "w")))
            return kerror_set(err, KE_IO, "output", "%s: cannot create: %s", path, strerror(errno));
        return KE_OK;
    }
    if (!exists || !realpath(path, o->real)) snprintf(o->real, sizeof o->real, "%s", path);
    snprintf(o->tmp, sizeof o->tmp, "%s.XXXXXX", o->real);
    mode_t mask = umask(0);   /* mkstemp's 0600: the mode a new file gets */
    umask(mask);
    mode_t mode = exists ? st.st_mode & 07777 : 0666 & ~mask;
    int fd = mkstemp(o->tmp);
    if (fd < 0 || fchmod(fd, mode) < 0 || !(*out = fdopen(fd, "w"))) {
        int e = errno;
        if (fd >= 0) close(fd), unlink(o->tmp);
        return kerror_set(err, KE_IO, "output", "%s: cannot create: %s", path, strerror(e));
    }
    return KE_OK;
}

/* Closes out; on success (err clear) puts the file in place, else removes
 * the temporary file, leaving the user's untouched. */
static void output_close(output *o, FILE *out, kerror *err)
{
    if (!o->path) {
        if (fflush(stdout) && !err->code) kerror_set(err, KE_IO, "output", "write failed");
        return;
    }
    if (fclose(out) && !err->code)
        kerror_set(err, KE_IO, "output", "%s: write failed: %s", o->path, strerror(errno));
    if (o->direct) return;
    if (!err->code && rename(o->tmp, o->real))
        kerror_set(err, KE_IO, "output", "%s: cannot rename into place: %s", o->path,
                   strerror(errno));
    if (err->code) unlink(o->tmp);
}

int cmd_predict_main(int argc, char **argv, const cli_ctx *ctx)
{
    (void)ctx;
    job j;
    int code = start(argc, argv, "predict", predict_help, 1, &j);
    if (code) return code < 0 ? CLI_OK : code;
    writer w = {stdout, j.o.jsonl, predict_regression(j.p), predict_n_out(j.p), NULL};
    if (j.o.labels && predict_class_labels(j.p, &w.labels, &j.err)) return finish("predict", &j);
    output o;
    if (!output_open(&o, j.o.output, &w.out, &j.err)) {
        write_header(&w);
        predict_run(j.p, &j.ds, j.first, write_row, &w, &j.err);
        output_close(&o, w.out, &j.err);
    }
    return finish("predict", &j);
}

int cmd_evaluate_main(int argc, char **argv, const cli_ctx *ctx)
{
    (void)ctx;
    job j;
    int code = start(argc, argv, "evaluate", evaluate_help, 0, &j);
    if (code) return code < 0 ? CLI_OK : code;
    predict_eval r;
    int rc = j.labeled ? predict_evaluate(j.p, &j.ds, j.first, &r, &j.err)
                       : kerror_set(&j.err, KE_INVALID, "data", "%s has no label column", j.o.data);
    if (!rc) {
        json_t *o = json_pack("{s:I,s:f}", "rows", (json_int_t)r.rows, "loss", r.loss);
        int cls = !predict_regression(j.p);
        if (cls) json_object_set_new(o, "accuracy", json_real(r.accuracy));
        metrics_to_json(o, "", &r.m, cls, r.n_out, cls && r.n_out <= METRICS_CONFUSION_MAX ? r.confusion : NULL);
        char *line = format_json(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        /* a full disk or a closed pipe: the one line lost, exit 0 said it was
         * written */
        if (!line) kerror_set(&j.err, KE_NOMEM, NULL, "cannot format the result");
        else if ((puts(line) == EOF || fflush(stdout)) && !j.err.code)
            kerror_set(&j.err, KE_IO, "output", "write failed: %s", strerror(errno));
        free(line);
    }
    return finish("evaluate", &j);
}
