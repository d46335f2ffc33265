/* worker: the lease loop; see worker.h. Invariant: a slot is busy from its
 * lease until the server has acknowledged the trial's end (or refused it:
 * the lease is gone), so a trial's reports and exit are sent, in order, at
 * least once while the lease lives; reports a server already stored are
 * never sent twice because a slot's pending lines are dropped only on a 200. */
#define _GNU_SOURCE
#include "worker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backoff.h"
#include "cores.h"
#include "klog.h"
#include "monotime.h"
#include "report.h"
#include "runner.h"
#include "sched_dir.h"
#include "sched_launch.h"
#include "spec.h"
#include "wclient.h"

#define BATCH_S 0.1             /* at most one report request per trial per BATCH_S */
#define REFUSED_S 1.0           /* after a server error, the next try of a trial's report */
#define BATCH_BYTES (256 * 1024) /* of report lines, as sent, per request: well under the server's limit */
#define POLL_MS 50
#define PART_BYTES (768 * 1024)  /* of a trial folder's archive per request (server limit: 1 MiB) */
#define FOLDER_MAX (1LL << 31)   /* bytes of archive a worker packs at most */

typedef struct {
    int busy;
    int64_t lease;
    spec_study spec;
    int has_spec;
    runner_proc *proc;
    int gpu[WORKER_MAX_GPUS];   /* indexes into opts.gpus it holds */
    int n_gpu;
    json_t *lines;              /* report lines not yet acknowledged */
    json_t *finals;             /* final report lines, held until the trial ends */
    size_t finals_bytes;        /* their length: past BATCH_BYTES they go as others */
    long long lines_bytes;      /* their length; past opts.report_buffer, not read */
    int held_back;              /* its reports are not read now (logged once per stretch) */
    int refused;                /* its last report or end met a server error (logged once) */
    double last_sent;
    int exited;                 /* its end is in `end`, to send */
    json_t *end;                /* the finish request body, less worker and key */
    int gone;                   /* the server no longer holds the lease: end it, send nothing */
    char dir[4200];             /* its trial folder */
    int folder;                 /* the folder's archive, an unlinked file to upload
                                 * before the end: fd + 1 (0: none) */
    size_t folder_n, folder_sent;
} wslot;

typedef struct {
    const worker_opts *o;
    wclient *c;
    int64_t id;
    char key[64];
    double lease_s;
    double next_beat, next_lease, idle_since;
    double heard_at;            /* when the server last answered */
    int gpu_used[WORKER_MAX_GPUS];
    wslot slots[WORKER_MAX_SLOTS];
    runner_guard *guard;        /* from the first trial on; outlives every proc */
    int cores;
    int leased;                 /* trials leased so far */
    int registered_again;       /* after a 404, until a lease request is answered 200 or 204
                                 * (a heartbeat's 200 is not enough: a server may know the
                                 * worker there and not where it leases) */
    int beat_refused;           /* its last heartbeat was refused (logged once a stretch) */
    backoff_list trouble;       /* a stretch of lease requests answered otherwise than
                                 * 200, 204 or a first 404: at most one entry, which
                                 * spaces them; gone at the next 200 or 204 */
} worker;

/* POSTs req to path (req is taken, and NULL stands for out of memory). */
static int post(worker *w, const char *path, json_t *req, int *status, json_t **reply, kerror *err)
{
    int rc = req ? wclient_call(w->c, "POST", path, req, status, reply, err)
                 : kerror_set(err, KE_NOMEM, NULL, "out of memory");
    json_decref(req);
    return rc;
}

static void log_err(const char *what, const kerror *err)
{
    klog(stderr, "worker: %s: %s", what, err->msg);
}

#define REASON_MAX 512

/* The error of a server's answer into buf: its message after the field it
 * names ("gpus_free: expected at most 0, ..."), or "no reason given". */
