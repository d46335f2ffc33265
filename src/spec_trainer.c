/* spec_trainer: a trainer run's options and space checked by the trainer's
 * own parser (train_config_set, the function `kestrel train --set` calls),
 * fed the very texts a trial passes (spec_trainer_text for the trainer
 * object, space_format_value for the parameters), so what validates here is
 * what a trial's `kestrel train` accepts. Invariant: no option table or range
 * is repeated here; train_config.c holds the only one.
 * train_config_validate's checks across options that a space can reach
 * (cross_checks: min_lr against lr, momentum against optimizer, ...) are run
 * on every combination of the values a trial can give their options; the
 * others (budget against epochs, the teacher's, readable resume and teacher
 * files) are left to each trial: the scheduler sets budget, checkpoint and
 * resume per trial. */
#include "spec_trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "field.h"
#include "spec.h"
#include "../trainer/train_config.h"

char *spec_trainer_text(const json_t *v)
{
    char *s = json_is_string(v) ? strdup(json_string_value(v))
                                : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (s && json_is_array(v)) {   /* [256,128] -> 256,128 */
        size_t len = strlen(s);
        memmove(s, s + 1, len);
        if (len >= 2) s[len - 2] = '\0';
    }
    return s;
}

/* Moves the trainer's error (its path is the option's name) to the spec's
 * path, keeping its message. */
static int at_path(kerror *err, int rc, const char *path)
{
    if (err) snprintf(err->path, sizeof err->path, "%s", path);
    return rc;
}

/* A test_ objective needs the trial's test pass: evaluate_test=false, just
 * set as option `name` at path, left every trial without its metric
 * ("missing metric 'test_accuracy'"), the study FAILED. */
static int keeps_test_pass(const char *metric, const char *name, const train_config *c,
                           const char *path, kerror *err)
{
    if (strcmp(name, "evaluate_test") || c->evaluate_test || strncmp(metric, "test_", 5))
        return KE_OK;
    return kerror_set(err, KE_INVALID, path, "evaluate_test=false leaves out the test pass, "
                      "which reports the objective '%s'", metric);
}

/* val_ratio=0, just set as option `name` at path, leaves no validation
 * part, which only kfold's folds do without: with kfold neither searched
 * nor set in run.trainer, each trial of it failed ("val_ratio: must be > 0
 * without kfold"). A searched kfold may be on: left to the trial. */
static int keeps_val_part(const space *sp, const char *name, const train_config *c,
                          const char *path, kerror *err)
{
    if (strcmp(name, "val_ratio") || c->val_ratio > 0 || c->kfold || space_find(sp, "kfold") >= 0)
        return KE_OK;
    return kerror_set(err, KE_INVALID, path, "val_ratio=0 leaves no validation part, which a run "
                      "without kfold needs (kestrel train refuses it: \"must be > 0 without "
                      "kfold\")");
}

/* Parameter i's value in p, as a trial passes it, through the trainer's
 * parser; errors at space.NAME + suffix (".low", ".choices[2]", ...). */
static int check_value(const space *sp, space_point p, int i, const char *suffix,
                       const char *metric, train_config *c, kerror *err)
{
    const space_param *q = &sp->params[i];
    char text[SPEC_TEXT_VALUE_MAX + 64], path[KERROR_PATH_MAX];
    p.active[i] = 1;   /* a conditional parameter's values count as well */
    space_format_value(sp, &p, i, text, sizeof text);
    int rc = train_config_set(c, q->name, text, err);
    field_path_cat(path, "space.", q->name, suffix);
    if (rc != KE_OK) return at_path(err, rc, path);
    if ((rc = keeps_test_pass(metric, q->name, c, path, err)) < 0) return rc;
    return keeps_val_part(sp, q->name, c, path, err);
}

/* An int range around the one value its option refuses inside its own
 * range (kfold 0..3 holds 1): both ends pass the trainer's parser, and every
 * trial drawing that value failed ("kfold: must be 0 (off) or >= 2"). The
 * message lists the range's other values, the choices that leave it out. */
