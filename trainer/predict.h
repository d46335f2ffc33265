/* predict: a trained model put to use. predict_open reads a checkpoint's
 * final model (the best epoch's weights when the run kept them), its feature
 * scaler and its shape; predict_load reads rows to score from a CSV file or
 * an IDX source; predict_run scores them batch by batch and
 * predict_evaluate measures the model on labelled rows.
 * Invariant: rows go through the same path as in training (the loader
 * gathers them in order and scales them with the stored scaler, batches of
 * the training batch size, on one thread), so evaluating the rows a
 * threads=1 run tested gives its test_loss and test_accuracy bit for bit (a
 * run of more threads, OpenBLAS's or data-parallel shares, sums them in
 * another order: to float rounding). */
#ifndef KESTREL_PREDICT_H
#define KESTREL_PREDICT_H

#include <stddef.h>

#include "../common/kerror.h"
#include "dataset.h"
#include "metrics.h"

typedef struct predictor predictor;

/* Reads the model file at path. *out is owned by the caller
 * (predict_close). Errors: those of checkpoint_read, KE_CONFLICT (a file
 * of an older Kestrel, without scaler or shape), KE_NOMEM. */
int predict_open(predictor **out, const char *path, kerror *err);
void predict_close(predictor *p);   /* NULL allowed */

/* Outputs per row: classes (classification) or regression targets. */
int predict_n_out(const predictor *p);
int predict_regression(const predictor *p);

/* Rows to score, in ds rows [*first, ds->n): "csv:PATH", a CSV with a
 * header line; or "fashion-mnist" / "mnist" (dir: the IDX directory, NULL
 * for Fashion-MNIST's default): their official test images. *labeled is 1
 * when the rows carry labels or targets. labeled NULL: the rows are only
 * scored (kestrel predict), and a CSV's label column is not read, as any
 * other column the model does not take (a model file of version 4 or
 * older, which takes columns by position, still reads it).
 * A model file of version 5 names the training file's columns and classes:
 * a CSV's columns are taken by name (the training file's feature columns in
 * any order, other columns ignored, a missing one refused naming it; the
 * label column when present), and its labels are the model's classes (a
 * label training never saw is refused naming its line), so any subset of
 * the classes may appear. An older file takes the columns by position (the
 * model's features in training order, alone or with its label column: its
 * label_column, else the last) and numbers the labels as training did
 * (distinct values sorted), which matches the model's classes only when
 * every class appears: a file with fewer is refused. Errors: those of
 * dataset_load and csv_load, KE_INVALID (columns or labels do not fit the
 * model; path "data"). */
int predict_load(const predictor *p, const char *source, const char *dir, dataset *ds,
                 size_t *first, int *labeled, kerror *err);

/* The model's class labels as the training file spelled them, class k's
 * at (*labels)[k] (owned by p), for printing a prediction as a label.
 * *labels is NULL when the labels are the class numbers themselves (IDX or
 * synthetic data). Errors: KE_CONFLICT (path "labels": a regression model,
 * or a CSV-trained model whose file, of version 4 or older, does not store
 * them). */
int predict_class_labels(const predictor *p, const char *const **labels, kerror *err);

/* Receives row (0-based from first) and its n_out outputs: class
 * probabilities (softmax of the logits) or regression values. Non-zero
 * stops predict_run with KE_IO. */
typedef int (*predict_row_fn)(size_t row, const float *out, void *ctx);

/* Scores rows [first, ds->n) of ds in order. Errors: KE_NOMEM, KE_IO. */
int predict_run(predictor *p, const dataset *ds, size_t first, predict_row_fn fn, void *ctx,
                kerror *err);

typedef struct {
    size_t rows;
    double loss;       /* the training loss (val_loss's definition), mean over rows */
    double accuracy;   /* classification: argmax == label rate; else 0 */
    metrics_result m;  /* as the trainer's val_ and test_ figures */
    int n_out;
    long confusion[METRICS_CONFUSION_MAX * METRICS_CONFUSION_MAX];   /* n_out <= the max */
} predict_eval;

/* Measures the model on labelled rows [first, ds->n) of ds. Errors:
 * KE_INVALID (rows without labels), KE_NOMEM. */
int predict_evaluate(predictor *p, const dataset *ds, size_t first, predict_eval *r,
                     kerror *err);

#endif
