/* sched_fill: what a study starts next in its free run slots: its queued
 * retries first (they cost no budget), then the configurations enqueued for
 * it, then its strategy's suggestions, each launched as a child of this
 * process or handed to a worker as a remote run. Invariant: a trial is
 * stored before its child starts, and n_running never passes
 * budget.max_parallel (a launch takes a free slot or fails). */
#define _GNU_SOURCE
#include "sched_fill.h"

#include <stdio.h>
#include <string.h>

#include "enqueue.h"
#include "sched_launch.h"
#include "sched_outcome.h"

sched_run *sched_fill_slot(scheduler *s)
{
    for (int i = 0; i < s->spec->budget.max_parallel; i++)
        if (!sched_run_busy(&s->runs[i])) return &s->runs[i];
    return NULL;
}

/* Inserts a trial for the suggestion and starts its child, or hands it to
 * the remote run in *rem (tag and worker set). A trial whose child cannot
 * start is recorded FAILED at once: the study goes on. The caller knows
 * whether the trial was stored by hist.n: an error before that (no free
 * slot, the insert failed) leaves nothing behind. */
static int launch(scheduler *s, const strategy_suggestion *sg, int retry_of, int64_t enqueued_id,
                  scheduler_remote *rem, kerror *err)
{
    /* sched_fill keeps n_running below max_parallel, so one is free */
    sched_run *r = sched_fill_slot(s);
    if (!r) return kerror_set(err, KE_INTERNAL, NULL, "no free run slot (%d running)", s->n_running);
    if (rem && idmap_put(&s->remote, rem->tag, r) != KE_OK)
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    sched_trial *t;
    sched_trial_row stored;
    int rc = sched_trials_append(&s->hist, s->st, s->study_id, &s->spec->space, sg, retry_of,
                                 enqueued_id, rem ? rem->worker : s->worker, &t, &stored, err);
    if (rc != KE_OK) {
        if (rem) idmap_del(&s->remote, rem->tag);
        return rc;
    }
    /* the insert consumed it through this handle, which leaves the data
     * version as it was: scheduler_enqueued_refresh counts again, and
     * till it can, the count is one less (a lower bound: only a later
     * enqueue adds to it) */
    if (enqueued_id) {
        s->enq_known = 0;
        if (s->n_enqueued > 0) s->n_enqueued--;
    }
    sched_run_reset(r, t->number);
    if (rem) {
        r->tag = rem->tag;
        rem->trial = t;
        rem->n_params = s->spec->space.n;
        rem->leased = 1;
        s->n_running++;
        sched_emit(s, SCHED_EV_STARTED, t->number, TRIAL_RUNNING, 0, 0, -1, NULL, &stored.row);
        return KE_OK;
    }
    kerror serr;
    sched_launch_paths paths = {.self_exe = s->o.self_exe, .run_self = s->o.run_self,
                                .work_dir = s->o.work_dir,
                                .cache_dir = s->o.cache_dir, .guard = &s->guard};
    rc = sched_launch_spawn(t, s->spec, &paths, s->threads, r, &r->proc, &serr);
    if (rc != KE_OK) {
        r->proc = NULL;
        char reason[KERROR_MSG_MAX + 32];
        snprintf(reason, sizeof reason, "cannot start the trial: %s", serr.msg);
        return sched_outcome_finish(s, t->number, TRIAL_FAILED, 0, 0, NULL, reason, NULL, NULL,
                                    err);
    }
    s->n_running++;
    s->n_local++;
    sched_emit(s, SCHED_EV_STARTED, t->number, TRIAL_RUNNING, 0, 0, -1, NULL, &stored.row);
    return KE_OK;
}

static int avoided(const scheduler_remote *rem, int number)
{
    for (int i = 0; i < rem->n_avoid; i++)
        if (rem->avoid[i] == number) return 1;
    return 0;
}

/* Launches up to max pending enqueued configurations, in order, as fresh
 * trials of budget (0: full; PLACED: the strategy's next fresh place's,
 * ops->enqueued_budget, asked only once one is pending: it reads the whole
 * history, and Hyperband waiting for a rung is filled every round); *n gets
 * how many. */
#define PLACED (-1)
static int launch_enqueued(scheduler *s, int max, int budget, scheduler_remote *rem, int *n,
                           kerror *err)
{
    *n = 0;
    if (max <= 0) return KE_OK;
    space_point queued[max];
    int64_t id[max];
    int n_queued = 0;
    int rc = enqueue_pending(s->st, s->study_id, &s->spec->space, queued, id, max, &n_queued, err);
    if (rc == KE_OK && n_queued > 0 && budget == PLACED) {
        strategy_history h;
        sched_trials_history(&s->hist, s->spec->budget.max_trials, &h);
        budget = s->ops->enqueued_budget(s->strat, &h, err);
        if (budget < 0) return budget;
    }
    for (int i = 0; rc == KE_OK && i < n_queued && !(rem && rem->leased); i++) {
        strategy_suggestion sg = {.point = queued[i], .budget = budget, .resume_from = -1};
        if ((rc = launch(s, &sg, -1, id[i], rem, err)) == KE_OK) (*n)++;
    }
    return rc;
}

/* Launches up to max pending enqueued configurations, in order, each in the
 * strategy's next fresh place at its budget (ops->enqueued_budget, asked
 * again after each launch: the next may be in another bracket). */
static int launch_enqueued_placed(scheduler *s, int max, scheduler_remote *rem, kerror *err)
{
    for (int i = 0; i < max && !(rem && rem->leased); i++) {
        int n, rc = launch_enqueued(s, 1, PLACED, rem, &n, err);
        if (rc != KE_OK || n == 0) return rc;
    }
    return KE_OK;
}

