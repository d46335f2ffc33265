/* cmd_train: argument and environment handling for `kestrel train`; the
 * training itself is trainer/train.c. Invariant: every option error is
 * reported before any data is loaded, so a bad trial config fails fast with
 * exit status 2 and a message naming the option. A file it names that cannot
 * be read (--config, teacher, resume) is exit 1, as an unreadable spec is for
 * kestrel run, and so is whatever the run meets once data is read: options
 * that do not fit the data, a diverging loss. */
#include "cmd_train.h"
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "kerror.h"
#include "nearest.h"
#include "../trainer/train_config.h"
#include "../trainer/train.h"

#define CHECKPOINT_FILE "checkpoint.kck"

/* Writes line + '\n' to the fd in ctx, its reals in their shortest form;
 * one write per line when it fits, so lines from one process never
 * interleave on a pipe. */
static int write_line(const char *line, void *ctx)
{
    int fd = *(const int *)ctx;
    size_t n = strlen(line);
    char stackbuf[4096];
    char *buf = n + 1 <= sizeof stackbuf ? stackbuf : malloc(n + 1);
    if (!buf) return -1;
    memcpy(buf, line, n + 1);
    format_shorten_reals(buf);
    n = strlen(buf);
    buf[n++] = '\n';
    const char *p = buf;
    int rc = 0;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            rc = -1;
            break;
        }
        p += w;
        n -= (size_t)w;
    }
    if (buf != stackbuf) free(buf);
    return rc;
}

/* DIR/checkpoint.kck into the string option `name`. */
static int set_checkpoint_path(train_config *c, const char *name, const char *dir, kerror *err)
{
    char path[CONFIG_STR_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", dir, CHECKPOINT_FILE);
    return train_config_set(c, name, path, err);
}

static int apply_env(train_config *c, kerror *err)
{
    const char *budget = getenv("KESTREL_BUDGET");
    const char *ckdir = getenv("KESTREL_CHECKPOINT_DIR");
    const char *from = getenv("KESTREL_RESUME_FROM");
    int rc = KE_OK;
    /* a k-fold run trains one model per fold and keeps none: its trial's
     * folder stays empty, and a promotion of it trains from the start */
    if (c->kfold) ckdir = from = NULL;
    if (budget && *budget) rc = train_config_set(c, "budget", budget, err);
    if (!rc && ckdir && *ckdir) rc = set_checkpoint_path(c, "checkpoint", ckdir, err);
    if (!rc && from && *from) rc = set_checkpoint_path(c, "resume", from, err);
    /* a promoted trial's folder without its checkpoint (a worker's folder
     * the server refused over --checkpoint-max, docs/workers.md) trains from
     * the start: to the same budget that is the same run, only longer */
    if (!rc && from && *from && access(c->resume, F_OK) != 0 && errno == ENOENT) {
        fprintf(stderr, "kestrel train: KESTREL_RESUME_FROM: %s holds no %s: training from the "
                "start\n", from, CHECKPOINT_FILE);
        rc = train_config_set(c, "resume", "", err);
    }
    return rc;
}

/* The value of option argv[*i] given as "--opt VALUE" or "--opt=VALUE". */
static const char *option_value(int argc, char **argv, int *i, const char *opt)
{
    size_t n = strlen(opt);
    if (strncmp(argv[*i], opt, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc) return argv[++*i];
    return NULL;
}

/* The user's dataset cache when KESTREL_CACHE_DIR is unset:
 * $XDG_CACHE_HOME/kestrel, else $HOME/.cache/kestrel (the XDG base directory
 * default), else none. A decoded dataset then costs its decoding once per
 * machine, not once per run. */
static const char *user_cache_dir(char *buf, size_t n)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int len = xdg && *xdg ? snprintf(buf, n, "%s/kestrel", xdg)
              : home && *home ? snprintf(buf, n, "%s/.cache/kestrel", home) : -1;
    return len > 0 && (size_t)len < n ? buf : NULL;
}

/* 1 when the command line sets option `name`: --set NAME=..., or a key of
 * a --config file (read again here; one that cannot be read sets nothing,
 * and parse_args says why). */
static int cli_sets(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    int set = 0;
    for (int i = 1; i < argc && !set; i++) {
        const char *v;
        if ((v = option_value(argc, argv, &i, "--set"))) {
            set = !strncmp(v, name, n) && v[n] == '=';
        } else if ((v = option_value(argc, argv, &i, "--config"))) {
            json_t *root = json_load_file(v, 0, NULL);
            set = json_object_get(root, name) != NULL;
            json_decref(root);
        }
    }
    return set;
}

/* Defaults the scheduler passes: the trial's share of the cores and the
 * dataset cache beside the database (set but empty: no cache). Applied
 * before the command line, so an explicit --set threads=N still wins, also
 * over a value the option refuses (a shell's KESTREL_THREADS=auto); one the
 * command line leaves in force is refused naming the variable, not the
 * option the user never gave. */
static int apply_env_defaults(train_config *c, int argc, char **argv, kerror *err)
{
    char dflt[CONFIG_STR_MAX];
    const char *cache = getenv("KESTREL_CACHE_DIR");
    if (!cache) cache = user_cache_dir(dflt, sizeof dflt);
    const char *env[][3] = {{"KESTREL_THREADS", "threads", getenv("KESTREL_THREADS")},
                            {"KESTREL_CACHE_DIR", "cache_dir", cache}};
    for (int i = 0; i < 2; i++) {
        const char *v = env[i][2];
        if (!v || !*v || train_config_set(c, env[i][1], v, err) == KE_OK) continue;
        if (cli_sets(argc, argv, env[i][1])) {
            kerror_clear(err);
            continue;
        }
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return kerror_set(err, KE_INVALID, env[i][0], "the default of %s: %s (set it right, unset "
                          "it, or give --set %s=...)", env[i][1], msg, env[i][1]);
    }
    return KE_OK;
}

/* *unknown: an argument that is no option of the command, or *missing: the
 * option that ends the line without its value (usage errors, answered as
 * every command's are); else NULL. */
static int parse_args(int argc, char **argv, train_config *c, int *help, const char **unknown,
                      const char **missing, kerror *err)
{
    *unknown = *missing = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int rc;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *help = 1;
            return KE_OK;
        } else if ((v = option_value(argc, argv, &i, "--config"))) {
            rc = train_config_load_file(c, v, err);
        } else if ((v = option_value(argc, argv, &i, "--set"))) {
            rc = train_config_set_kv(c, v, err);
        } else if (!strcmp(argv[i], "--config") || !strcmp(argv[i], "--set")) {
            *missing = argv[i];
            return KE_INVALID;
        } else {
            *unknown = argv[i];
            return KE_INVALID;
        }
        if (rc) return rc;
    }
    return KE_OK;
}