static const char *reply_message(const json_t *reply, char *buf, size_t n)
{
    const json_t *e = json_object_get(reply, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *field = json_string_value(json_object_get(e, "path"));
    snprintf(buf, n, "%s%s%s", field ? field : "", field ? ": " : "", msg ? msg : "no reason given");
    return buf;
}

/* "123_4" for array task 4 of job 123, "123" for a plain job, else NULL. */
static const char *slurm_job(char *buf, size_t n)
{
    const char *job = getenv("SLURM_JOB_ID"), *array = getenv("SLURM_ARRAY_JOB_ID");
    const char *task = getenv("SLURM_ARRAY_TASK_ID");
    if (array && task) snprintf(buf, n, "%s_%s", array, task);
    else if (job) snprintf(buf, n, "%s", job);
    else return NULL;
    return buf;
}

/* Registers; with first, asks for a first trial in the same answer (a
 * fleet starting at once sends half the requests), *first then the lease
 * or NULL when there was none. */
static int do_register(worker *w, json_t **first, kerror *err)
{
    char host[64] = "localhost", job[64];
    gethostname(host, sizeof host - 1);
    json_t *gpus = json_array();
    for (int i = 0; gpus && i < w->o->n_gpus; i++) json_array_append_new(gpus, json_integer(w->o->gpus[i]));
    json_t *labels = w->o->labels ? json_incref(w->o->labels) : json_object();
    json_t *req = json_pack("{s:s, s:I, s:i, s:o, s:o, s:s?}", "host", host, "pid",
                            (json_int_t)getpid(), "slots", w->o->slots, "gpus", gpus, "labels",
                            labels, "slurm_job", slurm_job(job, sizeof job));
    if (req && first) {
        json_object_set_new(req, "lease", json_true());
        json_object_set_new(req, "gpus_free", json_integer(w->o->n_gpus));
    }
    int status;
    json_t *reply;
    int rc = post(w, "/api/v1/workers", req, &status, &reply, err);
    if (rc != KE_OK) return rc;
    const char *key = json_string_value(json_object_get(reply, "key"));
    if (status != 201 || !key || strlen(key) >= sizeof w->key) {
        /* a server error may pass (KE_IO: try again); a refusal will not */
        char why[REASON_MAX];
        rc = kerror_set(err, status >= 500 ? KE_IO : KE_INVALID, NULL, "the server refused to "
                        "register this worker (HTTP %d): %s", status,
                        reply_message(reply, why, sizeof why));
    } else {
        w->id = json_integer_value(json_object_get(reply, "id"));
        snprintf(w->key, sizeof w->key, "%s", key);
        w->lease_s = json_number_value(json_object_get(reply, "lease_seconds"));
        if (w->lease_s <= 0) w->lease_s = 30;
        klog(stderr, "worker: registered as %lld with %s (leases of %g s)", (long long)w->id,
             w->o->server, w->lease_s);
        json_t *lease = json_object_get(reply, "lease");
        if (first && json_is_object(lease)) *first = json_incref(lease);
    }
    json_decref(reply);
    return rc;
}

/* Registers, trying again while the server cannot be reached (first as
 * do_register's); KE_IO once a stop came or --idle-exit seconds went by
 * so: a batch job's worker whose server is gone (its studies done) ends
 * as an idle one does, instead of holding the allocation for good. */
static int ensure_registered(worker *w, json_t **first, kerror *err)
{
    double since = monotime_s();
    for (int logged = 0;; logged = 1) {
        int rc = do_register(w, first, err);
        if (rc != KE_IO || *w->o->stop) return rc;
        if (w->o->idle_exit > 0 && monotime_s() - since >= w->o->idle_exit) return rc;
        if (!logged) log_err("cannot register yet, trying every second", err);
        sleep(1);
    }
}

static int free_gpus(const worker *w)
{
    int n = 0;
    for (int i = 0; i < w->o->n_gpus; i++) n += !w->gpu_used[i];
    return n;
}

static void slot_clear(worker *w, wslot *sl)
{
    if (sl->proc) runner_free(sl->proc);
    for (int i = 0; i < sl->n_gpu; i++) w->gpu_used[sl->gpu[i]] = 0;
    if (sl->has_spec) spec_free(&sl->spec);
    json_decref(sl->lines);
    json_decref(sl->finals);
    json_decref(sl->end);
    if (sl->folder) close(sl->folder - 1);
    memset(sl, 0, sizeof *sl);
}

/* The exit as the server's finish request carries it (docs/workers.md). */
static json_t *exit_json(const runner_event *ev, const char *out_tail, const char *err_tail)
{
    return json_pack("{s:{s:b, s:i, s:b, s:i, s:b, s:b, s:b, s:f}, s:s, s:s}", "exit", "exited",
                     ev->exited, "exit_code", ev->exit_code, "signaled", ev->signaled, "signal",
                     ev->signal, "timed_out", ev->timed_out, "terminated", ev->terminated,
                     "exec_failed", ev->exec_failed, "seconds", ev->seconds, "stdout_tail",
                     out_tail ? out_tail : "", "stderr_tail", err_tail ? err_tail : "");
}

/* Takes GPUs for a trial that needs `want` (a worker with GPUs gives every
 * trial one of its own, so two never share a device). */
static void take_gpus(worker *w, wslot *sl, int want, char *env, size_t n)
{
    if (w->o->n_gpus == 0) {
        env[0] = '\0';
        return;
    }
    if (want == 0) want = 1;
    int len = snprintf(env, n, "CUDA_VISIBLE_DEVICES=");
    for (int i = 0; i < w->o->n_gpus && sl->n_gpu < want; i++) {
        if (w->gpu_used[i]) continue;
        w->gpu_used[i] = 1;
        sl->gpu[sl->n_gpu++] = i;
        len += snprintf(env + len, n - len, "%s%d", sl->n_gpu > 1 ? "," : "", w->o->gpus[i]);
    }
}

/* The file in this worker's folder of a study that names which study it
 * is on the server (when its row was made: the folder goes by the study's
 * name, which a study deleted and posted again takes, and a server before
 * schema version 11 could give it the old id too, never the old time),
 * written once a trial of it starts here. */
#define STUDY_ID_FILE ".kestrel-study"

/* A study deleted on the server and posted again under its name, and this
 * worker's folders of the old one (a worker removes nothing) passed for the
 * new one's: a promotion went on from a stale checkpoint of the same trial
 * number. When the study's folder records another study than the lease's,
 * or none, its trial folders go (Kestrel's only: marked), but for those of
 * trials this worker runs now. */
static void forget_other_study(worker *w, const char *study, double created)
{
    if (w->o->shared_dir || created <= 0) return;   /* the server's own folders; an older server */
    char dir[4200], file[4300];
    snprintf(dir, sizeof dir, "%s/%s", w->o->work_dir, study);
    snprintf(file, sizeof file, "%s/" STUDY_ID_FILE, dir);
    double had = -1;
    FILE *f = fopen(file, "r");
    if (f && fscanf(f, "%lf", &had) != 1) had = -1;
    if (f) fclose(f);
    DIR *d = had == created ? NULL : opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char trial[4500], mark[4600];
        snprintf(trial, sizeof trial, "%s/%s", dir, e->d_name);
        snprintf(mark, sizeof mark, "%s/" SCHED_DIR_MARK, trial);
        int running = 0;
        for (int i = 0; i < w->o->slots; i++)
            running |= w->slots[i].busy && !strcmp(w->slots[i].dir, trial);
        struct stat st;
        kerror rerr;
        if (running || e->d_name[0] == '.' || stat(mark, &st) != 0) continue;
        if (sched_dir_remove(trial, &rerr) != KE_OK) log_err("cannot remove a stale trial folder", &rerr);
    }
    if (d) {
        closedir(d);
        klog(stderr, "worker: study %s is not the study of this worker's folders of that name "
             "(made at %.6f, they at %.6f): they were removed", study, created, had);
    }
}

