/* mlp: builds the model's arenas from its config, wires the layers/loss
 * kernels to them, and owns the seeded RNG used by init and dropout.
 * Invariant: the tensor table is the one description of the layout; the
 * parameter and gradient slices are both cut from it, so they cannot drift. */
#include "mlp.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "layers.h"
#include "loss.h"
#include "rng.h"
#include "vec.h"

#define MAX_DENSE (MLP_MAX_LAYERS + 1)
#define MAX_TENSORS (5 * MLP_MAX_LAYERS + 2)

/* Slices of one dense layer (+ its batch norm) in the parameter or gradient
 * arena; a tensor the layer does not have is NULL. */
typedef struct {
    float *W;                  /* (out,in) */
    float *b;                  /* (out), absent with batch norm */
    float *gamma, *beta;       /* (out), batch norm only */
    float *run_mean, *run_var; /* (out), parameter arena only */
} layer_params;

struct mlp {
    mlp_config cfg;
    int widths[MLP_MAX_LAYERS];
    mlp_tensor tensors[MAX_TENSORS];
    int n_tensors;
    size_t n_params, n_state, n_acts;
    float *params, *grads, *acts;  /* the three arenas */
    float *gemm_scratch;           /* gemm_forward's scratch, the largest layer's */
    layer_params p[MAX_DENSE], g[MAX_DENSE];
    mlp_acts act;                  /* slices of the activation arena */
    rng drop_rng;                  /* dropout masks only (uniforms, never normals) */
    int borrowed_params;           /* a replica: params belong to another mlp */
    int last_B, last_training;
};

void mlp_config_default(mlp_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->act = LAYERS_ACT_RELU;
    cfg->leaky_slope = 0.01f;
    cfg->bn_momentum = 0.1f;
    cfg->bn_eps = 1e-5f;
    cfg->init = MLP_INIT_HE_NORMAL;
    cfg->loss = MLP_LOSS_SOFTMAX_XENT;
    cfg->huber_delta = 1.0f;
    cfg->distill_temperature = 1.0f;
    cfg->distill_alpha = 0.5f;
}

static int validate(const mlp_config *c, kerror *err)
{
    if (c->n_in <= 0) return kerror_set(err, KE_INVALID, "n_in", "must be > 0, got %d", c->n_in);
    if (c->n_layers < 0 || c->n_layers > MLP_MAX_LAYERS)
        return kerror_set(err, KE_INVALID, "n_layers", "must be in [0,%d], got %d",
                          MLP_MAX_LAYERS, c->n_layers);
    if (c->n_layers > 0 && !c->widths)
        return kerror_set(err, KE_INVALID, "widths", "missing for %d hidden layers", c->n_layers);
    for (int i = 0; i < c->n_layers; i++)
        if (c->widths[i] <= 0) {
            char path[32];
            snprintf(path, sizeof path, "widths[%d]", i);
            return kerror_set(err, KE_INVALID, path, "must be > 0, got %d", c->widths[i]);
        }
    if (c->n_out <= 0 || (c->loss == MLP_LOSS_SOFTMAX_XENT && c->n_out < 2))
        return kerror_set(err, KE_INVALID, "n_out", "must be >= %d, got %d",
                          c->loss == MLP_LOSS_SOFTMAX_XENT ? 2 : 1, c->n_out);
    if ((unsigned)c->act > LAYERS_ACT_GELU)
        return kerror_set(err, KE_INVALID, "act", "unknown activation");
    if ((unsigned)c->init > MLP_INIT_HE_NORMAL) return kerror_set(err, KE_INVALID, "init", "unknown init");
    if ((unsigned)c->loss > MLP_LOSS_BCE) return kerror_set(err, KE_INVALID, "loss", "unknown loss");
    if (c->loss == MLP_LOSS_HUBER && !(c->huber_delta > 0))
        return kerror_set(err, KE_INVALID, "huber_delta", "must be > 0");
    if (c->batchnorm && !(c->bn_momentum >= 0.0f && c->bn_momentum <= 1.0f))
        return kerror_set(err, KE_INVALID, "bn_momentum", "must be in [0,1], got %g", c->bn_momentum);
    if (c->batchnorm && !(c->bn_eps > 0.0f))
        return kerror_set(err, KE_INVALID, "bn_eps", "must be > 0, got %g", c->bn_eps);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return kerror_set(err, KE_INVALID, "dropout", "must be in [0,1), got %g", c->dropout);
    if (c->max_batch <= 0)
        return kerror_set(err, KE_INVALID, "max_batch", "must be > 0, got %d", c->max_batch);
    if (!(c->label_smoothing >= 0.0f && c->label_smoothing < 1.0f))
        return kerror_set(err, KE_INVALID, "label_smoothing", "must be in [0,1), got %g",
                          c->label_smoothing);
    if (!(c->distill_temperature > 0.0f))
        return kerror_set(err, KE_INVALID, "distill_temperature", "must be > 0, got %g",
                          c->distill_temperature);
    if (!(c->distill_alpha >= 0.0f && c->distill_alpha <= 1.0f))
        return kerror_set(err, KE_INVALID, "distill_alpha", "must be in [0,1], got %g",
                          c->distill_alpha);
    return KE_OK;
}

