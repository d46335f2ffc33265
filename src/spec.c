/* spec: parses and validates a study spec (the format is docs/spec.md) into a
 * spec_study: the header, budget, strategy, pruner, enqueue and run sections
 * here, the space in spec_space.c, both through field.c's readers
 * (spec_command.c expands the command template for one trial).
 * Invariant: spec_parse either returns KE_OK with every field validated (the
 * space ordered parents-first, the strategy's options accepted by the
 * strategy itself) or fails with a JSON path and leaves nothing allocated. */
#define _GNU_SOURCE   /* asprintf */
#include "spec.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "spec_command.h"
#include "field.h"
#include "spec_space.h"
#include "spec_trainer.h"
#include "testfn.h"
#include "../trainer/train.h"
#include "../search/pruner.h"
#include "../search/strategy.h"

#define NAME_MAX_LEN 128
#define METRIC_MAX_LEN 63
#define MAX_TRIALS 1000000
#define MAX_PARALLEL 256
#define MAX_RETRIES 100
#define KILL_GRACE_DEFAULT 5.0

/* "a, b, c" from a registry's name_at(i) (NULL past the last name). */
static const char *registry_names(const char *(*name_at)(int), char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; name_at(i) && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? ", " : "", name_at(i));
    return out;
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

static int parse_header(spec_study *s, const json_t *doc, kerror *err)
{
    static const char *const objective_keys[] = { "metric", "direction", "goal", NULL };
    json_t *v, *obj;
    int rc = field_get(doc, "", "name", FIELD_STRING, 1, &v, err);
    if (rc < 0) return rc;
    const char *name = json_string_value(v);
    /* The name becomes a directory under the work dir: no "." or "..". */
    if (strlen(name) > NAME_MAX_LEN || !field_matches_charset(name, ALNUM "_", ALNUM "_.-"))
        return field_invalid(err, "name", "must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
    if ((rc = field_dup_string(&s->name, v, err)) < 0) return rc;

    if ((rc = field_get(doc, "", "objective", FIELD_OBJECT, 1, &obj, err)) < 0) return rc;
    if ((rc = field_check_keys(obj, "objective", objective_keys, NULL, NULL, err)) < 0) return rc;
    if ((rc = field_get(obj, "objective", "metric", FIELD_STRING, 1, &v, err)) < 0) return rc;
    size_t len = strlen(json_string_value(v));
    if (len == 0 || len > METRIC_MAX_LEN)
        return field_invalid(err, "objective.metric", "must be 1 to 63 characters");
    /* a report line's "step" and "final" are its step and its flag, never a
     * metric (report.c): every trial failed with "missing metric" */
    if (!strcmp(json_string_value(v), "step") || !strcmp(json_string_value(v), "final"))
        return kerror_set(err, KE_INVALID, "objective.metric", "'%s' is a report line's %s, "
                          "not a metric (docs/protocol.md): name the objective otherwise",
                          json_string_value(v), !strcmp(json_string_value(v), "step")
                          ? "step number" : "flag for final values");
    if ((rc = field_dup_string(&s->metric, v, err)) < 0) return rc;
    if ((rc = field_get(obj, "objective", "direction", FIELD_STRING, 0, &v, err)) < 0) return rc;
    if (v) {
        const char *d = json_string_value(v);
        if (strcmp(d, "minimize") && strcmp(d, "maximize"))
            return field_invalid(err, "objective.direction", "must be \"minimize\" or \"maximize\"");
        s->maximize = !strcmp(d, "maximize");
    }
    if ((rc = field_get(obj, "objective", "goal", FIELD_NUMBER, 0, &v, err)) < 0) return rc;
    if (v) {
        s->goal = json_number_value(v);
        if (!isfinite(s->goal))
            return field_invalid(err, "objective.goal", "must be a finite number");
        s->has_goal = 1;
    }
    return KE_OK;
}

/* ---- budget, strategy ---- */

static int parse_budget(spec_study *s, const json_t *doc, kerror *err)
{
    static const char *const keys[] = {
        "max_trials", "max_parallel", "max_seconds", "trial_timeout", "max_retries",
        "max_failures", NULL,
    };
    json_t *b;
    long long trials = 0, parallel = 1, retries = 0, failures = SPEC_MAX_FAILURES_DEFAULT;
    int rc = field_get(doc, "", "budget", FIELD_OBJECT, 1, &b, err);
    if (rc < 0) return rc;
    if ((rc = field_check_keys(b, "budget", keys, NULL, NULL, err)) < 0 ||
        (rc = field_get_int_in(b, "budget", "max_trials", 1, 1, MAX_TRIALS, &trials, err)) < 0 ||
        (rc = field_get_int_in(b, "budget", "max_parallel", 0, 1, MAX_PARALLEL, &parallel, err)) < 0 ||
        (rc = field_get_nonneg(b, "budget", "max_seconds", 0, &s->budget.max_seconds, err)) < 0 ||
        (rc = field_get_nonneg(b, "budget", "trial_timeout", 0, &s->budget.trial_timeout, err)) < 0 ||
        (rc = field_get_int_in(b, "budget", "max_retries", 0, 0, MAX_RETRIES, &retries, err)) < 0 ||
        (rc = field_get_int_in(b, "budget", "max_failures", 0, 0, MAX_TRIALS, &failures, err)) < 0)
        return rc;
    s->budget.max_trials = (int)trials;
    s->budget.max_parallel = (int)parallel;
    s->budget.max_retries = (int)retries;
    s->budget.max_failures = (int)failures;
    return KE_OK;
}

/* "enqueue": configurations of the space to run before the strategy's own
 * suggestions, each checked like a point given by hand. */
static int parse_enqueue(spec_study *s, const json_t *doc, kerror *err)
{
    json_t *arr;
    int rc = field_get(doc, "", "enqueue", FIELD_ARRAY, 0, &arr, err);
    if (rc <= 0) return rc;
    if (json_array_size(arr) > MAX_TRIALS)
        return kerror_set(err, KE_INVALID, "enqueue", "at most %d configurations", MAX_TRIALS);
    if (json_array_size(arr) == 0) return KE_OK;
    s->enqueue = calloc(json_array_size(arr), sizeof *s->enqueue);
    if (!s->enqueue) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        char p[KERROR_PATH_MAX];
        snprintf(p, sizeof p, "enqueue[%zu]", i);
        if ((rc = space_point_from_json(&s->space, v, p, &s->enqueue[i], err)) < 0) return rc;
        s->n_enqueue++;
    }
    return KE_OK;
}

