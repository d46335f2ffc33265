/* train: the CPU training loop and the backend dispatch of train.h. One
 * session owns everything a run needs (data, split, scaler, model, teacher,
 * optimizer, loaders, batch-sized buffers), all allocated before the first
 * epoch (train_session.c); a device backend (train_session.h) swaps in its
 * own epoch and evaluation loops and leaves the rest of the run to this
 * file, which reports through train_report.c. Invariant: nothing is
 * allocated per batch, and the loop state that changes between epochs
 * (step, epoch, early stopping, dropout RNG, optimizer and parameters) is
 * exactly what a checkpoint stores, so resuming is exact. */
#include "train.h"
#include "train_session.h"
#include "train_report.h"
#include "gemm.h"
#include "monotime.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void train_model_config(const train_config *c, int regression, int n_in, int n_out,
                        mlp_config *mc)
{
    mlp_config_default(mc);
    mc->n_in = n_in;
    mc->n_layers = c->hidden.n;
    mc->widths = c->hidden.v;
    mc->n_out = n_out;
    mc->act = (layers_act)c->activation;
    mc->leaky_slope = (float)c->leaky_slope;
    mc->batchnorm = c->batchnorm;
    mc->bn_momentum = (float)c->bn_momentum;
    mc->dropout = (float)c->dropout;
    mc->init = (mlp_init)c->init;
    mc->seed = (uint64_t)c->seed;
    mc->max_batch = c->batch_size;
    int mse = c->loss == CONFIG_LOSS_MSE || (c->loss == CONFIG_LOSS_AUTO && regression);
    int huber = c->loss == CONFIG_LOSS_HUBER, bce = c->loss == CONFIG_LOSS_BCE;
    mc->loss = bce ? MLP_LOSS_BCE : huber ? MLP_LOSS_HUBER : mse ? MLP_LOSS_MSE : MLP_LOSS_SOFTMAX_XENT;
    mc->label_smoothing = mse || huber || bce ? 0.0f : (float)c->label_smoothing;
    mc->huber_delta = (float)c->huber_delta;
    mc->distill_temperature = (float)c->distill_temperature;
    mc->distill_alpha = (float)c->distill_alpha;
}

typedef struct {
    session *s;
    loader *l;
    const loader_batch *b;
    int teach;           /* the teacher's soft targets of the rows too */
} fill_job;

/* The teacher's softened outputs for rows [lo, hi) of batch b, by teacher
 * model t, into s->tprobs. */
static void teach_rows(session *s, mlp *t, const loader_batch *b, size_t lo, size_t hi)
{
    int n = (int)(hi - lo), C = s->n_out;
    /* cannot fail: 1 <= n <= batch_size, the teacher's max_batch */
    int rc = mlp_forward(t, b->x + lo * s->ds.d, n, 0, NULL);
    assert(rc == KE_OK);
    (void)rc;
    mlp_softmax(s->tprobs + lo * (size_t)C, mlp_logits(t), n, C,
                (float)s->cfg->distill_temperature);
}

static void fill_rows(void *ctx, int thread, size_t lo, size_t hi)
{
    fill_job *f = ctx;
    loader_fill(f->l, f->b, lo, hi);
    if (f->teach) teach_rows(f->s, f->s->teachers[thread], f->b, lo, hi);
}

/* Makes batch b ready: with data parallelism each thread gathers the rows
 * it will train on (in its own cache, and with no third thread competing
 * for the cores) and runs the teacher on them; otherwise the prefetch
 * thread already gathered them. */
static void fill_batch(session *s, loader *l, const loader_batch *b)
{
    fill_job f = {s, l, b, s->teachers && l == s->train_l};
    if (s->dp) dp_rows(s->dp, (int)b->size, fill_rows, &f);
    else fill_rows(&f, 0, 0, b->size);
}

/* The loss target of one batch; with_teacher (a training batch) adds the
 * distillation term and the class weights. */
static int batch_target(session *s, const loader_batch *b, int with_teacher, mlp_target *t,
                        kerror *err)
{
    int B = (int)b->size, C = s->n_out;
    memset(t, 0, sizeof *t);
    t->labels = (const int *)b->y;
    t->targets = b->targets;
    if (s->onehot) {
        memset(s->onehot, 0, (size_t)B * (size_t)C * sizeof(float));
        for (int i = 0; i < B; i++) s->onehot[(size_t)i * (size_t)C + b->y[i]] = 1.0f;
        t->targets = s->onehot;
    }
    if (with_teacher) t->class_weight = s->class_weight;   /* training rows only */
    if (with_teacher && s->teacher) {
        if (!s->teachers) {   /* else fill_batch's threads have run it */
            int rc = mlp_forward(s->teacher, b->x, B, 0, err);
            if (rc) return rc;
            mlp_softmax(s->tprobs, mlp_logits(s->teacher), B, C,
                        (float)s->cfg->distill_temperature);
        }
        t->teacher_probs = s->tprobs;
    }
    return KE_OK;
}

