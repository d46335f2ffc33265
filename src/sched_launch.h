/* sched_launch: the step from a trial of the history to a running child:
 * its folder, its command line (the spec's command with the trial's values,
 * or `kestrel fn` / `kestrel train` for built-in runs) and the KESTREL_*
 * environment (docs/protocol.md). */
#ifndef KESTREL_SCHED_LAUNCH_H
#define KESTREL_SCHED_LAUNCH_H

#include "kerror.h"
#include "runner.h"
#include "sched_trial.h"
#include "spec.h"

/* Where children come from and work: borrowed strings. */
typedef struct {
    const char *self_exe;   /* the kestrel binary, for function/trainer trials */
    int run_self;           /* they execute this very binary (scheduler.h) */
    const char *work_dir;   /* trial folders "<work_dir>/<study>/<number>" */
    const char *cache_dir;  /* decoded-dataset cache, or NULL */
    char *const *env_extra; /* "K=V" for every trial (a worker's CUDA_VISIBLE_DEVICES), or NULL */
    runner_guard **guard;   /* the spawner's guard, started here at its first trial */
} sched_launch_paths;

/* Makes the trial's folder and starts its child; threads is its share of
 * the cores. user is handed back in runner events. */
int sched_launch_spawn(const sched_trial *t, const spec_study *spec, const sched_launch_paths *o,
                       int threads, void *user, runner_proc **out, kerror *err);

#endif