/* Makes a path from a strategy or space relative to the spec root. */
static void root_path(kerror *err, const char *prefix)
{
    if (!err || !strncmp(err->path, "strategy", 8) || !strncmp(err->path, "space", 5)) return;
    char p[KERROR_PATH_MAX];
    field_path_cat(p, prefix, err->path[0] && err->path[0] != '[' ? "." : "", err->path);
    memcpy(err->path, p, sizeof p);
}

static int parse_strategy(spec_study *s, const json_t *doc, kerror *err)
{
    static const char *const keys[] = { "name", "seed", "options", NULL };
    json_t *obj, *v, *opts;
    long long seed = 0;
    int rc = field_get(doc, "", "strategy", FIELD_OBJECT, 1, &obj, err);
    if (rc < 0 || (rc = field_check_keys(obj, "strategy", keys, NULL, NULL, err)) < 0 ||
        (rc = field_get(obj, "strategy", "name", FIELD_STRING, 1, &v, err)) < 0 ||
        (rc = field_get_int_in(obj, "strategy", "seed", 0, 0, LLONG_MAX, &seed, err)) < 0 ||
        (rc = field_get(obj, "strategy", "options", FIELD_OBJECT, 0, &opts, err)) < 0)
        return rc;
    const strategy_ops *ops = strategy_find(json_string_value(v));
    char known[256];
    if (!ops)
        return kerror_set(err, KE_INVALID, "strategy.name", "unknown strategy '%s' (known: %s)",
                          json_string_value(v), registry_names(strategy_name_at, known, sizeof known));
    if ((rc = field_dup_string(&s->strategy, v, err)) < 0) return rc;
    s->seed = (uint64_t)seed;
    s->strategy_options = opts ? json_incref(opts) : NULL;

    strategy *st = NULL;
    rc = ops->create(&st, &s->space, opts, s->seed, err);
    if (rc < 0) {
        root_path(err, "strategy.options");
        return rc;
    }
    ops->destroy(st);
    if (!strcmp(ops->name, "grid")) {
        long count;
        if ((rc = space_grid_size(&s->space, &count, err)) < 0) {
            root_path(err, "space");
            return rc;
        }
    }
    return KE_OK;
}

