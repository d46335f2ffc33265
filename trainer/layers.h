/* layers: the MLP's forward/backward kernels on plain float arrays: dense
 * (trainer/gemm.c), bias + activation + dropout mask fused in one pass, and
 * batch normalisation. They know nothing of the model struct; mlp.c wires them
 * to its arenas. Invariant: every kernel writes only its named outputs, and a
 * backward with accumulate=0 overwrites its parameter gradients, 1 adds.
 * All arrays are row-major; B is the batch, k the input width, n the output. */
#ifndef KESTREL_LAYERS_H
#define KESTREL_LAYERS_H

/* The hidden blocks' activation. */
typedef enum {
    LAYERS_ACT_RELU,
    LAYERS_ACT_LEAKY_RELU,   /* x > 0 ? x : slope * x (mlp_config.leaky_slope) */
    LAYERS_ACT_TANH,
    LAYERS_ACT_SIGMOID,
    LAYERS_ACT_GELU          /* tanh approximation, Hendrycks & Gimpel 2016:
                              * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
} layers_act;

/* Batch norm over one shard of a batch split across threads: sum(ctx, v, k)
 * replaces the shard's partial column sums v (k floats) by the whole
 * batch's, the same in every shard (each shard calls it the same number of
 * times); rows is the whole batch's row count; exactly one shard has
 * update_running set and moves the running statistics. A NULL sync: the B
 * rows are the whole batch. mlp_bn_sync carries one per shard. */
typedef struct {
    void (*sum)(void *ctx, float *v, int k);
    void *ctx;
    int rows;
    int update_running;
} layers_bn_sync;

/* out (B,n) = inp (B,k) * W^T, W (n,k). The bias is added by
 * layers_act_forward (fused with the activation) or absorbed by batch norm.
 * scratch: gemm_forward_scratch(B, k, n) floats. */
void layers_dense_forward(float *out, const float *inp, const float *W, int B, int k, int n,
                          float *scratch);

/* dW (n,k) = dout^T (n,B) * inp (B,k) and db (n) = column sums of dout
 * (skipped when db is NULL), for the n columns of a dout whose rows are
 * ldo >= n floats apart (a column range of a wider one: a share of a layer's
 * units). */
void layers_dense_grad_params(float *dW, float *db, const float *dout, int ldo,
                              const float *inp, int B, int k, int n, int accumulate);

/* dinp (B,k) = dout (B,n) * W (n,k). */
void layers_dense_grad_input(float *dinp, const float *dout, const float *W, int B, int k, int n);

/* Both of the above: the parameter gradients, and dinp unless it is NULL. */
void layers_dense_backward(float *dinp, float *dW, float *db, const float *dout,
                           const float *inp, const float *W, int B, int k, int n,
                           int accumulate);

/* a (B,n) += bias (row-broadcast; skipped when bias is NULL), then
 * h (B,n) = act(a) * mask (mask NULL: no dropout; mask entries are 0 or 1/(1-p)). */
void layers_act_forward(float *h, float *a, const float *bias, const float *mask,
                        int B, int n, layers_act act, float slope);

/* da (B,n) = dh * mask * act'(a). da may alias dh or a. */
void layers_act_backward(float *da, const float *dh, const float *a, const float *mask,
                         int B, int n, layers_act act, float slope);

/* Batch norm, Ioffe & Szegedy 2015: y (B,n) = gamma * xhat + beta with
 * xhat = (z - mu) / sqrt(var + eps). training=1: mu, var are the batch's
 * (biased) statistics, saved as mean (n) and invstd (n) for the backward, and
 * run_mean/run_var move by momentum (run_var gets the unbiased variance);
 * training=0: mu, var are run_mean/run_var, which stay unchanged (and sync
 * is not used). */
void layers_bn_forward(float *y, float *xhat, float *mean, float *invstd,
                       float *run_mean, float *run_var, const float *z,
                       const float *gamma, const float *beta, int B, int n,
                       float momentum, float eps, int training, const layers_bn_sync *sync);

/* Batch-norm backward (training-mode statistics):
 * dgamma = sum_b dy xhat, dbeta = sum_b dy,
 * dz = invstd/B * (B dxhat - sum_b dxhat - xhat sum_b dxhat xhat), dxhat = dy gamma,
 * sums and B over the whole batch (sync as in layers_bn_forward). dgamma and
 * dbeta may be NULL (a shard that does not hold the gradients). dz may
 * alias dy; work is (2n) scratch. */
void layers_bn_backward(float *dz, float *dgamma, float *dbeta, const float *dy,
                        const float *xhat, const float *gamma, const float *invstd,
                        float *work, int B, int n, int accumulate, const layers_bn_sync *sync);

#endif
