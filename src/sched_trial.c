/* sched_trial: the scheduler's history of a study and the launch of a trial's
 * child; see sched_trial.h. Storage is the source of truth: the history is
 * rebuilt from it at every open, so a crash loses nothing it held. */
#define _GNU_SOURCE
#include "sched_trial.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int grow(sched_trials *h)
{
    if (h->n < h->cap) return KE_OK;
    int cap = h->cap ? h->cap * 2 : 64;
    sched_trial *t = realloc(h->t, cap * sizeof *t);
    if (!t) return KE_NOMEM;
    strategy_obs *o = realloc(h->obs, cap * sizeof *o);
    if (!o) {
        h->t = t;
        return KE_NOMEM;
    }
    h->t = t;
    h->obs = o;
    h->cap = cap;
    return KE_OK;
}

void sched_trial_set_outcome(sched_trial *t, trial_state state, int has_value, double value,
                             const char *failure, int maximize)
{
    t->state = state;
    t->has_value = has_value;
    t->value = value;
    t->norm = maximize ? -value : value;
    free(t->failure);
    t->failure = failure ? strdup(failure) : NULL;
}

int sched_trial_add_step(sched_trial *t, int step, double norm_value)
{
    if (t->n_steps > 0 && t->steps[t->n_steps - 1] == step) {
        t->values[t->n_steps - 1] = norm_value;
        return KE_OK;
    }
    if (t->n_steps == t->cap_steps) {
        int cap = t->cap_steps ? t->cap_steps * 2 : 16;
        int *s = realloc(t->steps, cap * sizeof *s);
        if (!s) return KE_NOMEM;
        t->steps = s;
        double *v = realloc(t->values, cap * sizeof *v);
        if (!v) return KE_NOMEM;
        t->values = v;
        t->cap_steps = cap;
    }
    t->steps[t->n_steps] = step;
    t->values[t->n_steps++] = norm_value;
    return KE_OK;
}

static void point_from_params(sched_trial *t, const space *sp, const storage_trial *st)
{
    memset(&t->point, 0, sizeof t->point);
    for (int i = 0; i < st->n_params; i++) {
        const storage_param *p = &st->params[i];
        if (space_find(sp, p->name) < 0) continue;   /* fixed in an older spec */
        if (space_point_set(sp, &t->point, p->name, p->is_text, p->num, p->text, NULL) != KE_OK)
            t->foreign = 1;
    }
    space_point_resolve(sp, &t->point);
}

typedef struct {
    sched_trials *h;
    const space *sp;
} load_ctx;

static int load_one(const storage_trial *st, void *ctx)
{
    load_ctx *lc = ctx;
    sched_trials *h = lc->h;
    if (grow(h) != KE_OK) return KE_NOMEM;
    sched_trial *t = &h->t[h->n];
    memset(t, 0, sizeof *t);
    t->id = st->id;
    t->number = st->number;
    t->budget = st->budget;
    t->resumed_from = st->resumed_from;
    t->retry_of = st->retry_of;
    sched_trial_set_outcome(t, st->state, st->has_value, st->value, st->failure, h->maximize);
    point_from_params(t, lc->sp, st);
    if (st->number != h->n) return KE_INTERNAL;   /* numbers are dense from 0 */
    h->n++;
    if (st->retry_of >= 0 && st->retry_of < h->n) h->t[st->retry_of].retried = 1;
    return 0;
}

/* Objective curves for pruners: one query per trial, done once at open. */
static int load_curves(sched_trials *h, storage *st, const char *metric, kerror *err)
{
    for (int k = 0; k < h->n; k++) {
        sched_trial *t = &h->t[k];
        storage_value *v;
        int n;
        int rc = storage_trial_values(st, t->id, &v, &n, err);
        if (rc != KE_OK) return rc;
        for (int i = 0; i < n && rc == KE_OK; i++)
            if (strcmp(v[i].name, metric) == 0)
                rc = sched_trial_add_step(t, v[i].step, h->maximize ? -v[i].value : v[i].value);
        storage_values_free(v, n);
        if (rc != KE_OK) return kerror_set(err, rc, NULL, "out of memory");
    }
    return KE_OK;
}

int sched_trials_load(sched_trials *h, storage *st, int64_t study_id, const space *sp,
                      const char *metric, int maximize, int with_curves, kerror *err)
{
    memset(h, 0, sizeof *h);
    h->maximize = maximize;
    storage_filter f = {.state = -1};
    load_ctx lc = {h, sp};
    int rc = storage_trial_each(st, study_id, &f, load_one, &lc, err);
    if (rc > 0 || rc == KE_NOMEM || rc == KE_INTERNAL)
        return kerror_set(err, rc > 0 ? KE_INTERNAL : rc, NULL,
                          "cannot load the study's trials (numbers not dense, or out of memory)");
    if (rc != KE_OK || !with_curves) return rc;
    return load_curves(h, st, metric, err);
}

