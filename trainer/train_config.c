/* config: the option table and the one parser every input path goes through
 * (defaults, --set text, JSON values). Invariant: a field is only ever written
 * by set_value after its range or choice check passed, so train_config never
 * holds an out-of-range value; enum choice arrays list names in the order of
 * the enum they stand for (optim_kind, schedule_kind, layers_act, ...). */
#include "train_config.h"
#include "dataset.h"
#include "mlp.h"
#include "optim.h"
#include "schedule.h"
#include "../common/nearest.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OFF(f) offsetof(train_config, f)
#define BIG 1e30
#define IMAX 2147483647.0

static const char *const task_names[] = {"auto", "classification", "regression", NULL};
static const char *const scaling_names[] = {"none", "standard", "minmax", NULL};
static const char *const act_names[] = {"relu", "leaky_relu", "tanh", "sigmoid", "gelu", NULL};
static const char *const init_names[] = {"xavier_uniform", "xavier_normal", "he_uniform",
                                         "he_normal", NULL};
static const char *const loss_names[] = {"auto", "cross_entropy", "mse", "huber", "bce", NULL};
static const char *const class_weight_names[] = {"none", "balanced", NULL};
static const char *const optim_names[] = {"sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                          "adam", "adamw", NULL};
static const char *const sched_names[] = {"constant", "step", "multistep", "exponential",
                                          "inverse_time", "linear", "cosine", "one_cycle",
                                          "cosine_restarts", NULL};
static const char *const device_names[] = {"cpu", "cuda", "auto", NULL};
static const char *const precision_names[] = {"fp32", "bf16", "fp16", NULL};
static const char *const parallel_names[] = {"blas", "data", "auto", NULL};
static const char *const graphs_names[] = {"auto", "on", "off", NULL};

#define I(n, d, lo, hi, h) {#n, CONFIG_INT, OFF(n), d, lo, hi, 0, NULL, h, NULL, 0}
/* an int refusing one value inside its range: gap, broken rule */
#define IG(n, d, lo, hi, g, rule, h) {#n, CONFIG_INT, OFF(n), d, lo, hi, 0, NULL, h, rule, g}
#define F(n, d, lo, hi, h) {#n, CONFIG_FLOAT, OFF(n), d, lo, hi, 0, NULL, h, NULL, 0}
#define FO(n, d, lo, hi, h) {#n, CONFIG_FLOAT, OFF(n), d, lo, hi, 1, NULL, h, NULL, 0}
#define B(n, d, h) {#n, CONFIG_BOOL, OFF(n), d, 0, 1, 0, NULL, h, NULL, 0}
#define S(n, d, h) {#n, CONFIG_STRING, OFF(n), d, 0, 0, 0, NULL, h, NULL, 0}
#define E(n, d, c, h) {#n, CONFIG_ENUM, OFF(n), d, 0, 0, 0, c, h, NULL, 0}
#define L(n, d, lo, hi, h) {#n, CONFIG_INT_LIST, OFF(n), d, lo, hi, 0, NULL, h, NULL, 0}

const train_config_option train_config_options[] = {
    S(data, "fashion-mnist",
      "fashion-mnist | mnist | csv:PATH | synthetic-classification | synthetic-regression"),
    S(data_dir, "", "directory of the IDX files of fashion-mnist and mnist (empty: the source's "
      "default; a warning with other data)"),
    S(label_column, "", "CSV label column name (empty: the last column); needs data=csv:PATH"),
    S(categorical, "", "CSV columns to one-hot encode: comma-separated names, or auto (every column "
      "with a value that is neither a number nor missing); the training file's distinct values, "
      "sorted, are the categories, stored in the model; a value training never saw is an error "
      "in predict and evaluate (empty: none; a non-numeric value is an error)"),
    E(task, "auto", task_names, "auto: regression for synthetic-regression and for a CSV label column of fractional numbers (or with over half its 100+ values distinct), else classification"),
    I(data_seed, "1", 0, IMAX, "seed of synthetic data and of the train/val/test split"),
    I(synthetic_samples, "2000", 10, 1e8, "synthetic data: samples"),
    I(synthetic_features, "16", 1, 1e5, "synthetic data: features"),
    I(synthetic_classes, "4", 2, 1000, "synthetic classification: classes"),
    I(synthetic_targets, "1", 1, 1000, "synthetic regression: targets per sample"),
    F(synthetic_noise, "0.1", 0, 100, "synthetic regression: target noise std"),
    I(max_train, "0", 0, 1e9, "keep at most this many training rows (0: all); with kfold the "
      "folds are cut from max_train x k / (k - 1) rows of the pool, so each fold trains on at "
      "most max_train and validates on its share of them"),
    F(val_ratio, "0.1", 0, 0.9, "share of the training pool held out for validation (ignored with kfold, with a warning if set)"),
    F(test_ratio, "0.1", 0, 0.9, "share held out for test (ignored with an official test set)"),
    IG(kfold, "0", 0, 50, 1, "0 (off) or >= 2", "k-fold cross-validation folds (0: off, else >= 2); a class with "
      "fewer rows than folds is named in a warning at the run's end"),
    B(stratify, "false", "classification: keep each class's share in the validation, test and "
      "training parts and in every k-fold fold (sklearn's stratify=y); a class with fewer rows "
      "than folds is named in a warning at the run's end"),
    E(scaling, "standard", scaling_names, "feature scaling fitted on the training rows; a column whose x - shift (min, or mean) would overflow float is refused"),
    L(hidden, "128", 1, 65536, "hidden layer widths, e.g. 256,128, at most 16 layers (empty: linear model)"),
    E(activation, "relu", act_names, "hidden activation; gelu is the tanh approximation (PyTorch's "
      "GELU(approximate='tanh')), which differs from the exact erf form by up to 5e-4"),
    F(leaky_slope, "0.01", 0, 1, "negative slope of leaky_relu"),
    B(batchnorm, "false", "batch norm after every hidden dense layer (none on a linear model: a warning if set)"),
    F(bn_momentum, "0.1", 0, 1, "batch-norm running-statistics momentum"),
    F(dropout, "0", 0, 0.95, "dropout rate after every hidden activation (none on a linear model: a warning if set)"),
    E(init, "he_normal", init_names, "weight initialisation"),
    E(loss, "auto", loss_names, "auto: cross_entropy for classification, mse for regression; "
      "huber: Huber loss (PyTorch HuberLoss) on the targets, or on one-hot classes; bce: binary "
      "cross-entropy of a sigmoid per output (PyTorch BCEWithLogitsLoss) against one-hot classes "
      "or targets in [0, 1]"),
    FO(huber_delta, "1", 0, BIG, "huber: where the loss turns from quadratic to linear"),
    E(class_weight, "none", class_weight_names,
      "cross-entropy: balanced weighs each training row's loss by n / (classes * rows of its class) "
      "of the training part (sklearn's balanced, Keras's class_weight); val_loss stays unweighted; "
      "CPU only"),
    F(label_smoothing, "0", 0, 0.9, "cross_entropy: label smoothing of the targets, (1 - v) one-hot "
      "+ v / classes (PyTorch's label_smoothing); refused with mse, huber and bce"),
    E(optimizer, "adam", optim_names, "update rule"),
    FO(lr, "0.001", 0, BIG, "base learning rate"),
    F(momentum, "0.9", 0, 0.9999, "momentum and nesterov: momentum, > 0 (other optimizers ignore it, with a warning if set; sgd is plain SGD)"),
    F(beta1, "0.9", 0, 0.9999, "adam(w): first-moment decay"),
    F(beta2, "0.999", 0, 0.999999, "adam(w): second-moment decay"),
    FO(eps, "1e-8", 0, 1, "adagrad, rmsprop, adam(w): denominator epsilon"),
    F(rho, "0.9", 0, 0.9999, "rmsprop: squared-gradient decay"),
    F(weight_decay, "0", 0, 10, "weight decay on weights: decoupled w -= lr*wd*w, but coupled g += wd*w for adam (as PyTorch's Adam; adamw is decoupled)"),
    F(l1, "0", 0, 10, "L1 penalty l1*|w|_1 added to the gradient (weights only)"),
    F(l2, "0", 0, 10, "L2 penalty l2/2*|w|^2 added to the gradient (l1 and l2: elastic net)"),
    F(clip_value, "0", 0, BIG, "clip each gradient entry to [-v, v] (0: off)"),
    F(clip_norm, "0", 0, BIG, "clip the global gradient L2 norm (0: off)"),
    F(agc, "0", 0, 1000, "adaptive gradient clipping lambda (Brock et al. 2021), unit-wise on the dense weights; biases and the output layer unclipped (0: off)"),
    E(schedule, "constant", sched_names, "learning-rate schedule"),
    I(warmup_steps, "0", 0, 1e9, "linear warm-up over this many optimizer steps, at most the "
      "run's (epochs x steps per epoch): a longer one would never reach lr"),
    F(warmup_start, "0", 0, 1, "warm-up start factor s: optimizer step i < warmup_steps (from 0) "
      "runs at the schedule's rate times s + (1 - s) (i + 1) / warmup_steps, so the first step is "
      "above s and step warmup_steps - 1 at the full rate (one step ahead of PyTorch's "
      "LinearLR(s, total_iters=warmup_steps))"),
    I(step_size, "10", 1, 1e6, "step schedule: epochs per gamma"),
    FO(gamma, "0.1", 0, 1, "step, multistep, exponential: decay factor"),
    L(milestones, "", 1, 1e6, "multistep: ascending epochs where lr *= gamma"),
    F(decay, "0", 0, 1e6, "inverse_time: lr / (1 + decay*epoch)"),
    F(min_lr, "0", 0, BIG, "linear and cosine: final learning rate; cosine_restarts: the floor"),
    F(pct_start, "0.3", 0, 1, "one_cycle: share of the steps spent rising to lr (PyTorch OneCycleLR), in (0, 1)"),
    FO(div_factor, "25", 0, BIG, "one_cycle: the first rate is lr / div_factor"),
    FO(final_div_factor, "1e4", 0, BIG, "one_cycle: the last rate is lr / div_factor / final_div_factor"),
    I(restart_period, "10", 1, 1e6, "cosine_restarts: epochs of the first cosine period (SGDR T_0)"),
    I(restart_mult, "1", 1, 100, "cosine_restarts: each period is this many times the previous (T_mult)"),
    I(plateau_patience, "0", 0, 1e6, "reduce on plateau (Keras ReduceLROnPlateau): cut the rate by "
      "plateau_factor after this many epochs without val_loss gain (min_delta), never below min_lr "
      "(nor above the schedule's own rate where it falls below min_lr); "
      "multiplies any schedule (0: off)"),
    FO(plateau_factor, "0.1", 0, 1, "reduce on plateau: the rate's factor at each cut"),
    I(plateau_cooldown, "0", 0, 1e6, "reduce on plateau: epochs after a cut before waiting again"),
    I(batch_size, "64", 1, 65536, "rows per batch"),
    I(accumulate, "1", 1, 1024, "batches per optimizer step (gradient accumulation); an epoch's last step takes the batches left, averaged over their count, so a value above an epoch's batches makes one step per epoch"),
    I(epochs, "10", 1, 1e6, "epochs of the full run (the schedule spans them)"),
    I(early_stopping_patience, "0", 0, 1e6, "stop after this many epochs without val_loss gain (0: off)"),
    F(min_delta, "0", 0, BIG, "smallest val_loss decrease that counts as a gain"),
    B(restore_best, "true", "with early_stopping_patience: end on the best epoch's weights, whose "
      "val_* and test_* the final line reports (false: the last epoch's)"),
    I(augment_shift, "0", 0, 16, "images: random shift of up to this many pixels (vacated pixels black)"),
    F(augment_flip, "0", 0, 1, "images: horizontal flip probability"),
    F(augment_noise, "0", 0, 10, "additive Gaussian noise std on the features"),
    S(teacher, "", "teacher checkpoint for distillation (empty: none); needs loss cross_entropy or auto, and a teacher trained with loss cross_entropy or auto (the softmax of an mse or huber teacher's outputs, or of a bce teacher's one sigmoid per class, is not its class probabilities) on this run's scaling, inputs and classes (a CSV's columns in the same order, the same class labels and categories)"),
    FO(distill_temperature, "4", 0, 100, "distillation temperature T"),
    F(distill_alpha, "0.5", 0, 1, "weight of the distillation term"),
    I(seed, "1", 0, IMAX, "seed of initialisation, dropout, shuffling and augmentation"),
    I(threads, "1", 1, 256, "CPU threads of the run"),
    E(parallel, "auto", parallel_names,
      "threads > 1: blas (OpenBLAS's threads), data (each thread a share of every "
      "batch's rows, single-threaded products; batch norm statistics shared across "
      "the shares) or auto (data)"),
    S(cache_dir, "", "decoded dataset cache directory (kestrel train: $KESTREL_CACHE_DIR, else $XDG_CACHE_HOME/kestrel or ~/.cache/kestrel; empty: no cache)"),
    S(checkpoint, "", "save the training state here (empty: never); a path where no file can be made fails the run before its first epoch"),
    I(checkpoint_every, "1", 0, 1e6, "epochs between checkpoint saves; the run's end always saves (0: only the end)"),
    S(resume, "", "resume from this checkpoint (empty: start fresh); the config and the data's columns, classes and categories must be the checkpoint's, but for what does not change the training (budget, threads, parallel, paths, report_every, checkpoint_every, evaluate_test, device, cuda_graphs)"),
    I(budget, "0", 0, 1e6, "stop once this many epochs are done (0: epochs); Hyperband sets it"),
    E(device, "cpu", device_names, "cpu, cuda (needs a CUDA build) or auto"),
    E(precision, "fp32", precision_names,
      "cuda GEMM inputs: fp32, or bf16/fp16 with fp32 accumulation and master weights"),
    E(cuda_graphs, "auto", graphs_names,
      "cuda: each batch shape's training step captured once in a CUDA graph and replayed: auto "
      "(launched kernel by kernel when a capture fails), on (a failed capture fails the run), off "
      "(kernel by kernel; the same results, slower)"),
    I(report_every, "1", 1, 1e6, "epochs between report lines"),
    B(evaluate_test, "true", "evaluate the test part at the end (test_loss, test_accuracy)"),
};
const int train_config_n_options = (int)(sizeof train_config_options / sizeof train_config_options[0]);

const train_config_option *train_config_find(const char *name)
{
    for (int i = 0; i < train_config_n_options; i++)
        if (strcmp(train_config_options[i].name, name) == 0) return &train_config_options[i];
    return NULL;
}

const char *train_config_nearest(const char *name)
{
    const char *names[train_config_n_options + 1];
    for (int i = 0; i < train_config_n_options; i++) names[i] = train_config_options[i].name;
    names[train_config_n_options] = NULL;
    return nearest_name(name, names);
}

/* The error for a name that is no option. The path names it already
 * ("lrr: unknown option"), also where a caller moves the error to a path of
 * its own. */
static int unknown_option(const char *name, kerror *err)
{
    const char *near = train_config_nearest(name);
    if (near) return kerror_set(err, KE_INVALID, name, "unknown option (did you mean '%s'?)", near);
    return kerror_set(err, KE_INVALID, name, "unknown option");
}

static void *field(train_config *c, const train_config_option *o)
{
    return (char *)c + o->offset;
}

static const void *cfield(const train_config *c, const train_config_option *o)
{
    return (const char *)c + o->offset;
}

/* "[lo, hi]" or "(lo, hi]"; integer options in whole digits (2147483647,
 * not 2.14748e+09). */
static void range_text(const train_config_option *o, char *buf, size_t n)
{
    const char *f = o->type == CONFIG_FLOAT ? "%c%g, %g]" : "%c%.0f, %.0f]";
    snprintf(buf, n, f, o->min_open ? '(' : '[', o->min, o->max);
}

/* v in as few digits as read back as v: %g's six made 0.9500001 "0.95",
 * inside the range it was refused from, and 2147483648 "2.14748e+09" */
static const char *value_text(double v, char *buf, size_t n)
{
    for (int digits = 6; digits <= 17; digits++)
        if (snprintf(buf, n, "%.*g", digits, v) > 0 && strtod(buf, NULL) == v) break;
    return buf;
}

/* got: the value as the user wrote it, or as few digits as read back */
static int range_error(const train_config_option *o, const char *got, kerror *err)
{
    char range[128];
    range_text(o, range, sizeof range);
    return kerror_set(err, KE_INVALID, o->name, "must be in %s, got %s", range, got);
}

static int in_range(const train_config_option *o, double v)
{
    return (o->min_open ? v > o->min : v >= o->min) && v <= o->max;
}

static int check_number(const train_config_option *o, double v, int integral, kerror *err)
{
    if (!isfinite(v)) return kerror_set(err, KE_INVALID, o->name, "must be a finite number");
    if (integral && v != floor(v))
        return kerror_set(err, KE_INVALID, o->name, "must be an integer, got %s",
                          value_text(v, (char[32]){0}, 32));
    if (!in_range(o, v)) return range_error(o, value_text(v, (char[32]){0}, 32), err);
    /* one fold trains on nothing: refused here, not at validation, so a
     * study's spec is checked against it as against the range */
    if (o->gap_rule && v == o->gap)
        return kerror_set(err, KE_INVALID, o->name, "must be %s, got %s", o->gap_rule,
                          value_text(v, (char[32]){0}, 32));
    return KE_OK;
}

/* What an option value's text spells: a number, hexadecimal (strtod reads
 * "0x10" as 16 and "0x1p-3" as 0.125, where a CSV's numbers, a spec's and
 * every other tool's are decimal), a decimal number a double cannot hold
 * (1e400, 1e-400: *out is then +-inf, or 0 or a subnormal), or no number. */
typedef enum { NUM_OK, NUM_HEX, NUM_RANGE, NUM_NONE } num_kind;

static num_kind parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    while (isspace((unsigned char)*end)) end++;
    if (end == s || *end != '\0') return NUM_NONE;
    /* no decimal number, inf or nan has an x */
    if (strpbrk(s, "xX")) return NUM_HEX;
    return errno == ERANGE ? NUM_RANGE : NUM_OK;
}

