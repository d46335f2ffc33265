/* train_report: the report lines of a training run (train.h, docs/protocol.md),
 * one JSON object a line handed to the caller's writer: one per epoch (or
 * per fold with kfold) and the final one. Invariant: every real is written
 * with 17 digits, so each double a trainer reports reads back the same. */
#include "train_report.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>

/* Writes obj as one report line and drops it. Reals with 17 digits, so
 * every double reads back the same (`kestrel train` writes each in its
 * shortest form: format_shorten_reals). */
static int emit(json_t *obj, train_report_fn report, void *ctx, kerror *err)
{
    char *line = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(obj);
    if (!line) return kerror_set(err, KE_NOMEM, NULL, "cannot format a report line");
    int bad = report ? report(line, ctx) : 0;
    free(line);
    return bad ? kerror_set(err, KE_IO, NULL, "the report writer failed") : KE_OK;
}

/* lr[0], lr[1]: the rates of the epoch's first and last optimizer steps, as
 * they were before a plateau cut (the pair shows a per-step warm-up or
 * schedule within the epoch; nothing is recorded per step). */
int train_report_epoch(session *s, long epoch, double train_loss, const double lr[2],
                       const eval_result *v, double seconds, double train_seconds,
                       train_report_fn report, void *ctx, kerror *err)
{
    json_t *o = json_object();
    json_object_set_new(o, "step", json_integer(epoch + 1));
    json_object_set_new(o, "train_loss", json_real(train_loss));
    json_object_set_new(o, "val_loss", json_real(v->loss));
    if (s->classification) json_object_set_new(o, "val_accuracy", json_real(v->accuracy));
    json_object_set_new(o, "lr", json_real(lr[1]));
    json_object_set_new(o, "lr_first", json_real(lr[0]));
    json_object_set_new(o, "seconds", json_real(seconds));
    json_object_set_new(o, "samples_per_sec",
                        json_real(train_seconds > 0 ? (double)s->sp.n_train / train_seconds : 0));
    metrics_to_json(o, "val", &v->m, s->classification, s->n_out, NULL);
    return emit(o, report, ctx, err);
}

int train_report_fold(int fold, const train_result *r, train_report_fn report, void *ctx,
                      kerror *err)
{
    json_t *o = json_object();
    json_object_set_new(o, "step", json_integer(fold));
    json_object_set_new(o, "fold_val_loss", json_real(r->val_loss));
    if (r->classification) json_object_set_new(o, "fold_val_accuracy", json_real(r->val_accuracy));
    json_object_set_new(o, "fold_epochs", json_integer(r->epochs));
    return emit(o, report, ctx, err);
}

int train_report_final(const train_result *r, train_report_fn report, void *ctx, kerror *err)
{
    json_t *o = json_object();
    json_object_set_new(o, "val_loss", json_real(r->val_loss));
    if (r->classification) json_object_set_new(o, "val_accuracy", json_real(r->val_accuracy));
    const long *cm = r->has_confusion && !r->kfold ? r->val_confusion : NULL;
    metrics_to_json(o, "val", &r->val_metrics, r->classification, r->n_out, cm);
    if (r->has_test) {
        json_object_set_new(o, "test_loss", json_real(r->test_loss));
        if (r->classification) json_object_set_new(o, "test_accuracy", json_real(r->test_accuracy));
        metrics_to_json(o, "test", &r->test_metrics, r->classification, r->n_out,
                        cm ? r->test_confusion : NULL);
    }
    if (isfinite(r->best_val_loss)) json_object_set_new(o, "best_val_loss", json_real(r->best_val_loss));
    if (r->best_epoch) json_object_set_new(o, "best_epoch", json_integer(r->best_epoch));
    json_object_set_new(o, "epochs", json_integer(r->epochs));
    if (!r->kfold) json_object_set_new(o, "stopped_early", json_integer(r->stopped_early));
    if (r->kfold) {
        json_object_set_new(o, "cv_val_loss_mean", json_real(r->cv_val_loss_mean));
        json_object_set_new(o, "cv_val_loss_std", json_real(r->cv_val_loss_std));
        if (r->classification) {
            json_object_set_new(o, "cv_val_accuracy_mean", json_real(r->cv_val_accuracy_mean));
            json_object_set_new(o, "cv_val_accuracy_std", json_real(r->cv_val_accuracy_std));
        }
    }
    return emit(o, report, ctx, err);
}