static int dense_in(const mlp *m, int l) { return l == 0 ? m->cfg.n_in : m->widths[l - 1]; }
static int dense_out(const mlp *m, int l) { return l == m->cfg.n_layers ? m->cfg.n_out : m->widths[l]; }
static int has_bn(const mlp *m, int l) { return m->cfg.batchnorm && l < m->cfg.n_layers; }

static size_t gemm_scratch_floats(const mlp *m)
{
    size_t most = 0;
    for (int l = 0; l <= m->cfg.n_layers; l++) {
        size_t f = gemm_forward_scratch(m->cfg.max_batch, dense_in(m, l), dense_out(m, l));
        if (f > most) most = f;
    }
    return most;
}

/* Appends a tensor to the table and points the layer slices at it; the
 * slices stay NULL in the sizing pass, before the arenas exist. A tensor with
 * no gradient slot is non-trainable. */
static void add_tensor(mlp *m, const char *prefix, const char *what, int rows, int cols,
                       int is_weight, float **pslot, float **gslot, size_t *end)
{
    mlp_tensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s.%s", prefix, what);
    t->offset = *end;
    t->rows = rows;
    t->cols = cols;
    t->is_weight = is_weight;
    t->trainable = gslot != NULL;
    *pslot = m->params ? m->params + *end : NULL;
    if (gslot) *gslot = m->grads ? m->grads + *end : NULL;
    *end += (size_t)rows * cols;
}

/* Builds the tensor table, trainable tensors first so the optimizer's flat
 * view is a prefix, and slices both arenas by it (or, before they exist, only
 * sizes them: n_params, n_state). */
static void build_layout(mlp *m)
{
    size_t end = 0;
    char prefix[16];
    m->n_tensors = 0;
    memset(m->p, 0, sizeof m->p);
    memset(m->g, 0, sizeof m->g);
    for (int l = 0; l <= m->cfg.n_layers; l++) {
        layer_params *P = &m->p[l], *G = &m->g[l];
        int in = dense_in(m, l), out = dense_out(m, l);
        if (l == m->cfg.n_layers) snprintf(prefix, sizeof prefix, "out");
        else snprintf(prefix, sizeof prefix, "h%d", l);
        add_tensor(m, prefix, "W", out, in, 1, &P->W, &G->W, &end);
        if (has_bn(m, l)) {
            add_tensor(m, prefix, "gamma", out, 1, 0, &P->gamma, &G->gamma, &end);
            add_tensor(m, prefix, "beta", out, 1, 0, &P->beta, &G->beta, &end);
        } else {
            add_tensor(m, prefix, "b", out, 1, 0, &P->b, &G->b, &end);
        }
    }
    m->n_params = end;
    for (int l = 0; l < m->cfg.n_layers && m->cfg.batchnorm; l++) {
        snprintf(prefix, sizeof prefix, "h%d", l);
        add_tensor(m, prefix, "run_mean", m->widths[l], 1, 0, &m->p[l].run_mean, NULL, &end);
        add_tensor(m, prefix, "run_var", m->widths[l], 1, 0, &m->p[l].run_var, NULL, &end);
    }
    m->n_state = end;
}

/* Takes n floats from the activation arena cursor (or only counts them when
 * base is NULL, the sizing pass); each array starts on a cache line. */