/* Records which study its folder is (made by its first trial here). */
static void record_study(const worker *w, const char *study, double created)
{
    if (w->o->shared_dir || created <= 0) return;
    char file[4300], tmp[4400];
    snprintf(file, sizeof file, "%s/%s/" STUDY_ID_FILE, w->o->work_dir, study);
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    FILE *f = fopen(tmp, "w");
    int ok = f && fprintf(f, "%.17g\n", created) > 0;   /* reads back as the same double */
    if (f && fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, file) != 0) {
        unlink(tmp);
        klog(stderr, "worker: cannot write %s: %s", file, strerror(errno));
    }
}

/* A promoted trial continues from its parent's folder: fetched from the
 * server unless this worker has it (it ran the parent, or shares a folder). */
static void fetch_parent(worker *w, const char *study, int parent)
{
    char dir[4200], mark[4300], path[512], file[4400];
    snprintf(dir, sizeof dir, "%s/%s/%d", w->o->work_dir, study, parent);
    snprintf(mark, sizeof mark, "%s/%s", dir, SCHED_DIR_MARK);
    struct stat st;
    if (w->o->shared_dir || stat(mark, &st) == 0) return;
    snprintf(path, sizeof path, "/api/v1/studies/%s/trials/%d/checkpoint", study, parent);
    snprintf(file, sizeof file, "%s.download", dir);
    kerror err;
    kerror_clear(&err);
    /* streamed to a file beside the folder (made first, for its parents) */
    int status = 0, rc = sched_dir_make(dir, &err);
    FILE *f = rc == KE_OK ? fopen(file, "w") : NULL;
    if (rc == KE_OK && !f) rc = kerror_set(&err, KE_IO, NULL, "cannot write %s", file);
    if (f) rc = wclient_download(w->c, path, f, &status, &err);
    long n = f ? ftell(f) : 0;
    if (f && fclose(f) != 0 && rc == KE_OK) rc = kerror_set(&err, KE_IO, NULL, "cannot write %s", file);
    if (rc == KE_OK && status == 200 && (rc = sched_dir_unpack(dir, file, FOLDER_MAX, &err)) == KE_OK) {
        klog(stderr, "worker: fetched the folder of trial %d of study %s (%ld bytes)", parent,
             study, n);
        return;
    }
    unlink(file);
    kerror rerr;
    sched_dir_remove(dir, &rerr);   /* not the parent's: it would be taken for it */
    klog(stderr, "worker: no folder of trial %d of study %s (HTTP %d)%s%s", parent, study,
         status, err.msg[0] ? ": " : "", err.msg);
}