/* The params a trial stores: active and fixed parameters of its point. */
static int point_params(const space *sp, const space_point *p, storage_param *out, char *text,
                        size_t text_size)
{
    int n = 0;
    size_t used = 0;
    for (int i = 0; i < sp->n; i++) {
        const space_param *q = &sp->params[i];
        if (!p->active[i] && q->kind != PARAM_FIXED) continue;
        storage_param *o = &out[n++];
        o->name = (char *)q->name;
        const param_value *pv = q->kind == PARAM_FIXED ? &q->fixed
                              : q->kind == PARAM_CATEGORICAL ? &q->choices[(int)p->x[i]] : NULL;
        o->is_text = pv && pv->is_text;
        o->num = pv ? pv->num : p->x[i];
        o->text = NULL;
        if (o->is_text) {
            size_t len = strlen(pv->text) + 1;
            if (used + len > text_size) return -1;
            o->text = memcpy(text + used, pv->text, len);
            used += len;
        }
    }
    return n;
}

int sched_trials_append(sched_trials *h, storage *st, int64_t study_id, const space *sp,
                        const strategy_suggestion *sg, int retry_of, const char *worker,
                        sched_trial **out, sched_trial_row *stored, kerror *err)
{
    if (grow(h) != KE_OK) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int n = point_params(sp, &sg->point, stored->params, stored->text, sizeof stored->text);
    if (n < 0) return kerror_set(err, KE_INTERNAL, "space", "categorical values too long");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    stored->row = (storage_trial){.state = TRIAL_RUNNING, .last_step = -1,
                                  .started_at = (double)ts.tv_sec + ts.tv_nsec * 1e-9,
                                  .budget = sg->budget, .resumed_from = sg->resume_from,
                                  .retry_of = retry_of, .worker = (char *)worker,
                                  .n_params = n, .params = stored->params};
    storage_trial *row = &stored->row;
    int rc = storage_trial_insert(st, study_id, row, err);
    if (rc != KE_OK) return rc;
    if (row->number != h->n)
        return kerror_set(err, KE_INTERNAL, NULL, "trial number %d, expected %d", row->number, h->n);
    sched_trial *t = &h->t[h->n++];
    memset(t, 0, sizeof *t);
    t->id = row->id;
    t->number = row->number;
    t->state = TRIAL_RUNNING;
    t->budget = sg->budget;
    t->resumed_from = sg->resume_from;
    t->retry_of = retry_of;
    t->point = sg->point;
    *out = t;
    return KE_OK;
}

void sched_trial_obs(const sched_trial *t, strategy_obs *ob)
{
    ob->number = t->number;
    ob->state = t->state;
    ob->has_value = t->has_value;
    ob->value = t->norm;
    ob->budget = t->budget;
    ob->resumed_from = t->resumed_from;
    ob->retry_of = t->retry_of;
    ob->n_steps = t->n_steps;
    ob->steps = t->steps;
    ob->values = t->values;
    ob->point = t->point;
}

int sched_trials_history(sched_trials *h, strategy_history *hist)
{
    int n = 0;
    for (int k = 0; k < h->n; k++)
        if (!h->t[k].foreign) sched_trial_obs(&h->t[k], &h->obs[n++]);
    hist->obs = h->obs;
    hist->n_obs = n;
    return KE_OK;
}

void sched_trials_free(sched_trials *h)
{
    for (int k = 0; k < h->n; k++) {
        free(h->t[k].failure);
        free(h->t[k].steps);
        free(h->t[k].values);
    }
    free(h->t);
    free(h->obs);
    memset(h, 0, sizeof *h);
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* nftw callback, children before their folder (FTW_DEPTH). */
static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    int rc = type == FTW_DP || type == FTW_DNR ? rmdir(path) : unlink(path);
    return rc < 0 && errno != ENOENT ? -1 : 0;
}

/* dir's mark file into buf. */
static void mark_path(char *buf, size_t n, const char *dir)
{
    snprintf(buf, n, "%s/%s", dir, SCHED_TRIAL_MARK);
}

