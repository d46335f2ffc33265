/* sched_outcome: how a run's report lines and its exit become its trial's
 * outcome in storage, in the history and in the scheduler's counts (best
 * trial, goal, failure streak). Private to the scheduler (scheduler_impl.h). */
#ifndef KESTREL_SCHED_OUTCOME_H
#define KESTREL_SCHED_OUTCOME_H

#include "scheduler_impl.h"

/* The best COMPLETE trial's number (-1 none) and its value (value may be
 * NULL). */
int sched_outcome_best(const scheduler *s, double *value);
/* Makes trial number the best if it is COMPLETE with a value better than
 * the best's, or as good and numbered lower: the best is the first trial
 * that reached its value, whatever order trials end in. */
void sched_outcome_consider(scheduler *s, int number);
/* Tells the pruner, if it keeps an index of the history, that trial
 * number's entry changed (after a load: each trial once). */
void sched_outcome_observe(scheduler *s, int number);
/* Whether the objective value v reaches the spec's objective.goal. */
int sched_outcome_goal(const scheduler *s, double v);
/* Ends trial number with state in storage and in the history (final: its
 * final metrics, or NULL; failure: the reason, NULL when COMPLETE; the
 * tails: its output's last bytes, or NULL), then tells the checkpoint
 * retention and the caller's on_event. */
int sched_outcome_finish(scheduler *s, int number, trial_state state, int has_value, double value,
                         const report_line *final, const char *failure, const char *out_tail,
                         const char *err_tail, kerror *err);
/* Decides how the exit of r's child (ev, with its output's tails) ends its
 * trial, and ends it. The caller frees the slot. */
int sched_outcome_exit(scheduler *s, sched_run *r, const runner_event *ev, const char *out_tail,
                       const char *err_tail, kerror *err);
/* A line of r's report channel: a report (stored, checked for NaN, offered
 * to the pruner, which may stop r), a final line (merged into r->final), or
 * plain output (ignored). cut: the runner cut it at RUNNER_LINE_MAX bytes
 * (a report so cut is noted as malformed). */
int sched_outcome_line(scheduler *s, sched_run *r, const char *line, int cut, kerror *err);

#endif
