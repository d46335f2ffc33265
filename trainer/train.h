/* train: the trainer's entry point. train_run builds the data (load, split,
 * scale), the model, optimizer and schedule from a train_config, trains
 * epoch by epoch and reports through a caller-supplied writer, so the CLI
 * decides where report lines go (fd 3 or stdout).
 * Invariant: a run is a pure function of its config: the same config (and
 * the same OpenBLAS thread count) gives the same bits, and a run resumed
 * from its checkpoint continues exactly as the uninterrupted run would.
 *
 * Backends: train_run is the one trainer interface. It dispatches on
 * cfg->device to train_run_cpu (train.c) or, in builds with HAVE_CUDA, to
 * train_run_cuda (cuda/, same signature and same report lines); "auto"
 * picks CUDA when built with it and a CUDA device is present, else the CPU.
 * A CUDA request in a CPU-only build is KE_INVALID ("device: not built with
 * CUDA"); on a machine without a usable device it is KE_INVALID naming the
 * reason (no device, driver too old). precision other than fp32 needs CUDA.
 *
 * Report lines (JSON objects, no newline), see docs/protocol.md:
 *  - every report_every epochs: {"step": epoch (1-based), "train_loss",
 *    "val_loss", "val_accuracy" (classification), "lr" and "lr_first" (the
 *    rates of the epoch's last and first optimizer steps), "seconds",
 *    "samples_per_sec", and metrics.h's figures of the validation pass:
 *    "val_precision_macro", "val_recall_macro", "val_f1_macro",
 *    "val_top5_accuracy" (more than 5 classes), "val_auc" (2 classes), or
 *    for regression "val_mae", "val_rmse", "val_r2"};
 *  - with kfold, one line per fold instead: {"step": fold (0-based),
 *    "fold_val_loss", "fold_val_accuracy", "fold_epochs" (epochs it ran)};
 *  - last, a final line (no "step"): {"val_loss", "val_accuracy", "test_loss",
 *    "test_accuracy" (test ones when a test part exists), "best_val_loss",
 *    "best_epoch" (1-based), "epochs", "stopped_early" (1: patience ended
 *    the run, else 0)}, plus for kfold "cv_val_loss_mean", "cv_val_loss_std",
 *    "cv_val_accuracy_mean", "cv_val_accuracy_std" (val_* are then the
 *    means over folds; "epochs" the most a fold ran; no best_val_loss,
 *    best_epoch or stopped_early), and
 *    the val_ and test_ figures of metrics.h with, for up to
 *    METRICS_CONFUSION_MAX classes and without kfold, "val_confusion_matrix"
 *    and "test_confusion_matrix" (arrays of rows: true class, then counts
 *    per predicted class).
 * Final val_* and test_* are those of the model the run ends on: with
 * early_stopping_patience and restore_best (the default) the best epoch's
 * weights, else the last epoch's. Early stopping watches val_loss for every
 * task: it is defined for regression too and is smoother than accuracy. */
#ifndef KESTREL_TRAIN_H
#define KESTREL_TRAIN_H

#include "../common/kerror.h"
#include "train_config.h"
#include "metrics.h"
#include "mlp.h"

/* Every metric name a run reports (the lines above): what a study's
 * objective.metric may name for a trainer run. */
#define TRAIN_METRIC_NAMES "train_loss", "val_loss", "val_accuracy", "lr", "lr_first", "seconds", \
    "samples_per_sec", "fold_val_loss", "fold_val_accuracy", "fold_epochs", "test_loss", "test_accuracy", \
    "best_val_loss", "best_epoch", "epochs", "stopped_early", "cv_val_loss_mean", "cv_val_loss_std", \
    "cv_val_accuracy_mean", "cv_val_accuracy_std", "val_precision_macro", "val_recall_macro", \
    "val_f1_macro", "val_top5_accuracy", "val_auc", "val_mae", "val_rmse", "val_r2", \
    "test_precision_macro", "test_recall_macro", "test_f1_macro", "test_top5_accuracy", "test_auc", \
    "test_mae", "test_rmse", "test_r2"

/* Receives one report line (NUL-terminated, no newline). A non-zero return
 * aborts the run with KE_IO (the reader went away). */
typedef int (*train_report_fn)(const char *line, void *ctx);

typedef struct {
    int classification;      /* 1: the *_accuracy fields are meaningful */
    int epochs;              /* epochs completed (resumed ones included) */
    int stopped_early;
    int best_epoch;          /* 1-based epoch of best_val_loss; 0 with kfold */
    int has_test;
    double val_loss, val_accuracy;
    double test_loss, test_accuracy;
    double best_val_loss;
    int kfold;               /* folds, 0 without cross-validation */
    /* kfold (stratified or not): the label of a class with fewer rows than folds (the
     * least populated one; some folds validated without it) and its rows;
     * kfold_thin_rows 0 when there is none */
    char kfold_thin_class[64];
    long kfold_thin_rows;
    double cv_val_loss_mean, cv_val_loss_std;
    double cv_val_accuracy_mean, cv_val_accuracy_std;
    int n_out;               /* classes or targets */
    metrics_result val_metrics, test_metrics;   /* k-fold: means over folds */
    int has_confusion;       /* classification with at most METRICS_CONFUSION_MAX classes */
    long val_confusion[METRICS_CONFUSION_MAX * METRICS_CONFUSION_MAX];    /* [true][predicted] */
    long test_confusion[METRICS_CONFUSION_MAX * METRICS_CONFUSION_MAX];
} train_result;

/* Runs the training cfg describes (cfg must pass train_config_validate; train_run
 * checks it again). report may be NULL; res may be NULL. Errors: KE_INVALID
 * (bad option; a non-finite loss: "lr: training diverged: train loss is nan
 * at epoch 3"), KE_IO (data, checkpoint, report writer), KE_CONFLICT (resume
 * from a checkpoint of another config), KE_NOMEM. */
int train_run(const train_config *cfg, train_report_fn report, void *ctx,
              train_result *res, kerror *err);

/* The model cfg describes, for a net of n_in inputs and n_out outputs
 * (regression picks mse for loss=auto): the student, a teacher, and a
 * trained model put to use (predict.h). */
void train_model_config(const train_config *c, int regression, int n_in, int n_out,
                        mlp_config *mc);

/* The CPU backend; train_run is the way in. */
int train_run_cpu(const train_config *cfg, train_report_fn report, void *ctx,
                  train_result *res, kerror *err);

#ifdef HAVE_CUDA
int train_run_cuda(const train_config *cfg, train_report_fn report, void *ctx,
                   train_result *res, kerror *err);

/* Usable CUDA devices; 0 when there is none or the driver cannot run this
 * build, with the reason written to why (may be NULL). Never fails. */
int train_cuda_devices(char *why, size_t n);
#endif

#endif
