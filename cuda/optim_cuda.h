/* optim_cuda: the CUDA twin of trainer/optim.h: the same clipping,
 * regularization and update rules in the same order, on device arrays. The
 * host optim stays the checkpointed copy: optim_cuda_init uploads its
 * moments and step count, optim_cuda_sync writes them back.
 * Per-step values (learning rate, accumulation divisor) are read from device
 * memory when the kernels run, and the clip decision, step count and Adam
 * bias corrections are computed on the device too, so a step needs no copy
 * back to the host and can be captured in a CUDA graph.
 * fp16 (cudev precision) adds dynamic loss scaling (Micikevicius et al.
 * 2018): the loss gradient is multiplied by S, optim_cuda_step divides it
 * out, skips the update (no step counted) when any gradient or batch loss
 * of the step is inf or nan (a loss overflows with an activation beyond
 * 65504 in the forward, which S cannot cause or cure) and halves S, and doubles S after 2000 clean steps. S starts at 2^16 and
 * is not checkpointed (a resumed run starts at 2^16 again).
 * Invariant: state holds n * slots(kind) floats, [first moment | second]. */
#ifndef KESTREL_OPTIM_CUDA_H
#define KESTREL_OPTIM_CUDA_H

#include <stddef.h>

#include "device.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "../trainer/optim.h"

typedef struct {
    optim_config cfg;
    size_t n;                   /* trainable floats */
    const mlp_tensor *tensors;  /* borrowed from the host optim */
    int n_tensors;
    cudev *d;                   /* borrowed */
    float *state;               /* device, n_state floats */
    size_t n_state;
    unsigned char *is_weight;   /* device (n): 1 inside dense W tensors */
    void *ctl;                  /* device control block (optim_cuda.cu) */
    double *partials;           /* device: per-block sums of squares */
    int amp;                    /* 1: fp16 loss scaling */
} optim_cuda;

/* Mirrors host (config, tensors, moments, step count) on the device. On
 * success o owns device memory (optim_cuda_free). host must outlive o.
 * Errors: KE_NOMEM, KE_INTERNAL. */
int optim_cuda_init(optim_cuda *o, cudev *d, const optim *host, kerror *err);
void optim_cuda_free(optim_cuda *o);

/* Zeroes the moments and the step count. */
void optim_cuda_reset(optim_cuda *o);

/* One update, as optim_step: grads (n) /= *div (the batches accumulated;
 * and /= S under fp16), clipping, coupled regularization, decoupled decay,
 * the update rule at rate *lr. lr and div are device pointers. grads is
 * modified in place. */
void optim_cuda_step(optim_cuda *o, float *params, float *grads, const float *lr,
                     const float *div);

/* The loss scale S on the device for the loss kernels, or NULL (not fp16). */
const float *optim_cuda_loss_scale(const optim_cuda *o);

/* fp16: the device flag that skips the next optimizer step (and halves S)
 * when set; loss_cuda_accumulate_train raises it on a non-finite batch
 * loss. NULL when not fp16. */
int *optim_cuda_found_inf(const optim_cuda *o);

/* Copies the moments and step count into host (same config and size). */
int optim_cuda_sync(optim_cuda *o, optim *host, kerror *err);

#ifdef __cplusplus
}
#endif

#endif