/* The optional pruner, validated by building and dropping it. */
static int parse_pruner(spec_study *s, const json_t *doc, kerror *err)
{
    static const char *const keys[] = { "name", "options", NULL };
    json_t *obj, *v, *opts;
    int rc = field_get(doc, "", "pruner", FIELD_OBJECT, 0, &obj, err);
    if (rc <= 0) return rc;
    if ((rc = field_check_keys(obj, "pruner", keys, NULL, NULL, err)) < 0 ||
        (rc = field_get(obj, "pruner", "name", FIELD_STRING, 1, &v, err)) < 0 ||
        (rc = field_get(obj, "pruner", "options", FIELD_OBJECT, 0, &opts, err)) < 0)
        return rc;
    const pruner_ops *ops = pruner_find(json_string_value(v));
    char known[256];
    if (!ops)
        return kerror_set(err, KE_INVALID, "pruner.name", "unknown pruner '%s' (known: %s)",
                          json_string_value(v), registry_names(pruner_name_at, known, sizeof known));
    if ((rc = field_dup_string(&s->pruner, v, err)) < 0) return rc;
    s->pruner_options = opts ? json_incref(opts) : NULL;
    pruner *p = NULL;
    if ((rc = ops->create(&p, opts, err)) < 0) return rc;
    ops->destroy(p);
    return KE_OK;
}

/* ---- run ---- */

static int parse_function(spec_study *s, const json_t *v, kerror *err)
{
    const char *name = json_string_value(v);
    const testfn *f = testfn_find(name);
    if (!f) {
        char known[512] = "";
        for (const testfn *const *it = testfn_all(); *it; it++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                     known[0] ? ", " : "", (*it)->name);
        return kerror_set(err, KE_INVALID, "run.function", "unknown function '%s' (known: %s)",
                          name, known);
    }
    for (int d = 1; d <= f->dim; d++) {
        char x[16], path[KERROR_PATH_MAX];
        snprintf(x, sizeof x, "x%d", d);
        int i = space_find(&s->space, x);
        if (i < 0)
            return kerror_set(err, KE_INVALID, "space", "function '%s' needs a float or int parameter '%s'",
                              name, x);
        field_join(path, "space", x);
        const space_param *p = &s->space.params[i];
        if (p->kind != PARAM_FLOAT && p->kind != PARAM_INT)
            return kerror_set(err, KE_INVALID, path, "must be a float or int parameter for function '%s'", name);
        if (p->parent >= 0)
            return kerror_set(err, KE_INVALID, path, "must not be conditional for function '%s'", name);
    }
    /* `kestrel fn` reports {"value": f(x)} and nothing else: another
     * objective failed every trial with "missing metric" */
    if (strcmp(s->metric, "value"))
        return kerror_set(err, KE_INVALID, "objective.metric", "function '%s' reports 'value' "
                          "only, not '%s'", name, s->metric);
    s->run.kind = RUN_FUNCTION;
    return field_dup_string(&s->run.function, v, err);
}

