/* loss: the MLP's losses on plain float arrays, each returning the mean loss
 * over a batch and (when dlogits is non-NULL) writing the gradient of that
 * mean with respect to the logits, ready for mlp_backward. Invariant: softmax
 * is computed with the row max subtracted, so no logit value overflows. */
#ifndef KESTREL_LOSS_H
#define KESTREL_LOSS_H

/* probs (B,C) = softmax(logits / T) per row. probs may alias logits. */
void loss_softmax(float *probs, const float *logits, int B, int C, float T);

/* Softmax cross-entropy of logits (B,C) against labels (B) smoothed to
 * q = (1-eps) onehot + eps/C (Szegedy et al. 2016):
 * loss = -1/B sum_b w_b sum_c q_bc log p_bc, dlogits = w_b (p - q) / B,
 * with w_b = weights[labels[b]] (Keras's class_weight: each row's loss
 * scaled, the mean still over B rows), or 1 when weights is NULL. */
float loss_softmax_xent(float *dlogits, const float *logits, const int *labels,
                        int B, int C, float eps, const float *weights);

/* Mean squared error over all B*C entries: loss = 1/(B C) sum (out - y)^2,
 * dlogits = 2 (out - y) / (B C). */
float loss_mse(float *dlogits, const float *out, const float *targets, int B, int C);

/* Huber loss (PyTorch's HuberLoss, mean reduction) over all B*C entries,
 * e = out - y: 0.5 e^2 where |e| <= delta, else delta (|e| - 0.5 delta);
 * dlogits = clamp(e, -delta, delta) / (B C). */
float loss_huber(float *dlogits, const float *out, const float *targets, int B, int C, float delta);

/* Binary cross-entropy on logits (PyTorch's BCEWithLogitsLoss, mean over
 * all B*C entries) against targets y in [0, 1]:
 * loss = max(z, 0) - z y + log(1 + exp(-|z|)) (the stable form of
 * -y log s(z) - (1-y) log(1 - s(z))), dlogits = (s(z) - y) / (B C). */
float loss_bce(float *dlogits, const float *logits, const float *targets, int B, int C);

/* Knowledge distillation, Hinton et al. 2015:
 * loss = alpha T^2 KL(pt || softmax(z/T)) + (1-alpha) xent(z, labels, eps),
 * averaged over the batch; the KL gradient is alpha T (softmax(z/T) - pt) / B.
 * teacher_probs (B,C) rows are softmax(teacher_logits/T). */
float loss_distill(float *dlogits, const float *logits, const float *teacher_probs,
                   const int *labels, int B, int C, float T, float alpha, float eps);

#endif
