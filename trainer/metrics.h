/* metrics: the figures people report for a model on labelled rows, from
 * one pass's outputs at once, with scikit-learn's definitions:
 *  - classification: precision, recall and F1 per class (a class nobody
 *    predicted has precision 0, one absent from the labels recall 0, and
 *    P + R = 0 gives F1 0), averaged over the classes that occur among the
 *    labels or the predictions (macro, as sklearn's unique_labels); top-5
 *    accuracy (the label among the 5 largest outputs; ties counted in the
 *    label's favour); for two classes the ROC AUC of class 1 scored by
 *    z1 - z0 (Mann-Whitney, tied scores get the mean rank); the confusion
 *    matrix, [true][predicted] counts;
 *  - regression: MAE and RMSE over every output, and R^2 = 1 - SS_res /
 *    SS_tot per target, averaged over targets (sklearn's uniform_average;
 *    a constant target scores 1 when predicted exactly, else 0).
 * Sums run in double. Nothing here is on the per-batch path: a pass copies
 * its outputs, these run once at its end. */
#ifndef KESTREL_METRICS_H
#define KESTREL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../common/kerror.h"

/* Classes up to which a pass keeps its confusion matrix for the report. */
#define METRICS_CONFUSION_MAX 32

typedef struct {
    double precision_macro, recall_macro, f1_macro;
    double top5_accuracy;    /* meaningful with more than 5 classes */
    double auc;              /* meaningful with 2 classes */
    double mae, rmse, r2;    /* regression */
} metrics_result;

/* out (n, C) outputs (logits, or any scores ordered as the class
 * probabilities); the label of row i is labels[idx ? idx[i] : i]. confusion
 * (C*C, may be NULL) receives the counts. Errors: KE_NOMEM (the AUC's
 * sort). */
int metrics_classification(const float *out, const int32_t *labels, const size_t *idx, size_t n,
                           int C, long *confusion, metrics_result *r, kerror *err);

/* out (n, t) predictions; the targets of row i are targets[(idx ? idx[i] :
 * i) * t .. + t). */
void metrics_regression(const float *out, const float *targets, const size_t *idx, size_t n,
                        int t, metrics_result *r);

/* dst[i] = 1 / (1 + exp(-src[i])): a bce model's outputs as probabilities
 * (dst may be src). */
void metrics_sigmoid(float *dst, const float *src, size_t n);

/* sum += w * r, field by field (k-fold means). */
void metrics_accumulate(metrics_result *sum, const metrics_result *r, double w);

/* Sets part's figures in report object o ("val" -> "val_f1_macro", ...; ""
 * -> "f1_macro"):
 * classification precision_macro, recall_macro, f1_macro, top5_accuracy
 * (C > 5), auc (C == 2, when defined), confusion_matrix (confusion not
 * NULL: an array of C rows); regression mae, rmse, r2. */
void metrics_to_json(json_t *o, const char *part, const metrics_result *r, int classification, int C,
                     const long *confusion);

#endif