static int check_gap(const space *sp, int i, const train_config_option *o, kerror *err)
{
    const space_param *q = &sp->params[i];
    space_point p;
    memset(&p, 0, sizeof p);
    if (q->kind != PARAM_INT || !o->gap_rule ||
        space_point_set(sp, &p, q->name, 0, o->gap, NULL, NULL) != KE_OK)
        return KE_OK;
    char others[160] = "";
    double step = q->step >= 1 ? q->step : 1;
    size_t len = 0;
    int listed = 0;
    for (double v = q->low; v <= q->high && len < sizeof others; v += step) {
        if (v == o->gap) continue;
        if (listed++ == 4) {
            snprintf(others + len, sizeof others - len, ", ...");
            break;
        }
        len += (size_t)snprintf(others + len, sizeof others - len, "%s%.0f", listed > 1 ? ", " : "",
                                v);
    }
    char path[KERROR_PATH_MAX];
    field_join(path, "space", q->name);
    return kerror_set(err, KE_INVALID, path, "the range %.0f..%.0f holds %.0f, which the "
                      "trainer's option '%s' refuses (it must be %s): a trial drawing it would "
                      "fail; give the values as \"choices\": [%s]", q->low, q->high, o->gap,
                      q->name, o->gap_rule, others);
}

/* ends[0] and ends[1] hold every parameter at its lowest and highest value
 * (space_unit_to_point of the cube's corners: an int's top is its last value
 * on the step, which may be below high). */