/* Loss and, given labels (classification, with either loss), the rows
 * classified right of one evaluation batch; its outputs into outs (B, n_out). */
static int eval_batch(session *s, const float *x, const mlp_target *t, int B, float *loss,
                      int *right, float *outs, kerror *err)
{
    if (s->dp) return dp_eval_batch(s->dp, x, t, B, loss, right, outs, err);
    int rc = mlp_eval_batch(s->m, x, t, B, loss, NULL, err);
    if (rc) return rc;
    *right = t->labels ? mlp_count_correct(mlp_logits(s->m), t->labels, B, s->n_out) : 0;
    memcpy(outs, mlp_logits(s->m), (size_t)B * (size_t)s->n_out * sizeof(float));
    return KE_OK;
}

static int cpu_eval(session *s, loader *l, eval_result *r, kerror *err)
{
    double loss = 0;
    long correct = 0, n = 0;
    loader_batch b;
    loader_epoch_begin(l, 0);
    while (loader_next(l, &b)) {
        mlp_target t;
        float bl;
        int B = (int)b.size;
        int right = 0;
        fill_batch(s, l, &b);
        int rc = batch_target(s, &b, 0, &t, err);
        if (!rc) rc = eval_batch(s, b.x, &t, B, &bl, &right, s->outs + n * s->n_out, err);
        if (rc) return rc;
        correct += right;
        loss += (double)bl * B;
        n += B;
    }
    r->loss = loss / (double)n;
    r->accuracy = s->classification ? (double)correct / (double)n : 0;
    return KE_OK;
}

static int test_not_finite(const session *s, double loss, kerror *err);

/* One evaluation pass (val or test loader) with every metric of metrics.h:
 * the backend's loop, then the figures from the pass's outputs. */
static int eval_loader(session *s, loader *l, eval_result *r, kerror *err)
{
    int rc = s->dev ? s->dev->eval(s, l, r, err) : cpu_eval(s, l, r, err);
    if (rc) return rc;
    int test = l == s->test_l;
    if (test && !isfinite(r->loss)) return test_not_finite(s, r->loss, err);
    const size_t *idx = test ? s->sp.test : s->sp.val;
    size_t n = test ? s->sp.n_test : s->sp.n_val;
    r->confusion = s->confusion[test];
    if (!s->classification) {
        if (mlp_get_config(s->m)->loss == MLP_LOSS_BCE)   /* the predictions are s(z) */
            metrics_sigmoid(s->outs, s->outs, n * (size_t)s->n_out);
        metrics_regression(s->outs, s->ds.targets, idx, n, s->n_out, &r->m);
        return KE_OK;
    }
    return metrics_classification(s->outs, s->ds.y, idx, n, s->n_out, s->confusion[test], &r->m, err);
}

/* Inputs at least this large (in magnitude, as the model sees them) are
 * named as the likely cause of a first epoch's divergence: the first
 * layer's sums of such values overflow or swamp any step, whatever lr is. */
#define DIVERGE_HUGE_INPUT 1e6

/* The largest |feature| of rows idx[0, n) once scaled, its row's place in
 * idx in *at and its feature in *col; 0 when out of memory (a hint is then
 * left out). */
static double largest_input(const session *s, const size_t *idx, size_t n, size_t *at,
                            size_t *col)
{
    size_t d = s->ds.d;
    float *row = malloc((d ? d : 1) * sizeof *row);
    double big = 0;
    for (size_t i = 0; row && i < n; i++) {
        split_scaler_row(&s->sc, row, s->ds.x + idx[i] * d);
        for (size_t j = 0; j < d; j++)
            if (fabs(row[j]) > big) {
                big = fabs(row[j]);
                *at = i;
                *col = j;
            }
    }
    free(row);
    return big;
}