static float *take(float *base, size_t *cursor, size_t n)
{
    float *p = base ? base + *cursor : NULL;
    *cursor += vec_line_up(n);
    return p;
}

size_t mlp_acts_layout(const mlp_config *cfg, const int *widths, float *base, mlp_acts *v)
{
    size_t cur = 0, Bm = (size_t)cfg->max_batch, maxw = 0;
    for (int l = 0; l < cfg->n_layers; l++) {
        size_t w = (size_t)widths[l];
        mlp_layer_acts *A = &v->a[l];
        memset(A, 0, sizeof *A);
        A->z = take(base, &cur, Bm * w);
        A->a = A->z;
        if (cfg->batchnorm) {
            A->a = take(base, &cur, Bm * w);
            A->xhat = take(base, &cur, Bm * w);
            A->mean = take(base, &cur, w);
            A->invstd = take(base, &cur, w);
        }
        if (cfg->dropout > 0.0f) A->mask = take(base, &cur, Bm * w);
        A->h = take(base, &cur, Bm * w);
        if (w > maxw) maxw = w;
    }
    v->logits = take(base, &cur, Bm * (size_t)cfg->n_out);
    v->dlogits = take(base, &cur, Bm * (size_t)cfg->n_out);
    v->dbuf[0] = take(base, &cur, Bm * maxw);
    v->dbuf[1] = take(base, &cur, Bm * maxw);
    v->bn_work = take(base, &cur, cfg->batchnorm ? 2 * maxw : 0);
    return cur;
}

/* Init and dropout draw from separate streams derived from seed, so the
 * dropout masks do not depend on how many numbers the init consumed. */
static void init_params(mlp *m, uint64_t seed)
{
    rng init_rng;
    rng_seed(&init_rng, rng_mix(seed, 1));
    rng_seed(&m->drop_rng, rng_mix(seed, 2));
    memset(m->params, 0, m->n_state * sizeof *m->params);
    for (int l = 0; l <= m->cfg.n_layers; l++) {
        double fan_in = dense_in(m, l), fan_out = dense_out(m, l);
        int xavier = m->cfg.init == MLP_INIT_XAVIER_UNIFORM || m->cfg.init == MLP_INIT_XAVIER_NORMAL;
        int uniform = m->cfg.init == MLP_INIT_XAVIER_UNIFORM || m->cfg.init == MLP_INIT_HE_UNIFORM;
        /* target variance: 2/(fan_in+fan_out) (Glorot) or 2/fan_in (He) */
        double var = xavier ? 2.0 / (fan_in + fan_out) : 2.0 / fan_in;
        double bound = sqrt(3.0 * var);   /* U(-a,a) has variance a^2/3 */
        double sd = sqrt(var);
        size_t n = (size_t)fan_in * (size_t)fan_out;
        float *W = m->p[l].W;
        for (size_t i = 0; i < n; i++)
            W[i] = uniform ? (float)(bound * (2.0 * rng_uniform(&init_rng) - 1.0))
                           : (float)(sd * rng_normal(&init_rng));
        if (has_bn(m, l))
            for (int j = 0; j < (int)fan_out; j++) {
                m->p[l].gamma[j] = 1.0f;
                m->p[l].run_var[j] = 1.0f;
            }
    }
    memset(m->grads, 0, m->n_params * sizeof *m->grads);
    m->last_B = 0;
}

int mlp_create(mlp **out, const mlp_config *cfg, kerror *err)
{
    *out = NULL;
    int rc = validate(cfg, err);
    if (rc) return rc;
    mlp *m = calloc(1, sizeof *m);
    if (!m) return kerror_set(err, KE_NOMEM, NULL, "mlp: out of memory");
    m->cfg = *cfg;
    if (cfg->n_layers > 0) memcpy(m->widths, cfg->widths, (size_t)cfg->n_layers * sizeof(int));
    m->cfg.widths = m->widths;
    build_layout(m);   /* sizing pass: arenas are still NULL */
    m->n_acts = mlp_acts_layout(&m->cfg, m->widths, NULL, &m->act);
    m->params = vec_alloc(m->n_state, 1);
    m->grads = vec_alloc(m->n_params, 1);
    m->acts = vec_alloc(m->n_acts, 1);
    m->gemm_scratch = vec_alloc(gemm_scratch_floats(m), 0);
    if (!m->params || !m->grads || !m->acts || !m->gemm_scratch) {
        size_t n_state = m->n_state, n_acts = m->n_acts;
        mlp_free(m);
        return kerror_set(err, KE_NOMEM, NULL, "mlp: out of memory for %zu parameters, %zu activations",
                          n_state, n_acts);
    }
    build_layout(m);
    mlp_acts_layout(&m->cfg, m->widths, m->acts, &m->act);
    init_params(m, cfg->seed);
    *out = m;
    return KE_OK;
}

