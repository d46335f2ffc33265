/* test_spec: the study spec parser. Every rejection listed in docs/spec.md
 * has a row in the table below (a patch applied to a valid base spec, the
 * expected JSON path and part of the message); the rest checks a full spec
 * field by field, the defaults, parameter ordering, the hash and loading
 * from a file. Command expansion is in test_spec_command.c. */
#define _GNU_SOURCE
#include <limits.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "../src/spec.h"
#include "../src/spec_command.h"

static const char *const BASE =
    "{\"name\": \"t1\","
    " \"objective\": {\"metric\": \"loss\"},"
    " \"space\": {"
    "   \"x1\": {\"type\": \"float\", \"low\": -5, \"high\": 10},"
    "   \"x2\": {\"type\": \"int\", \"low\": 0, \"high\": 15},"
    "   \"opt\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\", 3]},"
    "   \"mom\": {\"type\": \"float\", \"low\": 0, \"high\": 0.99, \"when\": {\"opt\": \"sgd\"}}"
    " },"
    " \"strategy\": {\"name\": \"random\"},"
    " \"budget\": {\"max_trials\": 10},"
    " \"run\": {\"command\": \"echo {x1}\"}}";

#define DEL NULL   /* patch value: remove the key */

typedef struct {
    const char *key;     /* dotted path into BASE, e.g. "space.x1.low" */
    const char *value;   /* JSON text, or DEL */
} patch;

/* Sets or removes a dotted key of doc; intermediate objects must exist. */
static void apply_patch(json_t *doc, const patch *p)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", p->key);
    json_t *obj = doc;
    char *key = buf, *dot;
    while ((dot = strchr(key, '.'))) {
        *dot = '\0';
        obj = json_object_get(obj, key);
        ck_assert_msg(json_is_object(obj), "patch %s: no object at %s", p->key, key);
        key = dot + 1;
    }
    if (!p->value) {
        ck_assert_int_eq(json_object_del(obj, key), 0);
        return;
    }
    json_error_t je;
    json_t *v = json_loads(p->value, JSON_DECODE_ANY, &je);
    ck_assert_msg(v != NULL, "patch value %s: %s", p->value, je.text);
    json_object_set_new(obj, key, v);
}

