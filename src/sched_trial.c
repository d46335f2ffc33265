/* sched_trial: the scheduler's in-memory history of a study; see
 * sched_trial.h. Storage is the source of truth: the history is
 * rebuilt from it at every open, so a crash loses nothing it held.
 * Invariant: h->obs[t->obs] is trial_obs(t) for every trial t that is not
 * foreign, whatever changed it last, and h->counts counts h->obs (what it
 * counts is set once, when a trial is added). */
#include "sched_trial.h"

#include <stdlib.h>
#include <string.h>
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

static void trial_obs(const sched_trial *t, strategy_obs *ob)
{
    ob->number = t->number;
    ob->state = t->state;
    ob->has_value = t->has_value;
    ob->value = t->norm;
    ob->budget = t->budget;
    ob->resumed_from = t->resumed_from;
    ob->retry_of = t->retry_of;
    ob->enqueued = t->enqueued;
    ob->n_steps = t->n_steps;
    ob->steps = t->steps;
    ob->values = t->values;
    ob->point = t->point;
}

/* Copies trial k, just changed, into its entry of the strategy's view. */
static void sync_obs(sched_trials *h, int k)
{
    const sched_trial *t = &h->t[k];
    if (t->obs >= 0) trial_obs(t, &h->obs[t->obs]);
}

/* Gives h->t[h->n], complete but for its place, the next number and, unless
 * it is foreign, the next entry of the strategy's view (grow made room). */
static void add_trial(sched_trials *h)
{
    sched_trial *t = &h->t[h->n];
    t->obs = t->foreign ? -1 : h->n_obs++;
    sync_obs(h, h->n++);
    if (t->obs >= 0) strategy_counts_add(&h->counts, &h->obs[t->obs]);
}

static void set_outcome(sched_trial *t, trial_state state, int has_value, double value,
                        const char *failure, int maximize)
{
    t->state = state;
    t->has_value = has_value;
    t->value = value;
    t->norm = maximize ? -value : value;
    free(t->failure);
    t->failure = failure ? strdup(failure) : NULL;
}

void sched_trials_set_outcome(sched_trials *h, int number, trial_state state, int has_value,
                              double value, const char *failure)
{
    set_outcome(&h->t[number], state, has_value, value, failure, h->maximize);
    sync_obs(h, number);
}

/* Keeps the curve ascending with one value a step, as storage keeps it (a
 * row replaces its step's, a load reads them by step): a late or repeated
 * report changes the live curve as it will the reloaded one. */
