/* slurm: job-array scripts and sbatch; see slurm.h. Every value that goes
 * into the script is single-quoted, so a path or URL with spaces or quotes
 * cannot change what the task runs. */
#define _GNU_SOURCE
#include "slurm.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "klog.h"
#include "monotime.h"
#include "subproc.h"

/* fprintf of s in single quotes ('\'' for each quote inside). */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputs("'\\''", f);
        else fputc(*s, f);
    }
    fputc('\'', f);
}

/* What an #SBATCH value cannot hold: sbatch reads these lines itself, not
 * the shell, and would split it. */
#define SBATCH_UNSAFE " \t\n'\"\\#"

/* An #SBATCH line --name=value for the command line's option (named in the
 * error: "output" named no option the user gave); a value sbatch would
 * split is refused. */
static int directive(FILE *f, const char *name, const char *option, const char *value,
                     kerror *err)
{
    if (!value) return KE_OK;
    if (!*value || strpbrk(value, SBATCH_UNSAFE))
        return kerror_set(err, KE_INVALID, option, "'%s': no spaces, quotes or '#' in an "
                          "#SBATCH value", value);
    fprintf(f, "#SBATCH --%s=%s\n", name, value);
    return KE_OK;
}

/* path as the tasks must name it: a relative one is of this process's
 * folder, and a task starts in sbatch's --chdir when one is given. "."
 * is the folder itself. option: the option that gave it, for errors. */
static int absolute(const char *path, const char *option, char *buf, size_t n, kerror *err)
{
    char cwd[4096];
    if (path[0] == '/') {
        snprintf(buf, n, "%s", path);
        return KE_OK;
    }
    if (!getcwd(cwd, sizeof cwd))
        return kerror_set(err, KE_IO, NULL, "cannot name the current folder: %s", strerror(errno));
    int one_dot = !strcmp(path, ".");
    if ((size_t)snprintf(buf, n, "%s%s%s", cwd, one_dot ? "" : "/", one_dot ? "" : path) >= n)
        return kerror_set(err, KE_INVALID, option, "the path is too long");
    return KE_OK;
}

