/* predict: the trained model of a checkpoint scoring rows (predict.h).
 * Invariant: a predictor holds only what the file stored (config, shape,
 * final weights, scaler, categories, column names and class labels) plus
 * one batch-sized buffer; rows pass through a loader exactly as an
 * evaluation pass of train.c does. */
#include "predict.h"
#include "checkpoint.h"
#include "csv.h"
#include "gemm.h"
#include "loader.h"
#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct predictor {
    train_config cfg;      /* the training run's */
    int n_in, n_out, regression;
    mlp *m;
    split_scaler sc;
    onehot cats;           /* the training file's categorical columns */
    dsnames names;         /* the training file's columns and class labels
                              (empty: IDX or synthetic data, or a file of
                              version 4 or older) */
    float *buf;            /* (batch_size, n_out): probabilities or one-hot targets */
    char *path;            /* the model file, as opened: named in errors */
};

int predict_open(predictor **out, const char *path, kerror *err)
{
    *out = NULL;
    checkpoint *ck;
    int rc = checkpoint_read(&ck, path, err);
    if (rc) return rc;
    predictor *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path))) rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (!rc) rc = checkpoint_config(ck, &p->cfg, err);
    if (!rc) rc = checkpoint_shape(ck, &p->n_in, &p->n_out, &p->regression, err);
    if (!rc) rc = checkpoint_scaler(ck, &p->sc, err);
    if (!rc) rc = checkpoint_categories(ck, &p->cats, err);
    if (!rc) rc = checkpoint_names(ck, &p->names, err);
    if (!rc) {
        mlp_config mc;
        train_model_config(&p->cfg, p->regression, p->n_in, p->n_out, &mc);
        rc = mlp_create(&p->m, &mc, err);
    }
    if (!rc) rc = checkpoint_restore_final(ck, p->m, err);
    size_t buf = (size_t)p->cfg.batch_size * (size_t)p->n_out;
    if (!rc && !(p->buf = malloc(buf * sizeof(float))))
        rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    checkpoint_free(ck);
    if (rc) {
        predict_close(p);
        return rc;
    }
    /* one thread, as a threads=1 run evaluated: the same sums, the same bits */
    gemm_blas_threads(1);
    *out = p;
    return KE_OK;
}

void predict_close(predictor *p)
{
    if (!p) return;
    mlp_free(p->m);
    split_scaler_free(&p->sc);
    onehot_free(&p->cats);
    dsnames_free(&p->names);
    free(p->buf);
    free(p->path);
    free(p);
}

int predict_n_out(const predictor *p) { return p->n_out; }
int predict_regression(const predictor *p) { return p->regression; }

int predict_class_labels(const predictor *p, const char *const **labels, kerror *err)
{
    *labels = NULL;
    if (p->regression)
        return kerror_set(err, KE_CONFLICT, "labels", "the model is a regression model: it has no "
                          "classes");
    if (p->names.n_classes) {
        *labels = (const char *const *)p->names.classes;
        return KE_OK;
    }
    /* IDX and synthetic labels are the class numbers themselves */
    if (!strncmp(p->cfg.data, "csv:", 4))
        return kerror_set(err, KE_CONFLICT, "labels", "the model file does not store its class "
                          "labels (written by an older Kestrel: train the model again)");
    return KE_OK;
}

/* Columns of a CSV file's header line, or -1 (err set). */
static long csv_columns(const char *path, kerror *err)
{
    FILE *f = fopen(path, "r");
    /* why (missing, a permission, ...): csv_load's own says so too */
    if (!f) return kerror_set(err, KE_IO, "data", "%s: cannot open: %s", path, strerror(errno)), -1;
    long n = 1;
    int ch;
    while ((ch = fgetc(f)) != EOF && ch != '\n') n += ch == ',';
    fclose(f);
    return n;
}

/* A model file that names its columns: the file's columns by name
 * (csv_load's known->names), with or without the label column; score_only
 * leaves the label column unread, as any column the model does not take. */
static int load_csv_by_name(const predictor *p, const char *path, int score_only, dataset *ds,
                            int *labeled, kerror *err)
{
    csv_known k = {&p->cats, &p->names, p->path, 0};
    dataset_task task = score_only ? DATASET_UNLABELED
                        : p->regression ? DATASET_REGRESSION : DATASET_CLASSIFICATION;
    int rc = csv_load(path, NULL, task, NULL, &k, NULL, ds, err);
    /* csv_load reads a file without the label column as unlabelled rows */
    *labeled = !rc && (ds->task == DATASET_REGRESSION || ds->n_classes);
    return rc;
}