/* The leased trial as the scheduler would hold it, and its child. */
static int start_trial(worker *w, wslot *sl, const json_t *lease, kerror *err)
{
    const json_t *tr = json_object_get(lease, "trial");
    char *text = json_dumps(json_object_get(lease, "spec"), JSON_COMPACT);
    if (!text) return kerror_set(err, KE_INVALID, "spec", "the lease has no spec");
    int rc = spec_parse(&sl->spec, text, err);
    free(text);
    if (rc != KE_OK) return rc;
    sl->has_spec = 1;
    /* the spec's folder where this machine has it too (a shared filesystem) */
    const char *dir = json_string_value(json_object_get(lease, "spec_dir"));
    struct stat st;
    if (dir && stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
        (rc = spec_set_dir(&sl->spec, dir, err)) != KE_OK)
        return rc;
    sched_trial t = {.number = (int)json_integer_value(json_object_get(tr, "number")),
                     .budget = (int)json_integer_value(json_object_get(tr, "budget")),
                     .resumed_from = (int)json_integer_value(json_object_get(tr, "resumed_from")),
                     .retry_of = (int)json_integer_value(json_object_get(tr, "retry_of")),
                     .state = TRIAL_RUNNING};
    const json_t *x = json_object_get(tr, "x"), *active = json_object_get(tr, "active");
    for (int i = 0; i < SPACE_MAX_PARAMS && i < (int)json_array_size(x); i++) {
        t.point.x[i] = json_number_value(json_array_get(x, i));
        t.point.active[i] = json_is_true(json_array_get(active, i));
    }
    double created = json_number_value(json_object_get(lease, "study_created"));
    forget_other_study(w, sl->spec.name, created);
    snprintf(sl->dir, sizeof sl->dir, "%s/%s/%d", w->o->work_dir, sl->spec.name, t.number);
    if (t.resumed_from >= 0) fetch_parent(w, sl->spec.name, t.resumed_from);
    char cache[4200], gpu_env[512];
    snprintf(cache, sizeof cache, "%s/kestrel-cache", w->o->work_dir);
    take_gpus(w, sl, sl->spec.run.gpus, gpu_env, sizeof gpu_env);
    char *env[] = {gpu_env[0] ? gpu_env : NULL, NULL};
    sched_launch_paths paths = {.self_exe = w->o->self_exe, .run_self = w->o->run_self,
                                .work_dir = w->o->work_dir,
                                .cache_dir = cache, .env_extra = env, .guard = &w->guard};
    int threads = w->cores / w->o->slots;
    rc = sched_launch_spawn(&t, &sl->spec, &paths, threads > 0 ? threads : 1, sl, &sl->proc, err);
    if (rc == KE_OK) record_study(w, sl->spec.name, created);
    return rc;
}

/* An answer to this worker's own call that it cannot act on (a lease
 * request answered 5xx or 400, a 404 again right after registering again):
 * the first of a stretch is logged with the server's reason, and lease
 * requests wait from 1 s, doubling up to BACKOFF_MAX_S, instead of coming
 * every --poll for good (a server that forgot the worker at every call was
 * sent a registration each time, each a new row in its registry). */
static void unexpected(worker *w, const char *what, int status, const json_t *reply)
{
    char why[KERROR_MSG_MAX], msg[REASON_MAX];
    snprintf(why, sizeof why, "HTTP %d on %s: %s", status, what, reply_message(reply, msg, sizeof msg));
    double now = monotime_s();
    if (w->trouble.head) {
        backoff_again(&w->trouble, w->trouble.head, why, now);
        return;
    }
    w->trouble.give_up_s = INFINITY;   /* an idle worker waits; --idle-exit ends it */
    if (backoff_add(&w->trouble, what, status, why, now) != KE_OK) return;   /* then every --poll */
    if (status == 404)
        klog(stderr, "worker: the server forgot this worker again since it registered again "
             "(%s): registering again with back-off, up to %.0f s apart", why, BACKOFF_MAX_S);
    else
        klog(stderr, "worker: the server answered %s; asking again with back-off, up to %.0f s "
             "apart", why, BACKOFF_MAX_S);
}

/* A lease request was answered as it should be (200 or 204): a stretch of
 * unexpected answers is over. */
static void lease_answered(worker *w, int status)
{
    w->registered_again = 0;
    backoff_entry *e = w->trouble.head;
    if (!e) return;
    klog(stderr, "worker: the server answers lease requests again (HTTP %d, after %d that it "
         "answered otherwise; the last: %s)", status, e->tries + 1, e->why);
    backoff_free(&w->trouble);
}

/* POSTs req (taken; this worker's key added) to /api/v1/workers/ID/what.
 * A 404 is a server that forgot this worker (restarted, or it went silent
 * past the registry's patience): it registers again, at once the first
 * time, then with back-off while the server goes on forgetting it. A 401
 * or 403 refuses the worker itself, whatever it sends: KE_INVALID, the
 * worker ends, as a refused registration does (a server restarted with
 * another --token-file was asked for a lease every --poll for good, and
 * nothing said why). */
static int own_call(worker *w, const char *what, json_t *req, int *status, json_t **reply,
                    kerror *err)
{
    char path[96];
    snprintf(path, sizeof path, "/api/v1/workers/%lld/%s", (long long)w->id, what);
    if (req) json_object_set_new(req, "key", json_string(w->key));
    int rc = post(w, path, req, status, reply, err);
    char msg[REASON_MAX];
    if (rc == KE_OK && (*status == 401 || *status == 403))
        rc = kerror_set(err, KE_INVALID, NULL, "the server refused this worker's %s (HTTP %d): %s "
                        "(restarted with another --token-file?)", what, *status,
                        reply_message(*reply, msg, sizeof msg));
    if (rc != KE_OK || *status != 404) return rc;
    if (w->registered_again || w->trouble.head) {
        /* a heartbeat between two due lease requests waits for the next */
        if (w->trouble.head && w->trouble.head->due > monotime_s()) return rc;
        unexpected(w, what, *status, *reply);
    } else {
        klog(stderr, "worker: the server does not know worker %lld (HTTP 404 on %s: %s): "
             "registering again", (long long)w->id, what, reply_message(*reply, msg, sizeof msg));
    }
    w->registered_again = 1;
    return ensure_registered(w, NULL, err);
}

