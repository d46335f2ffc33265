/* mlp_cuda: the device model: arenas cut by the host model's tensor table,
 * the layers_cuda / loss_cuda kernels wired to them, and the host-side
 * dropout RNG that seeds the device masks. Invariant: the host tensor table
 * is the one description of the layout; both device slices (parameters and
 * gradients) are looked up in it by name, so they cannot drift from the
 * CPU model or from the checkpoint format. */
#include "mlp_cuda.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers_cuda.h"
#include "loss_cuda.h"

extern "C" {
#include "../trainer/rng.h"
}

#define MAX_DENSE (MLP_MAX_LAYERS + 1)

/* Device slices of one dense layer (+ batch norm); absent tensors are NULL. */
typedef struct {
    float *W, *b, *gamma, *beta, *run_mean, *run_var;
} layer_params;

struct mlp_cuda {
    mlp_config cfg;
    int widths[MLP_MAX_LAYERS];
    cudev *d;
    size_t n_params, n_state, n_acts;
    float *params, *grads, *acts;   /* the three device arenas */
    layer_params p[MAX_DENSE], g[MAX_DENSE];
    mlp_acts act;                   /* device slices, laid out as mlp.c's */
    float *row_loss;                /* (B) */
    rng drop_rng;
    int last_B, last_training;
};

static int dense_in(const mlp_cuda *m, int l) { return l == 0 ? m->cfg.n_in : m->widths[l - 1]; }
static int dense_out(const mlp_cuda *m, int l) { return l == m->cfg.n_layers ? m->cfg.n_out : m->widths[l]; }

/* base + the offset of tensor "<prefix>.<what>", or NULL when the model has none. */
static float *slice(const mlp_tensor *t, int nt, const char *prefix, const char *what, float *base)
{
    char name[MLP_TENSOR_NAME];
    snprintf(name, sizeof name, "%s.%s", prefix, what);
    for (int i = 0; i < nt; i++)
        if (strcmp(t[i].name, name) == 0) return base + t[i].offset;
    return NULL;
}

static void slice_params(mlp_cuda *m, const mlp_tensor *t, int nt)
{
    char prefix[16];
    for (int l = 0; l <= m->cfg.n_layers; l++) {
        if (l == m->cfg.n_layers) snprintf(prefix, sizeof prefix, "out");
        else snprintf(prefix, sizeof prefix, "h%d", l);
        layer_params *P = &m->p[l], *G = &m->g[l];
        static const char *const names[4] = {"W", "b", "gamma", "beta"};
        float **pslots[4] = {&P->W, &P->b, &P->gamma, &P->beta};
        float **gslots[4] = {&G->W, &G->b, &G->gamma, &G->beta};
        for (int i = 0; i < 4; i++) {
            *pslots[i] = slice(t, nt, prefix, names[i], m->params);
            *gslots[i] = slice(t, nt, prefix, names[i], m->grads);
        }
        P->run_mean = slice(t, nt, prefix, "run_mean", m->params);
        P->run_var = slice(t, nt, prefix, "run_var", m->params);
    }
}

/* Slices (base NULL: only sizes) the device arena: mlp.c's layout, then
 * the per-row losses the device reduction needs. */
static size_t slice_acts(mlp_cuda *m, float *base)
{
    size_t n = mlp_acts_layout(&m->cfg, m->widths, base, &m->act);
    m->row_loss = base ? base + n : NULL;
    return n + (size_t)m->cfg.max_batch;
}

/* Largest GEMM operand (elements) of any dense layer at max_batch, for the
 * 16-bit scratch: W (n,k), inputs (B,k), output gradients (B,n). */
static size_t max_operand(const mlp_cuda *m)
{
    size_t Bm = (size_t)m->cfg.max_batch, best = 0;
    for (int l = 0; l <= m->cfg.n_layers; l++) {
        size_t k = (size_t)dense_in(m, l), n = (size_t)dense_out(m, l);
        size_t c[3] = {n * k, Bm * k, Bm * n};
        for (int i = 0; i < 3; i++) if (c[i] > best) best = c[i];
    }
    return best;
}