/* The error for text (an entry of the list `list`, or NULL) that
 * parse_double found to be of kind k, v its value: each says what is wrong
 * with it ("not a number" was said of 1e400 too). */
static int number_error(const train_config_option *o, num_kind k, const char *text,
                        const char *list, double v, kerror *err)
{
    char in[CONFIG_STR_MAX + 8] = "";
    text += strspn(text, " \t");
    if (list) snprintf(in, sizeof in, " in '%s'", list);
    switch (k) {
    case NUM_HEX:
        return kerror_set(err, KE_INVALID, o->name, "hexadecimal value '%s'%s (only decimal "
                          "numbers are read)", text, in);
    case NUM_RANGE:
        if (isinf(v)) {   /* beyond any option's range */
            char got[CONFIG_STR_MAX + 16];
            snprintf(got, sizeof got, "%s%s", text, in);
            return range_error(o, got, err);
        }
        return kerror_set(err, KE_INVALID, o->name, "'%s'%s is too close to 0 for a number to "
                          "hold (a double holds down to 2.2e-308)", text, in);
    default:
        break;
    }
    return list ? kerror_set(err, KE_INVALID, o->name, "not a list of integers: '%s'", list)
                : kerror_set(err, KE_INVALID, o->name, "not a number: '%s'", text);
}

