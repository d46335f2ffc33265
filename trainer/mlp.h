/* mlp: a multilayer perceptron for the embedded trainer. Hidden blocks are
 * dense -> [batch norm] -> activation -> [inverted dropout]; the output layer
 * is dense only. Forward/backward work in place on three arenas allocated once
 * at mlp_create: parameters (+ BN running stats), gradients, activations sized
 * for cfg->max_batch. Invariant: nothing is allocated after mlp_create, and the
 * gradient arena has exactly the layout of the first mlp_n_params() floats of
 * the parameter arena. The CUDA twin (cuda/mlp_cuda.cu) mirrors these names.
 *
 * Shapes are row-major: x (B,n_in), logits (B,n_out), a dense weight W
 * (out,in), so a forward dense is out = in * W^T + b.
 *
 * Typical step:
 *   mlp_forward(m, x, B, 1, err);
 *   loss = mlp_loss_forward_backward(m, &target, B);
 *   mlp_backward(m, x, B, accumulate);
 *   ...optimizer on mlp_params(m), mlp_grads(m), length mlp_n_params(m)...
 *
 * One mlp is used by one thread at a time; replicas (mlp_replica) let several
 * threads work on row shards of one batch over the same weights. OpenBLAS
 * threading is whatever the caller set (openblas_set_num_threads); this
 * module never changes it (with one thread the dense products run
 * trainer/gemm.c's own kernels where the CPU allows). */
#ifndef KESTREL_MLP_H
#define KESTREL_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "../common/kerror.h"
#include "layers.h"

#define MLP_MAX_LAYERS 16   /* hidden layers */
#define MLP_TENSOR_NAME 32
#define MLP_RNG_WORDS 4     /* dropout RNG state (rng.h xoshiro256**), see mlp_rng_get */

typedef enum {
    MLP_INIT_XAVIER_UNIFORM,  /* U(-a,a), a = sqrt(6/(fan_in+fan_out)), Glorot & Bengio 2010 */
    MLP_INIT_XAVIER_NORMAL,   /* N(0, 2/(fan_in+fan_out)) */
    MLP_INIT_HE_UNIFORM,      /* U(-a,a), a = sqrt(6/fan_in), He et al. 2015 */
    MLP_INIT_HE_NORMAL        /* N(0, 2/fan_in) */
} mlp_init;

typedef enum {
    MLP_LOSS_SOFTMAX_XENT,  /* labels in [0,n_out); optional label smoothing and distillation */
    MLP_LOSS_MSE,           /* targets (B,n_out); mean over all B*n_out entries */
    MLP_LOSS_HUBER,         /* targets (B,n_out); Huber with huber_delta, mean as MSE */
    MLP_LOSS_BCE            /* targets (B,n_out) in [0,1]; sigmoid cross-entropy, mean as MSE */
} mlp_loss;

typedef struct {
    int n_in;                /* input features, > 0 */
    int n_layers;            /* hidden layers, 0..MLP_MAX_LAYERS */
    const int *widths;       /* n_layers widths > 0; copied by mlp_create */
    int n_out;               /* outputs; >= 2 for MLP_LOSS_SOFTMAX_XENT */
    layers_act act;
    float leaky_slope;       /* LAYERS_ACT_LEAKY_RELU only, e.g. 0.01 */
    int batchnorm;           /* 1: BN after every hidden dense (that dense then has no bias) */
    float bn_momentum;       /* in [0,1]; run = (1-m) run + m batch (PyTorch convention, 0.1) */
    float bn_eps;            /* > 0, e.g. 1e-5 */
    float dropout;           /* rate p in [0,1); 0 disables */
    mlp_init init;
    uint64_t seed;           /* init and dropout RNG */
    int max_batch;           /* > 0; every call takes 1 <= B <= max_batch */
    mlp_loss loss;
    float label_smoothing;   /* in [0,1), MLP_LOSS_SOFTMAX_XENT only */
    float huber_delta;       /* > 0, MLP_LOSS_HUBER only (default 1, PyTorch's) */
    float distill_temperature; /* T > 0, used when a target carries teacher_probs */
    float distill_alpha;       /* in [0,1]: alpha * distill + (1-alpha) * hard loss */
} mlp_config;

/* One hidden block's activations, each sized for max_batch rows. */
typedef struct {
    float *z;              /* (B,w) dense output */
    float *a;              /* (B,w) pre-activation: BN output, or z itself without BN */
    float *xhat;           /* (B,w) normalised z, BN only */
    float *mean, *invstd;  /* (w) statistics the BN forward used, BN only */
    float *mask;           /* (B,w) dropout mask (0 or 1/(1-p)), dropout only */
    float *h;              /* (B,w) block output */
} mlp_layer_acts;

/* The activation arena's slices. The CUDA twin lays its device arena out
 * with the same function, so the two cannot drift apart. */
