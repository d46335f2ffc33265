/* sched_outcome: a run's reports and exit made into its trial's outcome; see
 * sched_outcome.h. Invariant: storage is written first, and the history and
 * the counts change only once it succeeded, so they never run ahead of it. */
#define _GNU_SOURCE
#include "sched_outcome.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sched_outcome_best(const scheduler *s, double *value)
{
    if (value) *value = s->best >= 0 ? s->hist.t[s->best].value : 0;
    return s->best;
}

void sched_outcome_consider(scheduler *s, int number)
{
    const sched_trial *t = &s->hist.t[number];
    if (t->state != TRIAL_COMPLETE || !t->has_value) return;
    if (s->best >= 0) {
        double b = s->hist.t[s->best].value;
        int better = s->spec->maximize ? t->value > b : t->value < b;
        if (!better && !(t->value == b && number < s->best)) return;
    }
    s->best = number;
}

void sched_outcome_observe(scheduler *s, int number)
{
    const sched_trial *t = &s->hist.t[number];
    if (s->pops && s->pops->observe && t->obs >= 0) s->pops->observe(s->prun, &s->hist.obs[t->obs]);
}

int sched_outcome_goal(const scheduler *s, double v)
{
    return s->spec->has_goal && (s->spec->maximize ? v >= s->spec->goal : v <= s->spec->goal);
}

int sched_outcome_finish(scheduler *s, int number, trial_state state, int has_value, double value,
                         const report_line *final, const char *failure, const char *out_tail,
                         const char *err_tail, kerror *err)
{
    storage_metric m[REPORT_MAX_METRICS];
    int n = 0;
    for (int i = 0; final && i < final->n; i++) {
        if (!isfinite(final->m[i].value)) continue;
        m[n].name = (char *)final->m[i].name;
        m[n++].value = final->m[i].value;
    }
    sched_trial *t = &s->hist.t[number];
    int rc = storage_trial_finish(s->st, t->id, state, has_value, value, m, n, failure, out_tail,
                                  err_tail, err);
    if (rc != KE_OK) return rc;
    sched_trials_set_outcome(&s->hist, number, state, has_value, value, failure);
    sched_outcome_observe(s, number);
    sched_outcome_consider(s, number);
    sched_ckpt_ended(&s->ckpt, number, sched_outcome_best(s, NULL), s->multifid);
    s->ended_since_ask = 1;
    s->due_known = 0;
    if (state == TRIAL_COMPLETE && has_value && sched_outcome_goal(s, value))
        s->goal_reached = 1;
    if (state != TRIAL_FAILED) s->fail_streak = 0;
    else if (!trial_interrupted(failure)) {
        s->fail_streak++;
        snprintf(s->last_failure, sizeof s->last_failure, "%s", failure ? failure : "");
    }
    sched_emit(s, SCHED_EV_FINISHED, number, state, has_value, value,
               t->n_steps ? t->steps[t->n_steps - 1] : -1, failure, NULL);
    return KE_OK;
}

static void last_line(const char *tail, char *buf, size_t n)
{
    buf[0] = '\0';
    if (!tail || !*tail) return;
    size_t len = strlen(tail);
    while (len > 0 && (tail[len - 1] == '\n' || tail[len - 1] == '\r')) len--;
    size_t start = len;
    while (start > 0 && tail[start - 1] != '\n') start--;
    size_t k = len - start < n - 1 ? len - start : n - 1;
    memcpy(buf, tail + start, k);
    buf[k] = '\0';
}

/* The reason of a trial that never reported the objective metric: it names
 * the metrics the trial did report, so a typo in the spec shows. */
static void missing_metric(const sched_run *r, const char *metric, char *buf, size_t n)
{
    int len = snprintf(buf, n, "missing metric '%s' in the trial's reports", metric);
    const report_line *lines[2] = {&r->final, r->has_last ? &r->last : NULL};
    int listed = 0;
    for (int l = 0; l < 2; l++)
        for (int i = 0; lines[l] && i < lines[l]->n && len > 0 && (size_t)len < n; i++) {
            const char *name = lines[l]->m[i].name;
            if (l == 1 && report_find(&r->final, name)) continue;
            len += snprintf(buf + len, n - len, "%s%s", listed++ ? ", " : " (it reported: ", name);
        }
    if (len > 0 && (size_t)len < n)
        snprintf(buf + len, n - len, "%s", listed ? ")" : "; it reported no metric");
}

