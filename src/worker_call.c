/* worker_call: a worker's standing with the server: its registration
 * (again after the server forgot it), its own calls (lease, heartbeat) and
 * the back-off while their answers are unexpected; see worker_impl.h.
 * Invariant: w->id and w->key are those of the last registration answered. */
#define _GNU_SOURCE
#include "worker_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "klog.h"
#include "monotime.h"

/* POSTs req to path (req is taken, and NULL stands for out of memory). */
int worker_call_post(worker *w, const char *path, json_t *req, int *status, json_t **reply, kerror *err)
{
    int rc = req ? wclient_call(w->c, "POST", path, req, status, reply, err)
                 : kerror_set(err, KE_NOMEM, NULL, "out of memory");
    json_decref(req);
    return rc;
}

/* The error of a server's answer into buf: its message after the field it
 * names ("gpus_free: expected at most 0, ..."), or "no reason given". */
const char *worker_call_reason(const json_t *reply, char *buf, size_t n)
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
    int rc = worker_call_post(w, "/api/v1/workers", req, &status, &reply, err);
    if (rc != KE_OK) return rc;
    const char *key = json_string_value(json_object_get(reply, "key"));
    if (status != 201 || !key || strlen(key) >= sizeof w->key) {
        /* a server error may pass (KE_IO: try again); a refusal will not */
        char why[REASON_MAX];
        rc = kerror_set(err, status >= 500 ? KE_IO : KE_INVALID, NULL, "the server refused to "
                        "register this worker (HTTP %d): %s", status,
                        worker_call_reason(reply, why, sizeof why));
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
int worker_call_register(worker *w, json_t **first, kerror *err)
{
    double since = monotime_s();
    for (int logged = 0;; logged = 1) {
        int rc = do_register(w, first, err);
        if (rc != KE_IO || *w->o->stop) return rc;
        if (w->o->idle_exit > 0 && monotime_s() - since >= w->o->idle_exit) return rc;
        if (!logged) worker_log_err("cannot register yet, trying every second", err);
        sleep(1);
    }
}

/* An answer to this worker's own call that it cannot act on (a lease
 * request answered 5xx or 400, a 404 again right after registering again):
 * the first of a stretch is logged with the server's reason, and lease
 * requests wait from 1 s, doubling up to BACKOFF_MAX_S, instead of coming
 * every --poll for good (a server that forgot the worker at every call was
 * sent a registration each time, each a new row in its registry). */
void worker_call_unexpected(worker *w, const char *what, int status, const json_t *reply)
{
    char why[KERROR_MSG_MAX], msg[REASON_MAX];
    snprintf(why, sizeof why, "HTTP %d on %s: %s", status, what, worker_call_reason(reply, msg, sizeof msg));
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
void worker_call_answered(worker *w, int status)
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
int worker_call_own(worker *w, const char *what, json_t *req, int *status, json_t **reply,
                    kerror *err)
{
    char path[96];
    snprintf(path, sizeof path, "/api/v1/workers/%lld/%s", (long long)w->id, what);
    if (req) json_object_set_new(req, "key", json_string(w->key));
    int rc = worker_call_post(w, path, req, status, reply, err);
    char msg[REASON_MAX];
    if (rc == KE_OK && (*status == 401 || *status == 403))
        rc = kerror_set(err, KE_INVALID, NULL, "the server refused this worker's %s (HTTP %d): %s "
                        "(restarted with another --token-file?)", what, *status,
                        worker_call_reason(*reply, msg, sizeof msg));
    if (rc != KE_OK || *status != 404) return rc;
    if (w->registered_again || w->trouble.head) {
        /* a heartbeat between two due lease requests waits for the next */
        if (w->trouble.head && w->trouble.head->due > monotime_s()) return rc;
        worker_call_unexpected(w, what, *status, *reply);
    } else {
        klog(stderr, "worker: the server does not know worker %lld (HTTP 404 on %s: %s): "
             "registering again", (long long)w->id, what, worker_call_reason(*reply, msg, sizeof msg));
    }
    w->registered_again = 1;
    return worker_call_register(w, NULL, err);
}