/* Version 4 and older model files: the file's columns by position. */
static int load_csv(const predictor *p, const char *path, int score_only, dataset *ds,
                    int *labeled, kerror *err)
{
    if (p->names.n_features) return load_csv_by_name(p, path, score_only, ds, labeled, err);
    long ncol = csv_columns(path, err);
    if (ncol < 0) return KE_IO;
    /* a categorical column is one column of the file, k features of the model */
    long cols = p->n_in;
    for (size_t i = 0; i < p->cats.n; i++) cols -= (long)p->cats.cols[i].k - 1;
    *labeled = ncol == cols + 1;
    if (ncol != cols && !*labeled)
        return kerror_set(err, KE_INVALID, "data", "%s has %ld columns; the model takes %ld features "
                          "(and optionally its label column)", path, ncol, cols);
    /* score_only: a label column is left unread, as with a newer model (its
     * empty cells or labels of fewer classes were refused) */
    dataset_task task = !*labeled || score_only ? DATASET_UNLABELED
                        : p->regression ? DATASET_REGRESSION : DATASET_CLASSIFICATION;
    const char *label = p->cfg.label_column[0] ? p->cfg.label_column : NULL;
    csv_known k = {&p->cats, NULL, p->path, score_only && *labeled};
    int rc = csv_load(path, label, task, NULL, &k, NULL, ds, err);
    if (score_only) *labeled = 0;   /* no label read */
    return rc;
}

int predict_load(const predictor *p, const char *source, const char *dir, dataset *ds,
                 size_t *first, int *labeled, kerror *err)
{
    memset(ds, 0, sizeof *ds);
    /* rows only scored: their labels are not read, so a label column of
     * rows still to label (empty cells, or labels training never saw) is
     * ignored as an id column is, not refused row by row */
    int score_only = !labeled, unread;
    if (score_only) labeled = &unread;
    *first = 0;
    *labeled = 0;
    int rc;
    if (!strncmp(source, "csv:", 4)) {
        rc = load_csv(p, source + 4, score_only, ds, labeled, err);
    } else if (!strcmp(source, "fashion-mnist") || !strcmp(source, "mnist")) {
        dataset_opts o;
        dataset_opts_init(&o);
        o.source = source;
        o.dir = dir;
        rc = dataset_load(&o, ds, err);
        *first = ds->test_begin < ds->n ? ds->test_begin : 0;
        *labeled = 1;
    } else {
        return kerror_set(err, KE_INVALID, "data", "'%s': expected csv:PATH, fashion-mnist or mnist",
                          source);
    }
    if (rc) return rc;
    if (ds->d != (size_t)p->n_in)
        rc = kerror_set(err, KE_INVALID, "data", "rows have %zu features, the model takes %d", ds->d,
                        p->n_in);
    /* even with as many targets as classes: a regression model has no
     * labels to score, a classifier no targets (evaluate crashed) */
    else if (*labeled && (ds->task == DATASET_CLASSIFICATION) == p->regression)
        rc = kerror_set(err, KE_INVALID, "data", "the model is a %s model, the rows are labelled "
                        "for %s", p->regression ? "regression" : "classification",
                        p->regression ? "classification" : "regression");
    else if (*labeled && dataset_out_dim(ds) != (size_t)p->n_out)
        rc = kerror_set(err, KE_INVALID, "data", p->regression ? "rows have %zu targets, the model %d"
                        : "the labels make %zu classes, the model has %d (numbered in sorted order, "
                          "so every class must appear)", dataset_out_dim(ds), p->n_out);
    if (rc) dataset_free(ds);
    return rc;
}

/* An in-order loader over rows [first, ds->n), scaled as in training. */
static int make_loader(predictor *p, const dataset *ds, size_t first, loader **l, kerror *err)
{
    size_t n = ds->n > first ? ds->n - first : 0;
    if (!n) return kerror_set(err, KE_INVALID, "data", "no rows to score");
    size_t *idx = malloc(n * sizeof *idx);
    if (!idx) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) idx[i] = first + i;
    int rc = loader_create(l, ds, idx, n, (size_t)p->cfg.batch_size, 0, 0, NULL, &p->sc, 0, err);
    free(idx);
    return rc;
}

/* A row whose outputs are not finite (a value far beyond those the model
 * was trained on, scaled past float's range) is refused, naming it (1 is the
 * first row read): its prediction printed as nan, or an evaluation whose
 * loss is nan (which JSON cannot hold, so nothing was printed), exited 0. */