/* Report lines of r that were ignored as malformed are said in its
 * trial's record: after its failure reason (when reason is not NULL: a
 * buffer of n bytes) and in its stored stderr tail, which comes back as a
 * new string (NULL: none was malformed, or out of memory). */
static char *note_malformed(const sched_run *r, char *reason, size_t n, const char *err_tail)
{
    if (!r->n_malformed) return NULL;
    char note[400];
    snprintf(note, sizeof note, "%d report line%s ignored as malformed, the first: %s",
             r->n_malformed, r->n_malformed > 1 ? "s" : "", r->malformed);
    size_t len = reason ? strlen(reason) : 0;
    if (reason && len < n) snprintf(reason + len, n - len, "; %s", note);
    size_t tail = err_tail ? strlen(err_tail) : 0;
    char *noted;
    if (asprintf(&noted, "%s%skestrel: %s\n", tail ? err_tail : "",
                 tail && err_tail[tail - 1] != '\n' ? "\n" : "", note) < 0)
        return NULL;
    return noted;
}

int sched_outcome_exit(scheduler *s, sched_run *r, const runner_event *ev, const char *out_tail,
                       const char *err_tail, kerror *err)
{
    const char *metric = s->spec->metric;
    char reason[512], why[256];
    last_line(err_tail, why, sizeof why);
    const report_metric *obj = report_find(&r->final, metric);
    if (!obj && r->has_last) obj = report_find(&r->last, metric);
    trial_state state = TRIAL_FAILED;
    int has_value = obj && isfinite(obj->value);
    double value = has_value ? obj->value : 0;

    if (r->failure[0])
        snprintf(reason, sizeof reason, "%s", r->failure);
    else if (r->pruned) {
        state = TRIAL_PRUNED;
        snprintf(reason, sizeof reason, "pruned at step %ld", r->has_last ? r->last.step : -1L);
        has_value = r->has_last && report_find(&r->last, metric);
        value = has_value ? report_find(&r->last, metric)->value : 0;
    } else if (r->stopped)
        snprintf(reason, sizeof reason, TRIAL_INTERRUPTED "%s", r->stopped);
    else if (ev->exec_failed)
        snprintf(reason, sizeof reason, "cannot execute the trial command: %s", why);
    else if (ev->timed_out)
        snprintf(reason, sizeof reason, "timeout: still running after %g s",
                 s->spec->budget.trial_timeout);
    else if (ev->signaled)
        snprintf(reason, sizeof reason, "killed by signal %d (%s)%s%s", ev->signal,
                 strsignal(ev->signal), why[0] ? ": " : "", why);
    else if (ev->exit_code != 0)
        snprintf(reason, sizeof reason, "exit code %d%s%s", ev->exit_code, why[0] ? ": " : "",
                 why);
    else if (!obj)
        missing_metric(r, metric, reason, sizeof reason);
    else if (!isfinite(obj->value))
        snprintf(reason, sizeof reason, "metric '%s' is %s", metric,
                 isnan(obj->value) ? "NaN" : "infinite");
    else
        state = TRIAL_COMPLETE;
    if (state != TRIAL_PRUNED && state != TRIAL_COMPLETE) has_value = 0;
    const report_line *final = r->final.n ? &r->final : (r->has_last ? &r->last : NULL);
    char *noted = note_malformed(r, state == TRIAL_COMPLETE ? NULL : reason, sizeof reason,
                                 err_tail);
    if (noted) err_tail = noted;
    int rc = sched_outcome_finish(s, r->number, state, has_value, value, final,
                                  state == TRIAL_COMPLETE ? NULL : reason, out_tail, err_tail, err);
    free(noted);
    return rc;
}

