/* spec_trainer: a trainer run's options and space checked by the trainer's
 * own parser (train_config_set, the function `kestrel train --set` calls),
 * fed the very texts a trial passes (spec_trainer_text for the trainer
 * object, space_format_value for the parameters), so what validates here is
 * what a trial's `kestrel train` accepts. Invariant: no option table or range
 * is repeated here; train_config.c holds the only one.
 * train_config_validate's checks across options (loss against task, budget
 * against epochs, readable resume and teacher files) are left to each trial:
 * searched parameters override the trainer object's options, and the
 * scheduler sets budget, checkpoint and resume per trial. */
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
    return KE_OK;
}
