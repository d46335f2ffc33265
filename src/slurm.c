/* slurm: job-array scripts and sbatch; see slurm.h. Every value that goes
 * into the script is single-quoted, so a path or URL with spaces or quotes
 * cannot change what the task runs. */
#define _GNU_SOURCE
#include "slurm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* An #SBATCH line for an option given on the command line. sbatch reads
 * these lines itself, not the shell: a value it would split is refused. */
static int directive(FILE *f, const char *name, const char *value, kerror *err)
{
    if (!value) return KE_OK;
    if (!*value || strpbrk(value, " \t\n'\"\\#"))
        return kerror_set(err, KE_INVALID, name, "'%s': no spaces, quotes or '#' in an "
                          "#SBATCH value", value);
    fprintf(f, "#SBATCH --%s=%s\n", name, value);
    return KE_OK;
}

int slurm_script(const slurm_opts *o, char **out, kerror *err)
{
    if (o->workers < 1) return kerror_set(err, KE_INVALID, "--workers", "expected at least 1");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    fprintf(f, "#!/bin/sh\n"
               "# kestrel slurm submit: a job array of kestrel workers (docs/cluster.md).\n"
               "#SBATCH --job-name=kestrel-worker\n"
               "#SBATCH --array=0-%d\n", o->workers - 1);
    char output[4200];
    snprintf(output, sizeof output, "%s/kestrel-worker-%%A_%%a.log", o->log_dir);
    int rc = KE_OK;
    const char *names[] = {"output", "partition", "gres", "time"};
    const char *values[] = {output, o->partition, o->gres, o->time};
    for (int i = 0; i < 4 && rc == KE_OK; i++) rc = directive(f, names[i], values[i], err);
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
        put_quoted(f, o->token_file);
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
    int fds[2];
    if (!argv || pipe(fds) < 0) {
        free(argv);
        return kerror_set(err, KE_IO, NULL, "cannot start sbatch: %s", strerror(errno));
    }
    argv[0] = "sbatch";
    argv[1] = "--parsable";
    for (int i = 0; i < n; i++) argv[2 + i] = extra[i];
    argv[2 + n] = (char *)script_path;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execvp("sbatch", argv);
        fprintf(stderr, "kestrel slurm: cannot run sbatch: %s\n", strerror(errno));
        _exit(127);
    }
    free(argv);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return kerror_set(err, KE_IO, NULL, "cannot start sbatch: %s", strerror(errno));
    }
    ssize_t got = 0, r;
    while (got < (ssize_t)job_size - 1 && (r = read(fds[0], job + got, job_size - 1 - got)) > 0)
        got += r;
    close(fds[0]);
    job[got > 0 ? got : 0] = '\0';
    job[strcspn(job, ";\n")] = '\0';   /* --parsable: "JOB" or "JOB;CLUSTER" */
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !job[0])
        return kerror_set(err, KE_IO, NULL, "sbatch failed (exit %d; its message is above)",
                          WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return KE_OK;
}