static int check_param(const space *sp, int i, const space_point ends[2], const char *metric,
                       train_config *c, kerror *err)
{
    const space_param *q = &sp->params[i];
    char path[KERROR_PATH_MAX];
    field_join(path, "space", q->name);
    const train_config_option *o = train_config_find(q->name);
    if (!o) {
        const char *near = train_config_nearest(q->name);
        return kerror_set(err, KE_INVALID, path, "the trainer has no option '%s'%s%s%s; a "
                          "trainer run passes it each parameter as --set NAME=VALUE", q->name,
                          near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
    }
    int rc = KE_OK;
    switch (q->kind) {
    case PARAM_FIXED:
        return check_value(sp, ends[0], i, ".value", metric, c, err);
    case PARAM_CATEGORICAL:
        for (int k = 0; k < q->n_choices && rc == KE_OK; k++) {
            space_point p = ends[0];
            char suffix[32];
            p.x[i] = k;
            snprintf(suffix, sizeof suffix, ".choices[%d]", k);
            rc = check_value(sp, p, i, suffix, metric, c, err);
        }
        return rc;
    case PARAM_FLOAT:
    case PARAM_INT:
        if ((rc = check_value(sp, ends[0], i, ".low", metric, c, err)) < 0 ||
            (rc = check_value(sp, ends[1], i, ".high", metric, c, err)) < 0 ||
            (rc = check_gap(sp, i, o, err)) < 0)
            return rc;
        break;
    }
    /* both ends may be whole numbers, the values between are not */
    if (q->kind == PARAM_FLOAT &&
        (o->type == CONFIG_INT || o->type == CONFIG_INT_LIST || o->type == CONFIG_BOOL)) {
        field_path_cat(path, "space.", q->name, ".type");
        return kerror_set(err, KE_INVALID, path, "the trainer's option '%s' takes integers: a "
                          "float parameter's values would not be (use \"int\" or \"categorical\")",
                          q->name);
    }
    return KE_OK;
}

/* A check of train_config_validate across options (its error's path) and
 * the options it reads, the one a user most likely changes last: a refusal
 * is at the last of them a parameter gives. avoid: how to leave the failing
 * values out, NULL for the general advice. */
typedef struct {
    const char *check;
    const char *opts[5];
    const char *avoid;
} cross_check;

static const cross_check cross_checks[] = {
    {"loss", {"data", "task", "loss"}, NULL},
    {"class_weight", {"data", "task", "loss", "class_weight"}, NULL},
    {"label_smoothing", {"data", "task", "loss", "label_smoothing"}, NULL},
    {"stratify", {"data", "task", "stratify"}, NULL},
    {"momentum", {"optimizer", "momentum"}, "give momentum values above 0 (a range's low > 0) "
     "wherever optimizer can be momentum or nesterov"},
    {"min_lr", {"schedule", "min_lr", "lr"}, "keep min_lr at or below the lowest lr a trial can "
     "draw (space.lr.low), or use a schedule that does not decay to min_lr"},
    {"batchnorm", {"batchnorm", "batch_size"}, "start batch_size at 2 or more wherever batchnorm "
     "can be true"},
    {"categorical", {"data", "categorical"}, NULL},
    {"label_column", {"data", "label_column"}, NULL},
    {"data_dir", {"data", "data_dir"}, NULL},
    {"milestones", {"milestones"}, NULL},
    /* the scheduler's own checkpoint and resume are not given to a k-fold
     * run (cmd_train.c apply_env); the object's are */
    {"kfold", {"checkpoint", "resume", "kfold"}, "leave checkpoint and resume out of "
     "run.trainer where kfold can be on"},
};

/* What a cross check's enumeration shares: the space, the object, the
 * parameters' ends (as check_param's), the defaults each combination starts
 * from. */
typedef struct {
    const space *sp;
    const json_t *trainer;
    const space_point *ends;
    train_config defaults;
} reach;

/* Past this many combinations of one check's values (1000 choices of lr
 * and of min_lr), it is left to the trials: validation stays quick. */
#define CROSS_MAX_COMBINATIONS 100000L

/* One value a trial can give an option: text NULL leaves the default. */
typedef struct {
    char text[SPEC_TEXT_VALUE_MAX + 64];
    const char *set;               /* NULL, or text */
    char from[KERROR_PATH_MAX];    /* "space.lr.low", "run.trainer.lr", "" (the default) */
    int param, choice;             /* the parameter giving it (-1: none) and its choice (-1) */
} reach_value;

/* 1 when parameter i is left out of some trials, which then keep the
 * object's value: a conditional one, but for a fixed value, which a trial
 * passes under any condition (sched_launch's builtin_argv). */
static int reach_conditional(const space *sp, int i)
{
    return sp->params[i].parent >= 0 && sp->params[i].kind != PARAM_FIXED;
}

/* How many values option name can have in a trial: each choice, the fixed
 * value, a range's two ends (the trainer's checks across options compare
 * against a bound: the ends stand for what lies between), and for a
 * conditional parameter also the object's value, which its inactive trials
 * keep. */
static int reach_count(const reach *r, const char *name)
{
    int i = space_find(r->sp, name);
    if (i < 0) return 1;
    const space_param *q = &r->sp->params[i];
    int n = q->kind == PARAM_CATEGORICAL ? q->n_choices : q->kind == PARAM_FIXED ? 1 : 2;
    return n + reach_conditional(r->sp, i);
}

/* Fills v with the j-th value of reach_count's. */
static void reach_get(const reach *r, const char *name, int j, reach_value *v)
{
    int i = space_find(r->sp, name);
    v->set = NULL;
    v->from[0] = '\0';
    v->param = v->choice = -1;
    if (i >= 0 && j < reach_count(r, name) - reach_conditional(r->sp, i)) {
        const space_param *q = &r->sp->params[i];
        space_point p = r->ends[q->kind == PARAM_FLOAT || q->kind == PARAM_INT ? j : 0];
        char suffix[32];
        if (q->kind == PARAM_CATEGORICAL) {
            p.x[i] = j;
            v->choice = j;
            snprintf(suffix, sizeof suffix, ".choices[%d]", j);
        } else {
            snprintf(suffix, sizeof suffix, q->kind == PARAM_FIXED ? ".value" : j ? ".high" : ".low");
        }
        p.active[i] = 1;
        space_format_value(r->sp, &p, i, v->text, sizeof v->text);
        v->set = v->text;
        v->param = i;
        field_path_cat(v->from, "space.", name, suffix);
        return;
    }
    const json_t *o = json_object_get(r->trainer, name);
    char *text = o ? spec_trainer_text(o) : NULL;
    if (!text) return;   /* not in the object (or out of memory): the default */
    snprintf(v->text, sizeof v->text, "%s", text);
    free(text);
    v->set = v->text;
    field_join(v->from, "run.trainer", name);
}

/* 0 when the values vals[0..n) cannot meet in one trial: a conditional
 * parameter's own value under a choice of its parent that leaves it
 * inactive, or the object's value under one that activates it. */
static int reach_consistent(const reach *r, const reach_value *vals, const char *const *opts, int n)
{
    for (int a = 0; a < n; a++) {
        int i = space_find(r->sp, opts[a]);
        if (i < 0 || !reach_conditional(r->sp, i)) continue;
        const space_param *q = &r->sp->params[i];
        for (int b = 0; b < n; b++) {
            if (vals[b].param != q->parent || vals[b].choice < 0) continue;
            int on = 0;
            for (int w = 0; w < q->n_when; w++) on |= q->when[w] == vals[b].choice;
            if (on != (vals[a].param == i)) return 0;
        }
    }
    return 1;
}

/* The refusal of the values vals[0..n) of x's options, which t (the
 * defaults with those values) fails with why: at the last value a
 * parameter gives, else the last the object gives. */
static int cross_refuse(const cross_check *x, const reach_value *vals, int n, const train_config *t,
                        const kerror *why, kerror *err)
{
    json_t *js = train_config_to_json(t);
    if (!js) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    char list[KERROR_MSG_MAX / 2] = "";
    const char *path = "run.trainer";
    size_t len = 0;
    for (int k = 0; k < n && len < sizeof list; k++) {
        /* the value as parsed: 0.005, not the object's 0.0050000000000000001 */
        const json_t *v = json_object_get(js, x->opts[k]);
        char num[32], *text = json_is_real(v) ? NULL : spec_trainer_text(v);
        snprintf(num, sizeof num, "%.10g", json_real_value(v));
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s=%s (%s)", k ? ", " : "",
                                x->opts[k], text ? text : num,
                                vals[k].from[0] ? vals[k].from : "the default");
        free(text);
        if (vals[k].param >= 0 || (vals[k].from[0] && strncmp(path, "space.", 6)))
            path = vals[k].from;
    }
    json_decref(js);
    return kerror_set(err, KE_INVALID, path, "a trial of %s would fail: kestrel train refuses it "
                      "(\"%s: %s\"); %s", list, why->path, why->msg,
                      x->avoid ? x->avoid : "leave that combination out of the space (other "
                      "values, or a \"when\" condition)");
}

