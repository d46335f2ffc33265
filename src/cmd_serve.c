/* cmd_serve: `kestrel serve`: the HTTP service. The main thread becomes the
 * engine (service.h) that runs every study; libmicrohttpd's threads answer
 * the API (api.h) and the dashboard. SIGINT/SIGTERM/SIGHUP stop it cleanly:
 * the studies it was running are stored RUNNING and resume at the next
 * start, which takes back the trials workers ran on meanwhile (fleet_open). */
#define _GNU_SOURCE
#include <ctype.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "cli.h"
#include "http.h"
#include "service.h"
#include "slurm.h"
#include "spec.h"
#include "storage.h"
#include "worker.h"

#define MAX_RUN 64

static const char serve_help[] =
    "Usage: kestrel serve [OPTIONS]\n"
    "Run the Kestrel service: the HTTP API (/api/v1, see docs/openapi.yaml), a live\n"
    "event stream and the dashboard, with every study run by this process. Studies\n"
    "it was running when it stopped (or died) resume when it starts again.\n"
    "\n"
    "Options:\n"
    "  --db FILE            history database (default: $KESTREL_DB, else ./kestrel.db);\n"
    "                       one its group or other users can read (or its -wal or\n"
    "                       -shm, beside the file a symbolic link FILE names) is\n"
    "                       warned of: chmod 600 FILE FILE-wal FILE-shm\n"
    "  --listen HOST:PORT   address to listen on (default 127.0.0.1:8080; port 0 picks\n"
    "                       a free one; IPv6 as [::1]:8080). A non-loopback address\n"
    "                       needs --token-file\n"
    "  --token-file FILE    require 'Authorization: Bearer TOKEN' (TOKEN = the file's\n"
    "                       first line) for POST, PUT and DELETE requests. A posted\n"
    "                       spec's run.command runs as this user: without a token,\n"
    "                       any process of this machine may post one (web pages of\n"
    "                       other sites get 403); a FILE its group or other users\n"
    "                       can read is warned of: chmod 600 FILE\n"
    "  --auth-reads         require the token for GET requests too (needs --token-file;\n"
    "                       not for /healthz and the dashboard's static files); reads\n"
    "                       may also pass it as ?token=TOKEN\n"
    "  --max-parallel N     trials this process runs itself, across all studies\n"
    "                       (default: no cap beyond each study's budget.max_parallel);\n"
    "                       0: none, a pure coordinator whose workers run every trial\n"
    "  --checkpoint-max MB  largest trial folder a worker may send (default 1024)\n"
    "  --max-connections N  HTTP connections open at once (default 256, or 256 plus\n"
    "                       --slurm-workers N); one address holds at most a quarter.\n"
    "                       A worker keeps one: past the cap, new ones are closed\n"
    "                       (docs/cluster.md \"Scale\")\n"
    "  --lease-timeout S    a worker's trials fail (and are retried under max_retries)\n"
    "                       once it has not been heard from for S seconds (default 30);\n"
    "                       a restart keeps their leases, each S seconds from the start\n"
    "  --run SPEC.json      create (or resume) this study at startup; repeatable; one\n"
    "                       complete (or failed) with nothing left to run is served\n"
    "                       as it is\n"
    "  --work-dir DIR       trial folders (checkpoints), DIR/STUDY/N, of the studies\n"
    "                       this server creates (posted, or a --run of a new one):\n"
    "                       stored, made absolute, with each, as kestrel run\n"
    "                       --work-dir does, so that kestrel run, delete and a\n"
    "                       model's export find them (default DB.trials, beside\n"
    "                       the history file itself); a study that exists keeps\n"
    "                       its own\n"
    "  --slurm-workers N    keep up to N kestrel workers queued in Slurm (sbatch) while\n"
    "                       any study runs; they exit once idle (docs/cluster.md)\n"
    "  --slurm-args ARGS    sbatch arguments for them, split at spaces\n"
    "                       (e.g. \"--partition=gpu --gres=gpu:1\")\n"
    "  --slurm-idle-exit S  such a worker exits after S seconds without a trial (60)\n"
    "  --no-access-log      log no line per HTTP request\n"
    "  --stall-after S      /healthz answers 503 \"stalled\" once the engine has not\n"
    "                       finished a round for S seconds (default 60)\n"
    "  --storage-retry S    a study hit by a transient storage error (full disk, I/O\n"
    "                       error, busy file) waits RUNNING and resumes from its\n"
    "                       history, trying for up to S seconds before it is FAILED\n"
    "                       (default 600; 0: FAILED at once)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Prints 'listening on http://HOST:PORT/' once it accepts connections. Its log on\n"
    "stderr has timestamped lines: studies starting and ending (state, counts, best,\n"
    "why), failed trials with their reason, errors, and one line per HTTP request\n"
    "(client, method, path, status).\n"
    "SIGINT/SIGTERM/SIGHUP (SIGHUP stays ignored under nohup): its own trials are\n"
    "ended (interrupted, run again at the next start); those workers run go on, and\n"
    "the next start takes their results.\n"
    "Exit status: 0 stopped by SIGINT/SIGTERM/SIGHUP; 1 a runtime failure (cannot\n"
    "listen, cannot open the database); 2 invalid option or spec; 3 a --run study\n"
    "is being run by another process.\n";

