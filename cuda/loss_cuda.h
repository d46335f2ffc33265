/* loss_cuda: the CUDA twins of trainer/loss.h. The CPU functions return the
 * batch's mean loss; these leave one loss per row in row_loss (B) on the
 * device instead, so a training step needs no copy back to the host, and
 * loss_cuda_accumulate folds those rows into running sums that the caller
 * reads once per pass. dlogits (may be NULL) gets the gradient of the mean
 * loss times *gscale (the fp16 loss scale; gscale NULL means 1).
 * Invariant (as loss.h): softmax uses the max-shifted log-sum-exp, so a
 * saturated softmax still gives a finite loss. One warp per row. */
#ifndef KESTREL_LOSS_CUDA_H
#define KESTREL_LOSS_CUDA_H

#include "device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* probs (B,C) = softmax(logits / T) per row; probs may alias logits. */
void loss_cuda_softmax(cudev *d, float *probs, const float *logits, int B, int C, float T);

/* Smoothed softmax cross-entropy (Szegedy et al. 2016): row loss
 * -sum_c q_c log p_c with q = (1-eps) onehot + eps/C; dlogits = (p - q) / B. */
void loss_cuda_softmax_xent(cudev *d, float *row_loss, float *dlogits, const float *logits,
                            const int *labels, int B, int C, float eps, const float *gscale);

/* Row loss 1/C sum_c (out - y)^2 (its mean over rows is the CPU's mean over
 * all B*C entries); dlogits = 2 (out - y) / (B C). */
void loss_cuda_mse(cudev *d, float *row_loss, float *dlogits, const float *out,
                   const float *targets, int B, int C, const float *gscale);

/* Row loss 1/C sum_c huber(out - y) with delta (loss.h's loss_huber);
 * dlogits = clamp(out - y, -delta, delta) / (B C). */
void loss_cuda_huber(cudev *d, float *row_loss, float *dlogits, const float *out,
                     const float *targets, int B, int C, float delta, const float *gscale);

/* Row loss 1/C sum_c bce(z, y) (loss.h's loss_bce); dlogits = (s(z) - y) / (B C). */
void loss_cuda_bce(cudev *d, float *row_loss, float *dlogits, const float *logits,
                   const float *targets, int B, int C, const float *gscale);

/* Hinton et al. 2015: row loss alpha T^2 KL(pt || softmax(z/T)) + (1-alpha)
 * xent(z, label, eps); dlogits = (1-alpha)(p - q)/B + alpha T (softmax(z/T) - pt)/B. */
void loss_cuda_distill(cudev *d, float *row_loss, float *dlogits, const float *logits,
                       const float *teacher_probs, const int *labels, int B, int C, float T,
                       float alpha, float eps, const float *gscale);

/* acc[0] += sum of row_loss (B); with labels (else NULL) also acc[1] +=
 * rows whose first maximal logit (B,C) is the label, as mlp_count_correct.
 * Summed in double, in a fixed order. */
void loss_cuda_accumulate(cudev *d, double *acc, const float *row_loss, const float *logits,
                          const int *labels, int B, int C);

/* A training batch's sums: acc[0] += sum of row_loss (B), acc[1] += B.
 * found_inf (device int, fp16 only, else NULL): when the sum is inf or nan
 * (a forward overflow: an activation beyond fp16's 65504 rounded to inf)
 * the batch adds nothing and *found_inf = 1, so the loss scaler skips the
 * step as for a non-finite gradient instead of the epoch's loss diverging. */
void loss_cuda_accumulate_train(cudev *d, double *acc, const float *row_loss, int B, int *found_inf);

#ifdef __cplusplus
}
#endif

#endif
