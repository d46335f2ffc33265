/* config: the trainer's options. One static table (train_config_options) lists
 * every option with its type, default, range or choices and help text; that
 * table alone drives defaults, `key=value` parsing (--set), the JSON config
 * file, validation, --help and the JSON copy stored in checkpoints. Every
 * option is a hyperparameter a study may search over.
 * Invariant: a train_config that went through train_config_defaults and then only
 * train_config_set / train_config_apply_json holds in-range values for every field;
 * train_config_validate adds the checks that involve several options. */
#ifndef KESTREL_CONFIG_H
#define KESTREL_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "../common/kerror.h"

#define CONFIG_STR_MAX 512
#define CONFIG_LIST_MAX 32

typedef struct {
    int n;
    int v[CONFIG_LIST_MAX];
} train_config_int_list;

/* Values of the enum options: the index of the name in the option's choices. */
enum { CONFIG_TASK_AUTO, CONFIG_TASK_CLASSIFICATION, CONFIG_TASK_REGRESSION };
enum { CONFIG_LOSS_AUTO, CONFIG_LOSS_CROSS_ENTROPY, CONFIG_LOSS_MSE, CONFIG_LOSS_HUBER,
       CONFIG_LOSS_BCE };
enum { CONFIG_CLASS_WEIGHT_NONE, CONFIG_CLASS_WEIGHT_BALANCED };
enum { CONFIG_DEVICE_CPU, CONFIG_DEVICE_CUDA, CONFIG_DEVICE_AUTO };
enum { CONFIG_PRECISION_FP32, CONFIG_PRECISION_BF16, CONFIG_PRECISION_FP16 };
/* auto (the default) is data, or blas where data is refused (batch norm):
 * data is the faster of the two at every batch size measured (bench/README.md). */
enum { CONFIG_PARALLEL_BLAS, CONFIG_PARALLEL_DATA, CONFIG_PARALLEL_AUTO };
enum { CONFIG_GRAPHS_AUTO, CONFIG_GRAPHS_ON, CONFIG_GRAPHS_OFF };

/* Plain data, no pointers: copy it with `=`. Enum fields hold the values
 * named in their comment (the choices are listed in that order). */
typedef struct {
    /* data */
    char data[CONFIG_STR_MAX];        /* dataset_opts.source */
    char data_dir[CONFIG_STR_MAX];    /* "" = the source's default */
    char label_column[CONFIG_STR_MAX];/* CSV; "" = last column */
    char categorical[CONFIG_STR_MAX]; /* CSV one-hot columns: "", "auto" or names */
    int task;                         /* CONFIG_TASK_* */
    int data_seed;                    /* synthetic data and splits */
    int synthetic_samples, synthetic_features, synthetic_classes, synthetic_targets;
    double synthetic_noise;
    int max_train;                    /* 0 = all training rows */
    double val_ratio, test_ratio;
    int kfold;                        /* 0 = off, else k >= 2 */
    int scaling;                      /* split_scaling */
    int stratify;                     /* split_opts.stratify */
    /* model */
    train_config_int_list hidden;           /* hidden widths */
    int activation;                   /* layers_act */
    double leaky_slope;
    int batchnorm;
    double bn_momentum;
    double dropout;
    int init;                         /* mlp_init */
    int loss;                         /* CONFIG_LOSS_* */
    double label_smoothing;
    double huber_delta;
    int class_weight;                 /* CONFIG_CLASS_WEIGHT_* */
    /* optimizer and regularization */
    int optimizer;                    /* optim_kind */
    double lr, momentum, beta1, beta2, eps, rho;
    double weight_decay, l1, l2;
    double clip_value, clip_norm, agc;
    /* schedule */
    int schedule;                     /* schedule_kind */
    int warmup_steps;
    double warmup_start;
    int step_size;
    double gamma;
    train_config_int_list milestones;
    double decay, min_lr;
    double pct_start, div_factor, final_div_factor;   /* one_cycle */
    int restart_period, restart_mult;                 /* cosine_restarts */
    int plateau_patience, plateau_cooldown;           /* reduce on plateau; 0 = off */
    double plateau_factor;
    /* loop */
    int batch_size, accumulate, epochs;
    int early_stopping_patience;      /* epochs; 0 = off */
    double min_delta;
    int restore_best;                 /* with patience: end on the best epoch's weights */
    int augment_shift;
    double augment_flip, augment_noise;
    char teacher[CONFIG_STR_MAX];     /* checkpoint path; "" = no distillation */
    double distill_temperature, distill_alpha;
    int seed;                         /* init, dropout, shuffling, augmentation */
    int threads;
    int parallel;                     /* CONFIG_PARALLEL_*: how threads > 1 are used */
    char cache_dir[CONFIG_STR_MAX];
    char checkpoint[CONFIG_STR_MAX];  /* "" = none */
    int checkpoint_every;             /* epochs between saves; 0 = the end only */
    char resume[CONFIG_STR_MAX];      /* "" = none */
    int budget;                       /* epochs this run may reach; 0 = epochs */
    int device;                       /* CONFIG_DEVICE_* */
    int precision;                    /* CONFIG_PRECISION_*: GEMM inputs on CUDA */
    int cuda_graphs;                  /* CONFIG_GRAPHS_*: the CUDA step captured and replayed */
    int report_every;                 /* epochs between report lines */
    int evaluate_test;                /* 0: no test pass (a study's trials) */
} train_config;

