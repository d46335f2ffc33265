/* scheduler_impl: private to the scheduler; only scheduler.c (the study
 * loop), sched_fill.c (launching into free slots), sched_remote.c (remote
 * runs) and sched_outcome.c (how a run's reports and exit become its
 * trial's outcome) include it. It defines the scheduler and its run slots,
 * and the helpers they share (sched_ names, internal). */
#ifndef KESTREL_SCHEDULER_IMPL_H
#define KESTREL_SCHEDULER_IMPL_H

#include <limits.h>

#include "../search/pruner.h"
#include "../search/strategy.h"
#include "idmap.h"
#include "lock.h"
#include "report.h"
#include "runner.h"
#include "sched_ckpt.h"
#include "sched_trial.h"
#include "scheduler.h"

typedef struct {
    int number;             /* trial it runs */
    runner_proc *proc;      /* a local child, or NULL */
    int64_t tag;            /* > 0: a remote run (a worker's lease), its caller's tag */
    int stop_asked;         /* remote: the worker is to end it (pruned, stopped) */
    report_line final;      /* final metrics merged from final lines */
    report_line last;       /* last intermediate report */
    int has_last;
    int pruned;             /* stopped by the strategy's pruner */
    const char *stopped;    /* stopped by scheduler_stop: the reason */
    char failure[256];      /* a failure found while it ran (NaN objective) */
    int n_malformed;        /* report lines ignored as malformed ("step": -1) */
    char malformed[256];    /* why the first was: its trial's record says so */
} sched_run;

struct scheduler {
    storage *st;
    const spec_study *spec;
    scheduler_opts o;
    lock_handle lock;
    int64_t study_id;
    double created_at;      /* the study row's: with the id (which SQLite may give
                             * again after a delete), which study this is */
    const strategy_ops *ops;
    strategy *strat;
    const pruner_ops *pops;     /* NULL when the study has no pruner */
    pruner *prun;
    sched_trials hist;
    int best;               /* the best COMPLETE trial's number, -1 none:
                             * kept as trials end (sched_outcome_consider) */
    sched_run *runs;        /* max_parallel slots; proc NULL when free */
    idmap remote;           /* remote runs (slots in runs) by tag: a worker's
                             * every call names one */
    runner_guard *guard;    /* from the first local trial on; outlives every proc */
    int n_running;          /* local and remote */
    int n_local;
    int *retry_queue;       /* trial numbers to re-run */
    int n_retry, cap_retry;
    int threads;            /* per trial */
    int parallel;           /* slots it may use now, <= max_parallel */
    double t0;
    int reclaimed;
    int exhausted;          /* strategy has nothing more */
    int goal_reached;       /* a COMPLETE trial reached objective.goal: nothing new starts */
    int multifid;           /* the strategy gives budgets: it promotes trials */
    int ended_since_ask;    /* a trial ended since the last suggest() */
    int supply;             /* -1, or: the last suggest() gave fewer than it was
                             * asked for, and this many of them are not launched
                             * yet (in ready, or dropped from it: asked again, it
                             * gives them again); the strategy has no others
                             * until a trial ends (scheduler_startable) */
    int n_enqueued;         /* its pending enqueued configurations (that fit its
                             * space) as last counted by scheduler_enqueued_refresh */
    int enq_known;          /* n_enqueued holds for enq_version: 0 after a launch
                             * took one (this handle's writes leave the version) */
    int64_t enq_version;    /* storage_data_version when n_enqueued was counted */
    int due_known, due;     /* promotions due with the fresh budget spent (promotions_due);
                             * due_known drops when a trial ends */
    int n_suggested;        /* suggestions the strategy made since open */
    int n_asked;            /* suggest() calls since open (a batch is one) */
    /* suggestions of one suggest() call not launched yet: the rest of a
     * batch made for several leases at once; suggest() is asked only when
     * none is left, so the strategy never suggests around them */
    strategy_suggestion *ready;
    int n_ready;
    sched_ckpt ckpt;        /* trainer studies: whose checkpoint is kept */
    const char *stop_reason;
    int detached;           /* scheduler_detach: remote runs are left to their workers */
    int finished, completed;
    int fail_streak;        /* trials failed in a row (by themselves) in this run */
    int failed;             /* the study failed: why is in failure */
    char failure[512];
    char last_failure[256]; /* reason of the last trial that failed by itself */
    char worker[128];
    /* the study row's spec and folder as leases hand them out, read at the
     * first lease: only scheduler_open writes them while it runs */
    json_t *lease_spec;
    char *lease_dir;
    /* the study's trial folders' folder (o.work_dir points here), and the
     * one it had before this open's --work-dir moved it ("" if none) */
    char work_dir[PATH_MAX], moved_from[PATH_MAX];
};

/* Asks a run's child to end: a local one at once, a remote one through the
 * worker's next call (scheduler_remote_stop_asked). */
void sched_run_stop(sched_run *r);
/* Whether slot r holds a run (a local child or a remote run). */
int sched_run_busy(const sched_run *r);
/* Empties slot r for a run of trial number. */
void sched_run_reset(sched_run *r, int number);
/* Queues trial k for another run when it was interrupted or its lineage
 * has retries left. */
int sched_queue_retry(scheduler *s, int k, kerror *err);
/* Hands the event to the caller's on_event, if any. */
void sched_emit(scheduler *s, scheduler_event_kind kind, int number, trial_state state,
                int has_value, double value, int step, const char *failure,
                const storage_trial *row);

#endif