static int choices_text(const train_config_option *o, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; o->choices[i] && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? "|" : "", o->choices[i]);
    return (int)len;
}

static int set_enum(train_config *c, const train_config_option *o, const char *s, kerror *err)
{
    for (int i = 0; o->choices[i]; i++)
        if (strcmp(o->choices[i], s) == 0) {
            *(int *)field(c, o) = i;
            return KE_OK;
        }
    char names[256];
    choices_text(o, names, sizeof names);
    return kerror_set(err, KE_INVALID, o->name, "must be one of %s, got '%s'", names, s);
}

static int set_bool(train_config *c, const train_config_option *o, const char *s, kerror *err)
{
    static const char *const yes[] = {"true", "1", "yes", "on", NULL};
    static const char *const no[] = {"false", "0", "no", "off", NULL};
    for (int i = 0; yes[i]; i++)
        if (strcmp(s, yes[i]) == 0) return *(int *)field(c, o) = 1, KE_OK;
    for (int i = 0; no[i]; i++)
        if (strcmp(s, no[i]) == 0) return *(int *)field(c, o) = 0, KE_OK;
    return kerror_set(err, KE_INVALID, o->name, "must be true or false, got '%s'", s);
}

static int check_data(const char *s, kerror *err)
{
    static const char *const names[] = {"fashion-mnist", "mnist", "synthetic-classification",
                                        "synthetic-regression", NULL};
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0) return KE_OK;
    if (strncmp(s, "csv:", 4) == 0 && s[4]) return KE_OK;
    return kerror_set(err, KE_INVALID, "data",
                      "must be fashion-mnist, mnist, csv:PATH, synthetic-classification or "
                      "synthetic-regression, got '%s'", s);
}

