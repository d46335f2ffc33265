/* train_session: builds a session (train_session.h) before a run's first
 * epoch: data, split, scaler, class weights, model, optimizer, loaders,
 * schedule, teacher(s), a resumed checkpoint's state, data parallelism and
 * the device backend's open; and frees it. Invariant: everything a run
 * needs is allocated here, none of it per batch or epoch (train.c's loops
 * only use what the session holds). */
#include "train_session.h"
#include "dscache.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_regression(const train_config *c)
{
    return c->task == CONFIG_TASK_REGRESSION ||
           (c->task == CONFIG_TASK_AUTO && strcmp(c->data, "synthetic-regression") == 0);
}

/* The scaler of the training part. A fit depends only on the data and the
 * split, the same for every trial of a study, and costs a cold pass over
 * the training rows, so it is kept beside the dataset cache and read back
 * (the same floats). */
static int fit_scaler(session *s, const split_opts *so, int fold, kerror *err)
{
    const train_config *c = s->cfg;
    const char *dir = c->cache_dir[0] ? c->cache_dir : NULL;
    split_scaling kind = (split_scaling)c->scaling;
    char recipe[256];
    /* v2: a k-fold split under max_train trains on other rows than v1's;
     * v3: a v2 fit may be of a column whose x - shift overflows float,
     * which split_scaler_fit now refuses */
    snprintf(recipe, sizeof recipe, "scaler v3 kind=%d val=%.17g test=%.17g seed=%" PRIu64
             " max_train=%zu kfold=%d fold=%d%s", (int)kind, so->val_ratio, so->test_ratio, so->seed,
             so->max_train, c->kfold, fold, so->stratify ? " stratified" : "");
    size_t d = s->ds.d;
    int rc = split_scaler_alloc(&s->sc, kind, d, err);
    if (rc) return rc;
    if (dscache_side_read(dir, &s->ds, recipe, s->sc.shift, 2 * d * sizeof(float)) == 0)
        return KE_OK;
    split_scaler_free(&s->sc);
    rc = split_scaler_fit(&s->sc, kind, &s->ds, s->sp.train, s->sp.n_train, err);
    if (!rc) dscache_side_write(dir, &s->ds, recipe, s->sc.shift, 2 * d * sizeof(float));
    return rc;
}

/* class_weight=balanced: w_c = n / (C n_c) over the training part's rows
 * (sklearn's compute_class_weight("balanced")); a class with no training
 * row gets 0. */
static int balance(session *s, kerror *err)
{
    if (!s->classification)
        return kerror_set(err, KE_INVALID, "class_weight", "the data is a regression task");
    size_t C = (size_t)s->n_out, n = s->sp.n_train;
    if (!(s->class_weight = calloc(C, sizeof(float))))
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    long *count = calloc(C, sizeof *count);
    if (!count) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) count[s->ds.y[s->sp.train[i]]]++;
    for (size_t c = 0; c < C; c++)
        s->class_weight[c] = count[c] ? (float)((double)n / ((double)C * (double)count[c])) : 0.0f;
    free(count);
    return KE_OK;
}

/* val_ratio's floor(val_ratio x pool) rows were none: what would make one
 * (1 / pool rounded up in its third decimal; at most val_ratio's 0.9). */
static int empty_validation(double val_ratio, size_t pool, kerror *err)
{
    double need = ceil(1000.0 / (double)pool) / 1000.0;
    const char *rows = pool == 1 ? "row" : "rows";
    if (need > 0.9)
        return kerror_set(err, KE_INVALID, "val_ratio", "the %zu %s left after the test part %s "
                          "too few to hold out a validation row: lower test_ratio or add rows",
                          pool, rows, pool == 1 ? "is" : "are");
    return kerror_set(err, KE_INVALID, "val_ratio", "%g of the %zu %s left after the test part "
                      "is no row: raise val_ratio to at least %g", val_ratio, pool, rows, need);
}

