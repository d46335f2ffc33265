/* metrics: scikit-learn's classification and regression figures from a
 * whole pass's outputs (metrics.h). Invariant: reads its inputs only; the
 * one allocation is the AUC's sort buffer, once per call. */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float score;
    int positive;
} scored;

static int by_score(const void *a, const void *b)
{
    float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x > y) - (x < y);
}

/* ROC AUC = (sum of the positives' ranks - n1 (n1 + 1) / 2) / (n1 n0),
 * ranks from 1 with ties sharing their mean rank (Mann & Whitney 1947);
 * NAN when one class is missing, or when a score is nan (a pass whose
 * outputs overflowed: no rank order exists, and the tie loop, which needs
 * a score equal to itself, would not move on). */
static double auc(scored *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isnan(v[i].score)) return NAN;
    qsort(v, n, sizeof *v, by_score);
    double rank_sum = 0, n1 = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j].score == v[i].score) j++;
        double mean_rank = (double)(i + 1 + j) / 2;   /* ranks i+1 .. j */
        for (size_t k = i; k < j; k++)
            if (v[k].positive) {
                rank_sum += mean_rank;
                n1++;
            }
        i = j;
    }
    double n0 = (double)n - n1;
    return n1 > 0 && n0 > 0 ? (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0) : NAN;
}

/* Per class: true positives, rows predicted as it, rows labelled it. */
typedef struct {
    long tp, pred, label;
} class_count;

static void macro_prf(const class_count *k, int C, metrics_result *r)
{
    double p = 0, rc = 0, f = 0;
    int used = 0;
    for (int c = 0; c < C; c++) {
        if (!k[c].pred && !k[c].label) continue;
        double pc = k[c].pred ? (double)k[c].tp / (double)k[c].pred : 0;
        double rcc = k[c].label ? (double)k[c].tp / (double)k[c].label : 0;
        p += pc;
        rc += rcc;
        f += pc + rcc > 0 ? 2 * pc * rcc / (pc + rcc) : 0;
        used++;
    }
    r->precision_macro = used ? p / used : 0;
    r->recall_macro = used ? rc / used : 0;
    r->f1_macro = used ? f / used : 0;
}

int metrics_classification(const float *out, const int32_t *labels, const size_t *idx, size_t n,
                           int C, long *confusion, metrics_result *r, kerror *err)
{
    memset(r, 0, sizeof *r);
    class_count *k = calloc((size_t)C, sizeof *k);
    scored *v = C == 2 ? malloc((n ? n : 1) * sizeof *v) : NULL;
    if (!k || (C == 2 && !v)) {
        free(k);
        free(v);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    if (confusion) memset(confusion, 0, (size_t)C * (size_t)C * sizeof *confusion);
    long top5 = 0;
    for (size_t i = 0; i < n; i++) {
        const float *z = out + i * (size_t)C;
        int y = labels[idx ? idx[i] : i], best = 0, above = 0;
        for (int c = 0; c < C; c++) {
            if (z[c] > z[best]) best = c;
            above += z[c] > z[y];
        }
        top5 += above < 5;
        k[best].pred++;
        k[y].label++;
        k[y].tp += best == y;
        if (confusion) confusion[(size_t)y * (size_t)C + (size_t)best]++;
        if (v) v[i] = (scored){z[1] - z[0], y == 1};
    }
    macro_prf(k, C, r);
    r->top5_accuracy = n ? (double)top5 / (double)n : 0;
    r->auc = v ? auc(v, n) : NAN;
    free(k);
    free(v);
    return KE_OK;
}

void metrics_regression(const float *out, const float *targets, const size_t *idx, size_t n, int t,
                        metrics_result *r)
{
    memset(r, 0, sizeof *r);
    double abs_sum = 0, sq_sum = 0, r2 = 0;   /* SS_tot around each target's mean: two passes */
    for (int j = 0; j < t; j++) {
        double res = 0, mean = 0, tot = 0;
        for (size_t i = 0; i < n; i++) mean += targets[(idx ? idx[i] : i) * (size_t)t + (size_t)j];
        mean = n ? mean / (double)n : 0;
        for (size_t i = 0; i < n; i++) {
            double y = targets[(idx ? idx[i] : i) * (size_t)t + (size_t)j];
            double e = (double)out[i * (size_t)t + (size_t)j] - y;
            abs_sum += fabs(e);
            res += e * e;
            tot += (y - mean) * (y - mean);
        }
        sq_sum += res;
        r2 += tot > 0 ? 1 - res / tot : res == 0 ? 1 : 0;
    }
    double m = (double)n * t;
    r->mae = m ? abs_sum / m : 0;
    r->rmse = m ? sqrt(sq_sum / m) : 0;
    r->r2 = t ? r2 / t : 0;
}

void metrics_sigmoid(float *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] = 1.0f / (1.0f + expf(-src[i]));
}

void metrics_accumulate(metrics_result *sum, const metrics_result *r, double w)
{
    sum->precision_macro += w * r->precision_macro;
    sum->recall_macro += w * r->recall_macro;
    sum->f1_macro += w * r->f1_macro;
    sum->top5_accuracy += w * r->top5_accuracy;
    sum->auc += w * r->auc;
    sum->mae += w * r->mae;
    sum->rmse += w * r->rmse;
    sum->r2 += w * r->r2;
}

/* "val" + "mae" -> "val_mae"; an empty part leaves the name alone. */
static const char *key_of(char *key, size_t n, const char *part, const char *name)
{
    snprintf(key, n, "%s%s%s", part, *part ? "_" : "", name);
    return key;
}

static void set_real(json_t *o, const char *part, const char *name, double v)
{
    char key[64];
    json_object_set_new(o, key_of(key, sizeof key, part, name), json_real(v));
}

void metrics_to_json(json_t *o, const char *part, const metrics_result *r, int classification, int C,
                     const long *confusion)
{
    if (!classification) {
        set_real(o, part, "mae", r->mae);
        set_real(o, part, "rmse", r->rmse);
        set_real(o, part, "r2", r->r2);
        return;
    }
    set_real(o, part, "precision_macro", r->precision_macro);
    set_real(o, part, "recall_macro", r->recall_macro);
    set_real(o, part, "f1_macro", r->f1_macro);
    if (C > 5) set_real(o, part, "top5_accuracy", r->top5_accuracy);
    if (C == 2 && isfinite(r->auc)) set_real(o, part, "auc", r->auc);
    if (!confusion) return;
    json_t *m = json_array();
    for (int i = 0; i < C; i++) {
        json_t *row = json_array();
        for (int j = 0; j < C; j++) json_array_append_new(row, json_integer(confusion[(size_t)i * (size_t)C + (size_t)j]));
        json_array_append_new(m, row);
    }
    char key[64];
    json_object_set_new(o, key_of(key, sizeof key, part, "confusion_matrix"), m);
}