static int set_string(train_config *c, const train_config_option *o, const char *s, kerror *err)
{
    if (strlen(s) >= CONFIG_STR_MAX)
        return kerror_set(err, KE_INVALID, o->name, "longer than %d bytes", CONFIG_STR_MAX - 1);
    if (o->offset == OFF(data)) {
        int rc = check_data(s, err);
        if (rc) return rc;
    }
    char *dst = field(c, o);
    memset(dst, 0, CONFIG_STR_MAX);
    memcpy(dst, s, strlen(s));
    return KE_OK;
}

/* "256,128", "[256, 128]", "" or "[]" (the empty list): integers between
 * commas, spaces around them. An empty entry or text around the brackets is
 * refused: strtok took them for separators, so "hidden=," trained a linear
 * model and "256]128" one layer. */
static int set_list(train_config *c, const train_config_option *o, const char *s, kerror *err)
{
    train_config_int_list l;
    memset(&l, 0, sizeof l);
    char buf[CONFIG_STR_MAX];
    snprintf(buf, sizeof buf, "%s", s);
    char *p = buf + strspn(buf, " \t");
    size_t len = strlen(p);
    while (len && isspace((unsigned char)p[len - 1])) p[--len] = '\0';
    if (*p == '[' && len >= 2 && p[len - 1] == ']') {
        p[len - 1] = '\0';
        p++;
    }
    int empty = p[strspn(p, " \t")] == '\0';
    for (char *tok = p, *comma = NULL; !empty; tok = comma + 1) {
        double v;
        if ((comma = strchr(tok, ','))) *comma = '\0';
        if (tok[strspn(tok, " \t")] == '\0')
            return kerror_set(err, KE_INVALID, o->name, "an empty entry in '%s'", s);
        num_kind k = parse_double(tok, &v);
        if (k != NUM_OK) return number_error(o, k, tok, s, v, err);
        if (l.n == CONFIG_LIST_MAX)
            return kerror_set(err, KE_INVALID, o->name, "at most %d entries", CONFIG_LIST_MAX);
        int rc = check_number(o, v, 1, err);
        if (rc) return rc;
        l.v[l.n++] = (int)v;
        if (!comma) break;
    }
    *(train_config_int_list *)field(c, o) = l;
    return KE_OK;
}