int mlp_cuda_create(mlp_cuda **out, cudev *d, mlp *host, kerror *err)
{
    *out = NULL;
    mlp_cuda *m = (mlp_cuda *)calloc(1, sizeof *m);
    if (!m) return kerror_set(err, KE_NOMEM, NULL, "mlp_cuda: out of memory");
    m->cfg = *mlp_get_config(host);
    if (m->cfg.n_layers > 0) memcpy(m->widths, m->cfg.widths, (size_t)m->cfg.n_layers * sizeof(int));
    m->cfg.widths = m->widths;
    m->d = d;
    m->n_params = mlp_n_params(host);
    m->n_state = mlp_n_state(host);
    m->n_acts = slice_acts(m, NULL);
    int rc = cudev_alloc(d, (void **)&m->params, m->n_state * sizeof(float), "model parameters", err);
    if (!rc) rc = cudev_alloc(d, (void **)&m->grads, m->n_params * sizeof(float), "gradients", err);
    if (!rc) rc = cudev_alloc(d, (void **)&m->acts, m->n_acts * sizeof(float), "activations", err);
    if (!rc) rc = cudev_reserve(d, max_operand(m), err);
    if (!rc) {
        int nt;
        const mlp_tensor *t = mlp_tensors(host, &nt);
        slice_params(m, t, nt);
        slice_acts(m, m->acts);
        rc = mlp_cuda_upload(m, host, err);
    }
    if (rc) {
        mlp_cuda_free(m);
        return rc;
    }
    *out = m;
    return KE_OK;
}

void mlp_cuda_free(mlp_cuda *m)
{
    if (!m) return;
    cudev_release(m->params);
    cudev_release(m->grads);
    cudev_release(m->acts);
    free(m);
}

int mlp_cuda_upload(mlp_cuda *m, mlp *host, kerror *err)
{
    uint64_t s[MLP_RNG_WORDS];
    mlp_rng_get(host, s);
    mlp_cuda_rng_set(m, s);
    m->last_B = 0;
    return cudev_upload(m->d, m->params, mlp_params(host), m->n_state * sizeof(float), err);
}

int mlp_cuda_download(mlp_cuda *m, mlp *host, kerror *err)
{
    mlp_rng_set(host, m->drop_rng.s);
    return cudev_download(m->d, mlp_params(host), m->params, m->n_state * sizeof(float), err);
}

const mlp_config *mlp_cuda_get_config(const mlp_cuda *m) { return &m->cfg; }
size_t mlp_cuda_n_params(const mlp_cuda *m) { return m->n_params; }
size_t mlp_cuda_n_state(const mlp_cuda *m) { return m->n_state; }
float *mlp_cuda_params(mlp_cuda *m) { return m->params; }
float *mlp_cuda_grads(mlp_cuda *m) { return m->grads; }
const float *mlp_cuda_logits(const mlp_cuda *m) { return m->act.logits; }
const float *mlp_cuda_row_loss(const mlp_cuda *m) { return m->row_loss; }

void mlp_cuda_rng_get(const mlp_cuda *m, uint64_t state[MLP_RNG_WORDS])
{
    memcpy(state, m->drop_rng.s, sizeof m->drop_rng.s);
}

void mlp_cuda_rng_set(mlp_cuda *m, const uint64_t state[MLP_RNG_WORDS])
{
    memcpy(m->drop_rng.s, state, sizeof m->drop_rng.s);
    m->drop_rng.has_spare = 0;
}

uint64_t mlp_cuda_draw_seed(mlp_cuda *m) { return rng_u64(&m->drop_rng); }

__global__ void add_bias_kernel(float *out, const float *b, size_t N, int n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < N; i += (size_t)gridDim.x * blockDim.x)
        out[i] += b[i % n];
}

int mlp_cuda_forward(mlp_cuda *m, const float *x, int B, int training, const uint64_t *seed,
                     kerror *err)
{
    if (B < 1 || B > m->cfg.max_batch)
        return kerror_set(err, KE_INVALID, "batch", "batch size %d outside [1,%d]", B, m->cfg.max_batch);
    const mlp_config *c = &m->cfg;
    if (training && c->dropout > 0.0f && !seed)
        return kerror_set(err, KE_INVALID, "dropout", "a training forward with dropout needs a seed");
    const float *in = x;
    int k = c->n_in;
    for (int l = 0; l < c->n_layers; l++) {
        int w = m->widths[l];
        mlp_layer_acts *A = &m->act.a[l];
        const layer_params *P = &m->p[l];
        layers_cuda_dense_forward(m->d, A->z, in, P->W, B, k, w);
        const float *mask = NULL;
        if (training && A->mask) {
            layers_cuda_dropout_mask(m->d, A->mask, (size_t)B * w, c->dropout, seed, (unsigned)l);
            mask = A->mask;
        }
        if (P->gamma)
            layers_cuda_bn_forward(m->d, A->a, A->xhat, A->mean, A->invstd, P->run_mean, P->run_var,
                                   A->z, P->gamma, P->beta, B, w, c->bn_momentum, c->bn_eps, training);
        layers_cuda_act_forward(m->d, A->h, A->a, P->b, mask, B, w, c->act, c->leaky_slope);
        in = A->h;
        k = w;
    }
    const layer_params *P = &m->p[c->n_layers];
    layers_cuda_dense_forward(m->d, m->act.logits, in, P->W, B, k, c->n_out);
    size_t N = (size_t)B * c->n_out;
    add_bias_kernel<<<cudev_blocks(N, 256), 256, 0, cudev_stream(m->d)>>>(m->act.logits, P->b, N, c->n_out);
    m->last_B = B;
    m->last_training = training;
    return KE_OK;
}

