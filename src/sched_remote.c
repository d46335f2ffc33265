/* sched_remote: the scheduler's remote runs, trials a worker elsewhere runs
 * (scheduler.h's scheduler_lease, scheduler_detach and scheduler_remote_*):
 * known by the caller's tag, their reports and exits go through the same
 * paths as a local child's (sched_outcome). Invariant: a tag in s->remote
 * names the run slot whose tag it is, counted in n_running until it ends. */
#define _GNU_SOURCE
#include "sched_remote.h"

#include <stdio.h>

#include "sched_fill.h"
#include "sched_outcome.h"

static sched_run *remote_run(scheduler *s, int64_t tag)
{
    return tag > 0 ? idmap_get(&s->remote, tag) : NULL;
}

static int no_remote(int64_t tag, kerror *err)
{
    return kerror_set(err, KE_CONFLICT, NULL, "lease %lld holds no running trial (it expired or "
                      "its study stopped)", (long long)tag);
}

static void remote_free(scheduler *s, sched_run *r)
{
    idmap_del(&s->remote, r->tag);
    r->tag = 0;
    s->n_running--;
}

/* A stopping study does not wait for workers: their trials end interrupted
 * now (re-run on resume) and the workers hear it at their next call. */
int sched_remote_drop(scheduler *s, kerror *err)
{
    for (int i = 0; i < s->spec->budget.max_parallel; i++) {
        sched_run *r = &s->runs[i];
        if (r->tag <= 0) continue;
        if (s->detached) {   /* its worker goes on, for the next start */
            remote_free(s, r);
            continue;
        }
        char reason[300];
        snprintf(reason, sizeof reason, TRIAL_INTERRUPTED "%s", s->stop_reason);
        int number = r->number;
        remote_free(s, r);
        int rc = sched_outcome_finish(s, number, TRIAL_FAILED, 0, 0, NULL, reason, NULL, NULL, err);
        if (rc != KE_OK) return rc;
    }
    return KE_OK;
}

void scheduler_detach(scheduler *s, const char *reason)
{
    s->detached = 1;
    scheduler_stop(s, reason);
}

/* Makes kept trial k->number, RUNNING in storage, a remote run again. What
 * the server that leased it held in memory is gone: its last intermediate
 * report is read back from storage (the objective when no final line
 * carries it); its final lines are the worker's, sent with the trial's end
 * (docs/workers.md). A trial it cannot take stays RUNNING, reclaimed by a
 * later open. */
int sched_remote_adopt(scheduler *s, const scheduler_kept *k, kerror *err)
{
    sched_run *r = sched_fill_slot(s);
    if (!r || k->number < 0 || k->number >= s->hist.n ||
        s->hist.t[k->number].state != TRIAL_RUNNING)
        return KE_OK;
    storage_value *v;
    int n;
    int rc = storage_trial_values(s->st, s->hist.t[k->number].id, &v, &n, err);
    if (rc != KE_OK) return rc;
    if (idmap_put(&s->remote, k->tag, r) != KE_OK) {
        storage_values_free(v, n);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    sched_run_reset(r, k->number);
    r->tag = k->tag;
    s->n_running++;
    /* values come by step, then name: the last step's are the last report */
    for (int i = 0; i < n; i++) {
        if (!r->has_last || v[i].step != r->last.step) r->last.n = 0;
        r->has_last = 1;
        r->last.has_step = 1;
        r->last.step = v[i].step;
        if (r->last.n == REPORT_MAX_METRICS) continue;
        report_metric *m = &r->last.m[r->last.n++];
        snprintf(m->name, sizeof m->name, "%s", v[i].name);
        m->value = v[i].value;
    }
    storage_values_free(v, n);
    return KE_OK;
}

int scheduler_lease(scheduler *s, scheduler_remote *rem, kerror *err)
{
    rem->leased = 0;
    if (s->finished || s->stop_reason || rem->gpus_free < s->spec->run.gpus) return KE_OK;
    return sched_fill(s, 1, rem, err);
}

int scheduler_remote_line(scheduler *s, int64_t tag, const char *line, kerror *err)
{
    sched_run *r = remote_run(s, tag);
    /* a worker's runner cuts as ours does, but the protocol carries no flag */
    return r ? sched_outcome_line(s, r, line, 0, err) : no_remote(tag, err);
}

int scheduler_remote_runs(const scheduler *s, int64_t tag)
{
    return remote_run((scheduler *)s, tag) != NULL;
}

int scheduler_remote_stop_asked(const scheduler *s, int64_t tag)
{
    const sched_run *r = remote_run((scheduler *)s, tag);
    return !r || r->stop_asked;
}

int scheduler_remote_exit(scheduler *s, int64_t tag, const runner_event *ev, const char *out_tail,
                          const char *err_tail, kerror *err)
{
    sched_run *r = remote_run(s, tag);
    if (!r) return no_remote(tag, err);
    int rc = sched_outcome_exit(s, r, ev, out_tail, err_tail, err);
    remote_free(s, r);
    return rc;
}

int scheduler_remote_lost(scheduler *s, int64_t tag, const char *reason, kerror *err)
{
    sched_run *r = remote_run(s, tag);
    if (!r) return no_remote(tag, err);
    int number = r->number;
    remote_free(s, r);
    /* a lost worker (its node died, a lease's answer broke off) says
     * nothing of the trial's command: not one of budget.max_failures'
     * failures in a row, or a worker of that many slots dying failed the
     * study instead of its trials being retried */
    int streak = s->fail_streak;
    int rc = sched_outcome_finish(s, number, TRIAL_FAILED, 0, 0, NULL, reason, NULL, NULL, err);
    s->fail_streak = streak;
    return rc == KE_OK ? sched_queue_retry(s, number, err) : rc;
}