int slurm_script(const slurm_opts *o, char **out, kerror *err)
{
    if (o->workers < 1) return kerror_set(err, KE_INVALID, "--workers", "expected at least 1");
    char token_file[8192], log_dir[4096];
    int trc = o->token_file ? absolute(o->token_file, "--token-file", token_file,
                                       sizeof token_file, err) : KE_OK;
    /* sbatch opens a relative --output in the job's folder (its --chdir):
     * the tasks' logs went to CHDIR/D, which may not exist (Slurm then
     * writes none), while the script went to D here and the server's
     * scaler pointed at D for them */
    if (trc == KE_OK) trc = absolute(o->log_dir, "--log-dir", log_dir, sizeof log_dir, err);
    if (trc != KE_OK) return trc;
    /* a submit folder that no #SBATCH line can name (a space in it): the
     * relative D as given, as before, rather than refusing the default */
    if (strpbrk(log_dir, SBATCH_UNSAFE) && !strpbrk(o->log_dir, SBATCH_UNSAFE))
        snprintf(log_dir, sizeof log_dir, "%s", o->log_dir);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    fprintf(f, "#!/bin/sh\n"
               "# kestrel slurm submit: a job array of kestrel workers (docs/cluster.md).\n"
               "#SBATCH --job-name=%s\n"
               "#SBATCH --array=0-%d\n", o->job_name ? o->job_name : "kestrel-worker",
            o->workers - 1);
    char output[4200];
    snprintf(output, sizeof output, "%s/kestrel-worker-%%A_%%a.log", log_dir);
    int rc = KE_OK;
    const char *names[] = {"output", "partition", "gres", "time"};
    const char *options[] = {"--log-dir", "--partition", "--gres", "--time"};
    const char *values[] = {output, o->partition, o->gres, o->time};
    for (int i = 0; i < 4 && rc == KE_OK; i++)
        rc = directive(f, names[i], options[i], values[i], err);
    if (rc != KE_OK) {
        fclose(f);
        free(text);
        return rc;
    }
    if (o->cpus_per_task > 0) fprintf(f, "#SBATCH --cpus-per-task=%d\n", o->cpus_per_task);
    fputs("# each task: one worker with a work folder of its own; it exits once idle\n", f);
    /* Slurm names the GPUs it gave the task in CUDA_VISIBLE_DEVICES */
    if (o->gres && !strncmp(o->gres, "gpu", 3))
        fputs("set -- ${CUDA_VISIBLE_DEVICES:+--gpus \"$CUDA_VISIBLE_DEVICES\"}\n", f);
    else
        fputs("set --\n", f);
    fputs("exec ", f);
    put_quoted(f, o->kestrel);
    fputs(" worker --server ", f);
    put_quoted(f, o->server);
    if (o->token_file) {
        fputs(" --token-file ", f);
        put_quoted(f, token_file);
    }
    if (o->slots > 0) fprintf(f, " --slots %d", o->slots);
    fputs(" --work-dir ", f);
    put_quoted(f, o->work_dir);
    fprintf(f, "/\"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\" --idle-exit %g \"$@\"\n",
            o->idle_exit);
    if (fclose(f) != 0) {
        free(text);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    *out = text;
    return KE_OK;
}

int slurm_submit(const char *script, const char *script_path, char *const *extra, char *job,
                 size_t job_size, kerror *err)
{
    FILE *f = fopen(script_path, "w");
    if (!f || fputs(script, f) < 0 || fclose(f) != 0)
        return kerror_set(err, KE_IO, NULL, "cannot write %s: %s", script_path, strerror(errno));
    int n = 0;
    while (extra && extra[n]) n++;
    char **argv = calloc(n + 4, sizeof *argv);
    if (!argv) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    argv[0] = "sbatch";
    argv[1] = "--parsable";
    for (int i = 0; i < n; i++) argv[2 + i] = extra[i];
    argv[2 + n] = (char *)script_path;
    char *out;
    size_t len;
    int rc = subproc_run(argv, 4096, &out, &len, err);
    free(argv);
    if (rc != KE_OK) return rc;
    out[strcspn(out, ";\n")] = '\0';   /* --parsable: "JOB" or "JOB;CLUSTER" */
    snprintf(job, job_size, "%s", out);
    free(out);
    return job[0] ? KE_OK : kerror_set(err, KE_IO, NULL, "sbatch printed no job id");
}

int slurm_count(const char *job_name, int *n, kerror *err)
{
    /* this user's jobs alone: squeue lists every user's, and another
     * user's coordinator on the same port (8080) names its jobs alike, so
     * their tasks were counted as this server's and it submitted fewer */
    char user[256] = "", pwbuf[4096];
    struct passwd pw, *found = NULL;
    if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof pwbuf, &found) == 0 && found)
        snprintf(user, sizeof user, "%s", found->pw_name);
    char *argv[] = {"squeue", "-h", "-r", "-t", "PENDING,RUNNING,CONFIGURING", "-n",
                    (char *)job_name, "-o", "%i", user[0] ? "-u" : NULL, user, NULL};
    char *out;
    size_t len;
    int rc = subproc_run(argv, 1 << 24, &out, &len, err);
    *n = 0;
    for (size_t i = 0; rc == KE_OK && i < len; i++) *n += out[i] == '\n';
    if (rc == KE_OK) free(out);
    return rc;
}

#define SCALE_EVERY_S 2

struct slurm_scaler {
    slurm_opts o;
    char *const *extra;
    int max;
    int (*has_work)(void *ctx, long *registered);
    void *ctx;
    char job[64];               /* the last job submitted, "" before one */
    long registered;            /* the server's registrations at that submission */
    double wait_s, next_at;     /* the back-off after tasks that never registered */
    int noted;                  /* the last job's failure is logged and waited for */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int stop;
};

