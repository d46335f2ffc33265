/* sched_launch: starts a trial's child; see sched_launch.h. What a child
 * sees (argv, KESTREL_* environment, its folder) is built here alone, so the
 * protocol in docs/protocol.md has one source. */
#define _GNU_SOURCE
#include "sched_launch.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched_dir.h"
#include "spec_command.h"
#include "spec_trainer.h"

/* A growing NULL-terminated list of owned strings (argv or environment). */
typedef struct {
    char **v;
    int n, cap;
    int oom;
} strlist;

static void add(strlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(strlist *l, const char *fmt, ...)
{
    if (l->oom) return;
    if (l->n + 2 > l->cap) {
        int cap = l->cap ? l->cap * 2 : 32;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->oom = 1;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&l->v[l->n], fmt, ap) < 0) l->oom = 1;
    else l->v[++l->n] = NULL;
    va_end(ap);
}

static void strlist_free(strlist *l)
{
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

/* `kestrel fn NAME --set x1=...` or `kestrel train --set k=v ...`: the
 * trainer's base options from the spec first, the trial's values after, so
 * searched values win. */
static void builtin_argv(strlist *a, const sched_trial *t, const spec_study *spec,
                         const sched_launch_paths *o)
{
    const space *sp = &spec->space;
    add(a, "%s", o->self_exe);
    if (spec->run.kind == RUN_FUNCTION) {
        add(a, "fn");
        add(a, "%s", spec->run.function);
    } else {
        add(a, "train");
        /* A trial saves its state once, at its end (a promotion reads it,
         * and the best trial's is kept as the study's model; nothing
         * resumes a trial mid-way), and
         * skips the test pass unless the objective is a test metric: both
         * cost more than a short trial's epochs. The spec's options follow,
         * so a study can ask for either back. */
        add(a, "--set");
        add(a, "checkpoint_every=0");
        add(a, "--set");
        add(a, "evaluate_test=%s", strncmp(spec->metric, "test_", 5) ? "false" : "true");
        const char *key;
        json_t *v;
        json_object_foreach(spec->run.trainer, key, v) {
            char *s = spec_trainer_text(v);   /* the text spec_parse checked */
            if (!s) { a->oom = 1; return; }
            add(a, "--set");
            add(a, "%s=%s", key, s);
            free(s);
        }
    }
    for (int i = 0; i < sp->n; i++) {
        if (!t->point.active[i] && sp->params[i].kind != PARAM_FIXED) continue;
        char val[SPEC_TEXT_VALUE_MAX + 64];   /* a text as long as the spec takes, or a number */
        space_format_value(sp, &t->point, i, val, sizeof val);
        add(a, "--set");
        add(a, "%s=%s", sp->params[i].name, val);
    }
}

/* NAME=DIR with DIR absolute: Kestrel's folders may be relative to its own
 * working directory, and a command trial runs in its spec's folder. */
static void add_dir(strlist *e, const char *name, const char *dir)
{
    char cwd[4096];
    while (dir[0] == '.' && dir[1] == '/') dir += 2;
    if (dir[0] == '/' || !getcwd(cwd, sizeof cwd)) add(e, "%s=%s", name, dir);
    else add(e, "%s=%s/%s", name, cwd, dir);
}

static void trial_env(strlist *e, const sched_trial *t, const spec_study *spec,
                      const sched_launch_paths *o, int threads, const char *trial_dir)
{
    add(e, "KESTREL_TRIAL=%d", t->number);
    add(e, "KESTREL_STUDY=%s", spec->name);
    json_t *pj = space_point_to_json(&spec->space, &t->point);
    char *params = pj ? json_dumps(pj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(pj);
    if (!params) e->oom = 1;
    else add(e, "KESTREL_PARAMS=%s", params);
    free(params);
    /* what is not this trial's is not Kestrel's own environment's either
     * (a shell that ran kestrel train by hand, a study run by another's
     * trial): a fresh trial resumed from that checkpoint */
    if (t->budget > 0) add(e, "KESTREL_BUDGET=%d", t->budget);
    else add(e, "KESTREL_BUDGET");
    add_dir(e, "KESTREL_CHECKPOINT_DIR", trial_dir);
    if (t->resumed_from >= 0) {
        /* no longer than the trial's own folder: a parent's number is lower */
        char from[PATH_MAX];
        snprintf(from, sizeof from, "%s/%s/%d", o->work_dir, spec->name, t->resumed_from);
        add_dir(e, "KESTREL_RESUME_FROM", from);
    } else {
        add(e, "KESTREL_RESUME_FROM");
    }
    add(e, "KESTREL_THREADS=%d", threads);
    add(e, "OPENBLAS_NUM_THREADS=%d", threads);
    add(e, "OMP_NUM_THREADS=%d", threads);
    if (o->cache_dir) add_dir(e, "KESTREL_CACHE_DIR", o->cache_dir);
    else add(e, "KESTREL_CACHE_DIR");
    for (char **kv = spec->run.env; kv && *kv; kv++) add(e, "%s", *kv);
    for (char *const *kv = o->env_extra; kv && *kv; kv++) add(e, "%s", *kv);
}

int sched_launch_spawn(const sched_trial *t, const spec_study *spec, const sched_launch_paths *o,
                       int threads, void *user, runner_proc **out, kerror *err)
{
    char trial_dir[PATH_MAX];
    int mk = sched_dir_path(trial_dir, sizeof trial_dir, err, "%s/%s/%d", o->work_dir, spec->name,
                            t->number);
    if (mk != KE_OK) return mk;
    /* Each trial number starts once, so a trial folder already there is
     * another history's (a study deleted, or a database removed by hand):
     * the folder promised to the trial is its own and empty. One Kestrel did
     * not make is refused instead (the trial fails, naming it). */
    mk = sched_dir_make(trial_dir, err);
    if (mk != KE_OK) return mk;
    if (!*o->guard && (mk = runner_guard_new(o->guard, err)) != KE_OK) return mk;
    strlist a = {0}, e = {0};
    char **argv = NULL;
    int rc = KE_OK;
    if (spec->run.kind == RUN_COMMAND)
        rc = spec_command_argv(spec, &t->point, t->number, &argv, err);
    else
        builtin_argv(&a, t, spec, o);
    trial_env(&e, t, spec, o, threads, trial_dir);
    if (rc == KE_OK && (a.oom || e.oom)) rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (rc == KE_OK) {
        /* Hyperband budgets and checkpoints reach the trainer through the
         * environment too (KESTREL_BUDGET, KESTREL_RESUME_FROM). */
        /* A rebuild of self_exe while the study runs (a link writes a new
         * file there, not executable until it is done) must not fail or
         * change built-in trials: they run the binary this one runs. */
        runner_cmd cmd = {.guard = *o->guard, .argv = argv ? argv : a.v,
                          .file = !argv && o->run_self ? "/proc/self/exe" : NULL, .env_extra = e.v, .cwd = spec->run.cwd,
                          .timeout = spec->budget.trial_timeout,
                          .kill_grace = spec->run.kill_grace, .nice = spec->run.nice,
                          .user = user};
        rc = runner_spawn(out, &cmd, err);
    }
    if (argv) spec_argv_free(argv);
    strlist_free(&a);
    strlist_free(&e);
    return rc;
}
