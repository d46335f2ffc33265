/* optim_cuda: clipping, regularization and update rules on the device; see
 * optim_cuda.h for the contract and trainer/optim.c for the same rules on
 * the CPU. Invariant: every norm is a fixed-order double reduction (block
 * partials, then one block), so a step is bitwise repeatable, and every
 * kernel after the control kernel leaves the parameters alone when the step
 * is skipped. */
#include "optim_cuda.h"

#include <math.h>
#include <string.h>

#include "reduce.cuh"

#define PARTIALS 256             /* blocks of a sum-of-squares pass */
#define SCALE_INIT 65536.0f      /* PyTorch GradScaler's defaults */
#define SCALE_GROWTH_STEPS 2000

/* Device-side step control. */
typedef struct {
    double norm2[2];     /* sum g^2: before clipping, after AGC / clip_value */
    long long t;         /* updates done (Adam's t) */
    float adam_step;     /* Adam: lr / (1 - beta1^t) */
    float adam_ibc2;     /* Adam: 1 / sqrt(1 - beta2^t) */
    float loss_scale;    /* S (1 without fp16) */
    float clipf;         /* global-norm clip factor of this step */
    int good_steps;      /* fp16: clean steps since S last changed */
    int found_inf;       /* fp16: a gradient of this step is not finite */
    int skip;            /* this step changes nothing */
} ctl_block;

static ctl_block *ctl(const optim_cuda *o) { return (ctl_block *)o->ctl; }

static int slots(optim_kind k)
{
    switch (k) {
    case OPTIM_SGD: return 0;
    case OPTIM_MOMENTUM: case OPTIM_NESTEROV: case OPTIM_ADAGRAD: case OPTIM_RMSPROP: return 1;
    case OPTIM_ADAM: case OPTIM_ADAMW: return 2;
    }
    return 0;
}

__global__ void mark_kernel(unsigned char *is_weight, size_t off, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        is_weight[off + i] = 1;
}

int optim_cuda_init(optim_cuda *o, cudev *d, const optim *host, kerror *err)
{
    memset(o, 0, sizeof *o);
    o->cfg = host->cfg;
    o->n = host->n;
    o->tensors = host->tensors;
    o->n_tensors = host->n_tensors;
    o->d = d;
    o->n_state = host->n * (size_t)slots(host->cfg.kind);
    o->amp = cudev_get_precision(d) == CUDEV_FP16;
    int rc = cudev_alloc(d, (void **)&o->state, o->n_state * sizeof(float), "optimizer state", err);
    if (!rc) rc = cudev_alloc(d, (void **)&o->is_weight, o->n, "weight mask", err);
    if (!rc) rc = cudev_alloc(d, &o->ctl, sizeof(ctl_block), "optimizer control", err);
    if (!rc) rc = cudev_alloc(d, (void **)&o->partials, PARTIALS * sizeof(double), "norm partials", err);
    if (rc) {
        optim_cuda_free(o);
        return rc;
    }
    for (int i = 0; i < o->n_tensors; i++) {
        const mlp_tensor *t = &o->tensors[i];
        size_t len = (size_t)t->rows * (size_t)t->cols;
        if (t->trainable && t->is_weight)
            mark_kernel<<<cudev_blocks(len, 256), 256, 0, cudev_stream(d)>>>(o->is_weight, t->offset, len);
    }
    ctl_block c;
    memset(&c, 0, sizeof c);
    c.t = host->t;
    c.loss_scale = o->amp ? SCALE_INIT : 1.0f;
    c.clipf = 1.0f;
    rc = cudev_upload(d, o->ctl, &c, sizeof c, err);
    if (!rc) rc = cudev_upload(d, o->state, host->state, o->n_state * sizeof(float), err);
    if (rc) optim_cuda_free(o);
    return rc;
}

void optim_cuda_free(optim_cuda *o)
{
    cudev_release(o->state);
    cudev_release(o->is_weight);
    cudev_release(o->ctl);
    cudev_release(o->partials);
    o->state = NULL;
    o->is_weight = NULL;
    o->ctl = NULL;
    o->partials = NULL;
}

__global__ void reset_kernel(ctl_block *c)
{
    c->t = 0;
}

void optim_cuda_reset(optim_cuda *o)
{
    cudaStream_t st = cudev_stream(o->d);
    if (o->n_state) cudev_note(o->d, cudaMemsetAsync(o->state, 0, o->n_state * sizeof(float), st), "reset");
    reset_kernel<<<1, 1, 0, st>>>(ctl(o));
}