/* One look: submits the tasks missing below max while there is work. */
static void scale_once(slurm_scaler *sc)
{
    kerror err;
    kerror_clear(&err);
    int n;
    long registered = 0;
    if (!sc->has_work(sc->ctx, &registered)) return;
    if (slurm_count(sc->o.job_name, &n, &err) != KE_OK || n >= sc->max) {
        if (err.code) klog(stderr, "slurm: %s", err.msg);
        return;
    }
    /* Tasks gone from the queue, not one of them registered since: each
     * worker ended at its start (a server it cannot reach or join, a
     * kestrel missing on the node). Submitting again every few seconds
     * would flood the queue with the same failure: wait, twice as long
     * after each such job, and start afresh once workers register. */
    if (sc->job[0] && registered == sc->registered) {
        if (!sc->noted) {
            sc->noted = 1;
            sc->wait_s = sc->wait_s > 0 ? 2 * sc->wait_s : 2 * SCALE_EVERY_S;
            if (sc->wait_s > SLURM_BACKOFF_MAX_S) sc->wait_s = SLURM_BACKOFF_MAX_S;
            sc->next_at = monotime_s() + sc->wait_s;
            klog(stderr, "slurm: the workers of job %s ended without registering with this "
                 "server (their output: %s/kestrel-worker-%s_*.log); submitting again in %.0f s",
                 sc->job, sc->o.log_dir, sc->job, sc->wait_s);
        }
        if (monotime_s() < sc->next_at) return;
    } else {
        sc->wait_s = 0;
    }
    slurm_opts o = sc->o;
    o.workers = sc->max - n;
    char *script, job[64], path[4200];
    snprintf(path, sizeof path, "%s/%s.sbatch", o.log_dir, o.job_name);
    if (slurm_script(&o, &script, &err) == KE_OK) {
        if (slurm_submit(script, path, sc->extra, job, sizeof job, &err) == KE_OK) {
            klog(stderr, "slurm: submitted job %s: %d workers", job, o.workers);
            snprintf(sc->job, sizeof sc->job, "%s", job);
            sc->registered = registered;
            sc->noted = 0;
        }
        free(script);
    }
    if (err.code) klog(stderr, "slurm: %s", err.msg);
}

static void *scale_loop(void *arg)
{
    slurm_scaler *sc = arg;
    pthread_mutex_lock(&sc->mu);
    while (!sc->stop) {
        pthread_mutex_unlock(&sc->mu);
        scale_once(sc);
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += SCALE_EVERY_S;
        pthread_mutex_lock(&sc->mu);
        if (!sc->stop) pthread_cond_timedwait(&sc->cond, &sc->mu, &t);
    }
    pthread_mutex_unlock(&sc->mu);
    return NULL;
}

int slurm_scaler_start(slurm_scaler **out, const slurm_opts *o, char *const *extra, int max,
                       int (*has_work)(void *ctx, long *registered), void *ctx, kerror *err)
{
    slurm_scaler *sc = calloc(1, sizeof *sc);
    if (!sc) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    *sc = (slurm_scaler){.o = *o, .extra = extra, .max = max, .has_work = has_work, .ctx = ctx};
    pthread_mutex_init(&sc->mu, NULL);
    pthread_cond_init(&sc->cond, NULL);
    if (pthread_create(&sc->thread, NULL, scale_loop, sc) != 0) {
        free(sc);
        return kerror_set(err, KE_IO, NULL, "cannot start the Slurm thread");
    }
    *out = sc;
    return KE_OK;
}

void slurm_scaler_stop(slurm_scaler *sc)
{
    if (!sc) return;
    pthread_mutex_lock(&sc->mu);
    sc->stop = 1;
    pthread_cond_signal(&sc->cond);
    pthread_mutex_unlock(&sc->mu);
    pthread_join(sc->thread, NULL);
    pthread_mutex_destroy(&sc->mu);
    pthread_cond_destroy(&sc->cond);
    free(sc);
}