/* Fills up to slots free slots: retries first (they cost no budget), then
 * suggestions; with rem, one trial at most, handed to the remote run. */
int sched_fill(scheduler *s, int slots, scheduler_remote *rem, kerror *err)
{
    if (s->goal_reached) return KE_OK;
    int room = s->spec->budget.max_parallel - s->n_running;
    if (slots > room) slots = room;
    for (int q = s->n_retry - 1; slots > 0 && q >= 0; q--) {
        int k = s->retry_queue[q];
        if (rem && avoided(rem, k)) continue;
        const sched_trial *old = &s->hist.t[k];
        strategy_suggestion sg = {.point = old->point, .budget = old->budget,
                                  .resume_from = old->resumed_from};
        int stored = s->hist.n;
        int rc = launch(s, &sg, k, 0, rem, err);
        /* a retry whose trial could not be stored stays queued for the next
         * step or lease; one stored is taken, its child started or not */
        if (s->hist.n > stored) {
            s->hist.t[k].retried = 1;
            memmove(&s->retry_queue[q], &s->retry_queue[q + 1], (s->n_retry - q - 1) * sizeof(int));
            s->n_retry--;
        }
        if (rc != KE_OK || (rem && rem->leased)) return rc;
        slots--;
    }
    /* max_trials bounds fresh trials only. A multi-fidelity strategy (one
     * whose suggestions carry budgets) also promotes trials, which are not
     * fresh: it is asked for every free slot, and once the fresh budget is
     * spent, again after each trial ends, for its promotions alone. */
    int left = s->spec->budget.max_trials - s->hist.n_fresh;
    if (slots > left && (!s->multifid || (left <= 0 && !s->ended_since_ask))) slots = left;
    if (slots <= 0) return KE_OK;
    /* enqueued configurations take the places of fresh suggestions, in order
     * (read each time: another process may have added some). A strategy
     * that gives budgets is asked for those places, whose budgets it
     * decides; any other is not asked for them (under GP a suggestion is a
     * model fit), so they run even once it is done: a grid that has run
     * every point still runs the configurations enqueued after it. */
    int n_enq;
    if (!s->ops->gives_budgets) {
        int rc = launch_enqueued(s, slots < left ? slots : left, 0, rem, &n_enq, err);
        if (rc != KE_OK || (rem && rem->leased)) return rc;
        slots -= n_enq;
        left -= n_enq;
        if (slots <= 0) return KE_OK;
    }
    strategy_history h;
    if (!s->exhausted && s->n_ready == 0) {
        s->ended_since_ask = 0;
        sched_trials_history(&s->hist, s->spec->budget.max_trials, &h);
        s->exhausted = s->ops->done(s->strat, &h);
    }
    /* a multi-fidelity strategy that is done (Hyperband after its last
     * round) has no bracket left for what was enqueued since: each runs
     * once at the full budget, as the last rung's trials did, or it stayed
     * pending while the study completed */
    if (s->exhausted && s->ops->gives_budgets)
        return launch_enqueued_placed(s, slots < left ? slots : left, rem, err);
    if (s->exhausted) return KE_OK;
    if (s->n_ready == 0) {
        /* the leases queued with this one share one suggest() (one GP fit,
         * the rest of the batch as its pending points) */
        int want = rem && rem->batch > slots ? rem->batch : slots;
        if (want > s->spec->budget.max_parallel - s->n_running)
            want = s->spec->budget.max_parallel - s->n_running;
        if (want > left && !s->multifid) want = left;
        int n = s->ops->suggest(s->strat, &h, s->ready, want, err);
        s->n_asked++;
        if (n < 0) return n;
        s->n_suggested += n;
        if (n == 0 && s->n_running == 0) s->exhausted = 1;
        s->n_ready = n;
        s->supply = n < want ? n : -1;
    }
    int n = s->n_ready < slots ? s->n_ready : slots;
    space_point queued[slots];
    int64_t queued_id[slots];
    int n_queued = 0, next_queued = 0;
    if (n > 0 && s->ops->gives_budgets) {
        int rc = enqueue_pending(s->st, s->study_id, &s->spec->space, queued, queued_id, n,
                                 &n_queued, err);
        if (rc != KE_OK) return rc;
    }
    for (int i = 0; i < n; i++) {
        strategy_suggestion sg = s->ready[0];
        memmove(&s->ready[0], &s->ready[1], (size_t)--s->n_ready * sizeof sg);
        if (s->supply > 0) s->supply--;
        if (sg.budget > 0) s->multifid = 1;
        if (sg.resume_from < 0 && left-- <= 0) continue;
        int64_t eid = 0;
        if (sg.resume_from < 0 && next_queued < n_queued) {
            sg.point = queued[next_queued];
            eid = queued_id[next_queued++];
        }
        int rc = launch(s, &sg, -1, eid, rem, err);
        if (rc != KE_OK || (rem && rem->leased)) return rc;
    }
    /* one that has nothing more to start now (Hyperband waiting for a
     * rung's or its last bracket's trials to end) would leave what is
     * enqueued pending beside free slots: it takes the next fresh places
     * at once (a later bracket's bottom rung, or R in none) */
    slots -= n;
    if (s->ops->gives_budgets && s->n_ready == 0 && s->supply >= 0 && slots > 0 && left > 0)
        return launch_enqueued_placed(s, slots < left ? slots : left, rem, err);
    return KE_OK;
}