const float *optim_cuda_loss_scale(const optim_cuda *o)
{
    return o->amp ? &ctl(o)->loss_scale : NULL;
}

int *optim_cuda_found_inf(const optim_cuda *o)
{
    return o->amp ? &ctl(o)->found_inf : NULL;
}

/* partials[block] = sum of g^2 over a grid-stride share of grads; with div
 * (first pass) grads are first divided by *div and, under fp16, by S, and a
 * non-finite gradient raises found_inf. */
__global__ void sumsq_kernel(double *partials, float *grads, size_t n, const float *div, ctl_block *c,
                             int amp)
{
    if (c->skip && !div) return;
    double s = 0.0;
    int bad = 0;
    float k = div ? *div : 1.0f, S = amp ? c->loss_scale : 1.0f;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float g = grads[i];
        if (div) {
            if (k != 1.0f) g /= k;       /* accumulated batches: mean of the batch means */
            if (amp) {
                g /= S;
                bad |= !isfinite(g);
            }
            grads[i] = g;
        }
        s += (double)g * g;
    }
    if (bad) c->found_inf = 1;
    s = block_sum(s);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

/* One block. slot 0 (first pass): decides whether the step runs, counts it,
 * Adam's bias-corrected step size (as trainer/optim.c, in double), the fp16
 * loss-scale schedule. The pass that
 * clip_norm reads (last) also sets the clip factor (Pascanu et al. 2013,
 * Alg. 2: g *= c / |g| when |g| > c). */
__global__ void control_kernel(ctl_block *c, const double *partials, int slot, int last,
                               optim_config cfg, const float *lr, int amp)
{
    double s = threadIdx.x < PARTIALS ? partials[threadIdx.x] : 0.0;
    s = block_sum(s);
    if (threadIdx.x != 0) return;
    if (slot == 0) {
        c->skip = amp && c->found_inf;
        c->found_inf = 0;
        if (amp) {
            if (c->skip) {
                c->loss_scale *= 0.5f;
                c->good_steps = 0;
            } else if (++c->good_steps >= SCALE_GROWTH_STEPS) {
                c->loss_scale *= 2.0f;
                c->good_steps = 0;
            }
        }
        if (!c->skip) {
            c->t++;
            c->adam_step = (float)(*lr / (1.0 - pow((double)cfg.beta1, (double)c->t)));
            c->adam_ibc2 = (float)(1.0 / sqrt(1.0 - pow((double)cfg.beta2, (double)c->t)));
        }
    }
    if (c->skip) return;
    c->norm2[slot] = s;
    if (last) {
        double now = sqrt(s);
        c->clipf = cfg.clip_norm > 0 && now > cfg.clip_norm ? (float)(cfg.clip_norm / now) : 1.0f;
    }
}

/* Adaptive gradient clipping, Brock et al. 2021 eq. 3, one block per row of
 * a weight (rows, cols): g_row *= lambda max(|w_row|, eps) / |g_row| when
 * |g_row| > lambda max(|w_row|, eps). */
__global__ void agc_kernel(const float *w, float *g, int cols, float lambda, const ctl_block *c)
{
    if (c->skip) return;
    size_t off = (size_t)blockIdx.x * cols;
    double sw = 0.0, sg = 0.0;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        sw += (double)w[off + i] * w[off + i];
        sg += (double)g[off + i] * g[off + i];
    }
    float wn = (float)sqrt(block_sum(sw)), gn = (float)sqrt(block_sum(sg));
    float maxw = wn > OPTIM_AGC_EPS ? wn : OPTIM_AGC_EPS;
    if (gn > lambda * maxw) {
        float f = lambda * maxw / gn;
        for (int i = threadIdx.x; i < cols; i += blockDim.x) g[off + i] *= f;
    }
}

__global__ void clamp_kernel(float *g, size_t n, float v, const ctl_block *c)
{
    if (c->skip) return;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        g[i] = fminf(fmaxf(g[i], -v), v);
}

/* Steps 2-4 of optim.h per element: clip factor, coupled L1/L2, decoupled
 * weight decay (Loshchilov & Hutter 2019), then the rule (see optim_kind). */
