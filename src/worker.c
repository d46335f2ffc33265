/* worker: the lease loop; see worker.h. Invariant: a slot is busy from its
 * lease until the server has acknowledged the trial's end (or refused it:
 * the lease is gone), so a trial's reports and exit are sent, in order, at
 * least once while the lease lives; reports a server already stored are
 * never sent twice because a slot's pending lines are dropped only on a 200.
 * Registering and the worker's own calls are worker_call's, sending what a
 * trial reports worker_send's, its folder worker_dir's. */
#define _GNU_SOURCE
#include "worker_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cores.h"
#include "klog.h"
#include "monotime.h"
#include "report.h"
#include "sched_launch.h"

#define POLL_MS 50

/* The dataset cache in the --work-dir, beside the studies' folders
 * (D/STUDY): a name no study can have (names begin with a letter, a digit
 * or '_'). As D/kestrel-cache it was the folder of a study of that name,
 * its trial folders and .kestrel-study mixed in with the cache files, and
 * with --shared-dir the server's own folder of that study. */
#define WORKER_CACHE_DIR ".kestrel-cache"

void worker_log_err(const char *what, const kerror *err)
{
    klog(stderr, "worker: %s: %s", what, err->msg);
}

static int free_gpus(const worker *w)
{
    int n = 0;
    for (int i = 0; i < w->o->n_gpus; i++) n += !w->gpu_used[i];
    return n;
}

void worker_slot_clear(worker *w, wslot *sl)
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
    worker_dir_forget(w, sl->spec.name, created);
    snprintf(sl->dir, sizeof sl->dir, "%s/%s/%d", w->o->work_dir, sl->spec.name, t.number);
    if (t.resumed_from >= 0) worker_dir_fetch_parent(w, sl->spec.name, t.resumed_from);
    char cache[4200], gpu_env[512];
    snprintf(cache, sizeof cache, "%s/" WORKER_CACHE_DIR, w->o->work_dir);
    take_gpus(w, sl, sl->spec.run.gpus, gpu_env, sizeof gpu_env);
    char *env[] = {gpu_env[0] ? gpu_env : NULL, NULL};
    sched_launch_paths paths = {.self_exe = w->o->self_exe, .run_self = w->o->run_self,
                                .work_dir = w->o->work_dir,
                                .cache_dir = cache, .env_extra = env, .guard = &w->guard};
    int threads = w->cores / w->o->slots;
    rc = sched_launch_spawn(&t, &sl->spec, &paths, threads > 0 ? threads : 1, sl, &sl->proc, err);
    if (rc == KE_OK) worker_dir_record(w, sl->spec.name, created);
    return rc;
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
    int rc = worker_call_own(w, "lease", json_pack("{s:i}", "gpus_free", free_gpus(w)), &status, &lease,
                      err);
    if (rc == KE_OK && status == 200) take_lease(w, sl, lease);
    if (rc == KE_OK && (status == 200 || status == 204)) worker_call_answered(w, status);
    else if (rc == KE_OK && status != 404) worker_call_unexpected(w, "lease", status, lease);   /* 404: own_call's */
    json_decref(lease);
    return rc != KE_OK ? rc : status == 200;
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
        if (!w->o->shared_dir && !sl->gone && worker_dir_pack(sl, &err) != KE_OK)
            worker_log_err("cannot pack a trial's folder; its promotions start afresh", &err);
    }
    runner_free(sl->proc);
    sl->proc = NULL;
    sl->exited = 1;
    if (sl->gone) worker_slot_clear(w, sl);
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
        int rc = worker_send_flush(w, &w->slots[i], now, err);
        if (rc != KE_OK && rc != KE_IO) return rc;
        io |= rc == KE_IO;
    }
    if (!io && now >= w->next_beat) {
        int rc = worker_send_heartbeat(w, err);
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
    if (rc == KE_OK) rc = worker_dir_lock(w, err);   /* before the server hears of it */
    json_t *first = NULL;
    int gave_up = 0;
    if (rc == KE_OK) {
        rc = worker_call_register(w, &first, err);
        gave_up = rc == KE_IO && (*o->stop || o->idle_exit > 0);   /* not a folder's error */
    }
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
        /* a round that began with a trial is no idle time, however long it
         * took: the one that sends a trial's end (its folder packed and
         * uploaded, the finish answered) takes seconds on a loaded machine
         * or server, and counted from the round before, a worker exited
         * on --idle-exit right after its trial's end, never asking for
         * the next one */
        int was_busy = n_busy(w) > 0;
        int r = round_once(w, &rerr);
        /* a round may send nothing (reports wait BATCH_S after a try):
         * only an answer says that the server is back */
        int answered = wclient_answers(w->c) != answers;
        if (r == KE_IO && !unreachable)
            worker_log_err("the server cannot be reached; keeping what is to send", &rerr);
        else if (r == KE_OK && unreachable && answered)
            klog(stderr, "worker: the server answers again");
        else if (r != KE_OK && r != KE_IO)
            rc = kerror_set(err, r, rerr.path, "%s", rerr.msg);
        unreachable = r == KE_IO || (unreachable && !answered);
        double now = monotime_s();
        if (answered) w->heard_at = now;
        if (unreachable && gave_up_on_server(w, now)) break;
        if (was_busy || n_busy(w) > 0) w->idle_since = now;
        if (o->idle_exit > 0 && now - w->idle_since >= o->idle_exit) {
            klog(stderr, "worker: no trial for %g s: exiting", o->idle_exit);
            break;
        }
    }
    for (int i = 0; i < o->slots; i++)
        if (w->slots[i].busy) worker_slot_clear(w, &w->slots[i]);
    runner_guard_free(w->guard);
    backoff_free(&w->trouble);
    wclient_close(w->c);
    if (w->dir_lock) close(w->dir_lock - 1);
    free(w);
    return rc;
}