int mlp_replica(mlp **out, mlp *primary, kerror *err)
{
    *out = NULL;
    mlp *m = calloc(1, sizeof *m);
    if (!m) return kerror_set(err, KE_NOMEM, NULL, "mlp: out of memory");
    m->cfg = primary->cfg;
    memcpy(m->widths, primary->widths, sizeof m->widths);
    m->cfg.widths = m->widths;
    m->borrowed_params = 1;
    m->params = primary->params;
    m->n_acts = primary->n_acts;
    m->acts = vec_alloc(m->n_acts, 1);
    m->gemm_scratch = vec_alloc(gemm_scratch_floats(m), 0);
    if (!m->acts || !m->gemm_scratch) {
        mlp_free(m);
        return kerror_set(err, KE_NOMEM, NULL, "mlp: out of memory for a replica");
    }
    build_layout(m);
    mlp_acts_layout(&m->cfg, m->widths, m->acts, &m->act);
    m->drop_rng = primary->drop_rng;
    *out = m;
    return KE_OK;
}

void mlp_rng_fork(mlp *from, mlp *to, uint64_t shard)
{
    rng_seed(&to->drop_rng, rng_mix(rng_u64(&from->drop_rng), shard));
}

void mlp_free(mlp *m)
{
    if (!m) return;
    if (!m->borrowed_params) free(m->params);
    free(m->grads);
    free(m->acts);
    free(m->gemm_scratch);
    free(m);
}

void mlp_reinit(mlp *m, uint64_t seed) { init_params(m, seed); }
const mlp_config *mlp_get_config(const mlp *m) { return &m->cfg; }
size_t mlp_n_params(const mlp *m) { return m->n_params; }
size_t mlp_n_state(const mlp *m) { return m->n_state; }
float *mlp_params(mlp *m) { return m->params; }
float *mlp_grads(mlp *m) { return m->grads; }

const mlp_tensor *mlp_tensors(const mlp *m, int *n)
{
    *n = m->n_tensors;
    return m->tensors;
}

/* The dropout stream draws only uniforms, so its four state words are all
 * of it: the Box-Muller spare is never in use. */
void mlp_rng_get(const mlp *m, uint64_t state[MLP_RNG_WORDS])
{
    memcpy(state, m->drop_rng.s, sizeof m->drop_rng.s);
}

void mlp_rng_set(mlp *m, const uint64_t state[MLP_RNG_WORDS])
{
    memcpy(m->drop_rng.s, state, sizeof m->drop_rng.s);
    m->drop_rng.has_spare = 0;
}

/* Inverted dropout (Srivastava et al. 2014): keep with probability 1-p and
 * scale by 1/(1-p), so evaluation needs no rescaling. */
static void draw_mask(mlp *m, float *mask, size_t N)
{
    float p = m->cfg.dropout, keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < N; i++) mask[i] = rng_uniform(&m->drop_rng) < p ? 0.0f : keep;
}

/* The forward; with first_done, hidden layer 0's dense output is already
 * in its z (mlp_first_layer_units). */