int train_diverged(const session *s, int validation, double v, long epoch, kerror *err)
{
    const char *what = validation ? "the validation loss" : "the train loss";
    size_t at = 0, col = 0;
    double big = epoch > 0 ? 0
                 : validation ? largest_input(s, s->sp.val, s->sp.n_val, &at, &col)
                              : largest_input(s, s->sp.train, s->sp.n_train, &at, &col);
    if (!(big >= DIVERGE_HUGE_INPUT))
        return kerror_set(err, KE_INVALID, "lr", "training diverged: %s is %g at epoch %ld", what,
                          v, epoch + 1);
    char where[160];
    dataset_feature_text(&s->ds, col, where, sizeof where);
    if (s->sc.kind == SPLIT_SCALE_NONE)
        return kerror_set(err, KE_INVALID, "scaling", "training diverged: %s is %g at epoch %ld; "
                          "the features are unscaled (scaling=none) and reach %g in %s: a "
                          "likelier cause than lr (scale them: scaling=standard, or rescale the "
                          "column)", what, v, epoch + 1, big, where);
    return kerror_set(err, KE_INVALID, "scaling", "training diverged: %s is %g at epoch %ld; the "
                      "%s rows' features reach %g once scaled (scaling=%s, fitted on the training "
                      "rows) in %s: a likelier cause than lr (an outlier beyond the training rows' "
                      "range? clip or remove it)", what, v, epoch + 1,
                      validation ? "validation" : "training", big,
                      s->sc.kind == SPLIT_SCALE_MINMAX ? "minmax" : "standard", where);
}

/* The test pass's loss was not finite. The test rows are seen by no
 * epoch: one far beyond the training rows' range (scaled by the scaler
 * fitted on them, or unscaled) overflows the network's sums only here,
 * after training, and the final line, whose JSON cannot hold a nan, lost
 * its test_loss without a word while the run succeeded. Names the first
 * test row whose outputs are not finite (else, the loss alone overflowing,
 * the test row of the largest input) and that row's largest input. */
static int test_not_finite(const session *s, double loss, kerror *err)
{
    size_t n = s->sp.n_test, C = (size_t)s->n_out, at = 0, col = 0, i, c = C;
    for (i = 0; i < n; i++) {
        for (c = 0; c < C && isfinite(s->outs[i * C + c]); c++) {}
        if (c < C) break;
    }
    if (i == n) {
        i = 0;
        largest_input(s, s->sp.test, n, &i, &col);
    }
    double big = largest_input(s, s->sp.test + i, 1, &at, &col);
    char what[96], where[160];
    if (c < C) snprintf(what, sizeof what, "row %zu's outputs are not finite (%g)",
                        s->sp.test[i] + 1, (double)s->outs[i * C + c]);
    else snprintf(what, sizeof what, "row %zu holds the test rows' largest input", s->sp.test[i] + 1);
    if (!(big >= DIVERGE_HUGE_INPUT))
        return kerror_set(err, KE_INVALID, "data", "the test loss is %g: %s", loss, what);
    int none = s->sc.kind == SPLIT_SCALE_NONE;
    return kerror_set(err, KE_INVALID, "data", "the test loss is %g: %s; its features reach %g "
                      "%s(scaling=%s%s) in %s: an outlier beyond the training rows' range? clip "
                      "or remove it (or leave the test part out: evaluate_test=false)", loss, what,
                      big, none ? "" : "once scaled ", train_config_enum_name("scaling", s->sc.kind),
                      none ? "" : ", fitted on the training rows",
                      dataset_feature_text(&s->ds, col, where, sizeof where));
}

double train_lr(const session *s, long step)
{
    double lr = schedule_lr(&s->sched, step);
    if (!s->st.plateau_cuts) return lr;
    double cut = lr * pow(s->cfg->plateau_factor, (double)s->st.plateau_cuts);
    /* min_lr bounds the cuts, not the schedule: where the schedule falls
     * below it by itself (a step decay, a warm-up's first steps) the rate
     * follows the schedule down, as Keras's ReduceLROnPlateau leaves a rate
     * already under min_lr; flooring at min_lr raised it above the
     * schedule's own rate */
    double floor = lr < s->cfg->min_lr ? lr : s->cfg->min_lr;
    return cut > floor ? cut : floor;
}

/* One optimizer step over the k accumulated batch gradients. */
static void apply_step(session *s, int k)
{
    float lr = (float)train_lr(s, s->st.step);
    if (s->dp) {
        dp_step(s->dp, &s->opt, k, lr);
    } else {
        float *g = mlp_grads(s->m);
        size_t n = mlp_n_params(s->m);
        if (k > 1)
            for (size_t i = 0; i < n; i++) g[i] /= (float)k;
        optim_step(&s->opt, mlp_params(s->m), g, lr);
    }
    s->st.step++;
}