static int parse_env(spec_study *s, const json_t *run, kerror *err)
{
    json_t *env, *v;
    const char *key;
    int rc = field_get(run, "run", "env", FIELD_OBJECT, 0, &env, err);
    if (rc <= 0) return rc;
    size_t n = 0;
    s->run.env = calloc(json_object_size(env) + 1, sizeof *s->run.env);
    if (!s->run.env) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    json_object_foreach(env, key, v) {
        char path[KERROR_PATH_MAX];
        field_join(path, "run.env", key);
        if (!field_matches_charset(key, FIELD_IDENT_FIRST, FIELD_IDENT_FIRST "0123456789"))
            return field_invalid(err, path, "variable name must match [A-Za-z_][A-Za-z0-9_]*");
        if (!json_is_string(v)) return field_invalid(err, path, "must be a string");
        size_t len = strlen(key) + json_string_length(v) + 2;
        if (!(s->run.env[n] = malloc(len))) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
        snprintf(s->run.env[n++], len, "%s=%s", key, json_string_value(v));
    }
    return KE_OK;
}

static int parse_command(spec_study *s, const json_t *run, const json_t *cmd, kerror *err)
{
    json_t *cwd;
    int rc;
    s->run.kind = RUN_COMMAND;
    if (json_is_string(cmd)) {
        if (!json_string_length(cmd)) return field_invalid(err, "run.command", "must not be empty");
        if ((rc = spec_command_check(s, json_string_value(cmd), 1, "run.command", err)) < 0)
            return rc;
        if ((rc = field_dup_string(&s->run.shell, cmd, err)) < 0) return rc;
    } else if (json_is_array(cmd) && json_array_size(cmd) > 0) {
        size_t n = json_array_size(cmd);
        if (!(s->run.argv = calloc(n + 1, sizeof *s->run.argv)))
            return kerror_set(err, KE_NOMEM, NULL, "out of memory");
        for (size_t i = 0; i < n; i++) {
            const json_t *a = json_array_get(cmd, i);
            char path[KERROR_PATH_MAX];
            field_join_index(path, "run.command", i);
            if (!json_is_string(a)) return field_invalid(err, path, "must be a string");
            if (i == 0 && !json_string_length(a)) return field_invalid(err, path, "must not be empty");
            if ((rc = spec_command_check(s, json_string_value(a), 0, path, err)) < 0) return rc;
            if ((rc = field_dup_string(&s->run.argv[i], a, err)) < 0) return rc;
        }
    } else {
        return field_invalid(err, "run.command", "must be a string or a non-empty array of strings");
    }
    if ((rc = parse_env(s, run, err)) < 0) return rc;
    if ((rc = field_get(run, "run", "cwd", FIELD_STRING, 0, &cwd, err)) <= 0) return rc;
    if (!json_string_length(cwd)) return field_invalid(err, "run.cwd", "must not be empty");
    return field_dup_string(&s->run.cwd, cwd, err);
}

/* The trainer reports a fixed set of metrics: a typo in the objective
 * ("val_acc") would fail every trial, so it is refused here. */
static int check_trainer_metric(const char *metric, kerror *err)
{
    static const char *const names[] = {TRAIN_METRIC_NAMES};
    char known[512] = "";
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (!strcmp(metric, names[i])) return KE_OK;
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                 names[i]);
    }
    return kerror_set(err, KE_INVALID, "objective.metric", "the trainer reports no metric "
                      "'%s' (it reports %s)", metric, known);
}

/* run.resources: what a worker must have free to be handed a trial. */
static int parse_resources(spec_study *s, const json_t *run, kerror *err)
{
    static const char *const keys[] = {"gpus", NULL};
    json_t *res;
    long long gpus = 0;
    int rc = field_get(run, "run", "resources", FIELD_OBJECT, 0, &res, err);
    if (rc <= 0) return rc;
    if ((rc = field_check_keys(res, "run.resources", keys, NULL, NULL, err)) < 0 ||
        (rc = field_get_int_in(res, "run.resources", "gpus", 0, 0, 64, &gpus, err)) < 0)
        return rc;
    s->run.gpus = (int)gpus;
    return KE_OK;
}

