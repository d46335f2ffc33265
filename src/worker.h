/* worker: the engine of `kestrel worker`: registers with a `kestrel serve`,
 * leases trials from it, runs each through the same path as a local trial
 * (sched_launch_spawn: command line, environment, runner, timeouts, the fd-3
 * report protocol, output tails) and sends back what the trial reports, in
 * batches, and how it ended. While the server cannot be reached it keeps
 * what it has to send and tries again; a trial the server no longer holds
 * for it (its lease expired or its study stopped) is ended. Single-threaded;
 * see docs/workers.md. */
#ifndef KESTREL_WORKER_H
#define KESTREL_WORKER_H

#include <signal.h>

#include <jansson.h>

#include "kerror.h"

#define WORKER_MAX_SLOTS 256
#define WORKER_MAX_GPUS 64
#define WORKER_REPORT_BUFFER (64LL << 20)
#define WORKER_MAX_SECONDS 1e6   /* of --idle-exit and --poll; kestrel slurm and
                                  * serve --slurm-idle-exit hold to it too */

typedef struct {
    const char *server;         /* base URL of kestrel serve */
    const char *token;          /* or NULL */
    int slots;                  /* trials at once */
    int gpus[WORKER_MAX_GPUS];  /* device ids (--gpus); n_gpus 0: none given */
    int n_gpus;
    const char *work_dir;       /* trial folders: <work_dir>/<study>/<number> */
    int shared_dir;             /* work_dir is the server's own: no folder is copied */
    const char *self_exe;       /* the kestrel binary, for built-in trials */
    int run_self;               /* they execute this very binary (scheduler.h) */
    json_t *labels;             /* borrowed object of strings, or NULL */
    double idle_exit;           /* exit after this long without a trial; 0 = never */
    int max_trials;             /* exit after running this many trials; 0 = no limit */
    double poll_s;              /* between lease requests while idle; 0 = 0.5 */
    long long report_buffer;    /* bytes of a trial's unsent report lines past which
                                 * its reports are no longer read (the trial waits);
                                 * 0 = WORKER_REPORT_BUFFER */
    volatile sig_atomic_t *stop;  /* set by SIGINT/SIGTERM: give the trials back and exit */
} worker_opts;

/* Runs until *stop (its trials are ended and given back to the server, which
 * runs them again), or until idle_exit. KE_OK then; KE_INVALID for bad
 * options, KE_IO when the server refused to register it (a wrong token). */
int worker_run(const worker_opts *o, kerror *err);

#endif
