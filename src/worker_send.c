/* worker_send: what a worker's trials report, sent to the server: report
 * lines in batches, an ended trial's folder in parts and then its end, and
 * the heartbeats; see worker_impl.h. Invariant: a slot's lines are dropped
 * only once the server answered 200 to them, so none is lost or sent
 * twice while the lease lives. */
#define _GNU_SOURCE
#include "worker_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "klog.h"

#define BATCH_S 0.1             /* at most one report request per trial per BATCH_S */
#define REFUSED_S 1.0           /* after a server error, the next try of a trial's report */
#define PART_BYTES (768 * 1024)  /* of a trial folder's archive per request (server limit: 1 MiB) */

/* The server no longer holds the slot's lease: its child ends, nothing more
 * is sent. */
static void lost(worker *w, wslot *sl, int status, const json_t *reply)
{
    char msg[REASON_MAX];
    klog(stderr, "worker: lease %lld refused (%d): %s", (long long)sl->lease, status,
         worker_call_reason(reply, msg, sizeof msg));
    sl->gone = 1;
    if (sl->proc) runner_terminate(sl->proc);
    if (sl->exited) worker_slot_clear(w, sl);
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

/* Sends the next part of the ended trial's folder. A server error (a
 * 5xx, 408, 429: a proxy whose backend is down, a server that cannot store
 * the part now) has the same part sent again REFUSED_S later, for up to a
 * lease time from the first: the folder was dropped at once, and the
 * promotions of a trial that had run for hours started afresh. Past that
 * (a server that goes on failing), the trial ends without it, as for any
 * other refusal: its end is not held for good. */
static int upload_part(worker *w, wslot *sl, double now, kerror *err)
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
    char who[48];
    snprintf(who, sizeof who, "lease %lld: ", (long long)sl->lease);
    int transient = status >= 500 || status == 408 || status == 429;
    if (status == 200) {
        stretch_note(&sl->folder_refused, who, "", "folder's parts", status, REFUSED_S);
        sl->folder_sent += n;
        sl->folder_refused_at = 0;
    } else if (status == 409 || status == 404) {
        lost(w, sl, status, reply);
    } else if (transient && (!sl->folder_refused_at || now - sl->folder_refused_at < w->lease_s)) {
        if (!sl->folder_refused_at) sl->folder_refused_at = now;
        stretch_note(&sl->folder_refused, who, "a part of its folder", "folder's parts", status,
                     REFUSED_S);
        sl->last_sent = now;
    } else {   /* too large for the server, say: the trial still ends */
        char msg[REASON_MAX];
        klog(stderr, "worker: lease %lld: its folder was not taken (HTTP %d%s): %s; its "
             "promotions start afresh", (long long)sl->lease, status,
             transient ? " for a lease time" : "", worker_call_reason(reply, msg, sizeof msg));
        sl->folder_sent = sl->folder_n;
        sl->folder_refused = 0;
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

/* Sends the slot's pending lines (and its end, when it has ended). */
int worker_send_flush(worker *w, wslot *sl, double now, kerror *err)
{
    int refused = sl->refused || sl->folder_refused;
    if (sl->gone || (refused && now - sl->last_sent < REFUSED_S)) return KE_OK;
    while (sl->exited && sl->folder && sl->folder_sent < sl->folder_n) {
        int rc = upload_part(w, sl, now, err);
        if (rc != KE_OK) return rc;
        if (sl->gone || sl->folder_refused) return KE_OK;   /* lost; or the part goes again later */
    }
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
    /* the worker and key in the query too: the server checks them before
     * it reads a body past 64 KiB (api_workers.c) */
    char path[200];
    snprintf(path, sizeof path, "/api/v1/leases/%lld/%s?worker=%lld&key=%s", (long long)sl->lease,
             ending ? "finish" : "report", (long long)w->id, w->key);
    int status;
    json_t *reply;
    sl->last_sent = now;
    int rc = worker_call_post(w, path, req, &status, &reply, err);
    if (rc != KE_OK) return rc;   /* kept: sent again on a later round */
    char who[48];
    snprintf(who, sizeof who, "lease %lld: ", (long long)sl->lease);
    if (status == 200) {
        stretch_note(&sl->refused, who, "report", "reports", status, REFUSED_S);
        for (size_t k = 0; k < i; k++) json_array_remove(sl->lines, 0);
        sl->lines_bytes -= (long long)bytes;
        if (json_is_true(json_object_get(reply, "stop")) && sl->proc) runner_terminate(sl->proc);
        if (ending) worker_slot_clear(w, sl);
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

int worker_send_heartbeat(worker *w, kerror *err)
{
    int status;
    json_t *reply = NULL, *held = json_array();
    for (int i = 0; held && i < w->o->slots; i++)
        if (w->slots[i].busy) json_array_append_new(held, json_integer(w->slots[i].lease));
    /* the leases it runs: one the server gave it whose answer was lost is
     * then ended by the server instead of kept alive by these heartbeats */
    json_t *body = held ? json_pack("{s:o}", "leases", held) : NULL;
    if (!body) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    int rc = worker_call_own(w, "heartbeat", body, &status, &reply, err);
    /* a 404 is own_call's (the worker registered again); any other answer
     * but a 200 (a proxy's 5xx, say) is tried again at the next beat */
    if (rc == KE_OK && status != 404)
        stretch_note(&w->beat_refused, "", "heartbeat", "heartbeats", status, w->lease_s / 3);
    /* a server restarted with another --lease-timeout keeps this worker
     * without a registration, whose answer gave the lease time: beating at
     * the previous server's pace, a silent trial's lease ran out between two
     * beats (absent from an older server's answer: kept as it is) */
    double lease_s = json_number_value(json_object_get(reply, "lease_seconds"));
    if (rc == KE_OK && status == 200 && lease_s > 0 && lease_s != w->lease_s) {
        klog(stderr, "worker: the server's leases are now of %g s (they were of %g s): "
             "heartbeats every %g s", lease_s, w->lease_s, lease_s / 3);
        w->lease_s = lease_s;
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(reply, "stop"), i, v) {
        wslot *sl = slot_of_lease(w, json_integer_value(v));
        if (sl && sl->proc) runner_terminate(sl->proc);
    }
    json_decref(reply);
    return rc;
}