int sched_trial_dir_remove(const char *dir, kerror *err)
{
    struct stat st;
    if (lstat(dir, &st) < 0) {
        if (errno == ENOENT) return KE_OK;
        return kerror_set(err, KE_IO, NULL, "cannot read %s: %s", dir, strerror(errno));
    }
    char mark[4200];
    mark_path(mark, sizeof mark, dir);
    if (!S_ISDIR(st.st_mode) || lstat(mark, &st) < 0)
        return kerror_set(err, KE_CONFLICT, NULL,
                          "%s exists and Kestrel did not make it (no %s in it): move it away "
                          "or choose another work folder", dir, SCHED_TRIAL_MARK);
    if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        return kerror_set(err, KE_IO, NULL, "cannot remove %s: %s", dir, strerror(errno));
    return KE_OK;
}

/* Makes the trial folder dir, empty but for its mark. */
static int trial_dir_make(const char *dir, kerror *err)
{
    int rc = sched_trial_dir_remove(dir, err);
    if (rc != KE_OK) return rc;
    if (mkdir_p(dir) < 0)
        return kerror_set(err, KE_IO, NULL, "cannot create %s: %s", dir, strerror(errno));
    char mark[4200];
    mark_path(mark, sizeof mark, dir);
    FILE *f = fopen(mark, "w");
    if (!f || fclose(f) != 0)
        return kerror_set(err, KE_IO, NULL, "cannot create %s: %s", mark, strerror(errno));
    return KE_OK;
}

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
                         const scheduler_opts *o)
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
            char *s = json_is_string(v) ? strdup(json_string_value(v))
                                        : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            if (!s) { a->oom = 1; return; }
            if (json_is_array(v)) {   /* [256,128] -> 256,128 */
                size_t len = strlen(s);
                memmove(s, s + 1, len);
                if (len >= 2) s[len - 2] = '\0';
            }
            add(a, "--set");
            add(a, "%s=%s", key, s);
            free(s);
        }
    }
    for (int i = 0; i < sp->n; i++) {
        if (!t->point.active[i] && sp->params[i].kind != PARAM_FIXED) continue;
        char val[256];
        space_format_value(sp, &t->point, i, val, sizeof val);
        add(a, "--set");
        add(a, "%s=%s", sp->params[i].name, val);
    }
}

static void trial_env(strlist *e, const sched_trial *t, const spec_study *spec,
                      const scheduler_opts *o, int threads, const char *trial_dir)
{
    add(e, "KESTREL_TRIAL=%d", t->number);
    add(e, "KESTREL_STUDY=%s", spec->name);
    json_t *pj = space_point_to_json(&spec->space, &t->point);
    char *params = pj ? json_dumps(pj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(pj);
    if (!params) e->oom = 1;
    else add(e, "KESTREL_PARAMS=%s", params);
    free(params);
    if (t->budget > 0) add(e, "KESTREL_BUDGET=%d", t->budget);
    add(e, "KESTREL_CHECKPOINT_DIR=%s", trial_dir);
    if (t->resumed_from >= 0)
        add(e, "KESTREL_RESUME_FROM=%s/%s/%d", o->work_dir, spec->name, t->resumed_from);
    add(e, "KESTREL_THREADS=%d", threads);
    add(e, "OPENBLAS_NUM_THREADS=%d", threads);
    add(e, "OMP_NUM_THREADS=%d", threads);
    if (o->cache_dir) add(e, "KESTREL_CACHE_DIR=%s", o->cache_dir);
    for (char **kv = spec->run.env; kv && *kv; kv++) add(e, "%s", *kv);
}

int sched_trial_spawn(const sched_trial *t, const spec_study *spec, const scheduler_opts *o,
                      int threads, void *user, runner_proc **out, kerror *err)
{
    char trial_dir[4096];
    snprintf(trial_dir, sizeof trial_dir, "%s/%s/%d", o->work_dir, spec->name, t->number);
    /* Each trial number starts once, so a trial folder already there is
     * another history's (a study deleted, or a database removed by hand):
     * the folder promised to the trial is its own and empty. One Kestrel did
     * not make is refused instead (the trial fails, naming it). */
    int mk = trial_dir_make(trial_dir, err);
    if (mk != KE_OK) return mk;
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
        runner_cmd cmd = {.argv = argv ? argv : a.v, .env_extra = e.v, .cwd = spec->run.cwd,
                          .timeout = spec->budget.trial_timeout,
                          .kill_grace = spec->run.kill_grace, .user = user};
        rc = runner_spawn(out, &cmd, err);
    }
    if (argv) spec_argv_free(argv);
    strlist_free(&a);
    strlist_free(&e);
    return rc;
}