static int set_number(train_config *c, const train_config_option *o, double v, kerror *err)
{
    int rc = check_number(o, v, o->type != CONFIG_FLOAT, err);
    if (rc) return rc;
    if (o->type == CONFIG_FLOAT) *(double *)field(c, o) = v;
    else *(int *)field(c, o) = (int)v;
    return KE_OK;
}

static int set_text(train_config *c, const train_config_option *o, const char *s, kerror *err)
{
    double v;
    switch (o->type) {
    case CONFIG_INT:
    case CONFIG_FLOAT:
        num_kind k = parse_double(s, &v);
        if (k != NUM_OK) return number_error(o, k, s, NULL, v, err);
        return set_number(c, o, v, err);
    case CONFIG_BOOL: return set_bool(c, o, s, err);
    case CONFIG_STRING: return set_string(c, o, s, err);
    case CONFIG_ENUM: return set_enum(c, o, s, err);
    case CONFIG_INT_LIST: return set_list(c, o, s, err);
    }
    return kerror_set(err, KE_INTERNAL, o->name, "bad option type");
}

int train_config_set(train_config *c, const char *name, const char *value, kerror *err)
{
    const train_config_option *o = train_config_find(name);
    if (!o) return unknown_option(name, err);
    return set_text(c, o, value, err);
}

int train_config_set_kv(train_config *c, const char *kv, kerror *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return kerror_set(err, KE_INVALID, kv, "expected key=value");
    char name[128];
    if ((size_t)(eq - kv) >= sizeof name)
        /* which --set it was: the name's first characters, and the limit */
        return kerror_set(err, KE_INVALID, NULL, "option name too long: '%.20s...' has %zu "
                          "characters, an option's at most %zu", kv, (size_t)(eq - kv),
                          sizeof name - 1);
    memcpy(name, kv, (size_t)(eq - kv));
    name[eq - kv] = '\0';
    return train_config_set(c, name, eq + 1, err);
}

void train_config_defaults(train_config *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < train_config_n_options; i++)
        set_text(c, &train_config_options[i], train_config_options[i].def, NULL);
}

static int set_json_list(train_config *c, const train_config_option *o, const json_t *arr, kerror *err)
{
    char buf[CONFIG_STR_MAX] = "";
    size_t len = 0, i;
    const json_t *x;
    json_array_foreach(arr, i, x) {
        if (!json_is_number(x))
            return kerror_set(err, KE_INVALID, o->name, "entry %zu is not a number", i);
        int w = snprintf(buf + len, sizeof buf - len, "%s%.17g", i ? "," : "", json_number_value(x));
        if (w < 0 || (size_t)w >= sizeof buf - len)
            return kerror_set(err, KE_INVALID, o->name, "list too long");
        len += (size_t)w;
    }
    return set_list(c, o, buf, err);
}

static int set_json(train_config *c, const train_config_option *o, const json_t *v, kerror *err)
{
    if (json_is_string(v)) return set_text(c, o, json_string_value(v), err);
    if (json_is_array(v) && o->type == CONFIG_INT_LIST) return set_json_list(c, o, v, err);
    if (json_is_boolean(v) && o->type == CONFIG_BOOL)
        return *(int *)field(c, o) = json_is_true(v), KE_OK;
    if (json_is_number(v)) {
        double x = json_number_value(v);
        char buf[64];
        switch (o->type) {
        case CONFIG_INT:
        case CONFIG_FLOAT:
            return set_number(c, o, x, err);
        case CONFIG_BOOL:
        case CONFIG_INT_LIST:
            snprintf(buf, sizeof buf, "%.17g", x);
            return set_text(c, o, buf, err);
        default:
            break;
        }
    }
    static const char *const type_names[] = {"an integer", "a number", "a boolean", "a string",
                                             "a string", "a list of integers"};
    return kerror_set(err, KE_INVALID, o->name, "must be %s", type_names[o->type]);
}

