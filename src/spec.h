/* spec: parses and validates a study specification (one JSON document) into
 * a spec_study. Validation is complete before anything runs: every rejection
 * names the JSON path and the reason ("space.lr.low: must be > 0 for a
 * log-scale parameter"). The spec_study owns everything it points to. */
#ifndef KESTREL_SPEC_H
#define KESTREL_SPEC_H

#include <stdint.h>
#include <jansson.h>

#include "kerror.h"
#include "../search/space.h"

/* budget.max_failures when the spec omits it: enough to ride out a few bad
 * configurations, few enough that a broken command stops before the budget burns. */
#define SPEC_MAX_FAILURES_DEFAULT 10

/* Bytes of a string choice or fixed value: bounds what one placeholder
 * expands to. */
#define SPEC_TEXT_VALUE_MAX 1024

typedef enum { RUN_COMMAND, RUN_FUNCTION, RUN_TRAINER } spec_run_kind;

typedef struct {
    char *name;
    char *metric;               /* objective metric name */
    int maximize;               /* 0 = minimize */
    int has_goal;               /* objective.goal given: the study ends once */
    double goal;                /* a COMPLETE trial's value reaches it */
    space space;
    char *strategy;             /* registered strategy name */
    json_t *strategy_options;   /* new reference or NULL */
    uint64_t seed;
    char *pruner;               /* registered pruner name, or NULL for none */
    json_t *pruner_options;     /* new reference or NULL */
    struct {
        int max_trials;         /* > 0 */
        int max_parallel;       /* >= 1 */
        double max_seconds;     /* wall clock for the study, 0 = none */
        double trial_timeout;   /* seconds per trial, 0 = none */
        int max_retries;        /* re-runs of a failed trial on resume */
        int max_failures;       /* failed trials in a row, with none complete or
                                 * pruned between, that fail the study; 0 = never */
    } budget;
    struct {
        spec_run_kind kind;
        char *shell;            /* command string for /bin/sh -c, or NULL */
        char **argv;            /* command array (NULL-terminated), or NULL */
        char *function;         /* benchmark function name */
        json_t *trainer;        /* trainer options object (new ref) */
        char **env;             /* "K=V" extra environment, NULL-terminated or NULL */
        char *cwd;              /* working directory or NULL (resolved against dir
                                 * by spec_set_dir) */
        double kill_grace;      /* seconds between SIGTERM and SIGKILL */
        int nice;               /* the trials' niceness, 0-19 (0: Kestrel's own) */
        int keep_all_checkpoints; /* trainer: keep every trial's, not the best's */
        int gpus;               /* run.resources.gpus: a worker needs this many free */
    } run;
    int n_enqueue;              /* "enqueue": configurations to run first */
    space_point *enqueue;       /* owned array of n_enqueue, or NULL */
    char *dir;                  /* folder of the spec file, absolute, or NULL */
    json_t *doc;                /* the spec as given (new reference) */
    char hash[17];              /* 64-bit FNV-1a of the canonical JSON, hex */
} spec_study;

/* Parses and validates text. On failure nothing needs freeing. */
int spec_parse(spec_study *out, const char *text, kerror *err);
/* Reads and parses a file; the error names the file for syntax errors. */
int spec_load_file(spec_study *out, const char *path, kerror *err);
void spec_free(spec_study *s);
/* Records dir, the folder of the spec file (spec_load_file calls it with
 * the file's folder), and makes a command or a trainer run there: run.cwd
 * becomes dir when the spec has none, and dir/cwd when it is relative, so
 * the relative paths of a command, or of a trainer's options (data=csv:PATH,
 * resume, teacher), name files beside the spec wherever kestrel starts.
 * The spec's document and hash do not change. */
int spec_set_dir(spec_study *s, const char *dir, kerror *err);
/* Frees a NULL-terminated array of strings (run.argv, run.env, a trial's
 * argv from spec_command_argv); NULL is fine. */
void spec_argv_free(char **argv);

#endif