/* Forward, loss and backward of one batch on one thread. */
static int cpu_batch(mlp *m, const float *x, const mlp_target *t, int B, int accumulate,
                     float *loss, kerror *err)
{
    int rc = mlp_forward(m, x, B, 1, err);
    if (rc) return rc;
    *loss = mlp_loss_forward_backward(m, t, B);
    mlp_backward(m, x, B, accumulate);
    return KE_OK;
}

static int train_epoch(session *s, long epoch, double *mean_loss, kerror *err)
{
    if (s->dev) return s->dev->train_epoch(s, epoch, mean_loss, err);
    double sum = 0;
    long rows = 0;
    int k = 0;
    loader_batch b;
    loader_epoch_begin(s->train_l, (uint64_t)epoch);
    while (loader_next(s->train_l, &b)) {
        mlp_target t;
        int B = (int)b.size;
        float loss;
        fill_batch(s, s->train_l, &b);
        int rc = batch_target(s, &b, 1, &t, err);
        if (!rc) rc = s->dp ? dp_train_batch(s->dp, b.x, &t, B, k > 0, &loss, err)
                            : cpu_batch(s->m, b.x, &t, B, k > 0, &loss, err);
        if (rc) return rc;
        if (!isfinite(loss)) return train_diverged(s, 0, loss, epoch, err);
        sum += (double)loss * B;
        rows += B;
        if (++k == s->cfg->accumulate) {
            apply_step(s, k);
            k = 0;
        }
    }
    if (k) apply_step(s, k);
    *mean_loss = sum / (double)rows;
    return KE_OK;
}

/* Reduce on plateau after an epoch (Keras's ReduceLROnPlateau, its gain
 * the early-stopping one): in cooldown count it down; a gain resets the
 * wait; otherwise, out of cooldown, plateau_patience epochs without gain cut
 * the rate (unless it is at min_lr already) and start the cooldown. */
static void plateau(session *s, int gain)
{
    const train_config *c = s->cfg;
    checkpoint_state *st = &s->st;
    if (!c->plateau_patience) return;
    int cooling = st->plateau_cooldown > 0;
    if (cooling) {
        st->plateau_cooldown--;
        st->plateau_wait = 0;
    }
    if (gain) {
        st->plateau_wait = 0;
    } else if (!cooling && ++st->plateau_wait >= c->plateau_patience) {
        if (train_lr(s, st->step) > c->min_lr) st->plateau_cuts++;
        st->plateau_cooldown = c->plateau_cooldown;
        st->plateau_wait = 0;
    }
}

/* Early stopping on val_loss: a gain is a decrease by more than min_delta.
 * With restore_best a gain copies the weights (once per improving epoch:
 * a copy of the model, nothing per batch). */
static int track_best(session *s, long epoch, const eval_result *v, kerror *err)
{
    checkpoint_state *st = &s->st;
    int gain = v->loss < st->best_val_loss - s->cfg->min_delta;
    plateau(s, gain);
    if (gain) {
        st->best_val_loss = v->loss;
        st->best_val_accuracy = v->accuracy;
        st->best_epoch = epoch + 1;
        st->bad_epochs = 0;
        int rc = s->best && s->dev ? s->dev->get_model(s, err) : KE_OK;
        if (rc) return rc;
        if (s->best) memcpy(s->best, mlp_params(s->m), mlp_n_state(s->m) * sizeof(float));
    } else {
        st->bad_epochs++;
    }
    int patience = s->cfg->early_stopping_patience;
    st->stopped = patience > 0 && st->bad_epochs >= patience;
    return KE_OK;
}

/* restore_best at the end of a run: the best epoch's weights become the
 * model (on the device too) and its validation metrics the final ones: one
 * more validation pass for the figures the checkpoint does not store, with
 * the loss and accuracy the best epoch reported. */
static int restore_best(session *s, eval_result *v, kerror *err)
{
    int moved = s->st.best_epoch != s->st.epoch, rc = KE_OK;
    if (moved) {
        memcpy(mlp_params(s->m), s->best, mlp_n_state(s->m) * sizeof(float));
        rc = s->dev ? s->dev->set_model(s, err) : KE_OK;
    }
    if (!rc && (moved || isnan(v->loss))) rc = eval_loader(s, s->val_l, v, err);
    v->loss = s->st.best_val_loss;
    v->accuracy = s->st.best_val_accuracy;
    return rc;
}