/* Starts the trial of lease (the server's answer) in the free slot sl. */
static void take_lease(worker *w, wslot *sl, const json_t *lease)
{
    memset(sl, 0, sizeof *sl);
    sl->busy = 1;
    w->leased++;
    sl->lease = json_integer_value(json_object_get(lease, "lease"));
    sl->lines = json_array();
    sl->finals = json_array();
    kerror serr;
    kerror_clear(&serr);
    if (start_trial(w, sl, lease, &serr) != KE_OK) {
        /* the trial fails as a local one that cannot start would */
        runner_event ev = {.kind = RUNNER_EXIT, .exited = 1, .exit_code = 127, .exec_failed = 1};
        sl->end = exit_json(&ev, NULL, serr.msg);
        sl->exited = 1;
        klog(stderr, "worker: lease %lld: cannot start the trial: %s", (long long)sl->lease, serr.msg);
    }
}

/* Asks for one trial; 1 when a slot got one, 0 when the server has none. */
static int lease_one(worker *w, wslot *sl, kerror *err)
{
    int status;
    json_t *lease = NULL;
    int rc = own_call(w, "lease", json_pack("{s:i}", "gpus_free", free_gpus(w)), &status, &lease,
                      err);
    if (rc == KE_OK && status == 200) take_lease(w, sl, lease);
    if (rc == KE_OK && (status == 200 || status == 204)) lease_answered(w, status);
    else if (rc == KE_OK && status != 404) unexpected(w, "lease", status, lease);   /* 404: own_call's */
    json_decref(lease);
    return rc != KE_OK ? rc : status == 200;
}

/* The server no longer holds the slot's lease: its child ends, nothing more
 * is sent. */
static void lost(worker *w, wslot *sl, int status, const json_t *reply)
{
    char msg[REASON_MAX];
    klog(stderr, "worker: lease %lld refused (%d): %s", (long long)sl->lease, status,
         reply_message(reply, msg, sizeof msg));
    sl->gone = 1;
    if (sl->proc) runner_terminate(sl->proc);
    if (sl->exited) slot_clear(w, sl);
}

/* Sends the next part of the ended trial's folder. */
static int upload_part(worker *w, wslot *sl, kerror *err)
{
    size_t n = sl->folder_n - sl->folder_sent;
    if (n > PART_BYTES) n = PART_BYTES;
    char path[512];
    snprintf(path, sizeof path, "/api/v1/leases/%lld/checkpoint?worker=%lld&key=%s&offset=%zu%s",
             (long long)sl->lease, (long long)w->id, w->key, sl->folder_sent,
             sl->folder_sent + n == sl->folder_n ? "&last=1" : "");
    int status;
    char *out, *part = malloc(n ? n : 1);
    size_t out_n;
    if (!part) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    if (pread(sl->folder - 1, part, n, (off_t)sl->folder_sent) != (ssize_t)n) {
        free(part);
        klog(stderr, "worker: lease %lld: cannot read its folder's archive: %s", (long long)sl->lease,
             strerror(errno));
        sl->folder_sent = sl->folder_n;   /* the trial still ends; promotions start afresh */
        return KE_OK;
    }
    int rc = wclient_bytes(w->c, "POST", path, part, n, &status, &out, &out_n, err);
    free(part);
    if (rc != KE_OK) return rc;
    json_t *reply = json_loadb(out, out_n, 0, NULL);
    free(out);
    if (status == 200) {
        sl->folder_sent += n;
    } else if (status == 409 || status == 404) {
        lost(w, sl, status, reply);
    } else {   /* too large for the server, say: the trial still ends */
        klog(stderr, "worker: lease %lld: its folder was not taken (HTTP %d)", (long long)sl->lease,
             status);
        sl->folder_sent = sl->folder_n;
    }
    json_decref(reply);
    return KE_OK;
}

/* Bytes line s takes in a request body: Jansson writes a control character
 * as \u00XX (six bytes, so a line of them is six times its length) and a
 * quote or backslash after a backslash. */
static size_t encoded_len(const char *s, size_t n)
{
    size_t len = n + 2;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            len += 1;
        else if (c < 0x20)
            len += 5;
    }
    return len;
}

/* Notes the answer to a request that is sent again when refused (a
 * report, a finish, a heartbeat): the first refusal of a stretch is logged,
 * the tries that follow are not, and the first one taken again (a 200) says
 * the stretch is over; a proxy whose backend was down for minutes wrote a
 * line a try, or, for heartbeats, nothing at all. *refused holds the
 * stretch; who prefixes the lines ("lease 12: "), sent names the request,
 * taken what the server takes again, again_s when it is tried again. */