typedef enum {
    CONFIG_INT,
    CONFIG_FLOAT,
    CONFIG_BOOL,
    CONFIG_STRING,
    CONFIG_ENUM,
    CONFIG_INT_LIST
} train_config_type;

typedef struct {
    const char *name;
    train_config_type type;
    size_t offset;               /* into train_config */
    const char *def;             /* default, in --set syntax */
    double min, max;             /* INT, FLOAT, INT_LIST elements */
    int min_open;                /* 1: min itself is excluded */
    const char *const *choices;  /* ENUM: NULL-terminated names */
    const char *help;
    /* INT: the one value inside [min, max] that is refused, and the rule it
     * breaks, as the message says it (kfold: 1, "0 (off) or >= 2"); a study's
     * int range around it is refused too (spec_trainer). NULL: none. */
    const char *gap_rule;
    double gap;
} train_config_option;

/* The table, in the order --help and train_config_to_json list it. */
extern const train_config_option train_config_options[];
extern const int train_config_n_options;

/* The option called name, or NULL. */
const train_config_option *train_config_find(const char *name);

/* The option name closest to name when name looks like its typo ("epochz"
 * -> "epochs"), else NULL; for "did you mean" hints. */
const char *train_config_nearest(const char *name);

/* Fills c with every option's default. Cannot fail. */
void train_config_defaults(train_config *c);

/* Sets one option from text ("lr", "0.01"; "hidden", "256,128"; "batchnorm",
 * "true"). Errors: KE_INVALID with path = the option name ("unknown option
 * (did you mean 'lr'?)", "must be in (0, 1e+30], got 0", "must be one of ..."). */
int train_config_set(train_config *c, const char *name, const char *value, kerror *err);

/* "key=value", as given to --set. */
int train_config_set_kv(train_config *c, const char *kv, kerror *err);

/* Applies every key of a JSON object. Numbers, strings (in --set syntax),
 * booleans and (for lists) arrays of integers are accepted where they fit;
 * integral reals (64.0) are accepted for integer options. Errors as
 * train_config_set; a non-object -> KE_INVALID with an empty path. */
int train_config_apply_json(train_config *c, const json_t *obj, kerror *err);

/* Reads a JSON file and applies it. Errors: KE_IO (unreadable), KE_INVALID
 * (bad JSON: the message has line and column; bad option: the path is the
 * file, the message "KEY: reason"). */
int train_config_load_file(train_config *c, const char *path, kerror *err);

/* Checks that involve several options (loss vs task, kfold, milestones, ...).
 * KE_INVALID with path = the option at fault. */
int train_config_validate(const train_config *c, kerror *err);
/* Writes "PREFIX: warning: OPTION: has no effect: why", one line each, for
 * every option set away from its default whose value this configuration
 * never reads: a hidden layer's settings on a linear model (hidden empty),
 * bn_momentum without batchnorm, leaky_slope, huber_delta, an optimizer's or
 * a schedule's settings when another is chosen (the line ends ", not
 * optimizer=sgd"), the distillation options without a teacher, warm-up and
 * plateau settings without their steps or patience, restore_best without
 * early stopping, synthetic_* with other data, data_dir with other data
 * than fashion-mnist and mnist, val_ratio with kfold.
 * They are not
 * refused: a study's search space may span such combinations, and the trial
 * keeps its stderr. Returns the number of lines written. */
int train_config_warn_inert(const train_config *c, FILE *out, const char *prefix);
/* 1 when a CPU run splits each batch's rows across its threads (dp.h):
 * threads > 1 and parallel=data, or parallel=auto without batch norm. */
int train_config_data_parallel(const train_config *c);

/* Every option as a JSON object (a new reference, owned by the caller), or
 * NULL on allocation failure. train_config_apply_json of it reproduces c. */
json_t *train_config_to_json(const train_config *c);

/* One line per option: name, type, default, range or choices, help. */
void train_config_print_help(FILE *out);

/* The name of an enum option's value (e.g. "adam"), for messages. */
const char *train_config_enum_name(const char *option, int value);

#endif