static int forward(mlp *m, const float *x, int B, int training, int first_done,
                   const mlp_bn_sync *sync, kerror *err)
{
    if (B < 1 || B > m->cfg.max_batch)
        return kerror_set(err, KE_INVALID, "batch", "batch size %d outside [1,%d]",
                          B, m->cfg.max_batch);
    const mlp_config *c = &m->cfg;
    /* a replica's statistics are its shard's alone: the running ones are shared */
    assert(!(training && c->batchnorm && m->borrowed_params && !sync));
    const float *in = x;
    int k = c->n_in;
    for (int l = 0; l < c->n_layers; l++) {
        int w = m->widths[l];
        mlp_layer_acts *A = &m->act.a[l];
        const layer_params *P = &m->p[l];
        if (l > 0 || !first_done) layers_dense_forward(A->z, in, P->W, B, k, w, m->gemm_scratch);
        const float *mask = NULL;
        if (training && A->mask) {
            draw_mask(m, A->mask, (size_t)B * w);
            mask = A->mask;
        }
        if (P->gamma)
            layers_bn_forward(A->a, A->xhat, A->mean, A->invstd, P->run_mean, P->run_var,
                              A->z, P->gamma, P->beta, B, w, c->bn_momentum, c->bn_eps, training,
                              sync ? &sync->bn : NULL);
        layers_act_forward(A->h, A->a, P->b, mask, B, w, c->act, c->leaky_slope);
        in = A->h;
        k = w;
    }
    const layer_params *P = &m->p[c->n_layers];
    layers_dense_forward(m->act.logits, in, P->W, B, k, c->n_out, m->gemm_scratch);
    for (int b = 0; b < B; b++) {
        float *row = m->act.logits + (size_t)b * c->n_out;
        for (int j = 0; j < c->n_out; j++) row[j] += P->b[j];
    }
    m->last_B = B;
    m->last_training = training;
    return KE_OK;
}

int mlp_forward(mlp *m, const float *x, int B, int training, kerror *err)
{
    return forward(m, x, B, training, 0, NULL, err);
}

void mlp_first_layer_units(mlp *self, mlp *const *shards, const float *x, const int *Bs, int n,
                           int r0, int r1)
{
    int k = self->cfg.n_in, w = self->widths[0], B = 0;
    for (int s = 0; s < n; s++) B += Bs[s];
    float *outT = self->gemm_scratch + gemm_forward_scratch(B, k, 0);
    gemm_forward_t(outT, x, self->p[0].W + (size_t)r0 * k, B, k, r1 - r0, self->gemm_scratch);
    for (int s = 0, lo = 0; s < n; lo += Bs[s++])
        if (Bs[s])
            gemm_transpose(shards[s]->act.a[0].z + r0, (size_t)w, outT + lo, (size_t)B, r1 - r0,
                           Bs[s]);
}

int mlp_forward_after_first(mlp *m, const float *x, int B, int training, const mlp_bn_sync *sync,
                            kerror *err)
{
    return forward(m, x, B, training, m->cfg.n_layers > 0, sync, err);
}

const float *mlp_logits(const mlp *m) { return m->act.logits; }

/* The configured loss of the last forward's logits; dlogits may be NULL. */
static float batch_loss(const mlp *m, const mlp_target *t, int B, float *dlogits)
{
    const mlp_config *c = &m->cfg;
    if (c->loss == MLP_LOSS_MSE) return loss_mse(dlogits, m->act.logits, t->targets, B, c->n_out);
    if (c->loss == MLP_LOSS_HUBER)
        return loss_huber(dlogits, m->act.logits, t->targets, B, c->n_out, c->huber_delta);
    if (c->loss == MLP_LOSS_BCE) return loss_bce(dlogits, m->act.logits, t->targets, B, c->n_out);
    if (t->teacher_probs)
        return loss_distill(dlogits, m->act.logits, t->teacher_probs, t->labels, B, c->n_out,
                            c->distill_temperature, c->distill_alpha, c->label_smoothing);
    return loss_softmax_xent(dlogits, m->act.logits, t->labels, B, c->n_out, c->label_smoothing,
                             t->class_weight);
}

float mlp_loss_forward_backward(mlp *m, const mlp_target *t, int B)
{
    assert(B == m->last_B);
    return batch_loss(m, t, B, m->act.dlogits);
}

/* Dense layer l's output gradient after mlp_backward_outputs: dlogits, or
 * the hidden block's dz, which takes the place of its z. */
static float *dense_dout(const mlp *m, int l)
{
    return l == m->cfg.n_layers ? m->act.dlogits : m->act.a[l].z;
}