int train_config_apply_json(train_config *c, const json_t *obj, kerror *err)
{
    if (!json_is_object(obj)) return kerror_set(err, KE_INVALID, NULL, "config must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        const train_config_option *o = train_config_find(key);
        if (!o) return unknown_option(key, err);
        int rc = set_json(c, o, v, err);
        if (rc) return rc;
    }
    return KE_OK;
}

int train_config_load_file(train_config *c, const char *path, kerror *err)
{
    json_error_t je;
    struct stat st;
    /* Jansson reads a directory as an empty file ("'[' or '{' expected") */
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return kerror_set(err, KE_IO, "config", "%s: is a directory, not a JSON file", path);
    /* a key given twice would silently take its last value */
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (je.line < 1)   /* no position: the file could not be read */
            return kerror_set(err, KE_IO, "config", "%s", je.text);
        return kerror_set(err, KE_INVALID, path, "%s (line %d, column %d)", je.text, je.line,
                          je.column);
    }
    /* apply_json's "config must be a JSON object" named no file; Jansson
     * reads nothing else than an object or an array at the top */
    int rc = json_is_object(root) ? train_config_apply_json(c, root, err)
             : kerror_set(err, KE_INVALID, path, "must be a JSON object of options "
                          "({\"lr\": 0.01, ...}), not an array");
    /* an option's error names the key alone ("lr2: unknown option"), not
     * which file holds it (with two --config files, which one) */
    if (rc && json_is_object(root) && err && err->path[0])
        kerror_set(err, rc, path, "%s: %s", err->path, err->msg);
    json_decref(root);
    return rc;
}

int train_config_validate(const train_config *c, kerror *err)
{
    int regression = c->task == CONFIG_TASK_REGRESSION ||
                     (c->task == CONFIG_TASK_AUTO && strcmp(c->data, "synthetic-regression") == 0);
    if (regression && c->loss == CONFIG_LOSS_CROSS_ENTROPY)
        return kerror_set(err, KE_INVALID, "loss", "cross_entropy needs a classification task");
    if (regression && c->teacher[0])
        return kerror_set(err, KE_INVALID, "teacher", "distillation needs a classification task");
    /* the distillation term is part of the cross-entropy loss only: any
     * other loss would train as if no teacher were set */
    if (c->teacher[0] && (c->loss == CONFIG_LOSS_MSE || c->loss == CONFIG_LOSS_HUBER ||
                          c->loss == CONFIG_LOSS_BCE))
        return kerror_set(err, KE_INVALID, "teacher", "distillation needs loss=cross_entropy "
                          "(or auto), not loss=%s", loss_names[c->loss]);
    if (c->class_weight && (regression || c->teacher[0] || c->loss == CONFIG_LOSS_MSE ||
                            c->loss == CONFIG_LOSS_HUBER || c->loss == CONFIG_LOSS_BCE))
        return kerror_set(err, KE_INVALID, "class_weight", "needs a classification task trained with "
                          "cross_entropy and no teacher");
    if (regression && c->label_smoothing > 0)
        return kerror_set(err, KE_INVALID, "label_smoothing", "needs a classification task");
    /* the smoothing is of the softmax cross-entropy's targets: mse, huber
     * and bce trained on the plain one-hot rows without a word */
    if (c->label_smoothing > 0 && (c->loss == CONFIG_LOSS_MSE || c->loss == CONFIG_LOSS_HUBER ||
                                   c->loss == CONFIG_LOSS_BCE))
        return kerror_set(err, KE_INVALID, "label_smoothing", "needs loss=cross_entropy (or auto), "
                          "not loss=%s", loss_names[c->loss]);
    if (regression && c->stratify)
        return kerror_set(err, KE_INVALID, "stratify", "needs a classification task");
    /* what would run is another optimizer, or a schedule that rises */
    if ((c->optimizer == OPTIM_NESTEROV || c->optimizer == OPTIM_MOMENTUM) && !(c->momentum > 0))
        return kerror_set(err, KE_INVALID, "momentum", "%s needs momentum > 0 (with 0 it "
                          "is plain sgd)", optim_names[c->optimizer]);
    if ((c->schedule == SCHEDULE_LINEAR || c->schedule == SCHEDULE_COSINE ||
         c->schedule == SCHEDULE_COSINE_RESTARTS) && c->min_lr > c->lr)
        return kerror_set(err, KE_INVALID, "min_lr", "%g is above lr (%g): the %s schedule decays "
                          "from lr to min_lr", c->min_lr, c->lr,
                          train_config_enum_name("schedule", c->schedule));
    /* a batch of one row has no variance to normalize by */
    if (c->batchnorm && c->batch_size < 2)
        return kerror_set(err, KE_INVALID, "batchnorm", "needs batch_size >= 2");
    if (c->categorical[0] && strncmp(c->data, "csv:", 4) != 0)
        return kerror_set(err, KE_INVALID, "categorical", "one-hot encodes CSV columns: needs "
                          "data=csv:PATH");
    /* found by dataset_load otherwise, as a failure of the run (exit 1) */
    if (!strcmp(c->data, "mnist") && !c->data_dir[0])
        return kerror_set(err, KE_INVALID, "data_dir", "data=mnist needs data_dir, the folder of "
                          "its IDX files (fashion-mnist's defaults to %s)",
                          DATASET_FASHION_MNIST_DIR);
    if (c->label_column[0] && strncmp(c->data, "csv:", 4) != 0)
        return kerror_set(err, KE_INVALID, "label_column", "names a CSV column: needs "
                          "data=csv:PATH");
    if (c->kfold && (c->resume[0] || c->checkpoint[0]))
        return kerror_set(err, KE_INVALID, "kfold", "cannot be combined with checkpoint or resume");
    if (c->kfold == 0 && !(c->val_ratio > 0))
        return kerror_set(err, KE_INVALID, "val_ratio", "must be > 0 without kfold");
    for (int i = 1; i < c->milestones.n; i++)
        if (c->milestones.v[i] <= c->milestones.v[i - 1])
            return kerror_set(err, KE_INVALID, "milestones", "must be strictly ascending");
    if (c->budget > c->epochs)
        return kerror_set(err, KE_INVALID, "budget", "%d exceeds epochs (%d)", c->budget, c->epochs);
    if (c->hidden.n > MLP_MAX_LAYERS)
        return kerror_set(err, KE_INVALID, "hidden", "at most %d hidden layers, got %d",
                          MLP_MAX_LAYERS, c->hidden.n);
    /* before the data load, which takes seconds: a typo fails at once */
    const char *files[][2] = {{"resume", c->resume}, {"teacher", c->teacher}};
    for (int i = 0; i < 2; i++)
        if (files[i][1][0] && access(files[i][1], R_OK) != 0)
            return kerror_set(err, KE_IO, files[i][0], "cannot read '%s': %s", files[i][1],
                              strerror(errno));
    return KE_OK;
}

