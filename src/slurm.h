/* slurm: places `kestrel worker` processes with Slurm: the batch script of a
 * job array whose tasks each run one worker, and its submission through
 * sbatch. Knows nothing of studies or of the API beyond the worker's
 * command line. See docs/cluster.md. */
#ifndef KESTREL_SLURM_H
#define KESTREL_SLURM_H

#include "kerror.h"

typedef struct {
    const char *kestrel;        /* the kestrel binary the tasks run (absolute) */
    const char *job_name;       /* NULL: kestrel-worker */
    const char *server;         /* --server URL for the workers */
    const char *token_file;     /* or NULL; a relative one is of the submitting
                                 * process's folder (the script names it absolute) */
    int workers;                /* array tasks, >= 1 */
    const char *partition;      /* or NULL: each #SBATCH line only when given */
    const char *gres;           /* "gpu:K": the worker then takes Slurm's GPUs as --gpus */
    const char *time;
    int cpus_per_task;          /* 0: not given */
    int slots;                  /* the worker's --slots, 0: its default */
    const char *work_dir;       /* per task: WORK_DIR/JOB_TASK */
    const char *log_dir;        /* the tasks' output files; a relative one is of the
                                 * submitting process's folder (named absolute) */
    double idle_exit;           /* a worker exits after this long without a trial */
} slurm_opts;

/* The batch script (malloc'd, the caller frees). Values are shell-quoted. */
int slurm_script(const slurm_opts *o, char **out, kerror *err);
/* Runs `sbatch --parsable EXTRA... SCRIPT_FILE` (the script written to
 * script_path first) and fills job (its id, as sbatch prints it). */
int slurm_submit(const char *script, const char *script_path, char *const *extra, char *job,
                 size_t job_size, kerror *err);

/* How many tasks of this user's jobs named job_name are pending or running
 * (squeue -u: other users' jobs of that name are theirs). */
int slurm_count(const char *job_name, int *n, kerror *err);

/* A thread that keeps up to max tasks of o's job queued while has_work(ctx)
 * says there is work, submitting arrays through sbatch (extra: its
 * arguments) every few seconds; the workers exit once idle. has_work also
 * gives the registrations the server has had so far: tasks that ended with
 * none since their submission failed at their start (a worker that cannot
 * reach or join the server), and the next submission waits, twice as long
 * each time up to SLURM_BACKOFF_MAX_S. Failures go to the log and are
 * tried again. */
#define SLURM_BACKOFF_MAX_S 300
typedef struct slurm_scaler slurm_scaler;
int slurm_scaler_start(slurm_scaler **out, const slurm_opts *o, char *const *extra, int max,
                       int (*has_work)(void *ctx, long *registered), void *ctx, kerror *err);
void slurm_scaler_stop(slurm_scaler *sc);

#endif
