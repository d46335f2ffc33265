/* optim: clipping, regularization and the update rules of optim.h over flat
 * arrays. Invariant: state holds exactly n * slots(kind) floats laid out as
 * [first moment (n) | second moment (n)], and nothing is allocated after
 * optim_init. Norms are accumulated in double so 10^6-parameter sums stay
 * exact enough for clipping decisions. */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void optim_config_default(optim_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = OPTIM_SGD;
    cfg->momentum = 0.9f;
    cfg->beta1 = 0.9f;
    cfg->beta2 = 0.999f;
    cfg->eps = 1e-8f;
    cfg->rho = 0.9f;
}

/* Moment vectors of n floats each kind keeps. */
static int slots(optim_kind k)
{
    switch (k) {
    case OPTIM_SGD: return 0;
    case OPTIM_MOMENTUM: case OPTIM_NESTEROV: case OPTIM_ADAGRAD: case OPTIM_RMSPROP: return 1;
    case OPTIM_ADAM: case OPTIM_ADAMW: return 2;
    }
    return 0;
}

static int check_unit(float v, const char *name, kerror *err)
{
    if (!(v >= 0 && v < 1)) return kerror_set(err, KE_INVALID, name, "must be in [0, 1)");
    return KE_OK;
}

static int check_nonneg(float v, const char *name, kerror *err)
{
    if (!(v >= 0) || isinf(v)) return kerror_set(err, KE_INVALID, name, "must be finite and >= 0");
    return KE_OK;
}

static int check_config(const optim_config *c, kerror *err)
{
    int rc;
    if (c->kind < OPTIM_SGD || c->kind > OPTIM_ADAMW)
        return kerror_set(err, KE_INVALID, "optimizer", "unknown optimizer %d", (int)c->kind);
    if ((rc = check_unit(c->momentum, "momentum", err)) ||
        (rc = check_unit(c->beta1, "beta1", err)) ||
        (rc = check_unit(c->beta2, "beta2", err)) ||
        (rc = check_unit(c->rho, "rho", err)) ||
        (rc = check_nonneg(c->weight_decay, "weight_decay", err)) ||
        (rc = check_nonneg(c->l1, "l1", err)) ||
        (rc = check_nonneg(c->l2, "l2", err)) ||
        (rc = check_nonneg(c->clip_value, "clip_value", err)) ||
        (rc = check_nonneg(c->clip_norm, "clip_norm", err)) ||
        (rc = check_nonneg(c->agc, "agc", err)))
        return rc;
    if (!(c->eps > 0)) return kerror_set(err, KE_INVALID, "eps", "must be > 0");
    return KE_OK;
}

int optim_init(optim *o, const optim_config *cfg, size_t n,
               const mlp_tensor *tensors, int n_tensors, kerror *err)
{
    memset(o, 0, sizeof *o);
    int rc = check_config(cfg, err);
    if (rc) return rc;
    for (int i = 0; i < n_tensors; i++) {
        const mlp_tensor *t = &tensors[i];
        if (t->trainable && t->offset + (size_t)t->rows * (size_t)t->cols > n)
            return kerror_set(err, KE_INTERNAL, t->name, "tensor runs past the %zu parameters", n);
    }
    o->cfg = *cfg;
    o->n = n;
    o->tensors = tensors;
    o->n_tensors = n_tensors;
    o->n_state = n * (size_t)slots(cfg->kind);
    if (o->n_state) {
        o->state = calloc(o->n_state, sizeof *o->state);
        if (!o->state) return kerror_set(err, KE_NOMEM, NULL, "optimizer state of %zu floats", o->n_state);
    }
    return KE_OK;
}

void optim_free(optim *o)
{
    free(o->state);
    o->state = NULL;
    o->n_state = 0;
}

void optim_reset(optim *o)
{
    if (o->n_state) memset(o->state, 0, o->n_state * sizeof *o->state);
    o->t = 0;
}