static int load_data(session *s, int fold, kerror *err)
{
    const train_config *c = s->cfg;
    dataset_opts o;
    dataset_opts_init(&o);
    o.source = c->data;
    o.dir = c->data_dir[0] ? c->data_dir : NULL;
    o.label_column = c->label_column[0] ? c->label_column : NULL;
    o.categorical = c->categorical;
    o.csv_task = c->task == CONFIG_TASK_AUTO ? DATASET_AUTO
                 : s->classification ? DATASET_CLASSIFICATION : DATASET_REGRESSION;
    o.synth_n = (size_t)c->synthetic_samples;
    o.synth_d = (size_t)c->synthetic_features;
    o.synth_classes = (size_t)c->synthetic_classes;
    o.synth_targets = (size_t)c->synthetic_targets;
    o.synth_noise = c->synthetic_noise;
    o.seed = (uint64_t)c->data_seed;
    o.cache_dir = c->cache_dir[0] ? c->cache_dir : NULL;
    int rc = dataset_load(&o, &s->ds, err);
    if (rc) return rc;
    /* task=auto: a CSV's label column says which (dataset.h's DATASET_AUTO) */
    if (c->task == CONFIG_TASK_AUTO) s->classification = s->ds.task == DATASET_CLASSIFICATION;
    if ((s->ds.task == DATASET_CLASSIFICATION) != s->classification)
        return kerror_set(err, KE_INVALID, "task", "the data is a %s task",
                          s->classification ? "regression" : "classification");
    /* a sigmoid's cross-entropy against a target outside [0, 1] trains to
     * nonsense (negative losses) without failing */
    if (!s->classification && c->loss == CONFIG_LOSS_BCE)
        for (size_t i = 0; i < s->ds.n * s->ds.t; i++)
            if (!(s->ds.targets[i] >= 0 && s->ds.targets[i] <= 1))
                return kerror_set(err, KE_INVALID, "loss", "bce needs targets in [0, 1]; row %zu "
                                  "has %g (use mse or huber)", i / s->ds.t + 1,
                                  (double)s->ds.targets[i]);
    split_opts so;
    split_opts_init(&so);
    so.val_ratio = c->val_ratio;
    so.test_ratio = c->test_ratio;
    so.seed = (uint64_t)c->data_seed;
    so.max_train = (size_t)c->max_train;
    so.stratify = c->stratify;
    rc = fold < 0 ? split_make(&s->ds, &so, &s->sp, err)
                  : split_kfold(&s->ds, &so, (size_t)c->kfold, (size_t)fold, &s->sp, err);
    if (rc) return rc;
    if (s->sp.n_val == 0) return empty_validation(c->val_ratio, s->ds.n - s->sp.n_test, err);
    if ((rc = fit_scaler(s, &so, fold, err))) return rc;
    s->n_out = (int)dataset_out_dim(&s->ds);
    return c->class_weight ? balance(s, err) : KE_OK;
}

/* A teacher's error names the option; one about the file (checkpoint.c
 * puts its name where the option goes) keeps the name in the text. */
static int teacher_error(int rc, const char *file, kerror *err)
{
    if (!rc || !err) return rc;
    size_t fl = strlen(file), ml = strlen(err->msg);
    if (!strcmp(err->path, file) && fl + 2 + ml < sizeof err->msg) {
        memmove(err->msg + fl + 2, err->msg, ml + 1);
        memcpy(err->msg, file, fl);
        memcpy(err->msg + fl, ": ", 2);
    }
    snprintf(err->path, sizeof err->path, "teacher");
    return rc;
}

/* Whether the model of ck (who: "the teacher", "the checkpoint"; path: the
 * option that named it) was made for this run's data: its inputs, outputs
 * and task, in the data's terms (the parameter counts that differ after
 * would not say which; a version 1 file, without its shape, meets only
 * that check), then its columns and classes by name (a file of version 4
 * or older has none), then its one-hot columns' categories. */