static int parse_run(spec_study *s, const json_t *doc, kerror *err)
{
    static const char *const keys[] = { "function", "command", "trainer", "env", "cwd", "kill_grace",
                                        "nice", "keep_checkpoints", "resources", NULL };
    json_t *run, *fn, *tr, *keep;
    int rc = field_get(doc, "", "run", FIELD_OBJECT, 1, &run, err);
    if (rc < 0 || (rc = field_check_keys(run, "run", keys, NULL, NULL, err)) < 0) return rc;
    if ((rc = parse_resources(s, run, err)) < 0) return rc;
    const json_t *cmd = json_object_get(run, "command");
    if (!!json_object_get(run, "function") + !!cmd + !!json_object_get(run, "trainer") != 1)
        return field_invalid(err, "run", "must have exactly one of \"function\", \"command\", \"trainer\"");
    s->run.kill_grace = KILL_GRACE_DEFAULT;
    if ((rc = field_get_nonneg(run, "run", "kill_grace", 1, &s->run.kill_grace, err)) < 0) return rc;
    long long nice = 0;
    if ((rc = field_get_int_in(run, "run", "nice", 0, 0, 19, &nice, err)) < 0) return rc;
    s->run.nice = (int)nice;
    if (!cmd && json_object_get(run, "env"))
        return field_invalid(err, "run.env", "only allowed with \"command\"");
    if (!cmd && json_object_get(run, "cwd"))
        return field_invalid(err, "run.cwd", "only allowed with \"command\"");
    if (!json_object_get(run, "trainer") && json_object_get(run, "keep_checkpoints"))
        return field_invalid(err, "run.keep_checkpoints", "only allowed with \"trainer\"");
    if (cmd) return parse_command(s, run, cmd, err);
    if ((rc = field_get(run, "run", "function", FIELD_STRING, 0, &fn, err)) < 0) return rc;
    if (fn) return parse_function(s, fn, err);
    if ((rc = field_get(run, "run", "trainer", FIELD_OBJECT, 1, &tr, err)) < 0) return rc;
    if ((rc = field_get(run, "run", "keep_checkpoints", FIELD_STRING, 0, &keep, err)) < 0) return rc;
    if (keep && strcmp(json_string_value(keep), "best") && strcmp(json_string_value(keep), "all"))
        return field_invalid(err, "run.keep_checkpoints", "must be \"best\" or \"all\"");
    s->run.keep_all_checkpoints = keep && !strcmp(json_string_value(keep), "all");
    if ((rc = check_trainer_metric(s->metric, err)) < 0 ||
        (rc = spec_trainer_check(&s->space, tr, s->metric, err)) < 0)
        return rc;
    s->run.kind = RUN_TRAINER;
    s->run.trainer = json_incref(tr);
    return KE_OK;
}

/* ---- whole document ---- */

/* 64-bit FNV-1a (Fowler, Noll, Vo) over the canonical text, so that key order
 * and whitespace do not change a study's identity. */
static int compute_hash(spec_study *s, kerror *err)
{
    char *text = json_dumps(s->doc, JSON_SORT_KEYS | JSON_COMPACT);
    if (!text) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        h ^= *c;
        h *= 0x100000001b3ULL;
    }
    free(text);
    snprintf(s->hash, sizeof s->hash, "%016" PRIx64, h);
    return KE_OK;
}

/* Takes over the reference to doc, which the study (or, on failure, this
 * function) releases. */