/* The configured loss of the last forward's logits; dlogits may be NULL. */
static void batch_loss(mlp_cuda *m, const mlp_target *t, int B, float *dlogits, const float *gscale)
{
    const mlp_config *c = &m->cfg;
    if (c->loss == MLP_LOSS_MSE)
        loss_cuda_mse(m->d, m->row_loss, dlogits, m->act.logits, t->targets, B, c->n_out, gscale);
    else if (c->loss == MLP_LOSS_BCE)
        loss_cuda_bce(m->d, m->row_loss, dlogits, m->act.logits, t->targets, B, c->n_out, gscale);
    else if (c->loss == MLP_LOSS_HUBER)
        loss_cuda_huber(m->d, m->row_loss, dlogits, m->act.logits, t->targets, B, c->n_out, c->huber_delta,
                        gscale);
    else if (t->teacher_probs)
        loss_cuda_distill(m->d, m->row_loss, dlogits, m->act.logits, t->teacher_probs, t->labels, B, c->n_out,
                          c->distill_temperature, c->distill_alpha, c->label_smoothing, gscale);
    else
        loss_cuda_softmax_xent(m->d, m->row_loss, dlogits, m->act.logits, t->labels, B, c->n_out,
                               c->label_smoothing, gscale);
}

void mlp_cuda_loss_forward_backward(mlp_cuda *m, const mlp_target *t, int B, const float *gscale)
{
    assert(B == m->last_B);
    batch_loss(m, t, B, m->act.dlogits, gscale);
}

void mlp_cuda_backward(mlp_cuda *m, const float *x, int B, int accumulate)
{
    /* batch-norm and dropout backward need the batch statistics and mask of a training forward */
    assert(B == m->last_B && m->last_training);
    const mlp_config *c = &m->cfg;
    int L = c->n_layers;
    float *dh = m->act.dbuf[0], *dnext = m->act.dbuf[1];
    const float *in = L ? m->act.a[L - 1].h : x;
    layers_cuda_dense_backward(m->d, L ? dh : NULL, m->g[L].W, m->g[L].b, m->act.dlogits, in, m->p[L].W,
                               B, dense_in(m, L), c->n_out, accumulate);
    for (int l = L - 1; l >= 0; l--) {
        int w = m->widths[l];
        const mlp_layer_acts *A = &m->act.a[l];
        layers_cuda_act_backward(m->d, dh, dh, A->a, A->mask, B, w, c->act, c->leaky_slope);
        if (m->p[l].gamma)
            layers_cuda_bn_backward(m->d, dh, m->g[l].gamma, m->g[l].beta, dh, A->xhat, m->p[l].gamma,
                                    A->invstd, m->act.bn_work, B, w, accumulate);
        in = l ? m->act.a[l - 1].h : x;
        layers_cuda_dense_backward(m->d, l ? dnext : NULL, m->g[l].W, m->g[l].b, dh, in, m->p[l].W,
                                   B, dense_in(m, l), w, accumulate);
        float *t = dh;
        dh = dnext;
        dnext = t;
    }
}

void mlp_cuda_grads_zero(mlp_cuda *m)
{
    cudev_note(m->d, cudaMemsetAsync(m->grads, 0, m->n_params * sizeof(float), cudev_stream(m->d)),
               "mlp_cuda_grads_zero");
}

int mlp_cuda_eval_batch(mlp_cuda *m, const float *x, const mlp_target *t, int B, double *acc,
                        kerror *err)
{
    int rc = mlp_cuda_forward(m, x, B, 0, NULL, err);
    if (rc) return rc;
    batch_loss(m, t, B, NULL, NULL);
    /* right rows whenever there are labels, whatever the loss (MSE on
     * one-hot classes too), as train.c's eval_batch */
    loss_cuda_accumulate(m->d, acc, m->row_loss, m->act.logits, t->labels, B, m->cfg.n_out);
    return KE_OK;
}

void mlp_cuda_softmax(cudev *d, float *probs, const float *logits, int B, int C, float T)
{
    loss_cuda_softmax(d, probs, logits, B, C, T);
}