static int fits_the_data(const session *s, const checkpoint *ck, const char *path,
                         const char *who, kerror *err)
{
    int in, out, regression, rc = KE_OK;
    kerror serr;
    if (checkpoint_shape(ck, &in, &out, &regression, &serr) == KE_OK &&
        (in != (int)s->ds.d || out != s->n_out || regression != !s->classification))
        rc = kerror_set(err, KE_CONFLICT, path, "%s takes %d inputs to %d %s; this run's data "
                        "has %d inputs and %d %s", who, in, out, regression ? "targets" : "classes",
                        (int)s->ds.d, s->n_out, s->classification ? "classes" : "targets");
    dsnames names = {0};
    if (!rc && !(rc = checkpoint_names(ck, &names, err)))
        rc = dsnames_check_same(&names, &s->ds.names, path, who, err);
    dsnames_free(&names);
    /* a one-hot column of as many categories but other ones: the same
     * width, each input another category's */
    onehot cats = {0};
    if (!rc && !(rc = checkpoint_categories(ck, &cats, err)))
        rc = onehot_check_same(&cats, &s->ds.categories, path, who, err);
    onehot_free(&cats);
    return rc;
}

static int load_teacher(session *s, kerror *err)
{
    checkpoint *ck;
    int rc = checkpoint_read(&ck, s->cfg->teacher, err);
    if (rc) return teacher_error(rc, s->cfg->teacher, err);
    train_config tc;
    mlp_config mc;
    if (!(rc = checkpoint_config(ck, &tc, err)) && tc.scaling != s->cfg->scaling)
        /* the teacher reads the student's scaled rows: another scaling
         * feeds it inputs it was never trained on (0.68 test accuracy
         * instead of 0.82 on Fashion-MNIST, with no error) */
        rc = kerror_set(err, KE_CONFLICT, "scaling", "the teacher was trained with scaling=%s, "
                        "this run uses %s", train_config_enum_name("scaling", tc.scaling),
                        train_config_enum_name("scaling", s->cfg->scaling));
    /* the student takes softmax(z / T) of the teacher's outputs, which are
     * the teacher's class probabilities (at T = 1) only where it was trained
     * through a softmax: an mse or huber teacher's outputs are regressed
     * one-hot rows, and a bce teacher's are one sigmoid logit per class,
     * whose softmax weighs each class by its odds s / (1 - s) (sigmoids
     * 0.9, 0.5, 0.1 give 0.89, 0.10, 0.01, not 0.6, 0.33, 0.07): either
     * way a distribution the teacher never learned */
    if (!rc && tc.loss != CONFIG_LOSS_CROSS_ENTROPY && tc.loss != CONFIG_LOSS_AUTO)
        rc = kerror_set(err, KE_CONFLICT, "teacher", "the teacher was trained with loss=%s: %s "
                        "(a teacher needs loss=cross_entropy or auto)",
                        train_config_enum_name("loss", tc.loss),
                        tc.loss == CONFIG_LOSS_BCE ? "its outputs are one sigmoid per class, "
                        "whose softmax is not its class probabilities" : "its outputs are no "
                        "logits to distil");
    /* the teacher reads the student's rows as its own columns and scores
     * its own classes: another order or other labels teach nonsense */
    if (!rc) rc = fits_the_data(s, ck, "teacher", "the teacher", err);
    if (!rc) {
        train_model_config(&tc, !s->classification, (int)s->ds.d, s->n_out, &mc);
        mc.max_batch = s->cfg->batch_size;
        rc = mlp_create(&s->teacher, &mc, err);
    }
    if (!rc) rc = checkpoint_restore_final(ck, s->teacher, err);
    checkpoint_free(ck);
    return teacher_error(rc, s->cfg->teacher, err);
}