static void stretch_note(int *refused, const char *who, const char *sent, const char *taken,
                         int status, double again_s)
{
    if (status == 200) {
        if (*refused) klog(stderr, "worker: %sthe server takes its %s again", who, taken);
        *refused = 0;
    } else if (!*refused) {
        klog(stderr, "worker: %sHTTP %d from the server on %s; trying again every %g s", who,
             status, sent, again_s);
        *refused = 1;
    }
}

/* Sends the slot's pending lines (and its end, when it has ended). */
static int flush(worker *w, wslot *sl, double now, kerror *err)
{
    while (!sl->gone && sl->exited && sl->folder && sl->folder_sent < sl->folder_n) {
        int rc = upload_part(w, sl, err);
        if (rc != KE_OK) return rc;
    }
    if (sl->gone || (sl->refused && now - sl->last_sent < REFUSED_S)) return KE_OK;
    int ending = sl->exited;
    if (!ending && (json_array_size(sl->lines) == 0 || now - sl->last_sent < BATCH_S)) return KE_OK;
    /* a batch of whole lines under BATCH_BYTES (always at least one) */
    json_t *batch = json_array();
    size_t bytes = 0, sent = 0, i = 0;
    for (; batch && i < json_array_size(sl->lines); i++) {
        const json_t *line = json_array_get(sl->lines, i);
        size_t len = json_string_length(line);
        size_t as_sent = encoded_len(json_string_value(line), len);
        if (i > 0 && sent + as_sent > BATCH_BYTES) break;
        bytes += len;
        sent += as_sent;
        json_array_append(batch, json_array_get(sl->lines, i));
    }
    if (i < json_array_size(sl->lines)) ending = 0;   /* the end goes after the last line */
    json_t *req = ending ? json_copy(sl->end) : json_object();
    if (!batch || !req) {
        json_decref(batch);
        json_decref(req);
        return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    }
    json_object_set_new(req, "worker", json_integer(w->id));
    json_object_set_new(req, "key", json_string(w->key));
    json_object_set_new(req, "lines", batch);
    char path[96];
    snprintf(path, sizeof path, "/api/v1/leases/%lld/%s", (long long)sl->lease,
             ending ? "finish" : "report");
    int status;
    json_t *reply;
    sl->last_sent = now;
    int rc = post(w, path, req, &status, &reply, err);
    if (rc != KE_OK) return rc;   /* kept: sent again on a later round */
    char who[48];
    snprintf(who, sizeof who, "lease %lld: ", (long long)sl->lease);
    if (status == 200) {
        stretch_note(&sl->refused, who, "report", "reports", status, REFUSED_S);
        for (size_t k = 0; k < i; k++) json_array_remove(sl->lines, 0);
        sl->lines_bytes -= (long long)bytes;
        if (json_is_true(json_object_get(reply, "stop")) && sl->proc) runner_terminate(sl->proc);
        if (ending) slot_clear(w, sl);
    } else if (status >= 400 && status < 500 && status != 408 && status != 429) {
        /* the lease is gone (404, 409), or the server refuses this request
         * as it is (a 400, a 413): sent again it is refused again */
        lost(w, sl, status, reply);
    } else {
        /* a server error may pass: the same lines go again REFUSED_S later
         * (they went every round, the end in a tight loop) */
        stretch_note(&sl->refused, who, ending ? "finish" : "report", "reports", status, REFUSED_S);
    }
    json_decref(reply);
    return KE_OK;
}

static wslot *slot_of_lease(worker *w, int64_t lease)
{
    for (int i = 0; i < w->o->slots; i++)
        if (w->slots[i].busy && w->slots[i].lease == lease) return &w->slots[i];
    return NULL;
}

static int heartbeat(worker *w, kerror *err)
{
    int status;
    json_t *reply = NULL, *held = json_array();
    for (int i = 0; held && i < w->o->slots; i++)
        if (w->slots[i].busy) json_array_append_new(held, json_integer(w->slots[i].lease));
    /* the leases it runs: one the server gave it whose answer was lost is
     * then ended by the server instead of kept alive by these heartbeats */
    json_t *body = held ? json_pack("{s:o}", "leases", held) : NULL;
    if (!body) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int rc = own_call(w, "heartbeat", body, &status, &reply, err);
    /* a 404 is own_call's (the worker registered again); any other answer
     * but a 200 (a proxy's 5xx, say) is tried again at the next beat */
    if (rc == KE_OK && status != 404)
        stretch_note(&w->beat_refused, "", "heartbeat", "heartbeats", status, w->lease_s / 3);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(reply, "stop"), i, v) {
        wslot *sl = slot_of_lease(w, json_integer_value(v));
        if (sl && sl->proc) runner_terminate(sl->proc);
    }
    json_decref(reply);
    return rc;
}

/* Packs the slot's trial folder into an archive beside it, kept open and
 * unlinked (nothing is left behind, whatever happens to the worker). */
static int pack_folder(wslot *sl, kerror *err)
{
    char archive[4300];
    snprintf(archive, sizeof archive, "%s.tgz", sl->dir);
    int rc = sched_dir_pack(sl->dir, archive, FOLDER_MAX, &sl->folder_n, err);
    if (rc != KE_OK) return rc;
    int fd = open(archive, O_RDONLY | O_CLOEXEC);
    unlink(archive);
    if (fd < 0) return kerror_set(err, KE_IO, NULL, "cannot read %s: %s", archive, strerror(errno));
    sl->folder = fd + 1;
    return KE_OK;
}