/* Runs check x on every combination of its options' values from the k-th
 * on, vals[0..k) chosen. */
static int cross_walk(const reach *r, const cross_check *x, reach_value *vals, int k,
                      kerror *err)
{
    int n = 0;
    while (n < 5 && x->opts[n]) n++;
    if (k == n) {
        if (!reach_consistent(r, vals, x->opts, n)) return KE_OK;
        train_config t = r->defaults;
        kerror why;
        kerror_clear(&why);
        for (int a = 0; a < n; a++)
            if (vals[a].set && train_config_set(&t, x->opts[a], vals[a].set, err) < 0)
                return at_path(err, KE_INVALID, vals[a].from);
        if (train_config_validate(&t, &why) == KE_OK || strcmp(why.path, x->check)) return KE_OK;
        return cross_refuse(x, vals, n, &t, &why, err);
    }
    int count = reach_count(r, x->opts[k]);
    for (int j = 0; j < count; j++) {
        reach_get(r, x->opts[k], j, &vals[k]);
        int rc = cross_walk(r, x, vals, k + 1, err);
        if (rc < 0) return rc;
    }
    return KE_OK;
}

/* train_config_validate's checks across options, each on the options it
 * reads alone (the defaults for the rest, which pass): a combination that
 * only some trials draw failed those trials at their start. */
static int check_across(const space *sp, const json_t *trainer, const space_point ends[2],
                        kerror *err)
{
    reach r;
    r.sp = sp;
    r.trainer = trainer;
    r.ends = ends;
    train_config_defaults(&r.defaults);
    for (size_t x = 0; x < sizeof cross_checks / sizeof cross_checks[0]; x++) {
        const cross_check *c = &cross_checks[x];
        int searched = 0;
        long combinations = 1;
        for (int k = 0; k < 5 && c->opts[k]; k++) {
            searched |= space_find(sp, c->opts[k]) >= 0 || json_object_get(trainer, c->opts[k]);
            combinations *= reach_count(&r, c->opts[k]);
        }
        /* all defaults pass */
        if (!searched || combinations > CROSS_MAX_COMBINATIONS) continue;
        reach_value vals[5];
        int rc = cross_walk(&r, c, vals, 0, err);
        if (rc < 0) return rc;
    }
    return KE_OK;
}

int spec_trainer_check(const space *sp, const json_t *trainer, const char *metric, kerror *err)
{
    train_config c;
    train_config_defaults(&c);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)trainer, key, v) {
        char *text = spec_trainer_text(v), path[KERROR_PATH_MAX];
        if (!text) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
        int rc = train_config_set(&c, key, text, err);
        free(text);
        field_join(path, "run.trainer", key);
        if (rc < 0) return at_path(err, rc, path);
        /* a parameter of that name overrides the object's value: its own
         * values are checked below */
        if (space_find(sp, key) < 0 && (rc = keeps_test_pass(metric, key, &c, path, err)) < 0)
            return rc;
    }
    /* after the loop: the object's kfold may follow its val_ratio */
    if (space_find(sp, "val_ratio") < 0) {
        int rc = keeps_val_part(sp, "val_ratio", &c, "run.trainer.val_ratio", err);
        if (rc < 0) return rc;
    }
    space_point ends[2];
    double u[SPACE_MAX_PARAMS];
    for (int k = 0; k < 2; k++) {
        for (int d = 0; d < SPACE_MAX_PARAMS; d++) u[d] = k;
        space_unit_to_point(sp, u, &ends[k]);
    }
    for (int i = 0; i < sp->n; i++) {
        int rc = check_param(sp, i, ends, metric, &c, err);
        if (rc < 0) return rc;
    }
    return check_across(sp, trainer, ends, err);
}