static int check_outputs(const float *o, int B, size_t C, size_t row, kerror *err)
{
    for (size_t i = 0; i < (size_t)B; i++)
        for (size_t c = 0; c < C; c++)
            if (!isfinite(o[i * C + c]))
                return kerror_set(err, KE_CONFLICT, "data", "row %zu: the model's output is not "
                                  "finite (%g): a value far beyond those it was trained on?",
                                  row + i + 1, (double)o[i * C + c]);
    return KE_OK;
}

int predict_run(predictor *p, const dataset *ds, size_t first, predict_row_fn fn, void *ctx,
                kerror *err)
{
    loader *l;
    int rc = make_loader(p, ds, first, &l, err);
    if (rc) return rc;
    size_t row = 0, C = (size_t)p->n_out;
    loader_batch b;
    loader_epoch_begin(l, 0);
    while (!rc && loader_next(l, &b)) {
        int B = (int)b.size;
        loader_fill(l, &b, 0, b.size);
        if ((rc = mlp_forward(p->m, b.x, B, 0, err))) break;
        const float *o = mlp_logits(p->m);
        if ((rc = check_outputs(o, B, C, row, err))) break;
        if (mlp_get_config(p->m)->loss == MLP_LOSS_BCE) {
            metrics_sigmoid(p->buf, o, (size_t)B * C);   /* one probability per output */
            o = p->buf;
        } else if (!p->regression) {
            mlp_softmax(p->buf, o, B, (int)C, 1.0f);
            o = p->buf;
        }
        for (size_t i = 0; i < b.size && !rc; i++)
            if (fn(row + i, o + i * C, ctx)) rc = kerror_set(err, KE_IO, NULL, "writing predictions failed");
        row += b.size;
    }
    loader_free(l);
    return rc;
}

int predict_evaluate(predictor *p, const dataset *ds, size_t first, predict_eval *r, kerror *err)
{
    if (ds->task == DATASET_CLASSIFICATION && ds->n_classes == 0)
        return kerror_set(err, KE_INVALID, "data", "the rows have no labels to evaluate against");
    loader *l;
    int rc = make_loader(p, ds, first, &l, err);
    if (rc) return rc;
    int C = p->n_out, onehot = !p->regression && mlp_get_config(p->m)->loss != MLP_LOSS_SOFTMAX_XENT;
    float *outs = malloc((ds->n - first) * (size_t)C * sizeof(float));
    if (!outs) {
        loader_free(l);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    double loss = 0;
    long correct = 0, n = 0;
    loader_batch b;
    loader_epoch_begin(l, 0);
    while (!rc && loader_next(l, &b)) {
        int B = (int)b.size;
        loader_fill(l, &b, 0, b.size);
        /* train.c's batch_target without a teacher: the same loss */
        mlp_target t = {.labels = (const int *)b.y, .targets = b.targets};
        if (onehot) {
            memset(p->buf, 0, (size_t)B * (size_t)C * sizeof(float));
            for (int i = 0; i < B; i++) p->buf[(size_t)i * (size_t)C + b.y[i]] = 1.0f;
            t.targets = p->buf;
        }
        float bl;
        if ((rc = mlp_eval_batch(p->m, b.x, &t, B, &bl, NULL, err))) break;
        if ((rc = check_outputs(mlp_logits(p->m), B, (size_t)C, (size_t)n, err))) break;
        if (!p->regression) correct += mlp_count_correct(mlp_logits(p->m), t.labels, B, C);
        memcpy(outs + (size_t)n * (size_t)C, mlp_logits(p->m), (size_t)B * (size_t)C * sizeof(float));
        loss += (double)bl * B;
        n += B;
    }
    loader_free(l);
    r->rows = (size_t)n;
    r->loss = loss / (double)n;
    r->accuracy = p->regression ? 0 : (double)correct / (double)n;
    r->n_out = C;
    if (!rc && p->regression && mlp_get_config(p->m)->loss == MLP_LOSS_BCE)
        metrics_sigmoid(outs, outs, (size_t)n * (size_t)C);   /* the predictions are s(z) */
    if (!rc && p->regression) metrics_regression(outs, ds->targets + first * (size_t)C, NULL, (size_t)n, C, &r->m);
    else if (!rc)
        rc = metrics_classification(outs, ds->y + first, NULL, (size_t)n, C,
                                    C <= METRICS_CONFUSION_MAX ? r->confusion : NULL, &r->m, err);
    free(outs);
    return rc;
}