__global__ void update_kernel(float *w, float *grads, float *m, float *v, const unsigned char *is_weight,
                              size_t n, optim_config cfg, const float *lr_p, const ctl_block *c)
{
    if (c->skip) return;
    float lr = *lr_p, clipf = c->clipf, step = c->adam_step, ibc2 = c->adam_ibc2;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float g = grads[i];
        if (clipf != 1.0f) g *= clipf;
        float wi = w[i];
        if (is_weight[i]) {   /* optim.c's regularize: adam's decay is coupled */
            float coupled = cfg.kind == OPTIM_ADAM ? cfg.weight_decay : 0;
            if (cfg.l1 > 0 || cfg.l2 > 0 || coupled > 0) {
                float sign = (float)((wi > 0) - (wi < 0));
                g += cfg.l1 * sign + cfg.l2 * wi + coupled * wi;
            }
            if (cfg.weight_decay > 0 && !(coupled > 0)) wi *= 1.0f - lr * cfg.weight_decay;
        }
        switch (cfg.kind) {
        case OPTIM_SGD:
            wi -= lr * g;
            break;
        case OPTIM_MOMENTUM:   /* Polyak 1964, v = mu v + g (PyTorch form) */
            m[i] = cfg.momentum * m[i] + g;
            wi -= lr * m[i];
            break;
        case OPTIM_NESTEROV:   /* Sutskever et al. 2013, look-ahead form */
            m[i] = cfg.momentum * m[i] + g;
            wi -= lr * (g + cfg.momentum * m[i]);
            break;
        case OPTIM_ADAGRAD:    /* Duchi, Hazan & Singer 2011 */
            m[i] += g * g;
            wi -= lr * g / (sqrtf(m[i]) + cfg.eps);
            break;
        case OPTIM_RMSPROP:    /* Tieleman & Hinton 2012 */
            m[i] = cfg.rho * m[i] + (1 - cfg.rho) * g * g;
            wi -= lr * g / (sqrtf(m[i]) + cfg.eps);
            break;
        case OPTIM_ADAM:
        case OPTIM_ADAMW: {    /* Kingma & Ba 2015, Alg. 1, in the form of their sec. 2:
                                * w -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps) */
            float mi = cfg.beta1 * m[i] + (1 - cfg.beta1) * g;
            float vi = cfg.beta2 * v[i] + (1 - cfg.beta2) * g * g;
            m[i] = mi;
            v[i] = vi;
            wi -= step * mi / (sqrtf(vi) * ibc2 + cfg.eps);
            break;
        }
        }
        w[i] = wi;
        grads[i] = g;
    }
}

void optim_cuda_step(optim_cuda *o, float *params, float *grads, const float *lr, const float *div)
{
    cudaStream_t st = cudev_stream(o->d);
    const optim_config *c = &o->cfg;
    ctl_block *cb = ctl(o);
    int second = c->clip_norm > 0 && (c->agc > 0 || c->clip_value > 0);
    sumsq_kernel<<<PARTIALS, REDUCE_THREADS, 0, st>>>(o->partials, grads, o->n, div, cb, o->amp);
    control_kernel<<<1, PARTIALS, 0, st>>>(cb, o->partials, 0, !second, *c, lr, o->amp);
    if (c->agc > 0)
        for (int i = 0; i < o->n_tensors; i++) {
            const mlp_tensor *t = &o->tensors[i];
            if (optim_agc_clips(o->tensors, o->n_tensors, i))
                agc_kernel<<<t->rows, REDUCE_THREADS, 0, st>>>(params + t->offset, grads + t->offset,
                                                               t->cols, c->agc, cb);
        }
    if (c->clip_value > 0)
        clamp_kernel<<<cudev_blocks(o->n, 256), 256, 0, st>>>(grads, o->n, c->clip_value, cb);
    if (second) {
        sumsq_kernel<<<PARTIALS, REDUCE_THREADS, 0, st>>>(o->partials, grads, o->n, NULL, cb, 0);
        control_kernel<<<1, PARTIALS, 0, st>>>(cb, o->partials, 1, 1, *c, lr, o->amp);
    }
    float *m = o->state, *v = o->state ? o->state + o->n : NULL;
    update_kernel<<<cudev_blocks(o->n, 256), 256, 0, st>>>(params, grads, m, v, o->is_weight, o->n, *c,
                                                           lr, cb);
}

int optim_cuda_sync(optim_cuda *o, optim *host, kerror *err)
{
    ctl_block c;
    int rc = cudev_download(o->d, &c, o->ctl, sizeof c, err);
    if (!rc) rc = cudev_download(o->d, host->state, o->state, o->n_state * sizeof(float), err);
    if (!rc) host->t = (long)c.t;
    return rc;
}
