/* cmd_worker: `kestrel worker`: runs trials that a `kestrel serve` leases to
 * it (worker.h). Parses the options; the loop is worker_run. */
#define _GNU_SOURCE
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "utf8.h"
#include "worker.h"

static const char worker_help[] =
    "Usage: kestrel worker --server URL [OPTIONS]\n"
    "Run trials for a `kestrel serve` on any machine: register with it, lease\n"
    "trials, run each as a local trial runs (command, environment, timeout, the\n"
    "fd-3 report protocol) and send back their reports and outcome. A worker that\n"
    "stops being heard from loses its trials once its lease runs out: the server\n"
    "marks them FAILED and runs them again elsewhere while the study's\n"
    "budget.max_retries allows (default 0: none). See docs/workers.md.\n"
    "\n"
    "Options:\n"
    "  --server URL         the server, e.g. http://coordinator:8080\n"
    "  --token-file FILE    the server's token (its --token-file)\n"
    "  --slots N            trials at once (default: the number of --gpus, else 1)\n"
    "  --gpus LIST          device ids, e.g. 0,1,2,3: each trial gets its own through\n"
    "                       CUDA_VISIBLE_DEVICES (a spec's run.resources.gpus asks more)\n"
    "  --work-dir DIR       trial folders DIR/STUDY/N and the dataset cache\n"
    "                       DIR/.kestrel-cache (default ./kestrel-worker), one\n"
    "                       worker's alone: a second worker on it is refused (exit 3)\n"
    "  --shared-dir         DIR is the server's own trial folder (one filesystem): no\n"
    "                       trial folder is copied to or from the server\n"
    "  --label KEY=VALUE    shown in the server's worker registry; repeatable\n"
    "  --idle-exit S        exit after S seconds without a trial (batch jobs), or\n"
    "                       of failing to register (no server answers), or once its\n"
    "                       trials ended with the server silent for S s and a lease\n"
    "  --trials N           exit after running N trials\n"
    "  --poll S             seconds between lease requests while idle (default 0.5;\n"
    "                       up to a minute while the server answers them with errors)\n"
    "  --report-buffer KB   a trial's report lines kept while the server cannot be\n"
    "                       reached (default 65536 = 64 MiB); past it the worker\n"
    "                       stops reading them and the trial waits on its next write\n"
    "  -h, --help           show this help\n"
    "\n"
    "SIGINT/SIGTERM/SIGHUP (SIGHUP stays ignored under nohup) end the running\n"
    "trials and give them back to the server, which runs them again. Exit status:\n"
    "0 stopped or idle; 1 a runtime failure; 2 invalid option (a malformed --server\n"
    "URL) or a server that refuses this worker (wrong token, also once registered:\n"
    "a server restarted with another --token-file); 3 another worker runs on its\n"
    "--work-dir.\n";

/* "0,1,3" into o->gpus: CLI_OK, or CLI_USAGE (message printed). A device
 * listed twice is refused: every running trial gets a device of its own,
 * and 0,0 gave two trials the same one. */
static int parse_gpus(const char *arg, worker_opts *o)
{
    char *copy = strdup(arg), *save = NULL;
    int ok = copy != NULL, dup = -1;
    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; ok && dup < 0 && tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *end;
        long id = strtol(tok, &end, 10);
        ok = *tok && !*end && id >= 0 && id < 1024 && o->n_gpus < WORKER_MAX_GPUS;
        for (int i = 0; ok && i < o->n_gpus; i++)
            if (o->gpus[i] == id) dup = (int)id;
        if (ok) o->gpus[o->n_gpus++] = (int)id;
    }
    free(copy);
    if (dup >= 0) return cli_usage("worker", "--gpus: device %d is listed twice in '%s'", dup, arg);
    if (!ok || o->n_gpus == 0)
        return cli_usage("worker", "--gpus: expected device ids like 0,1,2, not '%s'", arg);
    return CLI_OK;
}

/* "KEY=VALUE" into o->labels: CLI_OK, or CLI_USAGE (message printed). The
 * key was cut to 127 bytes, and a label that was not UTF-8 (which JSON
 * cannot carry) was left out, both without a word; the server takes any
 * length. */
static int parse_label(const char *arg, worker_opts *o)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return cli_usage("worker", "--label: expected KEY=VALUE, not '%s'", arg);
    if (!utf8_valid(arg))
        return cli_usage("worker", "--label: '%s' is not UTF-8 text", arg);
    char *key = strndup(arg, (size_t)(eq - arg));
    int rc = key ? json_object_set_new(o->labels, key, json_string(eq + 1)) : -1;
    free(key);
    if (rc != 0) return cli_usage("worker", "--label: out of memory");
    return CLI_OK;
}

