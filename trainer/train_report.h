/* train_report: the report lines of a training run (their fields: train.h;
 * docs/protocol.md), each written as one JSON object through the caller's
 * train_report_fn. A writer that fails (non-zero) makes each KE_IO. */
#ifndef KESTREL_TRAIN_REPORT_H
#define KESTREL_TRAIN_REPORT_H

#include "../common/kerror.h"
#include "train.h"
#include "train_session.h"

/* The line of epoch (0-based) with validation pass v: lr[0], lr[1] are the
 * rates of its first and last optimizer steps; seconds the epoch's wall
 * time, train_seconds its training loop's. report may be NULL. */
int train_report_epoch(session *s, long epoch, double train_loss, const double lr[2],
                       const eval_result *v, double seconds, double train_seconds,
                       train_report_fn report, void *ctx, kerror *err);
/* The line of k-fold fold (0-based), whose run's result is r. */
int train_report_fold(int fold, const train_result *r, train_report_fn report, void *ctx,
                      kerror *err);
/* The final line of the run whose result is r. */
int train_report_final(const train_result *r, train_report_fn report, void *ctx, kerror *err);

#endif