static int parse_doc(spec_study *out, json_t *doc, kerror *err)
{
    static const char *const keys[] = { "name", "objective", "space", "strategy", "pruner",
                                        "budget", "run", "enqueue", NULL };
    int rc;
    out->doc = doc;
    if (!json_is_object(doc))
        rc = field_invalid(err, "", "the spec must be a JSON object");
    else if ((rc = field_check_keys(doc, "", keys, NULL, NULL, err)) == KE_OK &&
             (rc = parse_header(out, doc, err)) == KE_OK &&
             (rc = spec_space_parse(&out->space, doc, err)) == KE_OK &&
             (rc = parse_strategy(out, doc, err)) == KE_OK &&
             (rc = parse_pruner(out, doc, err)) == KE_OK &&
             (rc = parse_budget(out, doc, err)) == KE_OK &&
             (rc = parse_run(out, doc, err)) == KE_OK &&
             (rc = parse_enqueue(out, doc, err)) == KE_OK)
        rc = compute_hash(out, err);
    if (rc < 0) spec_free(out);
    return rc;
}

static int syntax_error(kerror *err, const char *file, const json_error_t *je)
{
    if (file && json_error_code(je) == json_error_cannot_open_file)
        return kerror_set(err, KE_IO, NULL, "%s", je->text);
    return kerror_set(err, KE_INVALID, NULL, "%s%sinvalid JSON at line %d, column %d: %s",
                      file ? file : "", file ? ": " : "", je->line, je->column, je->text);
}

int spec_parse(spec_study *out, const char *text, kerror *err)
{
    json_error_t je;
    memset(out, 0, sizeof *out);
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!doc) return syntax_error(err, NULL, &je);
    return parse_doc(out, doc, err);
}

int spec_load_file(spec_study *out, const char *path, kerror *err)
{
    json_error_t je;
    memset(out, 0, sizeof *out);
    struct stat sb;
    /* a folder opens, then reads as empty: "invalid JSON" would mislead */
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return kerror_set(err, KE_IO, NULL, "%s: %s", path, strerror(EISDIR));
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc) return syntax_error(err, path, &je);
    int rc = parse_doc(out, doc, err);
    if (rc != KE_OK) return rc;
    char *copy = strdup(path), *dir = copy ? realpath(dirname(copy), NULL) : NULL;
    rc = dir ? spec_set_dir(out, dir, err)
             : kerror_set(err, KE_IO, NULL, "%s: cannot resolve its folder", path);
    free(copy);
    free(dir);
    if (rc != KE_OK) spec_free(out);
    return rc;
}

void spec_argv_free(char **argv)
{
    if (!argv) return;
    for (char **a = argv; *a; a++)
        free(*a);
    free(argv);
}

int spec_set_dir(spec_study *s, const char *dir, kerror *err)
{
    char *copy = strdup(dir), *cwd = NULL;
    /* a trainer's relative data=csv:PATH was looked for where kestrel
     * started, beside the spec only when that was its folder */
    int resolve = (s->run.kind == RUN_COMMAND || s->run.kind == RUN_TRAINER) &&
                  (!s->run.cwd || s->run.cwd[0] != '/');
    if (copy && resolve && asprintf(&cwd, "%s%s%s", dir, s->run.cwd ? "/" : "",
                                    s->run.cwd ? s->run.cwd : "") < 0)
        cwd = NULL;
    if (!copy || (resolve && !cwd)) {
        free(copy);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    free(s->dir);
    s->dir = copy;
    if (cwd) {
        free(s->run.cwd);
        s->run.cwd = cwd;
    }
    return KE_OK;
}

void spec_free(spec_study *s)
{
    if (!s) return;
    free(s->name);
    free(s->metric);
    space_free(&s->space);
    free(s->strategy);
    json_decref(s->strategy_options);
    free(s->pruner);
    json_decref(s->pruner_options);
    free(s->run.shell);
    spec_argv_free(s->run.argv);
    free(s->run.function);
    json_decref(s->run.trainer);
    spec_argv_free(s->run.env);
    free(s->run.cwd);
    free(s->enqueue);
    free(s->dir);
    json_decref(s->doc);
    memset(s, 0, sizeof *s);
}
