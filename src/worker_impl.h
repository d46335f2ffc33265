/* worker_impl: private to `kestrel worker`; only worker.c (the lease loop),
 * worker_call.c (registering, its own calls), worker_send.c (reports, ends,
 * folders and heartbeats sent) and worker_dir.c (its trial folders) include
 * it. It defines the worker and its slots, and the helpers they share. */
#ifndef KESTREL_WORKER_IMPL_H
#define KESTREL_WORKER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "backoff.h"
#include "kerror.h"
#include "runner.h"
#include "spec.h"
#include "wclient.h"
#include "worker.h"

#define BATCH_BYTES (256 * 1024) /* of report lines, as sent, per request: well under the server's limit */
#define REASON_MAX 512          /* of a server's reason as worker_call_reason writes it */

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
    int folder_refused;         /* its folder's last part met a server error (logged once) */
    double folder_refused_at;   /* when a server error first refused its part (0: none) */
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
    int dir_lock;               /* the --work-dir's lock file, held: fd + 1 (0: none,
                                 * as with --shared-dir) */
    backoff_list trouble;       /* a stretch of lease requests answered otherwise than
                                 * 200, 204 or a first 404: at most one entry, which
                                 * spaces them; gone at the next 200 or 204 */
} worker;

/* worker.c */
void worker_log_err(const char *what, const kerror *err);
/* Frees what the slot holds (its child, GPUs, lines, archive) and empties it. */
void worker_slot_clear(worker *w, wslot *sl);

/* worker_call.c: the worker's calls to the server */
/* POSTs req to path (req is taken, and NULL stands for out of memory). */
int worker_call_post(worker *w, const char *path, json_t *req, int *status, json_t **reply,
                     kerror *err);
/* The error of a server's answer into buf (n bytes; REASON_MAX is enough). */
const char *worker_call_reason(const json_t *reply, char *buf, size_t n);
/* Registers, trying again while the server cannot be reached; with first,
 * asks for a first trial in the same answer (*first: the lease or NULL). */
int worker_call_register(worker *w, json_t **first, kerror *err);
/* An answer to the worker's own call that it cannot act on: logged once a
 * stretch, lease requests backed off. */
void worker_call_unexpected(worker *w, const char *what, int status, const json_t *reply);
/* A lease request was answered 200 or 204: a stretch of unexpected answers is over. */
void worker_call_answered(worker *w, int status);
/* POSTs req (taken; the key added) to /api/v1/workers/ID/what, registering
 * again on a 404; KE_INVALID on a 401 or 403. */
int worker_call_own(worker *w, const char *what, json_t *req, int *status, json_t **reply,
                    kerror *err);

/* worker_send.c: what the trials report, sent */
/* Sends the slot's pending lines (and its folder and end, when it has ended). */
int worker_send_flush(worker *w, wslot *sl, double now, kerror *err);
/* Tells the server the leases it runs; ends those the server says to stop. */
int worker_send_heartbeat(worker *w, kerror *err);

/* worker_dir.c: the worker's trial folders */
/* Makes the --work-dir and takes its lock for the worker's life (w->dir_lock);
 * KE_BUSY, naming --work-dir, when another worker holds it. Nothing with
 * --shared-dir. */
int worker_dir_lock(worker *w, kerror *err);
/* Removes this worker's folders of another study of that name (created: the
 * lease's study_created) but those of trials it runs now. */
void worker_dir_forget(worker *w, const char *study, double created);
/* Records which study its folder is. */
void worker_dir_record(const worker *w, const char *study, double created);
/* Fetches a promoted trial's parent's folder from the server unless it is here. */
void worker_dir_fetch_parent(worker *w, const char *study, int parent);
/* Packs the slot's trial folder into an unlinked archive kept open (sl->folder). */
int worker_dir_pack(wslot *sl, kerror *err);

#endif