/* 1 when option `name` holds another value in c than in d (the defaults). */
static int changed(const train_config *c, const train_config *d, const char *name)
{
    const train_config_option *o = train_config_find(name);
    const void *a = cfield(c, o), *b = cfield(d, o);
    switch (o->type) {
    case CONFIG_FLOAT:
        return *(const double *)a != *(const double *)b;
    case CONFIG_STRING:
        return strcmp(a, b) != 0;
    case CONFIG_INT_LIST: {
        const train_config_int_list *x = a, *y = b;
        return x->n != y->n || memcmp(x->v, y->v, (size_t)x->n * sizeof *x->v) != 0;
    }
    default:
        return *(const int *)a != *(const int *)b;
    }
}

int train_config_warn_inert(const train_config *c, FILE *out, const char *prefix)
{
    /* a value other than the default is one someone chose: the defaults
     * (momentum 0.9 with adam, val_ratio 0.1 with kfold) would warn always */
    train_config d;
    train_config_defaults(&d);
    int linear = c->hidden.n == 0, o = c->optimizer, s = c->schedule;
    int adam = o == OPTIM_ADAM || o == OPTIM_ADAMW;
    int plateau = c->plateau_patience > 0;
    int syn_class = !strcmp(c->data, "synthetic-classification");
    int syn_reg = !strcmp(c->data, "synthetic-regression");
    int idx = !strcmp(c->data, "fashion-mnist") || !strcmp(c->data, "mnist");
    static const char no_act[] = "the linear model (hidden empty) has no hidden activation";
    static const char no_layer[] = "the linear model (hidden empty) has no hidden layer to "
                                   "normalize";
    static const char distill[] = "only distillation (teacher set) uses it";
    static const char one_cycle[] = "only schedule=one_cycle uses it";
    static const char restarts[] = "only schedule=cosine_restarts uses it";
    static const char plateau_only[] = "only reduce on plateau (plateau_patience > 0) uses it";
    /* by: the enum option whose value leaves it unread, named as ", not
     * by=value" (NULL: the reason says it all) */
    const struct {
        int inert;
        const char *name, *why, *by;
    } checks[] = {
        {linear, "dropout", "the linear model (hidden empty) has no hidden activation to drop",
         NULL},
        {linear, "batchnorm", no_layer, NULL},
        {linear || !c->batchnorm, "bn_momentum", linear ? no_layer : "only batchnorm=true uses it",
         NULL},
        {linear || c->activation != LAYERS_ACT_LEAKY_RELU, "leaky_slope",
         linear ? no_act : "only activation=leaky_relu uses it", linear ? NULL : "activation"},
        {c->loss != CONFIG_LOSS_HUBER, "huber_delta", "only loss=huber uses it", "loss"},
        {!c->teacher[0], "distill_temperature", distill, NULL},
        {!c->teacher[0], "distill_alpha", distill, NULL},
        {o != OPTIM_MOMENTUM && o != OPTIM_NESTEROV, "momentum",
         "only optimizer=momentum and nesterov use it", "optimizer"},
        {!adam, "beta1", "only optimizer=adam and adamw use it", "optimizer"},
        {!adam, "beta2", "only optimizer=adam and adamw use it", "optimizer"},
        {!adam && o != OPTIM_ADAGRAD && o != OPTIM_RMSPROP, "eps",
         "only optimizer=adagrad, rmsprop, adam and adamw use it", "optimizer"},
        {o != OPTIM_RMSPROP, "rho", "only optimizer=rmsprop uses it", "optimizer"},
        {s != SCHEDULE_STEP, "step_size", "only schedule=step uses it", "schedule"},
        {s != SCHEDULE_STEP && s != SCHEDULE_MULTISTEP && s != SCHEDULE_EXPONENTIAL, "gamma",
         "only schedule=step, multistep and exponential use it", "schedule"},
        {s != SCHEDULE_MULTISTEP, "milestones", "only schedule=multistep uses it", "schedule"},
        {s != SCHEDULE_INVERSE_TIME, "decay", "only schedule=inverse_time uses it", "schedule"},
        {s != SCHEDULE_LINEAR && s != SCHEDULE_COSINE && s != SCHEDULE_COSINE_RESTARTS && !plateau,
         "min_lr", "only schedule=linear, cosine and cosine_restarts and reduce on plateau "
         "(plateau_patience > 0) use it", "schedule"},
        {s != SCHEDULE_ONE_CYCLE, "pct_start", one_cycle, "schedule"},
        {s != SCHEDULE_ONE_CYCLE, "div_factor", one_cycle, "schedule"},
        {s != SCHEDULE_ONE_CYCLE, "final_div_factor", one_cycle, "schedule"},
        {s != SCHEDULE_COSINE_RESTARTS, "restart_period", restarts, "schedule"},
        {s != SCHEDULE_COSINE_RESTARTS, "restart_mult", restarts, "schedule"},
        {c->warmup_steps == 0, "warmup_start", "only a warm-up (warmup_steps > 0) uses it", NULL},
        {!plateau, "plateau_factor", plateau_only, NULL},
        {!plateau, "plateau_cooldown", plateau_only, NULL},
        {c->kfold != 0, "val_ratio", "with kfold each fold validates on its k-th of the pool",
         NULL},
        {c->early_stopping_patience == 0, "restore_best",
         "only early stopping (early_stopping_patience > 0) uses it", NULL},
        {!idx, "data_dir", "only data=fashion-mnist and mnist are read from a folder (a CSV "
         "from its own path)", NULL},
        {!syn_class && !syn_reg, "synthetic_samples", "only synthetic data uses it", NULL},
        {!syn_class && !syn_reg, "synthetic_features", "only synthetic data uses it", NULL},
        {!syn_class, "synthetic_classes", "only data=synthetic-classification uses it", NULL},
        {!syn_reg, "synthetic_targets", "only data=synthetic-regression uses it", NULL},
        {!syn_reg, "synthetic_noise", "only data=synthetic-regression uses it", NULL},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof checks / sizeof *checks; i++) {
        if (!checks[i].inert || !changed(c, &d, checks[i].name)) continue;
        fprintf(out, "%s: warning: %s: has no effect: %s", prefix, checks[i].name,
                checks[i].why);
        const char *by = checks[i].by;
        if (by)
            fprintf(out, ", not %s=%s", by,
                    train_config_enum_name(by, *(const int *)cfield(c, train_config_find(by))));
        fputc('\n', out);
        n++;
    }
    return n;
}