static int make_loaders(session *s, kerror *err)
{
    const train_config *c = s->cfg;
    const dataset *ds = &s->ds;
    int image = ds->h && ds->w && ds->c && ds->h * ds->w * ds->c == ds->d;
    if (!image && (c->augment_shift || c->augment_flip > 0))
        return kerror_set(err, KE_INVALID, c->augment_shift ? "augment_shift" : "augment_flip",
                          "needs images; this data has no image geometry (augment_noise works "
                          "on any data)");
    loader_aug aug;
    loader_aug_init(&aug);
    aug.shift_px = (size_t)c->augment_shift;
    aug.flip_p = c->augment_flip;
    aug.noise_std = c->augment_noise;
    aug.clamp01 = c->scaling == SPLIT_SCALE_NONE;
    size_t bs = (size_t)c->batch_size;
    uint64_t seed = (uint64_t)c->seed;
    int pf = !s->shard_fill;
    const split_scaler *sc = &s->sc;
    int rc = loader_create(&s->train_l, &s->ds, s->sp.train, s->sp.n_train, bs, seed, 1, &aug, sc,
                           pf, err);
    if (!rc) rc = loader_create(&s->val_l, &s->ds, s->sp.val, s->sp.n_val, bs, seed, 0, NULL, sc, pf,
                                err);
    if (!rc && s->sp.n_test && c->evaluate_test)
        rc = loader_create(&s->test_l, &s->ds, s->sp.test, s->sp.n_test, bs, seed, 0, NULL, sc, pf,
                           err);
    return rc;
}

static void fill_schedule(session *s)
{
    const train_config *c = s->cfg;
    schedule *sc = &s->sched;
    memset(sc, 0, sizeof *sc);
    sc->kind = (schedule_kind)c->schedule;
    sc->lr = c->lr;
    sc->min_lr = c->min_lr;
    sc->gamma = c->gamma;
    sc->decay = c->decay;
    sc->step_size = c->step_size;
    sc->n_milestones = c->milestones.n < SCHEDULE_MAX_MILESTONES ? c->milestones.n
                                                                  : SCHEDULE_MAX_MILESTONES;
    memcpy(sc->milestones, c->milestones.v, (size_t)sc->n_milestones * sizeof(int));
    sc->pct_start = c->pct_start;
    sc->div_factor = c->div_factor;
    sc->final_div_factor = c->final_div_factor;
    sc->restart_period = c->restart_period;
    sc->restart_mult = c->restart_mult;
    sc->warmup_steps = c->warmup_steps;
    sc->warmup_start = c->warmup_start;
    long batches = (long)loader_batches(s->train_l);
    sc->steps_per_epoch = (batches + c->accumulate - 1) / c->accumulate;
    sc->total_steps = sc->steps_per_epoch * c->epochs;
}

/* Early stopping that ends on the best epoch's weights keeps a copy of them. */
static int keeps_best(const train_config *c)
{
    return c->early_stopping_patience > 0 && c->restore_best;
}

static int build(session *s, kerror *err)
{
    const train_config *c = s->cfg;
    mlp_config mc;
    train_model_config(c, !s->classification, (int)s->ds.d, s->n_out, &mc);
    s->mse = mc.loss != MLP_LOSS_SOFTMAX_XENT;
    int rc = mlp_create(&s->m, &mc, err);
    if (rc) return rc;
    optim_config oc;
    optim_config_default(&oc);
    oc.kind = (optim_kind)c->optimizer;
    oc.momentum = (float)c->momentum;
    oc.beta1 = (float)c->beta1;
    oc.beta2 = (float)c->beta2;
    oc.eps = (float)c->eps;
    oc.rho = (float)c->rho;
    oc.weight_decay = (float)c->weight_decay;
    oc.l1 = (float)c->l1;
    oc.l2 = (float)c->l2;
    oc.clip_value = (float)c->clip_value;
    oc.clip_norm = (float)c->clip_norm;
    oc.agc = (float)c->agc;
    int nt;
    const mlp_tensor *t = mlp_tensors(s->m, &nt);
    if ((rc = optim_init(&s->opt, &oc, mlp_n_params(s->m), t, nt, err))) return rc;
    if ((rc = make_loaders(s, err))) return rc;
    fill_schedule(s);
    if ((rc = schedule_check(&s->sched, err))) return rc;
    size_t buf = (size_t)c->batch_size * (size_t)s->n_out;
    if (s->classification && s->mse && !(s->onehot = calloc(buf, sizeof(float))))
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (c->teacher[0]) {
        if (!(s->tprobs = malloc(buf * sizeof(float))))
            return kerror_set(err, KE_NOMEM, NULL, "out of memory");
        if ((rc = load_teacher(s, err))) return rc;
    }
    if (keeps_best(c) && !(s->best = malloc(mlp_n_state(s->m) * sizeof(float))))
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    /* an evaluation pass's outputs: the test part's only when it is evaluated */
    size_t rows = s->test_l && s->sp.n_test > s->sp.n_val ? s->sp.n_test : s->sp.n_val;
    size_t C = (size_t)s->n_out;
    if (!(s->outs = malloc(rows * C * sizeof(float))))
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    for (int i = 0; i < 2 && s->classification && C <= METRICS_CONFUSION_MAX; i++)
        if (!(s->confusion[i] = malloc(C * C * sizeof(long))))
            return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    s->st.best_val_loss = INFINITY;
    mlp_rng_get(s->m, s->st.dropout_rng);
    return KE_OK;
}