static void on_event(const runner_event *ev, void *ctx)
{
    worker *w = ctx;
    wslot *sl = ev->user;
    if (ev->kind == RUNNER_LINE) {
        report_line rl;
        kerror why;
        int parsed = report_parse(ev->line, &rl, &why);
        /* Stdout is the fallback report channel (docs/protocol.md): its
         * JSON objects are reports, as for a local trial, where the server
         * reads every line the same (sched_outcome_line); its other lines
         * are log text, kept in the stdout tail. */
        int report = ev->source == RUNNER_SRC_REPORT || parsed != KE_NOTFOUND;
        json_t *line = report && !sl->gone ? json_string(ev->line) : NULL;
        if (!line) return;
        size_t len = json_string_length(line);
        sl->lines_bytes += (long long)len;
        /* A final line (no step, or "final": true: the server reads final
         * values only at the trial's end) goes with the trial's end, not
         * before: a server restarted meanwhile holds nothing of what an
         * earlier one was sent, and would end the trial on its last step's
         * value instead. Bounded: a trial that writes more goes on sending
         * them early. */
        if (sl->finals_bytes + len <= BATCH_BYTES && parsed == KE_OK && (rl.final || !rl.has_step)) {
            sl->finals_bytes += len;
            json_array_append_new(sl->finals, line);
        } else {
            json_array_append_new(sl->lines, line);
        }
        return;
    }
    json_array_extend(sl->lines, sl->finals);   /* after every other line */
    json_array_clear(sl->finals);
    if (*w->o->stop && !sl->gone) {
        char why[96];
        snprintf(why, sizeof why, "the worker was stopped (signal %d)", (int)*w->o->stop);
        sl->end = json_pack("{s:s}", "released", why);
    } else {
        sl->end = exit_json(ev, runner_stdout_tail(sl->proc), runner_stderr_tail(sl->proc));
        kerror err;
        kerror_clear(&err);
        if (!w->o->shared_dir && !sl->gone && pack_folder(sl, &err) != KE_OK)
            log_err("cannot pack a trial's folder; its promotions start afresh", &err);
    }
    runner_free(sl->proc);
    sl->proc = NULL;
    sl->exited = 1;
    if (sl->gone) slot_clear(w, sl);
}

static int n_busy(const worker *w)
{
    int n = 0;
    for (int i = 0; i < w->o->slots; i++) n += w->slots[i].busy;
    return n;
}

/* With --idle-exit: whether to give up on a server that has not answered
 * for that long (and for at least a lease) while every trial has ended and
 * only their ends wait to be sent. The server, if it ever answers again,
 * has failed those trials by then (or a restart reclaimed them) and runs
 * them again, so a batch job whose server is gone ends instead of holding
 * its allocation for good. A trial still running is let run. */
static int gave_up_on_server(const worker *w, double now)
{
    double quiet = w->o->idle_exit > w->lease_s ? w->o->idle_exit : w->lease_s;
    if (w->o->idle_exit <= 0 || n_busy(w) == 0 || now - w->heard_at < quiet) return 0;
    for (int i = 0; i < w->o->slots; i++)
        if (w->slots[i].proc) return 0;
    klog(stderr, "worker: the server has not answered for %.0f s (--idle-exit): exiting; it "
         "cannot be told how %d trials ended and fails them once their lease runs out",
         now - w->heard_at, n_busy(w));
    return 1;
}

/* Stopping: done once every trial's end is sent, or, while the server
 * cannot be reached, once the children are gone and a lease has passed
 * (the server has failed those trials by then and runs them again). */
static int stopped(const worker *w, double since)
{
    if (n_busy(w) == 0) return 1;
    for (int i = 0; i < w->o->slots; i++)
        if (w->slots[i].proc) return 0;
    if (monotime_s() - since <= w->lease_s) return 0;
    klog(stderr, "worker: the server cannot be told how %d trials ended; it fails them once "
         "their lease runs out", n_busy(w));
    return 1;
}

/* Whether the slot's unsent reports are past the bound: its child is then
 * not read (its pipe fills and its next write waits), so a server out of
 * reach for long costs the worker bounded memory and the trial loses no
 * line. A stopping worker reads on: its children must be seen to end. */
static int held_back(worker *w, wslot *sl)
{
    long long max = w->o->report_buffer > 0 ? w->o->report_buffer : WORKER_REPORT_BUFFER;
    int held = sl->lines_bytes >= max && !*w->o->stop;
    if (held && !sl->held_back)
        klog(stderr, "worker: lease %lld: %lld bytes of reports unsent (--report-buffer): the "
             "trial waits until they are", (long long)sl->lease, sl->lines_bytes);
    sl->held_back = held;
    return held;
}

/* One round: lease while slots are free, wait for the children, send.
 * KE_IO when the server could not be reached at some point (what was not
 * sent stays for the next round); the children are served regardless. */
