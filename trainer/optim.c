/* optim: clipping, regularization and the update rules of optim.h over flat
 * arrays. Invariant: state holds exactly n * slots(kind) floats laid out as
 * [first moment (n) | second moment (n)], and nothing is allocated after
 * optim_init. Norms are accumulated in double so 10^6-parameter sums stay
 * exact enough for clipping decisions. */
#include "optim.h"
#include "vec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

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
        o->state = vec_alloc(o->n_state, 1);
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

int optim_agc_clips(const mlp_tensor *tensors, int n_tensors, int i)
{
    if (!tensors[i].trainable || !tensors[i].is_weight) return 0;
    for (int k = i + 1; k < n_tensors; k++)
        if (tensors[k].is_weight) return 1;
    return 0;
}

/* Step 1; computes the global norm only when want_norm or a clipping mode
 * needs it (the per-batch step skips the extra pass), else returns 0. */
static double clip(const optim *o, const float *params, float *grads, int want_norm)
{
    const optim_config *c = &o->cfg;
    double norm = want_norm || (c->clip_norm > 0 && c->agc == 0 && c->clip_value == 0)
                ? sqrt(sumsq(grads, o->n)) : 0;
    if (c->agc > 0)
        for (int i = 0; i < o->n_tensors; i++)
            if (optim_agc_clips(o->tensors, o->n_tensors, i))
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

double optim_clip(const optim *o, const float *params, float *grads)
{
    return clip(o, params, grads, 1);
}

/* Steps 2 and 3 of optim.h on one weight tensor's n floats. Adam's weight
 * decay is coupled (optim_kind), every other rule's decoupled. */
static void regularize(const optim_config *c, float *w, float *g, size_t n, float lr)
{
    float coupled = c->kind == OPTIM_ADAM ? c->weight_decay : 0;
    if (c->l1 > 0 || c->l2 > 0 || coupled > 0)
        for (size_t i = 0; i < n; i++) {
            float sign = (w[i] > 0) - (w[i] < 0);
            g[i] += c->l1 * sign + c->l2 * w[i] + coupled * w[i];
        }
    if (c->weight_decay > 0 && !(coupled > 0)) scale(w, n, 1.0f - lr * c->weight_decay);
}

/* Kingma & Ba 2015, Alg. 1: m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t),
 * w -= lr m_hat / (sqrt(v_hat) + eps), in the equivalent form of their
 * section 2 (and of PyTorch): w -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps),
 * which needs one square root and one division per float. This loop is the
 * largest per-batch cost outside the GEMMs, and the compiler does not
 * vectorize sqrtf at -O2 (errno), so on x86-64 it runs 8 floats at a time
 * with AVX where the CPU has it, else 4 with SSE2 (part of the base ISA).
 * Every path does the same IEEE operations in the same order per float (no
 * FMA), so all give the same bits. */
typedef struct {
    float b1, b2, eps, step, inv_sqrt_bc2;
} adam_consts;

static void adam_scalar(const adam_consts *k, float *restrict w, float *restrict m,
                        float *restrict v, const float *restrict g, size_t i, size_t n)
{
    for (; i < n; i++) {
        float mi = k->b1 * m[i] + (1 - k->b1) * g[i];
        float vi = k->b2 * v[i] + (1 - k->b2) * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        w[i] -= k->step * mi / (sqrtf(vi) * k->inv_sqrt_bc2 + k->eps);
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
/* One body for both widths: W is __m128 or __m256, P the intrinsic prefix. */
#define ADAM_SIMD(W, P, LANES)                                                            \
    W vb1 = P##_set1_ps(k->b1), vb2 = P##_set1_ps(k->b2), vc1 = P##_set1_ps(1 - k->b1),  \
      vc2 = P##_set1_ps(1 - k->b2), veps = P##_set1_ps(k->eps),                          \
      vstep = P##_set1_ps(k->step), vibc = P##_set1_ps(k->inv_sqrt_bc2);                 \
    size_t i = 0;                                                                         \
    for (; i + LANES <= n; i += LANES) {                                                  \
        W gi = P##_loadu_ps(g + i);                                                       \
        W mi = P##_add_ps(P##_mul_ps(vb1, P##_loadu_ps(m + i)), P##_mul_ps(vc1, gi));     \
        W vi = P##_add_ps(P##_mul_ps(vb2, P##_loadu_ps(v + i)),                           \
                          P##_mul_ps(P##_mul_ps(vc2, gi), gi));                           \
        W den = P##_add_ps(P##_mul_ps(P##_sqrt_ps(vi), vibc), veps);                      \
        P##_storeu_ps(m + i, mi);                                                         \
        P##_storeu_ps(v + i, vi);                                                         \
        P##_storeu_ps(w + i, P##_sub_ps(P##_loadu_ps(w + i),                              \
                                        P##_div_ps(P##_mul_ps(vstep, mi), den)));         \
    }                                                                                     \
    return i;

static size_t adam_sse2(const adam_consts *k, float *restrict w, float *restrict m,
                        float *restrict v, const float *restrict g, size_t n)
{
    ADAM_SIMD(__m128, _mm, 4)
}

__attribute__((target("avx")))
static size_t adam_avx(const adam_consts *k, float *restrict w, float *restrict m,
                       float *restrict v, const float *restrict g, size_t n)
{
    ADAM_SIMD(__m256, _mm256, 8)
}
#undef ADAM_SIMD
#endif

/* t is the step count after this update (>= 1). */
static void adam_update(const optim_config *c, long t, float *restrict w, float *restrict m,
                        float *restrict v, const float *restrict g, size_t n, float lr)
{
    adam_consts k = {c->beta1, c->beta2, c->eps,
                     (float)(lr / (1.0 - pow(c->beta1, (double)t))),
                     (float)(1.0 / sqrt(1.0 - pow(c->beta2, (double)t)))};
    size_t done = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    done = __builtin_cpu_supports("avx") ? adam_avx(&k, w, m, v, g, n)
                                         : adam_sse2(&k, w, m, v, g, n);
#endif
    adam_scalar(&k, w, m, v, g, done, n);
}

/* The update rule (step 4) over floats [lo, hi). */
static void update(const optim *o, float *w, const float *g, float lr, size_t lo, size_t hi)
{
    const optim_config *c = &o->cfg;
    float *m = o->state, *v = o->state + o->n;
    switch (c->kind) {
    case OPTIM_SGD:
        for (size_t i = lo; i < hi; i++) w[i] -= lr * g[i];
        break;
    case OPTIM_MOMENTUM:   /* Polyak 1964, in the v = mu v + g form of PyTorch */
        for (size_t i = lo; i < hi; i++) {
            m[i] = c->momentum * m[i] + g[i];
            w[i] -= lr * m[i];
        }
        break;
    case OPTIM_NESTEROV:   /* Sutskever et al. 2013 eq. 3-4, rewritten on the
                            * look-ahead point (Bengio et al. 2013, eq. 7) */
        for (size_t i = lo; i < hi; i++) {
            m[i] = c->momentum * m[i] + g[i];
            w[i] -= lr * (g[i] + c->momentum * m[i]);
        }
        break;
    case OPTIM_ADAGRAD:    /* Duchi, Hazan & Singer 2011, diagonal form */
        for (size_t i = lo; i < hi; i++) {
            m[i] += g[i] * g[i];
            w[i] -= lr * g[i] / (sqrtf(m[i]) + c->eps);
        }
        break;
    case OPTIM_RMSPROP:    /* Tieleman & Hinton 2012, lecture 6.5 */
        for (size_t i = lo; i < hi; i++) {
            m[i] = c->rho * m[i] + (1 - c->rho) * g[i] * g[i];
            w[i] -= lr * g[i] / (sqrtf(m[i]) + c->eps);
        }
        break;
    case OPTIM_ADAM:
    case OPTIM_ADAMW:
        adam_update(c, o->t, w + lo, m + lo, v + lo, g + lo, hi - lo, lr);
        break;
    }
}

int optim_clips(const optim *o)
{
    return o->cfg.agc > 0 || o->cfg.clip_value > 0 || o->cfg.clip_norm > 0;
}

void optim_begin(optim *o, const float *params, float *grads)
{
    clip(o, params, grads, 0);
    o->t++;
}

void optim_apply(const optim *o, float *params, float *grads, float lr, size_t lo, size_t hi)
{
    for (int i = 0; i < o->n_tensors; i++) {
        const mlp_tensor *t = &o->tensors[i];
        size_t a = t->offset, b = a + (size_t)t->rows * (size_t)t->cols;
        if (a < lo) a = lo;
        if (b > hi) b = hi;
        if (t->trainable && t->is_weight && a < b)
            regularize(&o->cfg, params + a, grads + a, b - a, lr);
    }
    update(o, params, grads, lr, lo, hi);
}

void optim_step(optim *o, float *params, float *grads, float lr)
{
    optim_begin(o, params, grads);
    optim_apply(o, params, grads, lr, 0, o->n);
}
