/* spec_trainer: a trainer run ("run": {"trainer": {...}}) checked against the
 * trainer's own option parser when the spec is parsed. A trial runs
 * `kestrel train --set KEY=VALUE` for each key of the spec's trainer object,
 * then for each active parameter of the space; an option the trainer refuses
 * would fail every trial, so the same texts go through the same parser
 * (train_config_set) here first. */
#ifndef KESTREL_SPEC_TRAINER_H
#define KESTREL_SPEC_TRAINER_H

#include <jansson.h>

#include "kerror.h"
#include "../search/space.h"

/* The --set text of one value of the spec's trainer object: a string as it
 * is, an array without its brackets ([256,128] -> "256,128"), anything else
 * as compact JSON ("3", "true"). A new string the caller frees, or NULL when
 * out of memory. */
char *spec_trainer_text(const json_t *v);

/* Checks trainer (the spec's trainer object) and sp (its parsed space): each
 * key must be an option taking its value, each parameter an option taking
 * every value the parameter can have: every choice, the fixed value, the ends
 * of a float or int range (the trainer's ranges are intervals: the ends
 * stand for what lies between), and integers only for an integer option;
 * and with an objective metric of the test pass (test_accuracy), no
 * evaluate_test=false, which leaves that pass out; and no combination of
 * the values a trial can give several options that train_config_validate
 * refuses (min_lr above lr under cosine, momentum 0 with nesterov, ...:
 * "space.lr.low: a trial of schedule=cosine (run.trainer.schedule), ...
 * would fail: ...").
 * Errors: KE_INVALID with the trainer's message at the spec's path
 * ("run.trainer.epochz: unknown option (did you mean 'epochs'?)",
 * "space.epochs.low: must be in [1, 1000000], got 0"), KE_NOMEM. */
int spec_trainer_check(const space *sp, const json_t *trainer, const char *metric, kerror *err);

#endif