int cmd_train_main(int argc, char **argv)
{
    train_config cfg;
    kerror err;
    kerror_clear(&err);
    train_config_defaults(&cfg);
    int help = 0;
    const char *unknown = NULL, *missing = NULL;
    if (apply_env_defaults(&cfg, argc, argv, &err) ||
        parse_args(argc, argv, &cfg, &help, &unknown, &missing, &err)) {
        if (missing) return cli_usage("train", "option '%s' needs a value", missing);
        static const char *const args[] = {"--set", "--config", "--help", NULL};
        const char *near = unknown ? nearest_name(unknown, args) : NULL;
        if (near) return cli_usage("train", "unknown option '%s' (did you mean '%s'?)", unknown, near);
        if (unknown && unknown[0] != '-')
            return cli_usage("train", "unexpected argument '%s' (options are set with --set KEY=VALUE)",
                             unknown);
        if (unknown) return cli_usage("train", "unknown option '%s'", unknown);
        return cli_fail("train", &err);
    }
    if (help) {
        train_config_print_help(stdout);
        static const char *const metrics[] = {TRAIN_METRIC_NAMES};
        fputs("\nMetrics it reports (a study's objective.metric names one):\n ", stdout);
        for (size_t i = 0; i < sizeof metrics / sizeof *metrics; i++) printf(" %s", metrics[i]);
        fputs("\n(per epoch, per fold with kfold, and final: see docs/protocol.md; an\n"
              "epoch's lr and lr_first are the rates of its last and first optimizer steps,\n"
              "which differ under warm-up and per-step schedules; the final line's best_epoch\n"
              "is the epoch of best_val_loss, stopped_early is 1 when\n"
              "early_stopping_patience ended the run, and with restore_best its val_* and\n"
              "test_* are the best epoch's)\n", stdout);
        return 0;
    }
    if (apply_env(&cfg, &err) || train_config_validate(&cfg, &err)) return cli_fail("train", &err);
    train_config_warn_inert(&cfg, stderr, "kestrel train");
    int fd = cli_report_fd();
    train_result res;
    if (train_run(&cfg, write_line, &fd, &res, &err)) {
        cli_fail("train", &err);
        return CLI_FAIL;   /* met while running, whatever its kind */
    }
    /* known once the data is split; the run is still a valid estimate of
     * the other classes, so it warns as scikit-learn's StratifiedKFold does
     * (a plain split may miss the class in more folds: "at least") */
    if (res.kfold_thin_rows)
        fprintf(stderr, "kestrel train: warning: kfold: class '%s' has %ld row%s to cut %d "
                "%sfolds from: at least %ld of the folds validated without it\n",
                res.kfold_thin_class, res.kfold_thin_rows, res.kfold_thin_rows == 1 ? "" : "s",
                res.kfold, cfg.stratify ? "stratified " : "",
                (long)res.kfold - res.kfold_thin_rows);
    return 0;
}