/* Saves the run's state to its checkpoint file. */
static int save_state(session *s, kerror *err)
{
    checkpoint_extra x = {s->best, &s->sc, !s->classification, &s->ds.categories,
                          &s->ds.names};
    return checkpoint_save(s->cfg->checkpoint, s->cfg, s->m, &s->opt, &s->st, &x, err);
}

/* The epochs from s->st.epoch to the budget; *last_val gets the last
 * epoch's validation metrics (untouched when no epoch runs). */
static int run_epochs(session *s, eval_result *last_val, train_report_fn report, void *ctx,
                      kerror *err)
{
    const train_config *c = s->cfg;
    long limit = c->budget ? c->budget : c->epochs, start = s->st.epoch;
    for (long epoch = s->st.epoch; epoch < limit && !s->st.stopped; epoch++) {
        double t0 = monotime_s(), train_loss = 0;
        long first_step = s->st.step;
        int rc = train_epoch(s, epoch, &train_loss, err);
        if (rc) return rc;
        double t1 = monotime_s();
        eval_result v;
        if ((rc = eval_loader(s, s->val_l, &v, err))) return rc;
        if (!isfinite(v.loss)) return train_diverged(s, 1, v.loss, epoch, err);
        *last_val = v;
        double lr[2] = {train_lr(s, first_step),
                        train_lr(s, s->st.step > first_step ? s->st.step - 1 : first_step)};
        if ((rc = track_best(s, epoch, &v, err))) return rc;
        s->st.epoch = epoch + 1;
        int last = epoch + 1 == limit || s->st.stopped;
        int save = c->checkpoint[0] &&
                   (last || (c->checkpoint_every && s->st.epoch % c->checkpoint_every == 0));
        if (save && s->dev && (rc = s->dev->sync(s, err))) return rc;
        mlp_rng_get(s->m, s->st.dropout_rng);
        if (save && (rc = save_state(s, err))) return rc;
        if ((s->st.epoch % c->report_every == 0 || last) &&
            (rc = train_report_epoch(s, epoch, train_loss, lr, &v, monotime_s() - t0, t1 - t0, report,
                                     ctx, err)))
            return rc;
    }
    /* a resumed run with nothing left to train (stopped early, or at its
     * budget already) still leaves its checkpoint: a promotion of it, or an
     * export of its model, reads this file, not the one it resumed from */
    return s->st.epoch == start && c->checkpoint[0] ? save_state(s, err) : KE_OK;
}

/* One training run (fold < 0: plain split) into res. */
static int run_single(const train_config *c, const train_device_ops *dev, int fold,
                      train_report_fn report, void *ctx, train_result *res, kerror *err)
{
    session s;
    int rc = train_session_open(&s, c, dev, fold, err);
    eval_result v = {.loss = NAN}, t = {.loss = 0};
    if (!rc) rc = run_epochs(&s, &v, fold < 0 ? report : NULL, ctx, err);
    /* the last epoch's validation pass is the final one: the model has not
     * changed since; only a resume at its budget runs none. restore_best
     * ends on the best epoch's weights, whose validation pass is stored. */
    if (!rc && s.best && s.st.best_epoch > 0) rc = restore_best(&s, &v, err);
    else if (!rc && isnan(v.loss)) rc = eval_loader(&s, s.val_l, &v, err);
    if (!rc && s.test_l) rc = eval_loader(&s, s.test_l, &t, err);
    if (!rc) {
        memset(res, 0, sizeof *res);
        res->classification = s.classification;
        res->epochs = (int)s.st.epoch;
        res->stopped_early = (int)s.st.stopped;
        res->has_test = s.test_l != NULL;
        res->val_loss = v.loss;
        res->val_accuracy = v.accuracy;
        res->test_loss = t.loss;
        res->test_accuracy = t.accuracy;
        res->best_val_loss = s.st.best_val_loss;
        res->best_epoch = (int)s.st.best_epoch;
        res->n_out = s.n_out;
        res->val_metrics = v.m;
        res->test_metrics = t.m;
        res->has_confusion = v.confusion != NULL;
        size_t cm = (size_t)s.n_out * (size_t)s.n_out * sizeof(long);
        if (v.confusion) memcpy(res->val_confusion, v.confusion, cm);
        if (t.confusion) memcpy(res->test_confusion, t.confusion, cm);
        if ((res->kfold_thin_rows = (long)s.sp.thin_rows)) {
            size_t k = s.sp.thin_class;
            if (k < s.ds.names.n_classes && s.ds.names.classes)
                snprintf(res->kfold_thin_class, sizeof res->kfold_thin_class, "%s",
                         s.ds.names.classes[k]);
            else
                snprintf(res->kfold_thin_class, sizeof res->kfold_thin_class, "%zu", k);
        }
    }
    train_session_free(&s);
    return rc;
}

