/* fleet_free_bench: what a lease costs the engine for a worker that lost
 * trials (it asks whether another worker is free, to leave the retry to
 * it) when W other workers are registered and silent: workers never leave
 * the fleet, so job arrays that ended leave them by the hundred. A server
 * in this process (a pure coordinator, lease time 1 s, one study of a
 * random search) takes W registrations, queued together; once those are
 * silent past the lease time, one worker leases a trial and gives it up
 * ("released": lost, run again at once), K times; the K rounds are timed,
 * wall and this process's CPU. Nobody else is free, so the worker gets its
 * own retry back every time. To compare two versions of the fleet
 * (src/fleet.c and src/fleet_calls.c, one file before they were split), link
 * the other one's objects ahead of libkestrel.a (see bench/README.md).
 * Built on demand: `make bench/fleet_free_bench`.
 *   fleet_free_bench [W ...]   (default 10 1000 10000 100000; K = 2000) */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/monotime.h"
#include "../src/fleet.h"
#include "../src/service.h"

#define K 2000
#define LEASE_S 1.0

static const char spec_text[] =
    "{\"name\": \"free\", \"objective\": {\"metric\": \"loss\", \"direction\": \"minimize\"},"
    " \"space\": {\"x\": {\"type\": \"float\", \"low\": 0, \"high\": 1}},"
    " \"strategy\": {\"name\": \"random\", \"seed\": 1},"
    " \"budget\": {\"max_trials\": 1000000, \"max_parallel\": 1},"
    " \"run\": {\"command\": [\"true\"]}}";

static struct {
    char db[256];
    service *sv;
    volatile sig_atomic_t stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int opened, rc;
} eng = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void die(const char *what, const kerror *err)
{
    fprintf(stderr, "fleet_free_bench: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

/* The engine thread: the service lives and dies on it. */
static void *engine_main(void *arg)
{
    (void)arg;
    service_opts o = {.db_path = eng.db, .self_exe = "kestrel", .no_local = 1,
                      .lease_seconds = LEASE_S};
    kerror err;
    int rc = service_open(&eng.sv, &o, &err);
    pthread_mutex_lock(&eng.mu);
    eng.rc = rc;
    eng.opened = 1;
    pthread_cond_signal(&eng.cv);
    pthread_mutex_unlock(&eng.mu);
    if (rc != KE_OK) die("service_open", &err);
    service_run(eng.sv, &eng.stop, &err);
    service_close(eng.sv);
    return NULL;
}

static json_t *call(int op, int64_t id, json_t *req)
{
    fleet_call c = {.op = op, .id = id, .req = req};
    kerror err;
    if (!req || fleet_call_run(eng.sv, &c, &err) != KE_OK) die("a worker's call", &err);
    json_decref(req);
    return c.out;
}

/* Registers the worker that leases; its id, its key in key. */
static int64_t worker(char key[64])
{
    json_t *out = call(FLEET_REGISTER, 0, json_pack("{s:s, s:i, s:i}", "host", "h", "pid", 1,
                                                    "slots", 1));
    int64_t id = json_integer_value(json_object_get(out, "id"));
    snprintf(key, 64, "%s", json_string_value(json_object_get(out, "key")));
    json_decref(out);
    return id;
}

static void registered(void *ctx, int rc, const kerror *err)
{
    if (rc != KE_OK) die("a registration", err);
    pthread_mutex_lock(&eng.mu);
    (*(int *)ctx)++;
    pthread_cond_signal(&eng.cv);
    pthread_mutex_unlock(&eng.mu);
}

/* Registers n workers of one slot that never call again, queued together
 * (a thousand a pass: a few commits, not n). */
static void silent_workers(int n)
{
    fleet_call *c = calloc((size_t)n, sizeof *c);
    int done = 0;
    kerror err;
    if (!c) die("out of memory", NULL);
    for (int i = 0; i < n; i++) {
        c[i] = (fleet_call){.op = FLEET_REGISTER,
                            .req = json_pack("{s:s, s:i, s:i}", "host", "h", "pid", i + 2,
                                             "slots", 1)};
        if (!c[i].req || fleet_call_start(eng.sv, &c[i], registered, &done, &err) != KE_OK)
            die("a registration", &err);
    }
    pthread_mutex_lock(&eng.mu);
    while (done < n) pthread_cond_wait(&eng.cv, &eng.mu);
    pthread_mutex_unlock(&eng.mu);
    for (int i = 0; i < n; i++) {
        json_decref(c[i].req);
        json_decref(c[i].out);
    }
    free(c);
}

/* The worker leases a trial and gives it up. */
static void lease_and_release(int64_t id, const char *key)
{
    json_t *out = call(FLEET_LEASE, id, json_pack("{s:s, s:i}", "key", key, "gpus_free", 0));
    int64_t lease = json_integer_value(json_object_get(out, "lease"));
    json_decref(out);
    if (!lease) die("no lease", NULL);
    json_decref(call(FLEET_FINISH, lease, json_pack("{s:I, s:s, s:s}", "worker", (json_int_t)id,
                                                     "key", key, "released", "bench")));
}

int main(int argc, char **argv)
{
    int sizes[16] = { 10, 1000, 10000, 100000 }, n_sizes = argc > 1 ? 0 : 4;
    for (int arg = 1; arg < argc && n_sizes < 16; arg++) sizes[n_sizes++] = atoi(argv[arg]);
    printf("%8s %14s %14s\n", "workers", "wall us/round", "cpu us/round");
    for (int z = 0; z < n_sizes; z++) {
        char dir[] = "/tmp/fleet_free_benchXXXXXX";
        if (!mkdtemp(dir)) die("mkdtemp", NULL);
        snprintf(eng.db, sizeof eng.db, "%s/h.db", dir);
        eng.stop = 0;
        eng.opened = 0;
        pthread_t th;
        pthread_create(&th, NULL, engine_main, NULL);
        pthread_mutex_lock(&eng.mu);
        while (!eng.opened) pthread_cond_wait(&eng.cv, &eng.mu);
        pthread_mutex_unlock(&eng.mu);
        spec_study spec;
        kerror err;
        int created;
        if (spec_parse(&spec, spec_text, &err) != KE_OK ||
            service_submit(eng.sv, &spec, &created, &err) != KE_OK)
            die("the study", &err);
        char key[64];
        silent_workers(sizes[z]);
        usleep((useconds_t)((LEASE_S + 0.2) * 1e6));
        int64_t id = worker(key);
        lease_and_release(id, key);     /* now it has lost a trial */
        double t0 = monotime_s(), c0 = monotime_cpu_s();
        for (int k = 0; k < K; k++) lease_and_release(id, key);
        double wall = monotime_s() - t0, cpu = monotime_cpu_s() - c0;
        printf("%8d %14.1f %14.1f\n", sizes[z], wall * 1e6 / K, cpu * 1e6 / K);
        eng.stop = 1;
        pthread_join(th, NULL);
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) die("rm", NULL);
    }
    return 0;
}