typedef struct {
    mlp_layer_acts a[MLP_MAX_LAYERS];
    float *logits, *dlogits;   /* (B,n_out) */
    float *dbuf[2];            /* (B,max width) ping-pong for backward */
    float *bn_work;            /* (2 max width) batch-norm backward scratch */
} mlp_acts;

/* Slices base (or, with base NULL, only measures) the activation arena of a
 * net with cfg and hidden widths into *v; returns its length in floats. */
size_t mlp_acts_layout(const mlp_config *cfg, const int *widths, float *base, mlp_acts *v);

/* Fills cfg with the defaults above (relu, he_normal, no BN, no dropout,
 * bn_momentum 0.1, bn_eps 1e-5, T 1, alpha 0.5, softmax cross-entropy). Sizes
 * (n_in, widths, n_out, max_batch) are left 0/NULL for the caller to set.
 * Start every config here: a zeroed one fails validation (T must be > 0). */
void mlp_config_default(mlp_config *cfg);

/* One tensor of the parameter arena. offset counts floats from mlp_params().
 * W is (rows=out, cols=in); vectors have cols == 1. A "unit" for unit-wise
 * clipping is one row. Names: "h<i>.W", "h<i>.b", "h<i>.gamma", "h<i>.beta",
 * "h<i>.run_mean", "h<i>.run_var", "out.W", "out.b". */
typedef struct {
    char name[MLP_TENSOR_NAME];
    size_t offset;
    int rows, cols;
    int is_weight;   /* 1 for dense W: weight decay applies; 0 for biases and BN */
    int trainable;   /* 0 for BN running stats: offset >= mlp_n_params(), no gradient */
} mlp_tensor;

/* Everything a loss needs for one batch; unused fields may be NULL. */
typedef struct {
    const int *labels;          /* (B) classes, MLP_LOSS_SOFTMAX_XENT */
    const float *targets;       /* (B,n_out), MLP_LOSS_MSE and MLP_LOSS_HUBER */
    const float *teacher_probs; /* (B,n_out) softmax(teacher_logits/T) rows, or NULL:
                                 * when set, the loss is Hinton et al. 2015 distillation */
    const float *class_weight;  /* (n_out) cross-entropy weight per class, or NULL
                                 * (loss.h's loss_softmax_xent; not with distillation) */
} mlp_target;

typedef struct mlp mlp;

/* Validates cfg, allocates the three arenas and initialises the parameters
 * from cfg->seed. On success *out is owned by the caller (mlp_free). Errors:
 * KE_INVALID (path = the config field, e.g. "widths[1]"), KE_NOMEM. */
int mlp_create(mlp **out, const mlp_config *cfg, kerror *err);
void mlp_free(mlp *m);   /* NULL allowed */

/* A model that reads primary's parameter arena (weights and BN running
 * statistics, borrowed: primary must outlive it) with its own activation
 * arena and its own dropout stream, and no gradient arena (mlp_grads is
 * NULL): one thread's share of a data-parallel batch, whose gradients
 * mlp_backward_weights sums into primary's. With batch norm its training
 * forward needs a sync (mlp_forward_after_first), through which the shards
 * share batch statistics and one of them moves the running ones. Free it
 * with mlp_free, which leaves the borrowed parameters alone. */
int mlp_replica(mlp **out, mlp *primary, kerror *err);

/* Reseeds to's dropout stream from one draw of from's: data-parallel shards
 * get fresh, reproducible masks, and only from's state needs saving. */
void mlp_rng_fork(mlp *from, mlp *to, uint64_t shard);

/* Re-draws all parameters, resets BN running stats (mean 0, var 1), zeroes
 * the gradients and reseeds the dropout RNG, as a fresh mlp_create with this
 * seed would. */
void mlp_reinit(mlp *m, uint64_t seed);

/* The model's config; widths points to the model's own copy. */
const mlp_config *mlp_get_config(const mlp *m);

/* Trainable floats: the length of mlp_grads() and of the optimizer's view. */
size_t mlp_n_params(const mlp *m);
/* Trainable floats plus BN running stats: what a checkpoint saves from mlp_params(). */
size_t mlp_n_state(const mlp *m);
float *mlp_params(mlp *m);   /* mlp_n_state floats, owned by m */
float *mlp_grads(mlp *m);    /* mlp_n_params floats, owned by m */
/* Tensor table (trainable tensors first, then running stats); *n gets its length. */
const mlp_tensor *mlp_tensors(const mlp *m, int *n);

/* Dropout RNG state, for checkpoints: get copies it out, set restores it. */
void mlp_rng_get(const mlp *m, uint64_t state[MLP_RNG_WORDS]);
void mlp_rng_set(mlp *m, const uint64_t state[MLP_RNG_WORDS]);

/* Batch norm over a batch split into shards (data parallelism): the B
 * rows a call gets are one shard; bn is how its layers see the whole batch
 * (layers_bn_sync), and the one shard with bn.update_running also writes
 * gamma's and beta's gradients. A NULL sync: the B rows are the whole
 * batch. */