/* Returns CLI_OK, CLI_USAGE (message printed) or -1 after --help. */
static int parse_opts(int argc, char **argv, worker_opts *o, char **token)
{
    static const struct option opts[] = {
        {"server", required_argument, 0, 's'},   {"token-file", required_argument, 0, 't'},
        {"slots", required_argument, 0, 'n'},    {"gpus", required_argument, 0, 'g'},
        {"work-dir", required_argument, 0, 'w'}, {"label", required_argument, 0, 'l'},
        {"idle-exit", required_argument, 0, 'i'}, {"poll", required_argument, 0, 'p'},
        {"shared-dir", no_argument, 0, 'S'},     {"trials", required_argument, 0, 'T'},
        {"report-buffer", required_argument, 0, 'B'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    long long v;
    kerror terr;
    while ((c = cli_getopt(argc, argv, "h", opts)) != -1) {
        switch (c) {
        case 's': o->server = optarg; break;
        case 't':
            free(*token);
            if (!(*token = cli_read_token("worker", optarg, &terr)))
                return cli_usage("worker", "--token-file: %s", terr.msg);
            break;
        case 'n':
            if (cli_int_option("worker", "--slots", optarg, 1, WORKER_MAX_SLOTS, &v)) return CLI_USAGE;
            o->slots = (int)v;
            break;
        case 'g':
            if (parse_gpus(optarg, o) != CLI_OK) return CLI_USAGE;
            break;
        case 'w':
            if (cli_path_option("worker", "--work-dir", optarg) != CLI_OK) return CLI_USAGE;
            o->work_dir = optarg;
            break;
        case 'S': o->shared_dir = 1; break;
        case 'T':
            if (cli_int_option("worker", "--trials", optarg, 1, INT_MAX, &v)) return CLI_USAGE;
            o->max_trials = (int)v;
            break;
        case 'B':   /* KB */
            if (cli_int_option("worker", "--report-buffer", optarg, 1, 1LL << 30, &v)) return CLI_USAGE;
            o->report_buffer = v << 10;
            break;
        case 'l':
            if (parse_label(optarg, o) != CLI_OK) return CLI_USAGE;
            break;
        case 'i':
            if (cli_seconds_option("worker", "--idle-exit", optarg, 0, WORKER_MAX_SECONDS,
                                   &o->idle_exit) != CLI_OK)
                return CLI_USAGE;
            break;
        case 'p':
            if (cli_seconds_option("worker", "--poll", optarg, 0, WORKER_MAX_SECONDS, &o->poll_s))
                return CLI_USAGE;
            break;
        case 'h': fputs(worker_help, stdout); return -1;
        default: return cli_bad_option("worker", argv, opts);
        }
    }
    if (optind != argc) return cli_usage("worker", "unexpected argument '%s'", argv[optind]);
    if (!o->server) return cli_usage("worker", "--server URL is required");
    if (!o->slots) o->slots = o->n_gpus ? o->n_gpus : 1;
    /* each trial gets a device of its own (take_gpus): past the devices, a
     * trial ran with CUDA_VISIBLE_DEVICES empty, on the CPU or failing,
     * and nothing said so. A warning, not a refusal: a Slurm task's --gpus
     * are what Slurm gave it, and every task would exit at once. */
    if (o->n_gpus && o->slots > o->n_gpus)
        fprintf(stderr, "kestrel worker: warning: --slots %d with %d device%s in --gpus: every "
                "trial gets a device of its own, so up to %d at a time run with none "
                "(CUDA_VISIBLE_DEVICES empty)\n", o->slots, o->n_gpus, o->n_gpus == 1 ? "" : "s",
                o->slots - o->n_gpus);
    return CLI_OK;
}

int cmd_worker_main(int argc, char **argv, const cli_ctx *ctx)
{
    char *token = NULL;
    worker_opts o = {.work_dir = "kestrel-worker", .self_exe = ctx->self_exe, .run_self = 1, .stop = ctx->stop,
                     .labels = json_object()};
    int code = o.labels ? parse_opts(argc, argv, &o, &token) : CLI_FAIL;
    if (code == CLI_OK) {
        o.token = token;
        kerror err;
        kerror_clear(&err);
        if (worker_run(&o, &err) != KE_OK) code = cli_fail("worker", &err);
        else if (*ctx->stop) fprintf(stderr, "kestrel worker: stopped by signal %d\n", (int)*ctx->stop);
    }
    json_decref(o.labels);
    free(token);
    return code < 0 ? CLI_OK : code;
}
