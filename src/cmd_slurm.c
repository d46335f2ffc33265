/* cmd_slurm: `kestrel slurm submit`: a job array of kestrel workers
 * (slurm.h). Parses the options, prints the script (--dry-run) or submits it. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "slurm.h"
#include "wclient.h"
#include "worker.h"

static const char slurm_help[] =
    "Usage: kestrel slurm submit --server URL --workers N [OPTIONS] [-- SBATCH-ARGS...]\n"
    "Submit a Slurm job array whose N tasks each run `kestrel worker --server URL`:\n"
    "the workers lease trials from that kestrel serve and exit once idle. See\n"
    "docs/cluster.md.\n"
    "\n"
    "Options:\n"
    "  --server URL          the kestrel serve the workers lease from\n"
    "  --workers N           array tasks (workers)\n"
    "  --token-file FILE     the server's token, checked now and read by each worker\n"
    "  --partition P         #SBATCH --partition\n"
    "  --gres gpu:K          #SBATCH --gres; the worker takes the GPUs Slurm gives it\n"
    "  --time T              #SBATCH --time (a worker's longest life)\n"
    "  --cpus-per-task C     #SBATCH --cpus-per-task\n"
    "  --slots N             trials per worker (default: its GPUs, else 1)\n"
    "  --work-dir DIR        each worker's trial folders under DIR/JOB_TASK\n"
    "                        (default kestrel-worker; relative: under the job's\n"
    "                        folder: the submit folder unless -- --chdir=D)\n"
    "  --log-dir DIR         the tasks' output files (default .)\n"
    "  --idle-exit S         a worker exits after S seconds without a trial (default 60)\n"
    "  --dry-run             print the batch script instead of submitting it\n"
    "  -h, --help            show this help\n"
    "Arguments after -- go to sbatch as they are. Prints the job id once submitted\n"
    "(the script stays in LOG-DIR/kestrel-worker.sbatch).\n";

/* Returns CLI_OK, CLI_USAGE (message printed) or -1 after --help. */
static int parse_opts(int argc, char **argv, slurm_opts *o, int *dry_run)
{
    static const struct option opts[] = {
        {"server", required_argument, 0, 's'},     {"workers", required_argument, 0, 'n'},
        {"token-file", required_argument, 0, 't'}, {"partition", required_argument, 0, 'p'},
        {"gres", required_argument, 0, 'g'},       {"time", required_argument, 0, 'T'},
        {"cpus-per-task", required_argument, 0, 'c'}, {"slots", required_argument, 0, 'S'},
        {"work-dir", required_argument, 0, 'w'},   {"log-dir", required_argument, 0, 'l'},
        {"idle-exit", required_argument, 0, 'i'},  {"dry-run", no_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
    int c;
    long long v;
    while ((c = cli_getopt(argc, argv, "+h", opts)) != -1) {
        switch (c) {
        case 's': o->server = optarg; break;
        case 'n':
            if (cli_int_option("slurm", "--workers", optarg, 1, 100000, &v)) return CLI_USAGE;
            o->workers = (int)v;
            break;
        case 't': {
            /* each task's kestrel worker reads it at its start: one it cannot
             * read, or an empty one, made every task exit 2 once the job id
             * was printed. Read here, so the submit folder's file, named
             * absolute in the script, is the one checked */
            kerror terr;
            char *token = cli_read_token("slurm", optarg, &terr);
            if (!token) return cli_usage("slurm", "--token-file: %s", terr.msg);
            free(token);
            o->token_file = optarg;
            break;
        }
        case 'p': o->partition = optarg; break;
        case 'g': o->gres = optarg; break;
        case 'T': o->time = optarg; break;
        case 'c':
            if (cli_int_option("slurm", "--cpus-per-task", optarg, 1, 4096, &v)) return CLI_USAGE;
            o->cpus_per_task = (int)v;
            break;
        case 'S':
            if (cli_int_option("slurm", "--slots", optarg, 1, WORKER_MAX_SLOTS, &v)) return CLI_USAGE;
            o->slots = (int)v;
            break;
        case 'w':
        case 'l':
            if (cli_path_option("slurm", c == 'w' ? "--work-dir" : "--log-dir", optarg) != CLI_OK)
                return CLI_USAGE;
            *(c == 'w' ? &o->work_dir : &o->log_dir) = optarg;
            break;
        case 'i':
            /* past what kestrel worker takes, every task would exit 2 at once */
            if (cli_seconds_option("slurm", "--idle-exit", optarg, 0, WORKER_MAX_SECONDS,
                                   &o->idle_exit) != CLI_OK)
                return CLI_USAGE;
            break;
        case 'd': *dry_run = 1; break;
        case 'h': fputs(slurm_help, stdout); return -1;
        default: return cli_bad_option("slurm", argv, opts);
        }
    }
    /* sbatch's arguments come after "--"; one before it was handed to sbatch
     * as its script (and the options after it were not read) */
    if (optind < argc && strcmp(argv[optind - 1], "--"))
        return cli_usage("slurm", "unexpected argument '%s' (sbatch's go after --)", argv[optind]);
    if (!o->server) return cli_usage("slurm", "--server URL is required");
    /* one each task's kestrel worker would refuse (exit 2) is refused here */
    kerror err;
    kerror_clear(&err);
    if (wclient_check_base(o->server, &err) != KE_OK)
        return cli_usage("slurm", "%s: %s", err.path, err.msg);
    if (!o->workers) return cli_usage("slurm", "--workers N is required");
    return CLI_OK;
}

int cmd_slurm_main(int argc, char **argv, const cli_ctx *ctx)
{
    if (argc < 2 || strcmp(argv[1], "submit")) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            fputs(slurm_help, stdout);
            return CLI_OK;
        }
        if (argc < 2) return cli_usage("slurm", "expected 'kestrel slurm submit ...'");
        return cli_usage("slurm", "unknown %s '%s' (expected 'kestrel slurm submit ...')",
                         argv[1][0] == '-' ? "option" : "subcommand", argv[1]);
    }
    slurm_opts o = {.kestrel = ctx->self_exe, .work_dir = "kestrel-worker", .log_dir = ".",
                    .idle_exit = 60};
    int dry_run = 0;
    int code = parse_opts(argc - 1, argv + 1, &o, &dry_run);
    if (code) return code < 0 ? CLI_OK : code;
    char **extra = argv + 1 + optind;   /* after "--" */
    kerror err;
    kerror_clear(&err);
    char *script;
    if (slurm_script(&o, &script, &err) != KE_OK) return cli_fail("slurm", &err);
    if (dry_run) {
        fputs(script, stdout);
        free(script);
        return CLI_OK;
    }
    char path[4200], job[64];
    snprintf(path, sizeof path, "%s/kestrel-worker.sbatch", o.log_dir);
    int rc = slurm_submit(script, path, extra, job, sizeof job, &err);
    free(script);
    if (rc != KE_OK) return cli_fail("slurm", &err);
    printf("%s\n", job);
    return CLI_OK;
}