/* Index of metric name in l, or l->n. */
static int metric_index(const report_line *l, const char *name)
{
    int j = 0;
    while (j < l->n && strcmp(l->m[j].name, name) != 0) j++;
    return j;
}

/* Adds src's final metrics to dst, the later value of a name winning. A line
 * that would take dst past REPORT_MAX_METRICS names is refused whole, as one
 * line of that many is (report_parse): keeping some of its metrics dropped
 * the rest without a word, the objective among them. */
static int merge_final(report_line *dst, const report_line *src)
{
    int added = 0;
    for (int i = 0; i < src->n; i++) added += metric_index(dst, src->m[i].name) == dst->n;
    if (dst->n + added > REPORT_MAX_METRICS) return KE_INVALID;
    for (int i = 0; i < src->n; i++) {
        int j = metric_index(dst, src->m[i].name);
        if (j == dst->n) dst->n++;
        dst->m[j] = src->m[i];
    }
    return KE_OK;
}

/* One intermediate report: stored, checked for NaN, offered to the pruner. */
static int on_report(scheduler *s, sched_run *r, const report_line *rl, kerror *err)
{
    storage_metric m[REPORT_MAX_METRICS];
    int n = 0;
    for (int i = 0; i < rl->n; i++) {
        if (!isfinite(rl->m[i].value)) continue;
        m[n].name = (char *)rl->m[i].name;
        m[n++].value = rl->m[i].value;
    }
    sched_trial *t = &s->hist.t[r->number];
    int rc = storage_trial_report(s->st, t->id, (int)rl->step, m, n, err);
    if (rc != KE_OK) return rc;
    r->last = *rl;
    r->has_last = 1;
    const report_metric *obj = report_find(rl, s->spec->metric);
    if (!obj) return KE_OK;
    if (!isfinite(obj->value)) {
        snprintf(r->failure, sizeof r->failure, "metric '%s' is %s at step %ld", s->spec->metric,
                 isnan(obj->value) ? "NaN" : "infinite", rl->step);
        sched_run_stop(r);
        return KE_OK;
    }
    double v = s->spec->maximize ? -obj->value : obj->value;
    rc = sched_trials_add_step(&s->hist, r->number, (int)rl->step, v);
    if (rc != KE_OK) return kerror_set(err, rc, NULL, "out of memory");
    sched_outcome_observe(s, r->number);
    sched_emit(s, SCHED_EV_REPORTED, r->number, TRIAL_RUNNING, 1, obj->value, (int)rl->step, NULL,
               NULL);
    if (s->pops && !r->pruned && !r->stopped) {
        strategy_history h;
        sched_trials_history(&s->hist, s->spec->budget.max_trials, &h);
        if (s->pops->should_stop(s->prun, &h, r->number, (int)rl->step, v)) {
            r->pruned = 1;
            sched_run_stop(r);
        }
    }
    return KE_OK;
}

int sched_outcome_line(scheduler *s, sched_run *r, const char *line, int cut, kerror *err)
{
    report_line rl;
    kerror why;
    if (cut && line[0] == '{') {   /* else the study would say only "no metric" */
        if (!r->n_malformed++)
            snprintf(r->malformed, sizeof r->malformed, "longer than %d bytes, cut there",
                     RUNNER_LINE_MAX);
        return KE_OK;
    }
    int rc = report_parse(line, &rl, &why);
    if (rc == KE_INVALID && !r->n_malformed++)
        kerror_text(&why, r->malformed, sizeof r->malformed);
    if (rc != KE_OK) return KE_OK;   /* plain log output, or a malformed line, which is noted */
    /* A pruned trial may report during its kill_grace (a worker's lines in
     * flight, a trainer's state on SIGTERM): it is recorded as the report
     * it was pruned on left it (step, value, curve, metrics) */
    if (r->failure[0] || r->pruned) return KE_OK;
    if (rl.final || !rl.has_step) {
        if (merge_final(&r->final, &rl) != KE_OK && !r->n_malformed++)
            snprintf(r->malformed, sizeof r->malformed,
                     "more than %d final metrics over the trial's lines", REPORT_MAX_METRICS);
        return KE_OK;
    }
    return on_report(s, r, &rl, err);
}
