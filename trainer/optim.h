/* optim: first-order optimizers over a flat parameter array and its gradient,
 * with per-tensor information (mlp_tensor) deciding where regularization and
 * unit-wise clipping apply. Invariant: all optimizer state (moments and the
 * step count) lives in one arena allocated by optim_init, so optim_step never
 * allocates and a checkpoint saves it with one write.
 *
 * One optim_step, in this order:
 *  1. clipping of the loss gradient: adaptive (AGC, weights only), then by
 *     value, then by global norm (each off when its threshold is 0);
 *  2. coupled regularization on weights: g += l1 sign(w) + l2 w
 *     (penalty l1 |w|_1 + l2/2 |w|^2; both > 0 is the elastic net);
 *  3. decoupled weight decay on weights: w -= lr wd w (Loshchilov & Hutter
 *     2019), for every optimizer;
 *  4. the optimizer's update rule (see optim_kind).
 * "Weights" are tensors with is_weight = 1 (dense W); biases and batch-norm
 * parameters are never decayed or regularized. Tensors with trainable = 0
 * (BN running stats) are not touched. */
#ifndef KESTREL_OPTIM_H
#define KESTREL_OPTIM_H

#include <stddef.h>

#include "../common/kerror.h"
#include "mlp.h"

/* Floor on |w_i| in AGC so zero-initialised rows can still move (Brock et
 * al. 2021 use 1e-3). */
#define OPTIM_AGC_EPS 1e-3f

typedef enum {
    OPTIM_SGD,       /* w -= lr g */
    OPTIM_MOMENTUM,  /* v = mu v + g; w -= lr v (heavy ball, Polyak 1964) */
    OPTIM_NESTEROV,  /* v = mu v + g; w -= lr (g + mu v) (Sutskever et al. 2013) */
    OPTIM_ADAGRAD,   /* G += g^2; w -= lr g / (sqrt(G) + eps) (Duchi et al. 2011) */
    OPTIM_RMSPROP,   /* v = rho v + (1-rho) g^2; w -= lr g / (sqrt(v) + eps)
                      * (Tieleman & Hinton 2012) */
    OPTIM_ADAM,      /* Kingma & Ba 2015, Alg. 1, with bias correction;
                      * weight_decay is coupled here, g += wd w before the
                      * moments, as PyTorch's Adam(weight_decay=...) */
    OPTIM_ADAMW      /* Adam with decoupled weight decay (Loshchilov & Hutter
                      * 2019, Alg. 2): w *= 1 - lr wd, apart from the moments */
} optim_kind;

typedef struct {
    optim_kind kind;
    float momentum;      /* mu, momentum and nesterov, in [0, 1) */
    float beta1, beta2;  /* adam(w), in [0, 1) */
    float eps;           /* adagrad, rmsprop, adam(w), > 0 */
    float rho;           /* rmsprop decay, in [0, 1) */
    float weight_decay;  /* >= 0; decoupled (w *= 1 - lr wd) for every rule
                          * but adam, where it is coupled (g += wd w) */
    float l1, l2;        /* coupled penalties, >= 0 */
    float clip_value;    /* |g| <= clip_value elementwise; 0 = off */
    float clip_norm;     /* ||g||_2 over all parameters <= clip_norm; 0 = off */
    float agc;           /* AGC lambda; 0 = off */
} optim_config;

typedef struct {
    optim_config cfg;
    size_t n;                   /* trainable floats (mlp_n_params) */
    const mlp_tensor *tensors;  /* borrowed: must outlive the optim */
    int n_tensors;
    float *state;               /* n_state floats, owned; zero at init */
    size_t n_state;             /* n times the moments the kind keeps (0..2) */
    long t;                     /* updates done (Adam's t) */
} optim;

/* Zero-filled configuration with kind SGD, the usual betas (0.9, 0.999),
 * eps 1e-8, rho 0.9 and momentum 0.9. */
void optim_config_default(optim_config *cfg);

/* Checks cfg and allocates the state arena for n trainable floats described by
 * tensors (the first n floats of the parameter array; tensors with trainable
 * = 0 are ignored). On success o owns the arena (optim_free). Errors:
 * KE_INVALID (path = the option name), KE_NOMEM. */
int optim_init(optim *o, const optim_config *cfg, size_t n,
               const mlp_tensor *tensors, int n_tensors, kerror *err);
void optim_free(optim *o);

/* Zeroes the moments and the step count. */
void optim_reset(optim *o);

/* One update of params (n floats) from grads (n floats) at rate lr. grads is
 * modified in place (clipped and regularized). It runs once per batch, so it
 * computes no norm that no enabled clipping needs; optim_clip returns it. */
void optim_step(optim *o, float *params, float *grads, float lr);

/* optim_step in two parts, for callers that update disjoint ranges of the
 * parameters on several threads: optim_begin once (clipping needs every
 * gradient; it also counts the step), then optim_apply on ranges that
 * together cover [0, n) exactly once (steps 2-4 work float by float). A
 * float's update does not depend on the range that holds it, so any split
 * gives the bits of optim_step. */
void optim_begin(optim *o, const float *params, float *grads);
void optim_apply(const optim *o, float *params, float *grads, float lr, size_t lo, size_t hi);

/* 1 when a clipping mode is on, i.e. optim_begin reads (and may change) the
 * gradients; else optim_begin only counts the step. */
int optim_clips(const optim *o);

/* The clipping stage alone (step 1 above), for callers that need it; returns
 * the global norm before clipping. */
double optim_clip(const optim *o, const float *params, float *grads);

/* 1 when adaptive gradient clipping applies to tensors[i]: every weight
 * tensor but the last one, the output layer, which Brock et al. 2021
 * (sec. 4.1) leave unclipped. Shared by the CPU and CUDA optimizers. */
int optim_agc_clips(const mlp_tensor *tensors, int n_tensors, int i);

#endif