static int add_step(sched_trial *t, int step, double norm_value)
{
    int k = t->n_steps;
    while (k > 0 && t->steps[k - 1] > step) k--;
    if (k > 0 && t->steps[k - 1] == step) {
        t->values[k - 1] = norm_value;
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
    memmove(&t->steps[k + 1], &t->steps[k], (size_t)(t->n_steps - k) * sizeof *t->steps);
    memmove(&t->values[k + 1], &t->values[k], (size_t)(t->n_steps - k) * sizeof *t->values);
    t->steps[k] = step;
    t->values[k] = norm_value;
    t->n_steps++;
    return KE_OK;
}

int sched_trials_add_step(sched_trials *h, int number, int step, double norm_value)
{
    int rc = add_step(&h->t[number], step, norm_value);
    sync_obs(h, number);
    return rc;
}

static void point_from_params(sched_trial *t, const space *sp, const storage_trial *st)
{
    unsigned char given[SPACE_MAX_PARAMS] = { 0 };
    memset(&t->point, 0, sizeof t->point);
    for (int i = 0; i < st->n_params; i++) {
        const storage_param *p = &st->params[i];
        int k = space_find(sp, p->name);
        if (k < 0) continue;   /* fixed in an older spec */
        if (space_point_set(sp, &t->point, p->name, p->is_text, p->num, p->text, NULL) != KE_OK)
            t->foreign = 1;
        else given[k] = 1;
    }
    space_point_resolve(sp, &t->point);
    /* A parameter the space gained since (--force) that would be active
     * here: the trial ran without it, and its point holds 0 there, which a
     * retry or a promotion ran as its value and the model took for one. */
    for (int k = 0; k < sp->n; k++)
        if (t->point.active[k] && !given[k] && sp->params[k].kind != PARAM_FIXED) t->foreign = 1;
}

typedef struct {
    sched_trials *h;
    const space *sp;
    int rc;         /* why load_one stopped the listing (storage_trial_each
                     * returns KE_OK for a stop): KE_NOMEM, or KE_INTERNAL */
    int number;     /* for KE_INTERNAL: the trial where h->n was expected */
} load_ctx;

static int load_one(const storage_trial *st, void *ctx)
{
    load_ctx *lc = ctx;
    sched_trials *h = lc->h;
    if (grow(h) != KE_OK) lc->rc = KE_NOMEM;
    else if (st->number != h->n) lc->rc = KE_INTERNAL;   /* numbers are dense from 0 */
    lc->number = st->number;
    if (lc->rc != KE_OK) return 1;
    sched_trial *t = &h->t[h->n];
    memset(t, 0, sizeof *t);
    t->id = st->id;
    t->number = st->number;
    t->budget = st->budget;
    t->resumed_from = st->resumed_from;
    t->retry_of = st->retry_of;
    t->enqueued = st->enqueued_id > 0;
    set_outcome(t, st->state, st->has_value, st->value, st->failure, h->maximize);
    point_from_params(t, lc->sp, st);
    add_trial(h);
    h->n_fresh += st->retry_of < 0 && st->resumed_from < 0;
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
                rc = add_step(t, v[i].step, h->maximize ? -v[i].value : v[i].value);
        storage_values_free(v, n);
        sync_obs(h, k);
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
    load_ctx lc = {h, sp, KE_OK, 0};
    int rc = storage_trial_each(st, study_id, &f, load_one, &lc, err);
    if (rc == KE_OK && lc.rc == KE_NOMEM) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    /* trials are numbered by the history, one more each, and the next
     * one's number must be the count (sched_trials_append): a gap (a trial
     * removed by hand) is said now, before a trial is stored */
    if (rc == KE_OK && lc.rc != KE_OK)
        return kerror_set(err, KE_INTERNAL, NULL, "cannot load the study's trials: trial %d "
                          "where %d was expected (the numbers of a study's trials have no gap; "
                          "one was removed from the history by hand?)", lc.number, h->n);
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
                        const strategy_suggestion *sg, int retry_of, int64_t enqueued_id,
                        const char *worker, sched_trial **out, sched_trial_row *stored, kerror *err)
{
    if (grow(h) != KE_OK) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int n = point_params(sp, &sg->point, stored->params, stored->text, sizeof stored->text);
    if (n < 0) return kerror_set(err, KE_INTERNAL, "space", "categorical values too long");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    stored->row = (storage_trial){.state = TRIAL_RUNNING, .last_step = -1,
                                  .started_at = (double)ts.tv_sec + ts.tv_nsec * 1e-9,
                                  .budget = sg->budget, .resumed_from = sg->resume_from,
                                  .retry_of = retry_of, .enqueued_id = enqueued_id,
                                  .worker = (char *)worker,
                                  .n_params = n, .params = stored->params};
    storage_trial *row = &stored->row;
    int rc = storage_trial_insert(st, study_id, row, err);
    if (rc != KE_OK) return rc;
    if (row->number != h->n)
        return kerror_set(err, KE_INTERNAL, NULL, "trial number %d, expected %d", row->number, h->n);
    sched_trial *t = &h->t[h->n];
    h->n_fresh += retry_of < 0 && sg->resume_from < 0;
    memset(t, 0, sizeof *t);
    t->id = row->id;
    t->number = row->number;
    t->state = TRIAL_RUNNING;
    t->budget = sg->budget;
    t->resumed_from = sg->resume_from;
    t->retry_of = retry_of;
    t->enqueued = enqueued_id > 0;
    t->point = sg->point;
    add_trial(h);
    *out = t;
    return KE_OK;
}

void sched_trials_history(const sched_trials *h, int max_trials, strategy_history *hist)
{
    hist->obs = h->obs;
    hist->n_obs = h->n_obs;
    hist->max_trials = max_trials;
    hist->counts = &h->counts;
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