static int resume(session *s, kerror *err)
{
    checkpoint *ck;
    int rc = checkpoint_read(&ck, s->cfg->resume, err);
    if (rc) return rc;
    /* the config (the data's path included) is the same, but the file may
     * have been written again: its columns in another order, or other
     * labels, would be read by weights trained on the old ones */
    if (!(rc = checkpoint_check_config(ck, s->cfg, err)) &&
        !(rc = fits_the_data(s, ck, "resume", "the checkpoint", err)) &&
        !(rc = checkpoint_restore_model(ck, s->m, err)) &&
        !(rc = checkpoint_restore_optim(ck, &s->opt, err)))
        s->st = *checkpoint_get_state(ck);
    const float *best = checkpoint_best(ck);
    if (!rc && s->best && s->st.best_epoch > 0 && !best)
        rc = kerror_set(err, KE_CONFLICT, "restore_best", "the checkpoint keeps no best epoch's "
                        "weights (an older Kestrel wrote it): resume with restore_best=false");
    if (!rc && s->best && best) memcpy(s->best, best, mlp_n_state(s->m) * sizeof(float));
    checkpoint_free(ck);
    return rc;
}

/* One teacher model per data-parallel thread, so each runs the teacher on
 * the rows it gathers. */
static int teacher_replicas(session *s, kerror *err)
{
    int n = s->cfg->threads;
    if (!(s->teachers = calloc((size_t)n, sizeof *s->teachers)))
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    s->teachers[0] = s->teacher;
    for (int i = 1; i < n; i++) {
        int rc = mlp_replica(&s->teachers[i], s->teacher, err);
        if (rc) return rc;
    }
    return KE_OK;
}

void train_session_free(session *s)
{
    if (s->dev) s->dev->close(s);
    dp_free(s->dp);
    for (int i = 1; s->teachers && i < s->cfg->threads; i++) mlp_free(s->teachers[i]);
    free(s->teachers);
    loader_free(s->train_l);
    loader_free(s->val_l);
    loader_free(s->test_l);
    optim_free(&s->opt);
    mlp_free(s->m);
    mlp_free(s->teacher);
    free(s->onehot);
    free(s->tprobs);
    free(s->best);
    free(s->class_weight);
    free(s->outs);
    free(s->confusion[0]);
    free(s->confusion[1]);
    split_scaler_free(&s->sc);
    split_free(&s->sp);
    dataset_free(&s->ds);
}

int train_session_open(session *s, const train_config *c, const train_device_ops *dev, int fold,
                       kerror *err)
{
    memset(s, 0, sizeof *s);
    s->cfg = c;
    s->classification = !is_regression(c);
    s->shard_fill = !dev && train_config_data_parallel(c);
    int rc = c->checkpoint[0] ? checkpoint_check_writable(c->checkpoint, err) : KE_OK;
    if (!rc) rc = load_data(s, fold, err);
    if (!rc) rc = build(s, err);
    if (!rc && c->resume[0]) rc = resume(s, err);
    if (!rc && !dev && train_config_data_parallel(c)) rc = dp_create(&s->dp, s->m, c->threads, err);
    if (!rc && s->dp && s->teacher) rc = teacher_replicas(s, err);
    if (!rc && dev) {
        s->dev = dev;
        rc = dev->open(s, err);
    }
    return rc;
}