typedef struct {
    const char *db;
    char host[256];
    int port;
    char *token;
    const char *token_file;
    const char *work_dir;
    int slurm_workers;
    char *slurm_args[64];       /* split --slurm-args, NULL-terminated */
    char *slurm_args_text;
    double slurm_idle_exit;
    int auth_reads, max_parallel, no_access_log, no_local, max_connections;
    double stall_after, lease_seconds, storage_retry;
    long long checkpoint_max;
    const char *runs[MAX_RUN];
    int n_runs;
} serve_opts;

/* "HOST:PORT" or "[V6]:PORT" into host and port. */
static int parse_listen(const char *arg, serve_opts *o)
{
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg) return -1;
    const char *h = arg, *he = colon;
    if (*h == '[') {
        if (he[-1] != ']') return -1;
        h++;
        he--;
    }
    if ((size_t)(he - h) >= sizeof o->host || he == h) return -1;
    memcpy(o->host, h, (size_t)(he - h));
    o->host[he - h] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    /* digits only: strtol takes ' 80' and '+80' for 80 */
    if (!isdigit((unsigned char)colon[1]) || *end || port < 0 || port > 65535) return -1;
    o->port = (int)port;
    return 0;
}

/* Returns CLI_OK, CLI_USAGE (message printed) or -1 after --help. */
static int parse_opts(int argc, char **argv, serve_opts *o)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},          {"listen", required_argument, 0, 'l'},
        {"token-file", required_argument, 0, 't'},  {"auth-reads", no_argument, 0, 'a'},
        {"max-parallel", required_argument, 0, 'p'}, {"run", required_argument, 0, 'r'},
        {"no-access-log", no_argument, 0, 'n'},     {"stall-after", required_argument, 0, 's'},
        {"lease-timeout", required_argument, 0, 'L'},
        {"max-connections", required_argument, 0, 'M'},
        {"checkpoint-max", required_argument, 0, 'C'},
        {"slurm-workers", required_argument, 0, 'W'}, {"slurm-args", required_argument, 0, 'A'},
        {"slurm-idle-exit", required_argument, 0, 'I'},
        {"storage-retry", required_argument, 0, 'R'},
        {"work-dir", required_argument, 0, 'w'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *db = NULL;
    int c;
    long long v;
    kerror terr;
    while ((c = cli_getopt(argc, argv, "h", opts)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'l':
            if (parse_listen(optarg, o) < 0)
                return cli_usage("serve", "--listen: expected HOST:PORT, not '%s'", optarg);
            break;
        case 't':
            free(o->token);
            o->token_file = optarg;
            if (!(o->token = cli_read_token("serve", optarg, &terr)))
                return cli_usage("serve", "--token-file: %s", terr.msg);
            break;
        case 'a': o->auth_reads = 1; break;
        case 'n': o->no_access_log = 1; break;
        case 'p':
            if (cli_int_option("serve", "--max-parallel", optarg, 0, 4096, &v)) return CLI_USAGE;
            o->max_parallel = (int)v;
            o->no_local = o->max_parallel == 0;
            break;
        case 'W':
            if (cli_int_option("serve", "--slurm-workers", optarg, 1, 100000, &v)) return CLI_USAGE;
            o->slurm_workers = (int)v;
            break;
        case 'A': {
            free(o->slurm_args_text);
            o->slurm_args_text = strdup(optarg);
            int n = 0;
            char *save = NULL;
            for (char *a = o->slurm_args_text ? strtok_r(o->slurm_args_text, " \t", &save) : NULL;
                 a; a = strtok_r(NULL, " \t", &save)) {
                if (n == 63) return cli_usage("serve", "--slurm-args: at most 63 arguments");
                o->slurm_args[n++] = a;
            }
            o->slurm_args[n] = NULL;
            break;
        }
        case 'I':
            /* past what kestrel worker takes, every task submitted would
             * exit 2 at once, and be submitted again every 2 s */
            if (cli_seconds_option("serve", "--slurm-idle-exit", optarg, 0, WORKER_MAX_SECONDS,
                                   &o->slurm_idle_exit) != CLI_OK)
                return CLI_USAGE;
            break;
        case 'C':   /* MB */
            if (cli_int_option("serve", "--checkpoint-max", optarg, 1, 1 << 20, &v)) return CLI_USAGE;
            o->checkpoint_max = v << 20;
            break;
        case 'M':
            if (cli_int_option("serve", "--max-connections", optarg, 8, 65536, &v)) return CLI_USAGE;
            o->max_connections = (int)v;
            break;
        case 'L':
            if (cli_seconds_option("serve", "--lease-timeout", optarg, 0, 86400, &o->lease_seconds))
                return CLI_USAGE;
            break;
        case 'r':
            if (o->n_runs == MAX_RUN) return cli_usage("serve", "at most %d --run options", MAX_RUN);
            o->runs[o->n_runs++] = optarg;
            break;
        case 's':
            if (cli_seconds_option("serve", "--stall-after", optarg, 0, 86400, &o->stall_after))
                return CLI_USAGE;
            break;
        case 'R':
            if (cli_seconds_option("serve", "--storage-retry", optarg, 1, CLI_STORAGE_RETRY_MAX,
                                   &o->storage_retry) != CLI_OK)
                return CLI_USAGE;
            /* 0 on the command line: no retry (the service reads 0 as its default) */
            if (o->storage_retry == 0) o->storage_retry = -1;
            break;
        case 'w':
            if (cli_path_option("serve", "--work-dir", optarg) != CLI_OK) return CLI_USAGE;
            o->work_dir = optarg;
            break;
        case 'h': fputs(serve_help, stdout); return -1;
        default: return cli_bad_option("serve", argv, opts);
        }
    }
    if (optind != argc) return cli_usage("serve", "unexpected argument '%s'", argv[optind]);
    if (o->auth_reads && !o->token) return cli_usage("serve", "--auth-reads needs --token-file");
    if (!http_is_loopback(o->host) && !o->token)
        return cli_usage("serve", "refusing to listen on %s without --token-file: anyone who "
                         "can reach it could run commands", o->host);
    if (!o->max_connections) o->max_connections = 256 + (o->slurm_workers < 65280 ? o->slurm_workers : 65280);
    return cli_db_path("serve", db, &o->db);
}

