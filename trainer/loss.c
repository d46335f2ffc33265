/* loss: softmax cross-entropy (with label smoothing), mean squared error and
 * Hinton distillation, each a fused forward + gradient; see loss.h.
 * Invariant: log-probabilities come from the max-shifted log-sum-exp, never
 * from log(p), so a saturated softmax gives a finite loss. */
#include "loss.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>

/* Max-shifted log-sum-exp of row / T, writing p = softmax(row / T) when p is
 * non-NULL. Returns (max, log sum exp((row - max)/T)) via the outputs. */
static void softmax_row(float *p, const float *row, int C, float T,
                        float *max_out, float *lse_out)
{
    float mx = row[0];
    for (int c = 1; c < C; c++) if (row[c] > mx) mx = row[c];
    double s = 0.0;
    for (int c = 0; c < C; c++) {
        float e = expf((row[c] - mx) / T);
        if (p) p[c] = e;
        s += e;
    }
    if (p) {
        float inv = (float)(1.0 / s);
        for (int c = 0; c < C; c++) p[c] *= inv;
    }
    *max_out = mx;
    *lse_out = (float)log(s);
}

void loss_softmax(float *probs, const float *logits, int B, int C, float T)
{
    for (int b = 0; b < B; b++) {
        float mx, lse;
        softmax_row(probs + (size_t)b * C, logits + (size_t)b * C, C, T, &mx, &lse);
    }
}

/* Smoothed cross-entropy of one row at temperature 1: returns the row loss
 * and, when g is non-NULL, writes scale * (p - q) into g. */
static float xent_row(float *g, const float *z, int label, int C, float eps, float scale)
{
    assert(label >= 0 && label < C);   /* the data loader validates labels */
    float mx, lse;
    softmax_row(g, z, C, 1.0f, &mx, &lse);
    float off = eps / (float)C, on = 1.0f - eps + off;
    double loss = 0.0;
    for (int c = 0; c < C; c++) {
        float q = c == label ? on : off;
        if (q != 0.0f) loss -= q * ((z[c] - mx) - lse);
        if (g) g[c] = scale * (g[c] - q);
    }
    return (float)loss;
}

float loss_softmax_xent(float *dlogits, const float *logits, const int *labels,
                        int B, int C, float eps, const float *weights)
{
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        float w = weights ? weights[labels[b]] : 1.0f;
        total += (double)w * xent_row(dlogits ? dlogits + (size_t)b * C : NULL,
                                      logits + (size_t)b * C, labels[b], C, eps, w / (float)B);
    }
    return (float)(total / B);
}

float loss_mse(float *dlogits, const float *out, const float *targets, int B, int C)
{
    size_t N = (size_t)B * C;
    float g = 2.0f / (float)N;
    double total = 0.0;
    for (size_t i = 0; i < N; i++) {
        float d = out[i] - targets[i];
        total += (double)d * d;
        if (dlogits) dlogits[i] = g * d;
    }
    return (float)(total / N);
}

float loss_huber(float *dlogits, const float *out, const float *targets, int B, int C, float delta)
{
    size_t N = (size_t)B * C;
    double total = 0.0;
    for (size_t i = 0; i < N; i++) {
        float e = out[i] - targets[i], a = fabsf(e);
        total += a <= delta ? 0.5 * (double)e * e : (double)delta * (a - 0.5 * delta);
        if (dlogits) dlogits[i] = (e > delta ? delta : e < -delta ? -delta : e) / (float)N;
    }
    return (float)(total / N);
}

float loss_bce(float *dlogits, const float *logits, const float *targets, int B, int C)
{
    size_t N = (size_t)B * C;
    double total = 0.0;
    for (size_t i = 0; i < N; i++) {
        float z = logits[i], y = targets[i];
        total += (double)fmaxf(z, 0.0f) - (double)z * y + log1p(exp(-fabs((double)z)));
        if (dlogits) dlogits[i] = (1.0f / (1.0f + expf(-z)) - y) / (float)N;
    }
    return (float)(total / N);
}

float loss_distill(float *dlogits, const float *logits, const float *teacher_probs,
                   const int *labels, int B, int C, float T, float alpha, float eps)
{
    double total = 0.0;
    float ghard = (1.0f - alpha) / (float)B, gsoft = alpha * T / (float)B;
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * C, *pt = teacher_probs + (size_t)b * C;
        float *g = dlogits ? dlogits + (size_t)b * C : NULL;
        float hard = xent_row(g, z, labels[b], C, eps, ghard);
        float mx, lse;
        softmax_row(NULL, z, C, T, &mx, &lse);
        double kl = 0.0;
        for (int c = 0; c < C; c++) {
            float logq = (z[c] - mx) / T - lse;   /* log softmax(z/T)_c */
            if (pt[c] > 0.0f) kl += pt[c] * (log(pt[c]) - logq);
            if (g) g[c] += gsoft * (expf(logq) - pt[c]);
        }
        /* T^2 keeps the soft gradient's scale independent of T (Hinton et al. 2015, sec. 2) */
        total += alpha * T * T * kl + (1.0f - alpha) * hard;
    }
    return (float)(total / B);
}