static double sumsq(const float *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

static void scale(float *x, size_t n, float f)
{
    for (size_t i = 0; i < n; i++) x[i] *= f;
}

/* Adaptive gradient clipping, Brock et al. 2021 eq. 3, unit-wise over the rows
 * of a weight W (rows=out, cols=in): when |g_i| / max(|w_i|, eps) > lambda,
 * g_i *= lambda max(|w_i|, eps) / |g_i|. */
static void agc_tensor(const mlp_tensor *t, const float *params, float *grads, float lambda)
{
    for (int r = 0; r < t->rows; r++) {
        size_t off = t->offset + (size_t)r * (size_t)t->cols;
        float wn = (float)sqrt(sumsq(params + off, (size_t)t->cols));
        float gn = (float)sqrt(sumsq(grads + off, (size_t)t->cols));
        float maxw = wn > OPTIM_AGC_EPS ? wn : OPTIM_AGC_EPS;
        if (gn > lambda * maxw) scale(grads + off, (size_t)t->cols, lambda * maxw / gn);
    }
}

double optim_clip(const optim *o, const float *params, float *grads)
{
    const optim_config *c = &o->cfg;
    double norm = sqrt(sumsq(grads, o->n));
    if (c->agc > 0)
        for (int i = 0; i < o->n_tensors; i++)
            if (o->tensors[i].trainable && o->tensors[i].is_weight)
                agc_tensor(&o->tensors[i], params, grads, c->agc);
    if (c->clip_value > 0)
        for (size_t i = 0; i < o->n; i++)
            grads[i] = fminf(fmaxf(grads[i], -c->clip_value), c->clip_value);
    if (c->clip_norm > 0) {
        /* Pascanu et al. 2013, Alg. 2: g *= c / |g| when |g| > c. */
        double now = (c->agc > 0 || c->clip_value > 0) ? sqrt(sumsq(grads, o->n)) : norm;
        if (now > c->clip_norm) scale(grads, o->n, (float)(c->clip_norm / now));
    }
    return norm;
}

/* Steps 2 and 3 of optim.h on one weight tensor's n floats. */
static void regularize(const optim_config *c, float *w, float *g, size_t n, float lr)
{
    if (c->l1 > 0 || c->l2 > 0)
        for (size_t i = 0; i < n; i++) {
            float sign = (w[i] > 0) - (w[i] < 0);
            g[i] += c->l1 * sign + c->l2 * w[i];
        }
    if (c->weight_decay > 0) scale(w, n, 1.0f - lr * c->weight_decay);
}

/* The update rule over all n floats (step 4). */
static void update(optim *o, float *w, const float *g, float lr)
{
    const optim_config *c = &o->cfg;
    size_t n = o->n;
    float *m = o->state, *v = o->state + n;
    switch (c->kind) {
    case OPTIM_SGD:
        for (size_t i = 0; i < n; i++) w[i] -= lr * g[i];
        break;
    case OPTIM_MOMENTUM:   /* Polyak 1964, in the v = mu v + g form of PyTorch */
        for (size_t i = 0; i < n; i++) {
            m[i] = c->momentum * m[i] + g[i];
            w[i] -= lr * m[i];
        }
        break;
    case OPTIM_NESTEROV:   /* Sutskever et al. 2013 eq. 3-4, rewritten on the
                            * look-ahead point (Bengio et al. 2013, eq. 7) */
        for (size_t i = 0; i < n; i++) {
            m[i] = c->momentum * m[i] + g[i];
            w[i] -= lr * (g[i] + c->momentum * m[i]);
        }
        break;
    case OPTIM_ADAGRAD:    /* Duchi, Hazan & Singer 2011, diagonal form */
        for (size_t i = 0; i < n; i++) {
            m[i] += g[i] * g[i];
            w[i] -= lr * g[i] / (sqrtf(m[i]) + c->eps);
        }
        break;
    case OPTIM_RMSPROP:    /* Tieleman & Hinton 2012, lecture 6.5 */
        for (size_t i = 0; i < n; i++) {
            m[i] = c->rho * m[i] + (1 - c->rho) * g[i] * g[i];
            w[i] -= lr * g[i] / (sqrtf(m[i]) + c->eps);
        }
        break;
    case OPTIM_ADAM:
    case OPTIM_ADAMW: {    /* Kingma & Ba 2015, Alg. 1: m_hat = m / (1 - b1^t),
                            * v_hat = v / (1 - b2^t), w -= lr m_hat / (sqrt(v_hat) + eps) */
        float bc1 = (float)(1.0 - pow(c->beta1, (double)o->t));
        float bc2 = (float)(1.0 - pow(c->beta2, (double)o->t));
        for (size_t i = 0; i < n; i++) {
            m[i] = c->beta1 * m[i] + (1 - c->beta1) * g[i];
            v[i] = c->beta2 * v[i] + (1 - c->beta2) * g[i] * g[i];
            w[i] -= lr * (m[i] / bc1) / (sqrtf(v[i] / bc2) + c->eps);
        }
        break;
    }
    }
}

double optim_step(optim *o, float *params, float *grads, float lr)
{
    double norm = optim_clip(o, params, grads);
    for (int i = 0; i < o->n_tensors; i++) {
        const mlp_tensor *t = &o->tensors[i];
        if (t->trainable && t->is_weight)
            regularize(&o->cfg, params + t->offset, grads + t->offset,
                       (size_t)t->rows * (size_t)t->cols, lr);
    }
    o->t++;
    update(o, params, grads, lr);
    return norm;
}