void mlp_backward_outputs(mlp *m, int B, int accumulate, const mlp_bn_sync *sync)
{
    /* batch-norm and dropout backward need the batch statistics and mask of a training forward */
    assert(B == m->last_B && m->last_training);
    const mlp_config *c = &m->cfg;
    float *dh = m->act.dbuf[0];
    for (int l = c->n_layers - 1; l >= 0; l--) {
        int w = m->widths[l];
        const mlp_layer_acts *A = &m->act.a[l];
        layers_dense_grad_input(dh, dense_dout(m, l + 1), m->p[l + 1].W, B, w, dense_out(m, l + 1));
        if (m->p[l].gamma) {
            layers_act_backward(dh, dh, A->a, A->mask, B, w, c->act, c->leaky_slope);
            const mlp *gm = sync ? sync->grads : m;   /* a shard: one writes them, for all */
            layers_bn_backward(A->z, gm ? gm->g[l].gamma : NULL, gm ? gm->g[l].beta : NULL, dh,
                               A->xhat, m->p[l].gamma, A->invstd, m->act.bn_work, B, w,
                               accumulate, sync ? &sync->bn : NULL);
        } else {
            /* a is z here: dz overwrites it in place */
            layers_act_backward(A->z, dh, A->a, A->mask, B, w, c->act, c->leaky_slope);
        }
    }
}

void mlp_backward_weights(mlp *m, mlp *const *shards, const float *const *xs, const int *Bs,
                          int n, int l, int r0, int r1, int accumulate)
{
    int k = dense_in(m, l), ld = dense_out(m, l);
    float *dW = m->g[l].W + (size_t)r0 * k, *db = m->g[l].b ? m->g[l].b + r0 : NULL;
    for (int s = 0; s < n; s++) {
        if (Bs[s] == 0) continue;
        const float *in = l ? shards[s]->act.a[l - 1].h : xs[s];
        layers_dense_grad_params(dW, db, dense_dout(shards[s], l) + r0, ld, in, Bs[s], k, r1 - r0,
                                 accumulate);
        accumulate = 1;   /* the next shard adds its share */
    }
}

void mlp_dense_info(const mlp *m, int l, mlp_dense *d)
{
    d->rows = dense_out(m, l);
    d->cols = dense_in(m, l);
    d->w_off = (size_t)(m->p[l].W - m->params);
    d->b_off = m->p[l].b ? (size_t)(m->p[l].b - m->params) : (size_t)-1;
    d->gamma_off = m->p[l].gamma ? (size_t)(m->p[l].gamma - m->params) : (size_t)-1;
    d->beta_off = m->p[l].beta ? (size_t)(m->p[l].beta - m->params) : (size_t)-1;
}

void mlp_backward(mlp *m, const float *x, int B, int accumulate)
{
    mlp_backward_outputs(m, B, accumulate, NULL);
    for (int l = 0; l <= m->cfg.n_layers; l++)
        mlp_backward_weights(m, &m, &x, &B, 1, l, 0, dense_out(m, l), accumulate);
}

void mlp_dlogits_scale(mlp *m, int B, float s)
{
    size_t n = (size_t)B * (size_t)m->cfg.n_out;
    for (size_t i = 0; i < n; i++) m->act.dlogits[i] *= s;
}

void mlp_grads_zero(mlp *m)
{
    if (m->grads) memset(m->grads, 0, m->n_params * sizeof *m->grads);
}

int mlp_count_correct(const float *logits, const int *labels, int B, int n_out)
{
    int correct = 0;
    for (int b = 0; b < B; b++) {
        const float *row = logits + (size_t)b * n_out;
        int best = 0;
        for (int j = 1; j < n_out; j++) if (row[j] > row[best]) best = j;
        correct += best == labels[b];
    }
    return correct;
}

int mlp_eval_batch(mlp *m, const float *x, const mlp_target *t, int B,
                   float *loss, int *n_correct, kerror *err)
{
    int rc = mlp_forward(m, x, B, 0, err);
    if (rc) return rc;
    if (loss) *loss = batch_loss(m, t, B, NULL);
    if (n_correct)
        *n_correct = m->cfg.loss == MLP_LOSS_SOFTMAX_XENT
                   ? mlp_count_correct(m->act.logits, t->labels, B, m->cfg.n_out) : 0;
    return KE_OK;
}

void mlp_softmax(float *probs, const float *logits, int B, int C, float T)
{
    loss_softmax(probs, logits, B, C, T);
}