static void mean_std(const double *x, int n, double *mean, double *std)
{
    double m = 0, v = 0;
    for (int i = 0; i < n; i++) m += x[i];
    m /= n;
    for (int i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
    *mean = m;
    *std = sqrt(v / n);   /* population std (ddof 0), as scikit-learn reports CV spread */
}

/* k-fold: one run per fold; res gets the means (test too) and the spreads. */
static int run_kfold(const train_config *c, const train_device_ops *dev, train_report_fn report,
                     void *ctx, train_result *res, kerror *err)
{
    int k = c->kfold;
    double loss[50], acc[50], tl = 0, ta = 0;
    metrics_result vm = {0}, tm = {0};
    train_result r;
    memset(&r, 0, sizeof r);
    int most = 0;   /* epochs of the longest fold: early stopping ends each on its own */
    for (int f = 0; f < k; f++) {
        int rc = run_single(c, dev, f, report, ctx, &r, err);
        if (rc) return rc;
        if (r.epochs > most) most = r.epochs;
        loss[f] = r.val_loss;
        acc[f] = r.val_accuracy;
        tl += r.test_loss / k;
        ta += r.test_accuracy / k;
        metrics_accumulate(&vm, &r.val_metrics, 1.0 / k);
        metrics_accumulate(&tm, &r.test_metrics, 1.0 / k);
        if ((rc = train_report_fold(f, &r, report, ctx, err))) return rc;
    }
    *res = r;
    res->kfold = k;
    res->best_val_loss = INFINITY;   /* per fold; the folds' spread says more */
    res->best_epoch = 0;
    res->stopped_early = 0;
    res->epochs = most;
    mean_std(loss, k, &res->cv_val_loss_mean, &res->cv_val_loss_std);
    mean_std(acc, k, &res->cv_val_accuracy_mean, &res->cv_val_accuracy_std);
    res->val_loss = res->cv_val_loss_mean;
    res->val_accuracy = res->cv_val_accuracy_mean;
    res->test_loss = tl;
    res->test_accuracy = ta;
    res->val_metrics = vm;
    res->test_metrics = tm;
    return KE_OK;
}

int train_run_device(const train_config *cfg, const train_device_ops *dev,
                     train_report_fn report, void *ctx, train_result *res, kerror *err)
{
    int rc = train_config_validate(cfg, err);
    if (rc) return rc;
    /* data-parallel threads each run single-threaded products (gemm.c) */
    gemm_blas_threads(!dev && train_config_data_parallel(cfg) ? 1 : cfg->threads);
    train_result r;
    rc = cfg->kfold ? run_kfold(cfg, dev, report, ctx, &r, err)
                    : run_single(cfg, dev, -1, report, ctx, &r, err);
    if (!rc) rc = train_report_final(&r, report, ctx, err);
    if (!rc && res) *res = r;
    return rc;
}

int train_run_cpu(const train_config *cfg, train_report_fn report, void *ctx,
                  train_result *res, kerror *err)
{
    if (cfg->precision != CONFIG_PRECISION_FP32)
        return kerror_set(err, KE_INVALID, "precision", "%s needs device=cuda (the CPU trainer is fp32)",
                          train_config_enum_name("precision", cfg->precision));
    return train_run_device(cfg, NULL, report, ctx, res, err);
}

int train_run(const train_config *cfg, train_report_fn report, void *ctx,
              train_result *res, kerror *err)
{
#ifdef HAVE_CUDA
    if (cfg->device == CONFIG_DEVICE_CUDA ||
        (cfg->device == CONFIG_DEVICE_AUTO && train_cuda_devices(NULL, 0) > 0))
        return train_run_cuda(cfg, report, ctx, res, err);
#else
    if (cfg->device == CONFIG_DEVICE_CUDA)
        return kerror_set(err, KE_INVALID, "device", "not built with CUDA");
#endif
    return train_run_cpu(cfg, report, ctx, res, err);
}