int train_config_data_parallel(const train_config *c)
{
    return c->threads > 1 && c->parallel != CONFIG_PARALLEL_BLAS;
}

json_t *train_config_to_json(const train_config *c)
{
    json_t *obj = json_object();
    for (int i = 0; obj && i < train_config_n_options; i++) {
        const train_config_option *o = &train_config_options[i];
        const void *f = cfield(c, o);
        json_t *v = NULL;
        switch (o->type) {
        case CONFIG_INT: v = json_integer(*(const int *)f); break;
        case CONFIG_FLOAT: v = json_real(*(const double *)f); break;
        case CONFIG_BOOL: v = json_boolean(*(const int *)f); break;
        case CONFIG_STRING: v = json_string(f); break;
        case CONFIG_ENUM: v = json_string(o->choices[*(const int *)f]); break;
        case CONFIG_INT_LIST: {
            const train_config_int_list *l = f;
            v = json_array();
            for (int k = 0; v && k < l->n; k++) json_array_append_new(v, json_integer(l->v[k]));
            break;
        }
        }
        if (!v || json_object_set_new(obj, o->name, v)) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

void train_config_print_help(FILE *out)
{
    static const char *const type_names[] = {"int", "float", "bool", "string", "enum", "int-list"};
    fprintf(out, "usage: kestrel train [--config FILE.json] [--set key=value]... [--help]\n\n"
                 "An option set away from its default that the rest of the configuration never\n"
                 "reads (momentum or beta1 with optimizer=sgd, huber_delta without loss=huber, a\n"
                 "schedule's settings with another schedule, bn_momentum without batchnorm, ...)\n"
                 "runs as set, with a warning on stderr naming it. Numbers are decimal\n"
                 "(0.001, 1e-3), as in a CSV: hexadecimal (0x10) is refused.\n\n"
                 "options (JSON keys or --set keys):\n");
    for (int i = 0; i < train_config_n_options; i++) {
        const train_config_option *o = &train_config_options[i];
        char range[256] = "";
        if (o->type == CONFIG_ENUM) choices_text(o, range, sizeof range);
        else if (o->type == CONFIG_INT || o->type == CONFIG_FLOAT || o->type == CONFIG_INT_LIST)
            range_text(o, range, sizeof range);
        fprintf(out, "  %-24s %-8s default %-16s %s\n      %s\n", o->name, type_names[o->type],
                o->def[0] ? o->def : "\"\"", range, o->help);
    }
}

const char *train_config_enum_name(const char *option, int value)
{
    const train_config_option *o = train_config_find(option);
    if (!o || o->type != CONFIG_ENUM || value < 0) return "?";
    for (int i = 0; o->choices[i]; i++)
        if (i == value) return o->choices[i];
    return "?";
}