typedef struct {
    layers_bn_sync bn;
    mlp *grads;             /* the model whose arena gets gamma's and beta's
                             * gradients: set in the one shard that has
                             * update_running, NULL in the others */
} mlp_bn_sync;

/* x (B,n_in) -> logits (B,n_out). training=1: BN uses batch statistics and
 * updates the running ones, dropout draws a fresh mask; training=0: running
 * stats, no dropout. x must stay unchanged until mlp_backward. Errors:
 * KE_INVALID when B is outside [1, max_batch]. */
int mlp_forward(mlp *m, const float *x, int B, int training, kerror *err);
const float *mlp_logits(const mlp *m);   /* (B,n_out) of the last forward */

/* Data parallelism's first layer, split by units instead of rows: hidden
 * layer 0's dense output z for units [r0, r1) of every row of x (the whole
 * batch, whose consecutive shards of Bs[s] rows belong to shards[s]), into
 * each shard's z. self is the calling thread's model, whose scratch it
 * uses; the weights are self's. Calls on disjoint unit ranges may run
 * concurrently. Needs n_layers >= 1. */
void mlp_first_layer_units(mlp *self, mlp *const *shards, const float *x, const int *Bs, int n,
                           int r0, int r1);

/* mlp_forward of a shard whose hidden layer 0 dense output
 * mlp_first_layer_units already wrote (with no hidden layer: mlp_forward);
 * sync: how its batch norm sees the whole batch (NULL without batch norm). */
int mlp_forward_after_first(mlp *m, const float *x, int B, int training, const mlp_bn_sync *sync,
                            kerror *err);

/* Mean loss over the B rows of the last forward's logits (B must be that
 * forward's); writes dlogits, the gradient of that mean, for mlp_backward.
 * Labels must lie in [0,n_out): the data loader validates them (asserted
 * here). Softmax cross-entropy with label smoothing eps uses targets
 * (1-eps) onehot + eps/n_out; with t->teacher_probs it returns
 * alpha T^2 KL(teacher || softmax(z/T)) + (1-alpha) hard loss. */
float mlp_loss_forward_backward(mlp *m, const mlp_target *t, int B);

/* Backpropagates dlogits through the net of the last training forward on the
 * same x (B,n_in). accumulate=0 overwrites the gradient arena, 1 adds to it
 * (gradient accumulation: the result is the sum of per-batch mean gradients).
 * It is mlp_backward_outputs, then mlp_backward_weights of every layer. */
void mlp_backward(mlp *m, const float *x, int B, int accumulate);

/* The backward's first half: every dense layer's output gradient, kept in
 * the activation arena (replacing the layer's z) until the next forward,
 * plus batch norm's gamma/beta gradients when m has a gradient arena
 * (accumulate as in mlp_backward). No weight or bias gradient. sync as in
 * mlp_forward_after_first, the forward's. */
void mlp_backward_outputs(mlp *m, int B, int accumulate, const mlp_bn_sync *sync);

/* The backward's second half for rows (units) [r0, r1) of dense layer l
 * (0..n_layers, n_layers being the output layer) into m's gradient arena:
 * the sum over n shards, models that each ran mlp_backward_outputs on Bs[s]
 * rows xs[s] of one batch (0 rows: skipped), of their weight and bias
 * gradients. m may be one of the shards; shards[s] need no gradient arena.
 * accumulate as in mlp_backward. Calls on disjoint row ranges may run
 * concurrently. */
void mlp_backward_weights(mlp *m, mlp *const *shards, const float *const *xs, const int *Bs,
                          int n, int l, int r0, int r1, int accumulate);

/* Dense layer l (0..n_layers): its shape and where its W (rows x cols,
 * row-major), its bias, or its batch norm's gamma and beta (one per unit)
 * start in mlp_params() and mlp_grads(); (size_t)-1 for those it lacks. */
typedef struct {
    int rows, cols;       /* units, inputs */
    size_t w_off, b_off;
    size_t gamma_off, beta_off;
} mlp_dense;
void mlp_dense_info(const mlp *m, int l, mlp_dense *d);
/* Multiplies the last dlogits by s before mlp_backward: a shard of b rows of
 * a batch of B weighs b/B in the batch's mean gradient. */
void mlp_dlogits_scale(mlp *m, int B, float s);
void mlp_grads_zero(mlp *m);

/* Evaluation forward (training=0) plus the loss, no gradient. *loss gets the
 * mean loss, *n_correct the rows whose argmax logit equals the label (0 for
 * MSE). Either output may be NULL. Errors as mlp_forward. */
int mlp_eval_batch(mlp *m, const float *x, const mlp_target *t, int B,
                   float *loss, int *n_correct, kerror *err);

/* Rows of logits (B,n_out) whose argmax equals labels[b]. */
int mlp_count_correct(const float *logits, const int *labels, int B, int n_out);

/* probs (B,C) = softmax(logits / T) row-wise; for teacher probabilities. */
void mlp_softmax(float *probs, const float *logits, int B, int C, float T);

#endif
