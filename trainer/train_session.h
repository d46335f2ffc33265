/* train_session: what train.c shares with a device backend (cuda/train_cuda.cu).
 * One session holds everything a run needs; train_session.c builds it (data,
 * split, scaler, host model, teacher, optimizer, loaders, schedule) and
 * resumes it, and train.c drives the epochs, reports and checkpoints. A
 * device backend only replaces the two loops that touch the model (one
 * training epoch, one evaluation pass) and keeps its own copy of the model
 * and optimizer state.
 * Invariant: before train.c writes a checkpoint from s->m and s->opt, a
 * device backend has copied its state back with sync (only then: it costs a
 * copy of the model), so checkpoints are the same file whichever backend
 * wrote them. Not part of the public trainer interface: train.h is. */
#ifndef KESTREL_TRAIN_SESSION_H
#define KESTREL_TRAIN_SESSION_H

#include "../common/kerror.h"
#include "checkpoint.h"
#include "train_config.h"
#include "dataset.h"
#include "dp.h"
#include "loader.h"
#include "metrics.h"
#include "mlp.h"
#include "optim.h"
#include "schedule.h"
#include "split.h"
#include "train.h"

typedef struct train_device_ops train_device_ops;

typedef struct {
    const train_config *cfg;
    int classification, mse, n_out;   /* mse: a loss on targets (mse, huber) */
    dataset ds;
    split sp;
    split_scaler sc;
    mlp *m, *teacher;
    dp *dp;              /* CPU data parallelism over s->m, or NULL */
    mlp **teachers;      /* with dp and a teacher: one per thread, [0] the
                          * teacher, the rest its replicas, or NULL */
    int shard_fill;      /* loaders without prefetch: dp's threads gather their rows */
    optim opt;
    schedule sched;
    loader *train_l, *val_l, *test_l;
    float *onehot;       /* (batch_size, n_out): MSE targets for class labels */
    float *tprobs;       /* (batch_size, n_out): teacher softmax(z/T) */
    checkpoint_state st;
    float *best;         /* (mlp_n_state) the best epoch's parameters, kept with
                          * patience and restore_best; NULL otherwise */
    float *class_weight; /* (n_out) class_weight=balanced's weights, or NULL */
    float *outs;         /* (max(n_val, n_test), n_out) the outputs of the last
                          * evaluation pass, rows in loader order */
    long *confusion[2];  /* (n_out, n_out) of the val and test passes, with at
                          * most METRICS_CONFUSION_MAX classes; else NULL */
    const train_device_ops *dev;   /* NULL: the CPU loops of train.c */
    void *dev_state;               /* the backend's, from open to close */
} session;

/* Metrics of one pass over a loader. */
typedef struct {
    double loss, accuracy;
    metrics_result m;
    const long *confusion;   /* the pass's, or NULL */
} eval_result;

/* A device backend. open runs once the session is built and resumed (the
 * host model and optimizer hold the starting state) and sets dev_state;
 * train_epoch and eval mirror train.c's loops (same batches, same loss
 * means, same divergence error via train_diverged, s->st.step advanced per
 * optimizer step; eval sets loss and accuracy and leaves the pass's outputs
 * in s->outs, from which train.c computes the other metrics); sync copies parameters, BN statistics, dropout RNG and
 * optimizer state back into s->m and s->opt; get_model copies only the
 * parameters and BN statistics into s->m (the best epoch's, for restore_best)
 * and set_model copies s->m's to the device (the restored best epoch);
 * close frees dev_state (it may be called after a failed open and must
 * accept dev_state NULL). */
struct train_device_ops {
    int (*open)(session *s, kerror *err);
    int (*train_epoch)(session *s, long epoch, double *mean_loss, kerror *err);
    int (*eval)(session *s, loader *l, eval_result *r, kerror *err);
    int (*sync)(session *s, kerror *err);
    int (*get_model)(session *s, kerror *err);
    int (*set_model)(session *s, kerror *err);
    void (*close)(session *s);
};

/* Builds s for one run of cfg (fold < 0: the plain split, else that fold of
 * kfold): data, split, scaler, class weights, model, optimizer, loaders,
 * schedule, teacher, the state of cfg->resume's checkpoint, data
 * parallelism (CPU), then dev's open (dev NULL: the CPU loops). Call
 * train_session_free(s) after it, also when it fails. */
int train_session_open(session *s, const train_config *cfg, const train_device_ops *dev, int fold,
                       kerror *err);

/* Frees what s holds, closing its device backend first; s may be half
 * built (a failed train_session_open). */
void train_session_free(session *s);

/* The run train.c drives, with the model loops of dev (NULL: CPU). */
int train_run_device(const train_config *cfg, const train_device_ops *dev,
                     train_report_fn report, void *ctx, train_result *res, kerror *err);

/* The learning rate of optimizer step `step`: the schedule's, times
 * plateau_factor per reduce-on-plateau cut (not below min_lr once cut). */
double train_lr(const session *s, long step);

/* KE_INVALID "lr: training diverged: <the train loss | the validation
 * loss> is <v> at epoch <epoch+1>" (validation: which). At a run's first
 * epoch, when the rows of that part hold a feature of magnitude 1e6 or
 * more as the model sees it (unscaled under scaling=none; else an outlier
 * beyond the training rows' range), under "scaling" instead, naming the
 * largest and its column as the likelier cause. */
int train_diverged(const session *s, int validation, double v, long epoch, kerror *err);

#endif