static int round_once(worker *w, kerror *err)
{
    double now = monotime_s();
    int stopping = *w->o->stop != 0 || (w->o->max_trials && w->leased >= w->o->max_trials);
    int io = 0;
    for (int i = 0; !stopping && now >= w->next_lease && i < w->o->slots; i++) {
        if (w->slots[i].busy) continue;
        int got = lease_one(w, &w->slots[i], err);
        if (got < 0 && got != KE_IO) return got;
        io |= got == KE_IO;
        if (got <= 0 && w->trouble.head)
            w->next_lease = now + backoff_wait(w->trouble.head, now);
        else if (got <= 0)
            w->next_lease = now + (w->o->poll_s > 0 ? w->o->poll_s : 0.5);
    }
    runner_proc *procs[WORKER_MAX_SLOTS];
    int n = 0;
    for (int i = 0; i < w->o->slots; i++) {
        wslot *sl = &w->slots[i];
        if (*w->o->stop && sl->proc) runner_terminate(sl->proc);   /* idempotent */
        if (sl->proc && !held_back(w, sl)) procs[n++] = sl->proc;
    }
    if (n > 0) {
        int rc = runner_poll(procs, n, POLL_MS, on_event, w, err);
        if (rc < 0) return rc;
    } else {
        /* Nothing to read: sleep to the next lease try or heartbeat (a
         * signal cuts it short), so an idle fleet does not wake 20 times a
         * second on every node. */
        double until = w->next_lease < w->next_beat ? w->next_lease : w->next_beat;
        double ms = (until - monotime_s()) * 1e3;
        if (n_busy(w) || ms < POLL_MS) ms = POLL_MS;
        if (ms > 1000) ms = 1000;   /* usleep's portable range */
        usleep((useconds_t)(ms * 1000));
    }
    now = monotime_s();
    for (int i = 0; !io && i < w->o->slots; i++) {
        if (!w->slots[i].busy) continue;
        int rc = flush(w, &w->slots[i], now, err);
        if (rc != KE_OK && rc != KE_IO) return rc;
        io |= rc == KE_IO;
    }
    if (!io && now >= w->next_beat) {
        int rc = heartbeat(w, err);
        if (rc != KE_OK && rc != KE_IO) return rc;
        io |= rc == KE_IO;
        if (rc == KE_OK) w->next_beat = now + w->lease_s / 3;
    }
    return io ? KE_IO : KE_OK;
}

int worker_run(const worker_opts *o, kerror *err)
{
    if (o->slots < 1 || o->slots > WORKER_MAX_SLOTS)
        return kerror_set(err, KE_INVALID, "--slots", "expected 1 to %d", WORKER_MAX_SLOTS);
    worker *w = calloc(1, sizeof *w);
    if (!w) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    w->o = o;
    w->cores = cores_usable();
    int rc = wclient_open(&w->c, o->server, o->token, err);
    json_t *first = NULL;
    if (rc == KE_OK) rc = ensure_registered(w, &first, err);
    int gave_up = rc == KE_IO && (*o->stop || o->idle_exit > 0);
    if (gave_up) {
        if (!*o->stop)
            klog(stderr, "worker: could not register for %g s (--idle-exit): exiting: %s",
                 o->idle_exit, err->msg);
        rc = KE_OK;
    }
    if (first) take_lease(w, &w->slots[0], first);
    json_decref(first);
    w->idle_since = w->heard_at = monotime_s();
    int unreachable = 0;
    double stop_at = 0;
    while (rc == KE_OK && !gave_up) {
        if (*o->stop && !stop_at) stop_at = monotime_s();
        if (*o->stop && stopped(w, stop_at)) break;
        if (o->max_trials && w->leased >= o->max_trials && n_busy(w) == 0) break;
        kerror rerr;
        kerror_clear(&rerr);
        unsigned long answers = wclient_answers(w->c);
        int r = round_once(w, &rerr);
        /* a round may send nothing (reports wait BATCH_S after a try):
         * only an answer says that the server is back */
        int answered = wclient_answers(w->c) != answers;
        if (r == KE_IO && !unreachable)
            log_err("the server cannot be reached; keeping what is to send", &rerr);
        else if (r == KE_OK && unreachable && answered)
            klog(stderr, "worker: the server answers again");
        else if (r != KE_OK && r != KE_IO)
            rc = kerror_set(err, r, rerr.path, "%s", rerr.msg);
        unreachable = r == KE_IO || (unreachable && !answered);
        double now = monotime_s();
        if (answered) w->heard_at = now;
        if (unreachable && gave_up_on_server(w, now)) break;
        if (n_busy(w) > 0) w->idle_since = now;
        if (o->idle_exit > 0 && now - w->idle_since >= o->idle_exit) {
            klog(stderr, "worker: no trial for %g s: exiting", o->idle_exit);
            break;
        }
    }
    for (int i = 0; i < o->slots; i++)
        if (w->slots[i].busy) slot_clear(w, &w->slots[i]);
    runner_guard_free(w->guard);
    backoff_free(&w->trouble);
    wclient_close(w->c);
    free(w);
    return rc;
}