static int has_work(void *ctx, long *registered)
{
    service_stats ss;
    service_get_stats(ctx, &ss);
    *registered = ss.registrations;
    return ss.active > 0;
}

/* The --slurm-workers thread: workers that reach this server at the address
 * it listens on (a wildcard address by the host's name). */
static int start_scaler(slurm_scaler **out, service *sv, const serve_opts *o, int port,
                        const char *self_exe, char *url, size_t n, char *job_name, size_t nj,
                        kerror *err)
{
    char host[256];
    snprintf(host, sizeof host, "%s", o->host);
    if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::")) gethostname(host, sizeof host - 1);
    int v6 = strchr(host, ':') != NULL;
    snprintf(url, n, "http://%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
    snprintf(job_name, nj, "kestrel-worker-%d", port);
    slurm_opts so = {.kestrel = self_exe, .job_name = job_name, .server = url,
                     .token_file = o->token_file, .workers = 1, .work_dir = "kestrel-worker",
                     .log_dir = ".", .idle_exit = o->slurm_idle_exit > 0 ? o->slurm_idle_exit : 60};
    return slurm_scaler_start(out, &so, o->slurm_args, o->slurm_workers, has_work, sv, err);
}

/* Starts the --run studies (inline: this is the engine thread). */
static int start_runs(service *sv, const serve_opts *o)
{
    for (int i = 0; i < o->n_runs; i++) {
        kerror err;
        kerror_clear(&err);
        spec_study spec;
        int created = 0;
        if (spec_load_file(&spec, o->runs[i], &err) != KE_OK) return cli_fail("serve", &err);
        char name[256];
        snprintf(name, sizeof name, "%s", spec.name);
        int rc = service_submit(sv, &spec, &created, &err);
        /* served as it is: a second `serve --run` of the same spec is no error */
        if (rc != KE_OK && created == SERVICE_GOAL_REACHED)
            printf("study %s: complete, its objective.goal reached: nothing left to run\n", name);
        else if (rc != KE_OK && (created == SERVICE_COMPLETE || created == SERVICE_FAILED))
            printf("study %s: %s, nothing left to run (a larger budget.max_trials in %s "
                   "extends it%s)\n", name, created == SERVICE_FAILED ? "failed" : "complete",
                   o->runs[i], created == SERVICE_FAILED ? "; POST .../resume?retry_failed=true "
                   "re-runs its failed trials" : "");
        else if (rc != KE_OK)
            return cli_fail("serve", &err);
        else
            printf("study %s: %s\n", name, created ? "created" : "resumed");
    }
    fflush(stdout);     /* in a pipe too, before the engine runs */
    return CLI_OK;
}

int cmd_serve_main(int argc, char **argv, const cli_ctx *ctx)
{
    serve_opts o = {.host = "127.0.0.1", .port = 8080};
    int code = parse_opts(argc, argv, &o);
    if (code) {
        free(o.token);
        free(o.slurm_args_text);
        return code < 0 ? CLI_OK : code;
    }
    /* Invalid specs are usage errors, found before anything starts. */
    for (int i = 0; i < o.n_runs; i++) {
        kerror err;
        spec_study spec;
        if (spec_load_file(&spec, o.runs[i], &err) != KE_OK) {
            free(o.token);
            free(o.slurm_args_text);
            return cli_fail("serve", &err);
        }
        spec_free(&spec);
    }
    cli_keep_heap();   /* the heap's trims were a tenth of the engine at 1000 workers */
    kerror err;
    kerror_clear(&err);
    service *sv = NULL;
    api *a = NULL;
    http_server *srv = NULL;
    service_opts so = {.db_path = o.db, .self_exe = ctx->self_exe, .run_self = 1, .max_parallel = o.max_parallel,
                       .stall_after = o.stall_after, .no_local = o.no_local,
                       .lease_seconds = o.lease_seconds, .checkpoint_max = o.checkpoint_max,
                       .storage_retry = o.storage_retry, .work_dir = o.work_dir};
    int rc = service_open(&sv, &so, &err);
    /* The history holds every study's specs, logs and data and the
     * workers' key hashes: a new one is made 0600 (storage_open), one the
     * user made or copied keeps its mode, which is said when others may
     * read it; so do a -wal and -shm that exist, whatever the history's
     * mode is now (a chmod of the history alone leaves them as they were). */
    static const char *const db_logs[] = {"-wal", "-shm", NULL};
    struct stat db_st;
    /* SQLite names them after the file a symbolic link points at: through
     * the link, LINK-wal is not there and a readable -wal went unsaid */
    char real[PATH_MAX];
    const char *db_file = o.db;
    kerror why;
    if (lstat(o.db, &db_st) == 0 && S_ISLNK(db_st.st_mode) &&
        storage_path_resolve(o.db, real, sizeof real, &why) == KE_OK)
        db_file = real;
    if (rc == KE_OK && stat(db_file, &db_st) == 0)
        cli_warn_readable("serve", "history", db_file, db_st.st_mode, db_logs);
    if (rc == KE_OK) rc = api_open(&a, sv, o.db, &err);
    if (rc == KE_OK) {
        int n_routes;
        const http_route *routes = api_routes(&n_routes);
        http_opts ho = {.host = o.host, .port = o.port, .token = o.token,
                        .auth_reads = o.auth_reads, .routes = routes, .n_routes = n_routes,
                        .fallback = api_static, .ctx = a, .max_connections = o.max_connections,
                        .access_log = o.no_access_log ? NULL : stderr};
        rc = http_start(&srv, &ho, &err);
    }
    slurm_scaler *scaler = NULL;
    char url[400], job_name[64];
    if (rc == KE_OK && o.slurm_workers > 0)
        rc = start_scaler(&scaler, sv, &o, http_port(srv), ctx->self_exe, url, sizeof url, job_name,
                          sizeof job_name, &err);
    if (rc == KE_OK) {
        api_set_server(a, srv);
        int v6 = strchr(o.host, ':') != NULL;
        printf("listening on http://%s%s%s:%d/\n", v6 ? "[" : "", o.host, v6 ? "]" : "",
               http_port(srv));
        printf("dashboard: http://%s%s%s:%d/%s (database %s)\n", v6 ? "[" : "", o.host,
               v6 ? "]" : "", http_port(srv), o.token ? "?token=TOKEN" : "", o.db);
        /* a study that shows RUNNING with nothing running is otherwise a
         * puzzle: say where its trials are to come from */
        if (o.no_local && !scaler)
            printf("trials: none run here (--max-parallel 0); they wait for workers: kestrel "
                   "worker --server http://%s%s%s:%d/ (docs/workers.md)\n", v6 ? "[" : "", o.host,
                   v6 ? "]" : "", http_port(srv));
        fflush(stdout);
        code = start_runs(sv, &o);
        if (code == CLI_OK) rc = service_run(sv, ctx->stop, &err);
    }
    if (rc != KE_OK) code = cli_fail("serve", &err);
    else if (*ctx->stop) fprintf(stderr, "kestrel serve: stopped by signal %d\n", (int)*ctx->stop);
    slurm_scaler_stop(scaler);
    http_stop(srv);
    api_close(a);
    service_close(sv);
    free(o.token);
    free(o.slurm_args_text);
    return code;
}