/* Parses base with n patches applied. */
static int parse_base_patched(const char *base, spec_study *s, const patch *p, int n, kerror *err)
{
    json_t *doc = json_loads(base, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    for (int i = 0; i < n; i++)
        if (p[i].key) apply_patch(doc, &p[i]);
    char *text = json_dumps(doc, 0);
    json_decref(doc);
    int rc = spec_parse(s, text, err);
    free(text);
    return rc;
}

static int parse_patched(spec_study *s, const patch *p, int n, kerror *err)
{
    return parse_base_patched(BASE, s, p, n, err);
}

typedef struct {
    patch p[2];
    const char *path;   /* expected kerror path */
    const char *msg;    /* substring of the expected message */
} reject_case;

#define P1(k, v) { { k, v }, { NULL, NULL } }
#define P2(k1, v1, k2, v2) { { k1, v1 }, { k2, v2 } }
#define FLOAT_DEF "{\"type\": \"float\", \"low\": 0, \"high\": 1}"

static const reject_case rejects[] = {
    /* top level */
    { P1("foo", "1"), "foo", "unknown field" },
    { P1("name", DEL), "name", "required field missing" },
    { P1("objective", DEL), "objective", "required field missing" },
    { P1("space", DEL), "space", "required field missing" },
    { P1("strategy", DEL), "strategy", "required field missing" },
    { P1("budget", DEL), "budget", "required field missing" },
    { P1("run", DEL), "run", "required field missing" },
    { P1("name", "5"), "name", "must be a string" },
    { P1("name", "\"a b\""), "name", "must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}" },
    { P1("name", "\"..\""), "name", "must match" },
    { P1("name", "\".hidden\""), "name", "must match" },
    { P1("name", "\"\""), "name", "must match" },
    /* objective */
    { P1("objective", "[]"), "objective", "must be an object" },
    { P1("objective.target", "1"), "objective.target", "unknown field" },
    { P1("objective.goal", "\"high\""), "objective.goal", "must be a number" },
    { P1("objective.metric", DEL), "objective.metric", "required field missing" },
    { P1("objective.metric", "3"), "objective.metric", "must be a string" },
    { P1("objective.metric", "\"\""), "objective.metric", "must be 1 to 63 characters" },
    { P1("objective.direction", "\"up\""), "objective.direction", "must be \"minimize\" or \"maximize\"" },
    { P1("objective.direction", "true"), "objective.direction", "must be a string" },
    /* space */
    { P1("space", "[]"), "space", "must be an object" },
    { P1("space", "{}"), "space", "must define at least one parameter" },
    { P1("space.1x", FLOAT_DEF), "space.1x", "parameter name must match" },
    { P1("space.a-b", FLOAT_DEF), "space.a-b", "parameter name must match" },
    { P1("space.trial", FLOAT_DEF), "space.trial", "reserved" },
    { P1("space.study", FLOAT_DEF), "space.study", "reserved" },
    { P1("space.x1", "5"), "space.x1", "must be an object" },
    { P1("space.x1.type", DEL), "space.x1.type", "required field missing" },
    { P1("space.x1.type", "3"), "space.x1.type", "must be a string" },
    { P1("space.x1.type", "\"double\""), "space.x1.type", "must be \"float\", \"int\"" },
    { P1("space.x1.lo", "1"), "space.x1.lo", "unknown field" },
    { P1("space.x1.choices", "[1]"), "space.x1.choices", "not allowed for type float" },
    { P1("space.x1.step", "1"), "space.x1.step", "not allowed for type float" },
    { P1("space.x1.value", "1"), "space.x1.value", "not allowed for type float" },
    { P1("space.x2.grid_points", "3"), "space.x2.grid_points", "not allowed for type int" },
    { P1("space.opt.log", "true"), "space.opt.log", "not allowed for type categorical" },
    { P1("space.opt.low", "0"), "space.opt.low", "not allowed for type categorical" },
    /* float and int ranges */
    { P1("space.x1.low", DEL), "space.x1.low", "required field missing" },
    { P1("space.x1.high", DEL), "space.x1.high", "required field missing" },
    { P1("space.x1.low", "\"a\""), "space.x1.low", "must be a number" },
    { P1("space.x1.high", "-5"), "space.x1.high", "must be > low" },
    { P1("space.x1.high", "-6"), "space.x1.high", "must be > low" },
    { P2("space.x1.low", "-1.7e308", "space.x1.high", "1.7e308"), "space.x1.high",
      "high - low must be a finite number" },
    { P1("space.x2.low", "1.5"), "space.x2.low", "must be an integer" },
    { P1("space.x2.high", "\"9\""), "space.x2.high", "must be an integer" },
    { P1("space.x2.high", "-1"), "space.x2.high", "must be >= low" },
    { P1("space.x2.low", "10000000000000000"), "space.x2.low", "must be within +-2^53" },
    /* 2^53 + 1 reads back as the double 2^53; 1e17 is an integer, too large */
    { P1("space.x2.high", "9007199254740993"), "space.x2.high", "must be within +-2^53" },
    { P1("space.x2.low", "-9007199254740993"), "space.x2.low", "must be within +-2^53" },
    { P1("space.x2.high", "1e17"), "space.x2.high", "must be within +-2^53" },
    { P1("space.x2.step", "0"), "space.x2.step", "must be between 1 and" },
    { P1("space.x2.step", "1.5"), "space.x2.step", "must be an integer" },
    { P1("space.x1.log", "1"), "space.x1.log", "must be a boolean" },
    { P1("space.x1.log", "true"), "space.x1.low", "must be > 0 for a log-scale parameter" },
    { P1("space.x2.log", "true"), "space.x2.low", "must be > 0 for a log-scale parameter" },
    /* grids */
    { P1("space.x1.grid", "1"), "space.x1.grid", "must be an array" },
    { P1("space.x1.grid", "[]"), "space.x1.grid", "must not be empty" },
    { P1("space.x1.grid", "[1, \"a\"]"), "space.x1.grid[1]", "must be a number" },
    { P1("space.x1.grid", "[10.5]"), "space.x1.grid[0]", "must be within [-5, 10]" },
    { P1("space.x1.grid", "[1, 1.0]"), "space.x1.grid[1]", "duplicate value" },
    { P1("space.x2.grid", "[1.5]"), "space.x2.grid[0]", "must be an integer" },
    { P1("space.x2.grid", "[16]"), "space.x2.grid[0]", "must be within [0, 15]" },
    { P2("space.x2.step", "2", "space.x2.grid", "[0, 3]"), "space.x2.grid[1]", "must be low + k*step" },
    { P1("space.x1.grid_points", "1"), "space.x1.grid_points", "must be between 2 and 1000000" },
    { P1("space.x1.grid_points", "1000001"), "space.x1.grid_points", "must be between 2 and 1000000" },
    { P1("space.x1.grid_points", "2.5"), "space.x1.grid_points", "must be an integer" },
    { P2("space.x1.grid_points", "3", "space.x1.grid", "[1]"), "space.x1.grid_points",
      "cannot be combined with grid" },
    /* categorical and fixed */
    { P1("space.opt.choices", DEL), "space.opt.choices", "required field missing" },
    { P1("space.opt.choices", "\"sgd\""), "space.opt.choices", "must be an array" },
    { P1("space.opt.choices", "[]"), "space.opt.choices", "must not be empty" },
    { P1("space.opt.choices", "[\"sgd\", true]"), "space.opt.choices[1]", "must be a string or a number" },
    { P1("space.opt.choices", "[\"sgd\", \"sgd\"]"), "space.opt.choices[1]", "duplicate choice" },
    { P1("space.opt.choices", "[\"sgd\", 9007199254740993]"), "space.opt.choices[1]",
      "9007199254740993 is beyond +-2^53, where an integer has no exact value (write it as a string)" },
    { P1("space.opt.choices", "[-9007199254740993, 1]"), "space.opt.choices[0]",
      "-9007199254740993 is beyond +-2^53" },
    { P1("space.f", "{\"type\": \"fixed\", \"value\": 9007199254740993}"), "space.f.value",
      "is beyond +-2^53" },
    { P1("space.opt.choices", "[\"sgd\", 1, 1.0]"), "space.opt.choices[2]", "duplicate choice" },
    { P1("space.opt.choices", "[\"a\", \"b\", 2, \"b\", \"a\", 2.0]"), "space.opt.choices[3]",
      "duplicate choice" },
    { P1("space.x1.grid", "[3, 1, 2, 1, 3]"), "space.x1.grid[3]", "duplicate value" },
    { P1("space.f", "{\"type\": \"fixed\"}"), "space.f.value", "required field missing" },
    { P1("space.f", "{\"type\": \"fixed\", \"value\": null}"), "space.f.value", "must be a string or a number" },
    /* conditions */
    { P1("space.mom.when", "\"opt\""), "space.mom.when", "must be an object naming exactly one parameter" },
    { P1("space.mom.when", "{}"), "space.mom.when", "must be an object naming exactly one parameter" },
    { P1("space.mom.when", "{\"opt\": \"sgd\", \"x1\": 1}"), "space.mom.when", "exactly one parameter" },
    { P1("space.mom.when", "{\"nope\": \"sgd\"}"), "space.mom.when", "unknown parameter 'nope'" },
    { P1("space.mom.when", "{\"x1\": 1}"), "space.mom.when", "'x1' is not a categorical parameter" },
    { P1("space.mom.when", "{\"opt\": \"rmsprop\"}"), "space.mom.when.opt", "not a choice of 'opt'" },
    { P1("space.mom.when", "{\"opt\": \"3\"}"), "space.mom.when.opt", "not a choice of 'opt'" },
    { P1("space.mom.when", "{\"opt\": [\"adam\", \"x\"]}"), "space.mom.when.opt[1]", "not a choice of 'opt'" },
    { P1("space.mom.when", "{\"opt\": []}"), "space.mom.when.opt", "must not be empty" },
    { P1("space.mom.when", "{\"opt\": [\"sgd\", \"sgd\"]}"), "space.mom.when.opt[1]", "duplicate value" },
    { P1("space.mom.when", "{\"opt\": [true]}"), "space.mom.when.opt[0]", "must be a string, a number" },
    { P1("space.mom.when", "{\"opt\": null}"), "space.mom.when.opt", "must be a string, a number" },
    { P1("space.opt.when", "{\"opt\": \"sgd\"}"), "space.opt.when", "circular condition" },
    { P2("space.opt.when", "{\"c2\": \"a\"}",
         "space.c2", "{\"type\": \"categorical\", \"choices\": [\"a\"], \"when\": {\"opt\": \"sgd\"}}"),
      "space.opt.when", "circular condition" },
    /* strategy */
    { P1("strategy", "\"random\""), "strategy", "must be an object" },
    { P1("strategy.foo", "1"), "strategy.foo", "unknown field" },
    { P1("strategy.name", DEL), "strategy.name", "required field missing" },
    { P1("strategy.name", "1"), "strategy.name", "must be a string" },
    { P1("strategy.name", "\"bogus\""), "strategy.name", "unknown strategy 'bogus' (known: grid, random, sobol, gp, hyperband, asha)" },
    { P1("strategy.seed", "-1"), "strategy.seed", "must be >= 0" },
    { P1("strategy.seed", "1.5"), "strategy.seed", "must be an integer" },
    /* a real past 2^53 is positive, only not exact: the range, not ">= 0" */
    { P1("strategy.seed", "1e30"), "strategy.seed",
      "must be between 0 and 9007199254740992 (2^53) when written with a fraction or an "
      "exponent, up to 9223372036854775807 in plain digits" },
    { P1("strategy.seed", "-1e30"), "strategy.seed", "must be >= 0" },
    { P1("budget.max_trials", "1e20"), "budget.max_trials", "must be between 1 and 1000000" },
    { P1("strategy.options", "[]"), "strategy.options", "must be an object" },
    { P1("strategy.options", "{\"k\": 1}"), "strategy.options.k", "unknown option" },
    { P2("strategy.name", "\"gp\"", "strategy.options", "{\"n_inital\": 5}"),
      "strategy.options.n_inital", "unknown option (did you mean 'n_initial'?)" },
    { P2("strategy.name", "\"sobol\"", "strategy.options", "{\"skip\": 1000000000000}"),
      "strategy.options.skip", "must be an integer from 0 to 1048576" },
    { P2("strategy.name", "\"grid\"", "strategy.options", "{\"shuffle\": 1}"),
      "strategy.options.shuffle", "must be true or false" },
    { P1("strategy.name", "\"grid\""), "space.x1", "grid values or grid_points" },
    { P2("strategy.name", "\"grid\"",
         "space", "{\"x1\": {\"type\": \"int\", \"low\": 0, \"high\": 1000000},"
                  " \"x2\": {\"type\": \"int\", \"low\": 0, \"high\": 1000000}}"),
      "space", "the grid has more than" },
    { P1("strategy.name", "\"hyperband\""), "strategy.options.max_resource", "required option missing" },
    { P2("strategy.name", "\"asha\"", "strategy.options", "{\"max_resource\": 9, \"eta\": 1}"),
      "strategy.options.eta", "must be an integer in [2, " },
    { P2("strategy.name", "\"hyperband\"", "strategy.options", "{\"max_resource\": 9.5}"),
      "strategy.options.max_resource", "must be an integer in [1, " },
    /* pruner */
    { P1("pruner", "\"median\""), "pruner", "must be an object" },
    { P1("pruner", "{}"), "pruner.name", "required field missing" },
    { P1("pruner", "{\"name\": 1}"), "pruner.name", "must be a string" },
    { P1("pruner", "{\"name\": \"nope\"}"), "pruner.name", "unknown pruner 'nope' (known: median, asha)" },
    { P1("pruner", "{\"name\": \"median\", \"foo\": 1}"), "pruner.foo", "unknown field" },
    { P1("pruner", "{\"name\": \"median\", \"options\": []}"), "pruner.options", "must be an object" },
    { P1("pruner", "{\"name\": \"median\", \"options\": {\"k\": 1}}"), "pruner.options.k", "unknown option" },
    { P1("pruner", "{\"name\": \"median\", \"options\": {\"min_trial\": 1}}"), "pruner.options.min_trial",
      "unknown option (did you mean 'min_trials'?)" },
    { P1("pruner", "{\"name\": \"median\", \"options\": {\"min_trials\": 0}}"),
      "pruner.options.min_trials", "must be an integer in [1, " },
    { P1("pruner", "{\"name\": \"asha\", \"options\": {\"eta\": 1}}"),
      "pruner.options.eta", "must be an integer in [2, " },
    /* budget */
    { P1("budget", "5"), "budget", "must be an object" },
    { P1("budget.max_trails", "5"), "budget.max_trails", "unknown field" },
    { P1("budget.max_trials", DEL), "budget.max_trials", "required field missing" },
    { P1("budget.max_trials", "0"), "budget.max_trials", "must be between 1 and 1000000" },
    { P1("budget.max_trials", "1000001"), "budget.max_trials", "must be between 1 and 1000000" },
    { P1("budget.max_trials", "1.5"), "budget.max_trials", "must be an integer" },
    { P1("budget.max_trials", "\"10\""), "budget.max_trials", "must be an integer" },
    { P1("budget.max_parallel", "0"), "budget.max_parallel", "must be between 1 and 256" },
    { P1("budget.max_parallel", "257"), "budget.max_parallel", "must be between 1 and 256" },
    { P1("budget.max_seconds", "-1"), "budget.max_seconds", "must be >= 0" },
    { P1("budget.max_seconds", "\"1\""), "budget.max_seconds", "must be a number" },
    { P1("budget.trial_timeout", "-0.5"), "budget.trial_timeout", "must be >= 0" },
    { P1("budget.max_retries", "101"), "budget.max_retries", "must be between 0 and 100" },
    { P1("budget.max_retries", "-1"), "budget.max_retries", "must be between 0 and 100" },
    { P1("budget.max_failures", "-1"), "budget.max_failures", "must be between 0 and 1000000" },
    { P1("run", "{\"trainer\": {}}"), "objective.metric",
      "the trainer reports no metric 'loss' (it reports train_loss, val_loss, val_accuracy," },
    /* run */
    { P1("run", "[]"), "run", "must be an object" },
    { P1("run.foo", "1"), "run.foo", "unknown field" },
    { P1("run", "{}"), "run", "exactly one of" },
    { P1("run", "{\"command\": \"x\", \"function\": \"branin\"}"), "run", "exactly one of" },
    { P1("run", "{\"trainer\": {}, \"function\": \"branin\"}"), "run", "exactly one of" },
    { P1("run.kill_grace", "0"), "run.kill_grace", "must be > 0" },
    { P1("run.kill_grace", "\"5\""), "run.kill_grace", "must be a number" },
    { P1("run.nice", "20"), "run.nice", "between 0 and 19" },
    { P1("run.nice", "-1"), "run.nice", "between 0 and 19" },
    { P1("run.resources", "3"), "run.resources", "must be an object" },
    { P1("run.resources", "{\"cpus\": 1}"), "run.resources.cpus", "unknown field" },
    { P1("run.resources", "{\"gpus\": 65}"), "run.resources.gpus", "between 0 and 64" },
    { P1("run", "{\"function\": \"branin\", \"env\": {}}"), "run.env", "only allowed with \"command\"" },
    { P1("run", "{\"trainer\": {}, \"cwd\": \"/tmp\"}"), "run.cwd", "only allowed with \"command\"" },
    { P1("run", "{\"trainer\": {}, \"keep_checkpoints\": \"some\"}"), "run.keep_checkpoints",
      "must be \"best\" or \"all\"" },
    { P1("run", "{\"command\": \"true\", \"keep_checkpoints\": \"all\"}"), "run.keep_checkpoints",
      "only allowed with \"trainer\"" },
    { P1("run", "{\"function\": 3}"), "run.function", "must be a string" },
    { P1("run", "{\"function\": \"nope\"}"), "run.function", "unknown function 'nope' (known: branin, " },
    { P1("run", "{\"function\": \"hartmann3\"}"), "space", "needs a float or int parameter 'x3'" },
    /* a function reports 'value' alone: another objective failed every trial */
    { P1("run", "{\"function\": \"branin\"}"), "objective.metric",
      "function 'branin' reports 'value' only, not 'loss'" },
    /* a report line's step and final flag are never metrics */
    { P1("objective.metric", "\"step\""), "objective.metric",
      "'step' is a report line's step number, not a metric (docs/protocol.md)" },
    { P1("objective.metric", "\"final\""), "objective.metric",
      "'final' is a report line's flag for final values, not a metric" },
    { P2("run", "{\"function\": \"branin\"}", "space.x2", "{\"type\": \"fixed\", \"value\": 1}"),
      "space.x2", "must be a float or int parameter for function 'branin'" },
    { P2("run", "{\"function\": \"branin\"}",
         "space.x2", "{\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"opt\": \"sgd\"}}"),
      "space.x2", "must not be conditional" },
    { P1("run", "{\"trainer\": 1}"), "run.trainer", "must be an object" },
    { P1("run.command", "5"), "run.command", "must be a string or a non-empty array of strings" },
    { P1("run.command", "[]"), "run.command", "must be a string or a non-empty array of strings" },
    { P1("run.command", "\"\""), "run.command", "must not be empty" },
    { P1("run.command", "[\"echo\", 1]"), "run.command[1]", "must be a string" },
    { P1("run.command", "[\"\"]"), "run.command[0]", "must not be empty" },
    { P1("run.command", "\"echo {foo}\""), "run.command", "unknown placeholder {foo}" },
    { P1("run.command", "\"echo {}\""), "run.command", "unknown placeholder {}" },
    { P1("run.command", "[\"echo\", \"--x={bar}\"]"), "run.command[1]", "unknown placeholder {bar}" },
    /* a brace of the command's own is pointed to {{, a near name to itself */
    { P1("run.command", "\"echo {x1} | awk '{print $1}'\""), "run.command",
      "unknown placeholder {print $1}: not a parameter of the space, {trial} or {study}; write {{ "
      "and }} for literal braces" },
    { P1("run.command", "\"echo {x3} {trial}\""), "run.command",
      "unknown placeholder {x3} (did you mean {x1}?)" },
    { P1("run.command", "[\"run\", \"--n={Trial}\"]"), "run.command[1]",
      "unknown placeholder {Trial} (did you mean {trial}?)" },
    { P1("run.command", "\"echo {x1\""), "run.command", "unterminated placeholder" },
    { P1("run.command", "\"echo } {x1}\""), "run.command", "unmatched '}'" },
    /* a text placeholder inside the user's own quotes would run $(...) */
    { P1("run.command", "\"echo \\\"{opt}\\\"\""), "run.command",
      "placeholder {opt} inside double quotes" },
    { P1("run.command", "\"echo '--opt={opt}'\""), "run.command",
      "placeholder {opt} inside single quotes" },
    { P1("run.command", "\"echo \\\"\\\\\\\" {x1}\\\" {{'}} {opt}\""), "run.command",
      "placeholder {opt} inside single quotes" },
    /* nor where /bin/sh reads Kestrel's quotes as other than a word's */
    { P1("run.command", "\"echo \\\\{opt}\""), "run.command",      /* echo \{opt} */
      "placeholder {opt} after a backslash" },
    { P1("run.command", "\"echo \\\\{x1} {opt}\""), "run.command", /* a number's quote too */
      "placeholder {x1} after a backslash" },
    { P1("run.command", "\"echo `echo {opt}`\""), "run.command",
      "placeholder {opt} inside backquotes" },
    { P1("run.command", "\"echo \\\"`echo {opt}`\\\"\""), "run.command",
      "placeholder {opt} inside backquotes" },
    { P1("run.command", "\"true; # {opt}\""), "run.command", "placeholder {opt} in a comment" },
    { P1("run.command", "\"#{opt}\""), "run.command", "placeholder {opt} in a comment" },
    { P1("run.command", "\"cat <<EOF\\n{opt}\\nEOF\""), "run.command",
      "placeholder {opt} after a here-document" },
    { P1("run.env", "[]"), "run.env", "must be an object" },
    { P1("run.env", "{\"1A\": \"x\"}"), "run.env.1A", "variable name must match" },
    { P1("run.env", "{\"A=B\": \"x\"}"), "run.env.A=B", "variable name must match" },
    { P1("run.env", "{\"A\": 1}"), "run.env.A", "must be a string" },
    { P1("run.cwd", "\"\""), "run.cwd", "must not be empty" },
    { P1("run.cwd", "1"), "run.cwd", "must be a string" },
};

#define N_REJECTS ((int)(sizeof rejects / sizeof rejects[0]))

/* A trainer run: each parameter is one of the trainer's options (a trial
 * passes it as --set NAME=VALUE), a conditional one and a fixed one among them. */
static const char *const TRAINER_BASE =
    "{\"name\": \"tr\","
    " \"objective\": {\"metric\": \"val_loss\"},"
    " \"space\": {"
    "   \"lr\": {\"type\": \"float\", \"low\": 0.001, \"high\": 0.01, \"log\": true},"
    "   \"epochs\": {\"type\": \"int\", \"low\": 1, \"high\": 9, \"step\": 2},"
    "   \"optimizer\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\"]},"
    "   \"momentum\": {\"type\": \"float\", \"low\": 0, \"high\": 0.99,"
    "                \"when\": {\"optimizer\": \"sgd\"}},"
    "   \"hidden\": {\"type\": \"fixed\", \"value\": \"64,32\"}"
    " },"
    " \"strategy\": {\"name\": \"random\"},"
    " \"budget\": {\"max_trials\": 10},"
    " \"run\": {\"trainer\": {\"data\": \"synthetic-classification\", \"batch_size\": 32}}}";

/* What the trainer itself would refuse at every trial's start, refused with
 * the spec's path: its own message, or the range check at the values a
 * parameter reaches. */
static const reject_case trainer_rejects[] = {
    { P1("run.trainer.epochz", "1"), "run.trainer.epochz", "unknown option (did you mean 'epochs'?)" },
    { P1("run.trainer.epochs", "-1"), "run.trainer.epochs", "must be in [1, 1000000], got -1" },
    { P1("run.trainer.epochs", "2.5"), "run.trainer.epochs", "must be an integer, got 2.5" },
    { P1("run.trainer.lr", "true"), "run.trainer.lr", "not a number: 'true'" },
    { P1("run.trainer.optimizer", "\"lion\""), "run.trainer.optimizer", "must be one of sgd|" },
    { P1("run.trainer.hidden", "[32, 0]"), "run.trainer.hidden", "must be in [1, 65536], got 0" },
    { P1("run.trainer.data", "\"imagenet\""), "run.trainer.data", "csv:PATH" },
    { P1("space.foo", FLOAT_DEF), "space.foo", "the trainer has no option 'foo'" },
    { P1("space.epoch", FLOAT_DEF), "space.epoch", "(did you mean 'epochs'?)" },
    { P1("space.epochs", "{\"type\": \"int\", \"low\": 0, \"high\": 5}"), "space.epochs.low",
      "must be in [1, 1000000], got 0" },
    /* the int's top is its last value on the step, not high */
    { P1("space.epochs", "{\"type\": \"int\", \"low\": 5, \"high\": 1000015, \"step\": 10}"),
      "space.epochs.high", "must be in [1, 1000000], got 1000015" },
    { P1("space.lr", "{\"type\": \"float\", \"low\": 0, \"high\": 0.1}"), "space.lr.low",
      "must be in (0, 1e+30], got 0" },
    { P1("space.momentum.high", "1"), "space.momentum.high", "must be in [0, 0.9999], got 1" },
    { P1("space.optimizer.choices", "[\"sgd\", \"lion\"]"), "space.optimizer.choices[1]",
      "must be one of sgd|momentum|nesterov|adagrad|rmsprop|adam|adamw, got 'lion'" },
    { P1("space.hidden.value", "\"64,x\""), "space.hidden.value", "not a list of integers" },
    { P1("space.batch_size", "{\"type\": \"float\", \"low\": 16, \"high\": 64}"),
      "space.batch_size.type", "takes integers" },
    /* kfold=1 is refused by the trainer inside kfold's [0, 50]: a range or
     * a choice of it validated "ok", then each trial drawing it failed */
    { P1("run.trainer.kfold", "1"), "run.trainer.kfold", "must be 0 (off) or >= 2, got 1" },
    { P1("space.kfold", "{\"type\": \"int\", \"low\": 1, \"high\": 3}"), "space.kfold.low",
      "must be 0 (off) or >= 2, got 1" },
    { P1("space.kfold", "{\"type\": \"categorical\", \"choices\": [0, 1, 5]}"),
      "space.kfold.choices[1]", "must be 0 (off) or >= 2, got 1" },
    { P1("space.kfold", "{\"type\": \"int\", \"low\": 0, \"high\": 3}"), "space.kfold",
      "the range 0..3 holds 1, which the trainer's option 'kfold' refuses (it must be 0 (off) "
      "or >= 2): a trial drawing it would fail; give the values as \"choices\": [0, 2, 3]" },
    { P1("space.kfold", "{\"type\": \"int\", \"low\": 0, \"high\": 50}"), "space.kfold",
      "\"choices\": [0, 2, 3, 4, ...]" },
    /* val_ratio=0 without kfold: each such trial failed "val_ratio: must be
     * > 0 without kfold" */
    { P1("space.val_ratio", "{\"type\": \"categorical\", \"choices\": [0, 0.2]}"),
      "space.val_ratio.choices[0]", "val_ratio=0 leaves no validation part, which a run without "
      "kfold needs (kestrel train refuses it: \"must be > 0 without kfold\")" },
    { P1("space.val_ratio", "{\"type\": \"float\", \"low\": 0, \"high\": 0.3}"),
      "space.val_ratio.low", "val_ratio=0 leaves no validation part" },
    { P1("run.trainer.val_ratio", "0"), "run.trainer.val_ratio",
      "val_ratio=0 leaves no validation part" },
    /* a test_ objective's trials need the test pass that evaluate_test=false
     * leaves out: each failed "missing metric 'test_accuracy'" */
    { P2("objective.metric", "\"test_accuracy\"", "run.trainer.evaluate_test", "false"),
      "run.trainer.evaluate_test",
      "evaluate_test=false leaves out the test pass, which reports the objective 'test_accuracy'" },
    { P2("objective.metric", "\"test_loss\"", "space.evaluate_test",
         "{\"type\": \"categorical\", \"choices\": [\"true\", \"false\"]}"),
      "space.evaluate_test.choices[1]", "evaluate_test=false leaves out the test pass" },
    /* train_config_validate's checks across options, at values only some
     * draws meet: each such trial failed at its start (exit 2) */
    { P2("run.trainer.schedule", "\"cosine\"", "run.trainer.min_lr", "0.005"), "space.lr.low",
      "a trial of schedule=cosine (run.trainer.schedule), min_lr=0.005 (run.trainer.min_lr), "
      "lr=0.001 (space.lr.low) would fail: kestrel train refuses it (\"min_lr: 0.005 is above lr "
      "(0.001): the cosine schedule decays from lr to min_lr\"); keep min_lr at or below" },
    { P2("space.schedule", "{\"type\": \"categorical\", \"choices\": [\"step\", \"linear\"]}",
         "space.min_lr", "{\"type\": \"float\", \"low\": 0, \"high\": 0.002}"), "space.lr.low",
      "schedule=linear (space.schedule.choices[1]), min_lr=0.002 (space.min_lr.high), lr=0.001" },
    { P2("run.trainer.batchnorm", "true",
         "space.batch_size", "{\"type\": \"int\", \"low\": 1, \"high\": 64}"), "space.batch_size.low",
      "a trial of batchnorm=true (run.trainer.batchnorm), batch_size=1 (space.batch_size.low) "
      "would fail: kestrel train refuses it (\"batchnorm: needs batch_size >= 2\"); start "
      "batch_size at 2" },
    { P2("space.batchnorm", "{\"type\": \"categorical\", \"choices\": [\"false\", \"true\"]}",
         "run.trainer.batch_size", "1"), "space.batchnorm.choices[1]",
      "batchnorm=true (space.batchnorm.choices[1]), batch_size=1 (run.trainer.batch_size)" },
    { P2("space.optimizer.choices", "[\"sgd\", \"nesterov\"]",
         "space.momentum", "{\"type\": \"float\", \"low\": 0, \"high\": 0.99}"), "space.momentum.low",
      "a trial of optimizer=nesterov (space.optimizer.choices[1]), momentum=0 (space.momentum.low) "
      "would fail: kestrel train refuses it (\"momentum: nesterov needs momentum > 0 (with 0 it is "
      "plain sgd)\"); give momentum values above 0" },
    { P2("space.momentum", "{\"type\": \"fixed\", \"value\": 0}", "space.optimizer.choices",
         "[\"adam\", \"momentum\"]"), "space.momentum.value",
      "optimizer=momentum (space.optimizer.choices[1]), momentum=0 (space.momentum.value)" },
    /* the conditional momentum is inactive under momentum: its 0 is never
     * drawn with it, the object's 0 is */
    { P2("space.optimizer.choices", "[\"sgd\", \"momentum\"]", "run.trainer.momentum", "0"),
      "space.optimizer.choices[1]", "optimizer=momentum (space.optimizer.choices[1]), momentum=0 "
      "(run.trainer.momentum)" },
    /* a fixed value is passed to every trial, its "when" or not */
    { P2("space.optimizer.choices", "[\"sgd\", \"nesterov\"]", "space.momentum",
         "{\"type\": \"fixed\", \"value\": 0, \"when\": {\"optimizer\": \"sgd\"}}"),
      "space.momentum.value", "optimizer=nesterov (space.optimizer.choices[1]), momentum=0 "
      "(space.momentum.value)" },
    { P2("run.trainer.checkpoint", "\"ck.bin\"", "space.kfold",
         "{\"type\": \"categorical\", \"choices\": [0, 3]}"), "space.kfold.choices[1]",
      "checkpoint=ck.bin (run.trainer.checkpoint), resume= (the default), kfold=3 "
      "(space.kfold.choices[1]) would fail: kestrel train refuses it (\"kfold: cannot be combined "
      "with checkpoint or resume\")" },
    { P2("run.trainer.stratify", "true",
         "space.data", "{\"type\": \"categorical\", \"choices\": [\"synthetic-classification\","
                       " \"synthetic-regression\"]}"), "space.data.choices[1]",
      "(\"stratify: needs a classification task\")" },
};

#define N_TRAINER_REJECTS ((int)(sizeof trainer_rejects / sizeof trainer_rejects[0]))

static void assert_empty(const spec_study *s)
{
    ck_assert_ptr_null(s->name);
    ck_assert_ptr_null(s->doc);
    ck_assert_ptr_null(s->run.argv);
    ck_assert_int_eq(s->space.n, 0);
}

/* Case i, c, patched onto base, is refused at c->path with c->msg. */
static void expect_case_refused(const char *base, const reject_case *c, int i)
{
    spec_study s;
    kerror err;
    kerror_clear(&err);
    int rc = parse_base_patched(base, &s, c->p, 2, &err);
    ck_assert_msg(rc == KE_INVALID, "case %d (%s): rc %d, expected KE_INVALID", i, c->p[0].key, rc);
    ck_assert_int_eq(err.code, KE_INVALID);
    ck_assert_msg(!strcmp(err.path, c->path), "case %d: path '%s', expected '%s' (msg: %s)",
                  i, err.path, c->path, err.msg);
    ck_assert_msg(strstr(err.msg, c->msg) != NULL, "case %d: message '%s' lacks '%s'",
                  i, err.msg, c->msg);
    assert_empty(&s);
}

START_TEST(test_reject)
{
    expect_case_refused(BASE, &rejects[_i], _i);
}
END_TEST

START_TEST(test_trainer_reject)
{
    expect_case_refused(TRAINER_BASE, &trainer_rejects[_i], _i);
}
END_TEST

START_TEST(test_trainer_accepts)
{
    static const patch ok[][3] = {
        { { NULL, NULL } },
        /* high is past the trainer's 1000000, the last value on the step
         * (999995) is not */
        { { "space.epochs", "{\"type\": \"int\", \"low\": 5, \"high\": 1000004, \"step\": 10}" } },
        /* numbers and booleans reach the trainer as text, as --set takes them */
        { { "run.trainer", "{\"hidden\": 64, \"batchnorm\": true, \"epochs\": 3.0,"
                           " \"milestones\": [2, 3], \"momentum\": \"0.8\"}" } },
        /* a float option searched by an int parameter, an int list by a categorical */
        { { "space.weight_decay", "{\"type\": \"int\", \"low\": 0, \"high\": 1}" },
          { "space.hidden", "{\"type\": \"categorical\", \"choices\": [\"128\", \"64,32\", 16]}" } },
        /* val_ratio=0 with kfold on, in the object or searched */
        { { "run.trainer.val_ratio", "0" }, { "run.trainer.kfold", "3" } },
        { { "space.val_ratio", "{\"type\": \"categorical\", \"choices\": [0, 0.2]}" },
          { "space.kfold", "{\"type\": \"categorical\", \"choices\": [0, 3]}" } },
        /* kfold's ranges that step over its refused 1, or start past it */
        { { "space.kfold", "{\"type\": \"int\", \"low\": 0, \"high\": 10, \"step\": 5}" } },
        { { "space.kfold", "{\"type\": \"int\", \"low\": 2, \"high\": 5}" } },
        /* evaluate_test=false under an objective of the validation part */
        { { "run.trainer.evaluate_test", "false" } },
        /* the object's false is overridden by a parameter that is always true */
        { { "objective.metric", "\"test_accuracy\"" }, { "run.trainer", "{\"evaluate_test\": false}" },
          { "space.evaluate_test", "{\"type\": \"fixed\", \"value\": \"true\"}" } },
        /* the checks across options, with values no trial meets together:
         * min_lr below every lr, or above it under a schedule without it */
        { { "run.trainer.schedule", "\"cosine\"" }, { "run.trainer.min_lr", "0.001" } },
        { { "run.trainer.schedule", "\"step\"" }, { "run.trainer.min_lr", "0.005" } },
        /* momentum 0 only under sgd (the base's when), or from 0.5; batch_size
         * 1 without batchnorm */
        { { "space.optimizer.choices", "[\"sgd\", \"nesterov\"]" } },
        { { "space.optimizer.choices", "[\"momentum\", \"nesterov\"]" },
          { "space.momentum", "{\"type\": \"float\", \"low\": 0.5, \"high\": 0.99}" } },
        { { "run.trainer.batchnorm", "false" },
          { "space.batch_size", "{\"type\": \"int\", \"low\": 1, \"high\": 64}" } },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        spec_study s;
        kerror err;
        kerror_clear(&err);
        int rc = parse_base_patched(TRAINER_BASE, &s, ok[i], 3, &err);
        ck_assert_msg(rc == KE_OK, "case %zu: %s: %s", i, err.path, err.msg);
        ck_assert_int_eq(s.run.kind, RUN_TRAINER);
        spec_free(&s);
    }
}
END_TEST

static void expect_reject(const char *text, const char *path, const char *msg)
{
    spec_study s;
    kerror err;
    kerror_clear(&err);
    ck_assert_int_eq(spec_parse(&s, text, &err), KE_INVALID);
    ck_assert_str_eq(err.path, path);
    ck_assert_msg(strstr(err.msg, msg) != NULL, "message '%s' lacks '%s'", err.msg, msg);
    assert_empty(&s);
}

START_TEST(test_reject_document)
{
    expect_reject("[1, 2]", "", "the spec must be a JSON object");
    expect_reject("{\n  \"name\": \"a\",\n  \"budget\": }", "", "invalid JSON at line 3, column");
    expect_reject("{\"name\": \"a\", \"name\": \"b\"}", "", "duplicate object key");
    expect_reject("", "", "invalid JSON at line");
}
END_TEST

/* BASE with one key set to a generated value. */
static int parse_with(const char *key, const char *value_json, kerror *err)
{
    spec_study s;
    patch p = { key, value_json };
    int rc = parse_patched(&s, &p, 1, err);
    if (rc == KE_OK) spec_free(&s);
    return rc;
}

static char *repeat(char c, int n, const char *prefix, const char *suffix)
{
    size_t lp = strlen(prefix), ls = strlen(suffix);
    char *s = malloc(lp + (size_t)n + ls + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, prefix, lp);
    memset(s + lp, c, (size_t)n);
    memcpy(s + lp + (size_t)n, suffix, ls + 1);
    return s;
}

/* "[0, 1, ..., n-1]" */
static char *counting_array(int n)
{
    char *s = malloc((size_t)n * 12 + 3), *e = s;
    ck_assert_ptr_nonnull(s);
    *e++ = '[';
    for (int i = 0; i < n; i++) e += sprintf(e, "%s%d", i ? "," : "", i);
    strcpy(e, "]");
    return s;
}

/* No spec value may make parsing (which every resume repeats on the engine
 * thread) unbounded: choices and grids have a ceiling, checked before the
 * duplicate search, which sorts. */
/* Quotes around a number, or a text placeholder outside any quotes, run. */
START_TEST(test_command_quotes_accepted)
{
    static const char *const ok[] = {
        "\"echo '{{\\\"value\\\": {x1}}}'\"",    /* echo '{"value": {x1}}' */
        "\"echo \\\"{x2}\\\" {opt}\"",           /* echo "{x2}" {opt} */
        "\"echo \\\"it's\\\" {opt} 'a\\\"b' {opt}\"",
        "\"echo \\\\' {opt}\"",                    /* echo \' {opt} */
        "[\"echo\", \"'{opt}'\"]",                    /* argv: no shell */
        "\"echo \\\\\\\\ {opt}\"",                      /* echo \\ {opt}: a backslash escaped */
        "\"echo a#b {opt} \\\\# {opt} '#' {opt}\"",   /* no comment starts */
        "\"echo $(echo {opt}) {x1} # {x1}\"",         /* $(...) quotes anew; a number */
        "\"echo {opt}\\n# a note\\necho {opt}\"",     /* a comment ends with its line */
        "\"cat <<EOF\\n{x1}\\nEOF\"",                 /* a number in a here-document */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        kerror err;
        int rc = parse_with("run.command", ok[i], &err);
        ck_assert_msg(rc == KE_OK, "%s: %s", ok[i], err.msg);
    }
}
END_TEST

START_TEST(test_size_limits)
{
    kerror err;
    spec_study s;
    char *v = counting_array(1000);
    patch p[2] = { { "space.opt.choices", v }, { "space.mom.when", "{\"opt\": [999, 0]}" } };
    ck_assert_int_eq(parse_patched(&s, p, 2, &err), KE_OK);
    ck_assert_int_eq(s.space.params[space_find(&s.space, "mom")].when[0], 999);
    spec_free(&s);
    free(v);
    v = counting_array(1001);
    ck_assert_int_eq(parse_with("space.opt.choices", v, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "space.opt.choices");
    ck_assert_str_eq(err.msg, "at most 1000 choices");
    free(v);
    v = counting_array(1000001);
    ck_assert_int_eq(parse_with("space.x2.grid", v, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "space.x2.grid");
    ck_assert_str_eq(err.msg, "at most 1000000 values");
    free(v);
}
END_TEST

START_TEST(test_length_limits)
{
    kerror err;
    char *v = repeat('n', 128, "\"", "\"");
    ck_assert_int_eq(parse_with("name", v, &err), KE_OK);
    free(v);
    v = repeat('n', 129, "\"", "\"");
    ck_assert_int_eq(parse_with("name", v, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "name");
    free(v);

    v = repeat('m', 63, "\"", "\"");
    ck_assert_int_eq(parse_with("objective.metric", v, &err), KE_OK);
    free(v);
    v = repeat('m', 64, "\"", "\"");
    ck_assert_int_eq(parse_with("objective.metric", v, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "objective.metric");
    free(v);

    v = repeat('c', 1024, "[\"sgd\", \"", "\"]");
    ck_assert_int_eq(parse_with("space.opt.choices", v, &err), KE_OK);
    free(v);
    v = repeat('c', 1025, "[\"sgd\", \"", "\"]");
    ck_assert_int_eq(parse_with("space.opt.choices", v, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "space.opt.choices[1]");
    ck_assert(strstr(err.msg, "at most 1024 bytes"));
    free(v);

    v = repeat('v', 1025, "{\"type\": \"fixed\", \"value\": \"", "\"}");
    ck_assert_int_eq(parse_with("space.f", v, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "space.f.value");
    ck_assert(strstr(err.msg, "at most 1024 bytes"));
    free(v);

    char key[80];
    char *name = repeat('p', 62, "space._", "");
    ck_assert_int_eq(parse_with(name, FLOAT_DEF, &err), KE_OK);
    free(name);
    name = repeat('p', 63, "space._", "");
    ck_assert_int_eq(parse_with(name, FLOAT_DEF, &err), KE_INVALID);
    ck_assert_str_eq(err.path, name);
    free(name);

    for (int n = 64; n <= 65; n++) {
        json_t *sp = json_object();
        for (int i = 0; i < n; i++) {
            snprintf(key, sizeof key, "x%d", i + 1);
            json_object_set_new(sp, key, json_pack("{s:s,s:i,s:i}", "type", "int", "low", 0, "high", 1));
        }
        char *text = json_dumps(sp, 0);
        json_decref(sp);
        int rc = parse_with("space", text, &err);
        free(text);
        if (n == 64) {
            ck_assert_int_eq(rc, KE_OK);
        } else {
            ck_assert_int_eq(rc, KE_INVALID);
            ck_assert_str_eq(err.path, "space");
            ck_assert(strstr(err.msg, "at most 64 parameters"));
        }
    }
}
END_TEST

static const char *const FULL =
    "{\n"
    "  \"name\": \"branin-random.v2\",\n"
    "  \"objective\": {\"metric\": \"value\", \"direction\": \"maximize\"},\n"
    "  \"space\": {\n"
    "    \"momentum\": {\"type\": \"float\", \"low\": 0.0, \"high\": 0.99,\n"
    "                 \"when\": {\"optimizer\": [\"sgd\", 3]}},\n"
    "    \"x1\": {\"type\": \"float\", \"low\": -5, \"high\": 10},\n"
    "    \"lr\": {\"type\": \"float\", \"low\": 1e-4, \"high\": 0.1, \"log\": true,\n"
    "           \"grid\": [0.001, 0.01]},\n"
    "    \"w\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"grid_points\": 5},\n"
    "    \"layers\": {\"type\": \"int\", \"low\": 1, \"high\": 9, \"step\": 2, \"log\": true,\n"
    "               \"grid\": [1, 5]},\n"
    "    \"optimizer\": {\"type\": \"categorical\", \"choices\": [\"sgd\", \"adam\", 3]},\n"
    "    \"epochs\": {\"type\": \"fixed\", \"value\": 10},\n"
    "    \"tag\": {\"type\": \"fixed\", \"value\": \"v1\"}\n"
    "  },\n"
    "  \"strategy\": {\"name\": \"sobol\", \"seed\": 42, \"options\": {\"skip\": 3}},\n"
    "  \"budget\": {\"max_trials\": 40, \"max_parallel\": 4, \"max_seconds\": 3600.5,\n"
    "             \"trial_timeout\": 60, \"max_retries\": 2},\n"
    "  \"run\": {\"command\": [\"python3\", \"train.py\", \"--lr\", \"{lr}\"],\n"
    "          \"env\": {\"A\": \"1\", \"B_2\": \"x y\"}, \"cwd\": \"/tmp/work\",\n"
    "          \"kill_grace\": 2.5, \"nice\": 7}\n"
    "}\n";

START_TEST(test_full_spec)
{
    spec_study s;
    kerror err;
    ck_assert_int_eq(spec_parse(&s, FULL, &err), KE_OK);
    ck_assert_str_eq(s.name, "branin-random.v2");
    ck_assert_str_eq(s.metric, "value");
    ck_assert_int_eq(s.maximize, 1);
    ck_assert_str_eq(s.strategy, "sobol");
    ck_assert_uint_eq(s.seed, 42);
    ck_assert_ptr_nonnull(s.strategy_options);
    ck_assert_int_eq(json_integer_value(json_object_get(s.strategy_options, "skip")), 3);
    ck_assert_int_eq(s.budget.max_trials, 40);
    ck_assert_int_eq(s.budget.max_parallel, 4);
    ck_assert_double_eq(s.budget.max_seconds, 3600.5);
    ck_assert_double_eq(s.budget.trial_timeout, 60);
    ck_assert_int_eq(s.budget.max_retries, 2);
    ck_assert_int_eq(s.run.kind, RUN_COMMAND);
    ck_assert_ptr_null(s.run.shell);
    ck_assert_str_eq(s.run.argv[0], "python3");
    ck_assert_str_eq(s.run.argv[3], "{lr}");
    ck_assert_ptr_null(s.run.argv[4]);
    ck_assert_str_eq(s.run.env[0], "A=1");
    ck_assert_str_eq(s.run.env[1], "B_2=x y");
    ck_assert_ptr_null(s.run.env[2]);
    ck_assert_str_eq(s.run.cwd, "/tmp/work");
    ck_assert_double_eq(s.run.kill_grace, 2.5);
    ck_assert_int_eq(s.run.nice, 7);
    ck_assert_ptr_null(s.run.function);
    ck_assert_ptr_null(s.run.trainer);
    ck_assert_ptr_nonnull(s.doc);
    ck_assert_uint_eq(strlen(s.hash), 16);
    ck_assert_uint_eq(strspn(s.hash, "0123456789abcdef"), 16);

    /* momentum's parent is declared after it, so it moves behind it */
    static const char *const order[] = { "x1", "lr", "w", "layers", "optimizer", "momentum", "epochs", "tag" };
    ck_assert_int_eq(s.space.n, 8);
    for (int i = 0; i < 8; i++) ck_assert_str_eq(s.space.params[i].name, order[i]);
    const space_param *p = s.space.params;
    ck_assert_int_eq(p[0].kind, PARAM_FLOAT);
    ck_assert_double_eq(p[0].low, -5);
    ck_assert_double_eq(p[0].high, 10);
    ck_assert_int_eq(p[0].log, 0);
    ck_assert_int_eq(p[0].parent, -1);
    ck_assert_int_eq(p[1].log, 1);
    ck_assert_double_eq(p[1].low, 1e-4);
    ck_assert_int_eq(p[1].n_grid, 2);
    ck_assert_double_eq(p[1].grid[0], 0.001);
    ck_assert_double_eq(p[1].grid[1], 0.01);
    ck_assert_int_eq(p[1].grid_points, 0);
    ck_assert_int_eq(p[2].grid_points, 5);
    ck_assert_int_eq(p[2].n_grid, 0);
    ck_assert_int_eq(p[3].kind, PARAM_INT);
    ck_assert_double_eq(p[3].step, 2);
    ck_assert_double_eq(p[3].low, 1);
    ck_assert_double_eq(p[3].high, 9);
    ck_assert_int_eq(p[3].log, 1);
    ck_assert_int_eq(p[3].n_grid, 2);
    ck_assert_double_eq(p[3].grid[1], 5);
    ck_assert_int_eq(p[4].kind, PARAM_CATEGORICAL);
    ck_assert_int_eq(p[4].n_choices, 3);
    ck_assert(p[4].choices[0].is_text && !strcmp(p[4].choices[0].text, "sgd"));
    ck_assert(p[4].choices[1].is_text && !strcmp(p[4].choices[1].text, "adam"));
    ck_assert(!p[4].choices[2].is_text && p[4].choices[2].num == 3);
    ck_assert_int_eq(p[5].parent, 4);
    ck_assert_int_eq(p[5].n_when, 2);
    ck_assert_int_eq(p[5].when[0], 0);
    ck_assert_int_eq(p[5].when[1], 2);
    ck_assert_int_eq(p[6].kind, PARAM_FIXED);
    ck_assert(!p[6].fixed.is_text && p[6].fixed.num == 10);
    ck_assert(p[7].fixed.is_text && !strcmp(p[7].fixed.text, "v1"));
    spec_free(&s);
    assert_empty(&s);
}
END_TEST

START_TEST(test_defaults)
{
    spec_study s;
    kerror err;
    ck_assert_int_eq(spec_parse(&s, BASE, &err), KE_OK);
    ck_assert_int_eq(s.maximize, 0);
    ck_assert_uint_eq(s.seed, 0);
    ck_assert_ptr_null(s.strategy_options);
    ck_assert_int_eq(s.budget.max_parallel, 1);
    ck_assert_double_eq(s.budget.max_seconds, 0);
    ck_assert_double_eq(s.budget.trial_timeout, 0);
    ck_assert_int_eq(s.budget.max_retries, 0);
    ck_assert_int_eq(s.budget.max_failures, SPEC_MAX_FAILURES_DEFAULT);
    ck_assert_ptr_null(s.dir);
    ck_assert_ptr_null(s.run.cwd);
    ck_assert_double_eq(s.run.kill_grace, 5);
    ck_assert_int_eq(s.run.nice, 0);
    ck_assert_str_eq(s.run.shell, "echo {x1}");
    ck_assert_ptr_null(s.run.argv);
    ck_assert_ptr_null(s.run.env);
    ck_assert_ptr_null(s.run.cwd);
    int x2 = space_find(&s.space, "x2"), x1 = space_find(&s.space, "x1");
    ck_assert_double_eq(s.space.params[x2].step, 1);
    ck_assert_double_eq(s.space.params[x1].step, 0);
    ck_assert_int_eq(s.space.params[x1].log, 0);
    ck_assert_int_eq(s.space.params[x1].grid_points, 0);
    ck_assert_int_eq(s.space.params[x1].n_grid, 0);
    int mom = space_find(&s.space, "mom");
    ck_assert_int_eq(s.space.params[mom].n_when, 1);
    ck_assert_int_eq(s.space.params[mom].when[0], 0);
    spec_free(&s);
}
END_TEST

START_TEST(test_pruner)
{
    spec_study s;
    kerror err;
    ck_assert_int_eq(spec_parse(&s, BASE, &err), KE_OK);
    ck_assert_ptr_null(s.pruner);
    ck_assert_ptr_null(s.pruner_options);
    spec_free(&s);
    patch p = { "pruner", "{\"name\": \"median\", \"options\": {\"min_trials\": 3}}" };
    ck_assert_int_eq(parse_patched(&s, &p, 1, &err), KE_OK);
    ck_assert_str_eq(s.pruner, "median");
    ck_assert_int_eq(json_integer_value(json_object_get(s.pruner_options, "min_trials")), 3);
    spec_free(&s);
    assert_empty(&s);
    patch q = { "pruner", "{\"name\": \"asha\"}" };
    ck_assert_int_eq(parse_patched(&s, &q, 1, &err), KE_OK);
    ck_assert_str_eq(s.pruner, "asha");
    ck_assert_ptr_null(s.pruner_options);
    spec_free(&s);
}
END_TEST

/* An integer option may be written 3.0, as every integer field of the spec
 * (docs/spec.md, "General rules"): strategies and pruners took only 3. */
START_TEST(test_integral_options)
{
    static const char *const strategies[][2] = {
        { "\"hyperband\"", "{\"max_resource\": 9.0, \"min_resource\": 1.0, \"eta\": 3.0, \"rounds\": 2.0}" },
        { "\"asha\"", "{\"max_resource\": 9.0, \"eta\": 3.0}" },
        { "\"gp\"", "{\"n_initial\": 5.0, \"candidates\": 100.0, \"subset\": 0.0}" },
        { "\"sobol\"", "{\"skip\": 3.0}" },
    };
    static const char *const pruners[] = {
        "{\"name\": \"median\", \"options\": {\"min_trials\": 3.0, \"warmup_steps\": 1.0}}",
        "{\"name\": \"asha\", \"options\": {\"eta\": 2.0, \"min_resource\": 1.0}}",
    };
    spec_study s;
    kerror err;
    for (size_t i = 0; i < sizeof strategies / sizeof strategies[0]; i++) {
        patch p[2] = { { "strategy.name", strategies[i][0] }, { "strategy.options", strategies[i][1] } };
        kerror_clear(&err);
        ck_assert_msg(parse_patched(&s, p, 2, &err) == KE_OK, "%s: %s: %s", strategies[i][0],
                      err.path, err.msg);
        spec_free(&s);
    }
    for (size_t i = 0; i < sizeof pruners / sizeof pruners[0]; i++) {
        patch p = { "pruner", pruners[i] };
        kerror_clear(&err);
        ck_assert_msg(parse_patched(&s, &p, 1, &err) == KE_OK, "%s: %s: %s", pruners[i], err.path,
                      err.msg);
        spec_free(&s);
    }
}
END_TEST

/* Sobol has GSL's direction numbers for 40 dimensions: a 41st non-fixed
 * parameter is refused at "strategy" (docs/spec.md lists the line). */
START_TEST(test_sobol_dimensions)
{
    char text[4096];
    int n = snprintf(text, sizeof text, "{\"name\": \"s\", \"objective\": {\"metric\": \"loss\"},"
                     " \"strategy\": {\"name\": \"sobol\"}, \"budget\": {\"max_trials\": 1},"
                     " \"run\": {\"command\": \"true\"}, \"space\": {\"c\": {\"type\": \"fixed\", \"value\": 1}");
    for (int d = 0; d < 41; d++)
        n += snprintf(text + n, sizeof text - n, ", \"x%d\": {\"type\": \"float\", \"low\": 0, \"high\": 1}", d);
    snprintf(text + n, sizeof text - n, "}}");
    spec_study s;
    kerror err;
    kerror_clear(&err);
    ck_assert_int_eq(spec_parse(&s, text, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "strategy");
    ck_assert_str_eq(err.msg, "sobol supports at most 40 dimensions, the space has 41");
    char *x40 = strstr(text, ", \"x40\"");
    snprintf(x40, sizeof text - (size_t)(x40 - text), "}}");
    ck_assert_msg(spec_parse(&s, text, &err) == KE_OK, "%s: %s", err.path, err.msg);
    spec_free(&s);
}
END_TEST

START_TEST(test_function_and_trainer)
{
    static const patch fn[] = { { "run", "{\"function\": \"branin\", \"kill_grace\": 1}" },
                                { "objective.metric", "\"value\"" } };
    spec_study s;
    kerror err;
    ck_assert_int_eq(parse_patched(&s, fn, 2, &err), KE_OK);
    ck_assert_int_eq(s.run.kind, RUN_FUNCTION);
    ck_assert_str_eq(s.run.function, "branin");
    ck_assert_double_eq(s.run.kill_grace, 1);
    char **argv = (char **)1;
    ck_assert_int_eq(spec_command_argv(&s, NULL, 0, &argv, &err), KE_INVALID);
    ck_assert_ptr_null(argv);
    spec_free(&s);

    static const patch tr[] = { { "run", "{\"trainer\": {\"hidden\": [32, 32]}}" },
                                { "objective.metric", "\"test_accuracy\"" } };
    ck_assert_int_eq(parse_base_patched(TRAINER_BASE, &s, tr, 2, &err), KE_OK);
    ck_assert_int_eq(s.run.kind, RUN_TRAINER);
    ck_assert(json_is_array(json_object_get(s.run.trainer, "hidden")));
    ck_assert_double_eq(s.run.kill_grace, 5);
    spec_free(&s);
}
END_TEST

START_TEST(test_conditional_order)
{
    /* a chain declared child-first, with an unconditional param between:
     * each moves just behind its parent, the rest keep declaration order */
    static const char *const text =
        "{\"name\": \"ord\", \"objective\": {\"metric\": \"m\"},"
        " \"space\": {"
        "  \"c\": {\"type\": \"float\", \"low\": 0, \"high\": 1, \"when\": {\"b\": [\"y\"]}},"
        "  \"d\": {\"type\": \"int\", \"low\": 0, \"high\": 3},"
        "  \"b\": {\"type\": \"categorical\", \"choices\": [\"x\", \"y\"], \"when\": {\"a\": 2}},"
        "  \"a\": {\"type\": \"categorical\", \"choices\": [1, 2]},"
        "  \"e\": {\"type\": \"fixed\", \"value\": \"z\", \"when\": {\"a\": 1}}"
        " },"
        " \"strategy\": {\"name\": \"random\"}, \"budget\": {\"max_trials\": 1},"
        " \"run\": {\"command\": \"true\"}}";
    static const char *const order[] = { "d", "a", "b", "c", "e" };
    static const int parent[] = { -1, -1, 1, 2, 1 };
    static const int when[] = { 0, 0, 1, 1, 0 };
    spec_study s;
    kerror err;
    ck_assert_int_eq(spec_parse(&s, text, &err), KE_OK);
    ck_assert_int_eq(s.space.n, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_str_eq(s.space.params[i].name, order[i]);
        ck_assert_int_eq(s.space.params[i].parent, parent[i]);
        if (parent[i] >= 0) {
            ck_assert_int_eq(s.space.params[i].n_when, 1);
            ck_assert_int_eq(s.space.params[i].when[0], when[i]);
        }
    }
    /* the space's activity rules work on the ordered params */
    space_point pt;
    memset(&pt, 0, sizeof pt);
    ck_assert_int_eq(space_point_set(&s.space, &pt, "a", 0, 2, NULL, &err), KE_OK);
    ck_assert_int_eq(space_point_set(&s.space, &pt, "b", 1, 0, "y", &err), KE_OK);
    space_point_resolve(&s.space, &pt);
    ck_assert(pt.active[2] && pt.active[3] && !pt.active[4]);
    spec_free(&s);
}
END_TEST

static void hash_of(const char *text, char out[17])
{
    spec_study s;
    kerror err;
    ck_assert_int_eq(spec_parse(&s, text, &err), KE_OK);
    memcpy(out, s.hash, 17);
    spec_free(&s);
}

START_TEST(test_hash)
{
    static const char *const a =
        "{\"name\": \"h\", \"objective\": {\"metric\": \"m\"},"
        " \"space\": {\"x\": {\"type\": \"int\", \"low\": 0, \"high\": 3}},"
        " \"strategy\": {\"name\": \"random\"}, \"budget\": {\"max_trials\": 5},"
        " \"run\": {\"command\": \"echo {x}\"}}";
    static const char *const reordered =
        "{\"run\":{\"command\":\"echo {x}\"},\"budget\":{\"max_trials\":5},\n"
        "  \"strategy\":{\"name\":\"random\"},\n"
        "  \"space\":{\"x\":{\"high\":3,\"low\":0,\"type\":\"int\"}},"
        "  \"objective\":{\"metric\":\"m\"},\"name\":\"h\"}";
    static const char *const changed =
        "{\"name\": \"h\", \"objective\": {\"metric\": \"m\"},"
        " \"space\": {\"x\": {\"type\": \"int\", \"low\": 0, \"high\": 3}},"
        " \"strategy\": {\"name\": \"random\"}, \"budget\": {\"max_trials\": 6},"
        " \"run\": {\"command\": \"echo {x}\"}}";
    char ha[17], hr[17], hc[17];
    hash_of(a, ha);
    hash_of(reordered, hr);
    hash_of(changed, hc);
    ck_assert_str_eq(ha, hr);
    ck_assert_str_ne(ha, hc);
    /* FNV-1a 64 of the sorted compact text, computed independently with
     * Python: json.dumps(doc, sort_keys=True, separators=(",", ":")) */
    ck_assert_str_eq(ha, "e9da04f9f5de2fca");
}
END_TEST

START_TEST(test_load_file)
{
    char dir[] = "/tmp/test_spec.XXXXXX", path[300], missing[300];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/study.json", dir);
    snprintf(missing, sizeof missing, "%s/missing.json", dir);
    spec_study s;
    kerror err;

    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(BASE, f);
    fclose(f);
    ck_assert_int_eq(spec_load_file(&s, path, &err), KE_OK);
    ck_assert_str_eq(s.name, "t1");
    char h[17];
    hash_of(BASE, h);
    ck_assert_str_eq(s.hash, h);
    /* the command runs in the spec's folder; the hash does not see it */
    char real[PATH_MAX];
    ck_assert_ptr_nonnull(realpath(dir, real));
    ck_assert_str_eq(s.dir, real);
    ck_assert_str_eq(s.run.cwd, real);
    spec_free(&s);

    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\n\"name\": \"x\",\n\n  \"space\": [1,,]}", f);
    fclose(f);
    ck_assert_int_eq(spec_load_file(&s, path, &err), KE_INVALID);
    ck_assert_msg(!strncmp(err.msg, path, strlen(path)), "message '%s' does not name the file", err.msg);
    ck_assert(strstr(err.msg, "line 4, column"));
    assert_empty(&s);

    ck_assert_int_eq(spec_load_file(&s, missing, &err), KE_IO);
    ck_assert(strstr(err.msg, missing));
    assert_empty(&s);

    unlink(path);
    rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("spec");
    TCase *tc = tcase_create("core");
    /* Check's 4 s was a timed assertion: test_size_limits parses arrays of
     * 1,000,001 values, 14 s on a 2-core machine at load 21 */
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_reject, 0, N_REJECTS);
    tcase_add_test(tc, test_reject_document);
    tcase_add_test(tc, test_length_limits);
    tcase_add_test(tc, test_size_limits);
    tcase_add_test(tc, test_command_quotes_accepted);
    tcase_add_test(tc, test_full_spec);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_pruner);
    tcase_add_test(tc, test_integral_options);
    tcase_add_test(tc, test_sobol_dimensions);
    tcase_add_test(tc, test_function_and_trainer);
    tcase_add_loop_test(tc, test_trainer_reject, 0, N_TRAINER_REJECTS);
    tcase_add_test(tc, test_trainer_accepts);
    tcase_add_test(tc, test_conditional_order);
    tcase_add_test(tc, test_hash);
    tcase_add_test(tc, test_load_file);
    suite_add_tcase(su, tc);
    return check_run(su);
}
