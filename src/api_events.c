/* api_events: GET /api/v1/events, the server-sent event stream
 * (api_events.h). Invariant: a stream holds one frame at a time, so a slow
 * client costs one frame of memory, never a backlog; one that falls behind
 * the ring is ended rather than sent on past the events it missed. */
#define _GNU_SOURCE
#include "api_events.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"

#define PING_MS 15000           /* SSE keep-alive comment */

typedef struct {
    events *ev;
    uint64_t after;             /* the last event sent */
    int resuming;               /* from Last-Event-ID, until its first event */
    char *study;                /* filter, or NULL */
    char *frame;                /* being sent */
    size_t len, off;
} sse_stream;

static ssize_t sse_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    sse_stream *c = ctx;
    if (!c->frame) {
        if (pos == 0) {
            /* Sent at once so the client sees the stream open. */
            c->frame = strdup("retry: 2000\n\n");
        } else {
            uint64_t seq;
            int rc;
            while ((rc = events_next(c->ev, c->after, c->study, PING_MS, &c->frame, &seq)) == 2 &&
                   c->resuming)
                c->after = seq;   /* the gap a resume from an old id has (docs/openapi.yaml) */
            /* 2: events went by unsent (a client that stopped reading): it
             * is ended, not left to miss them unknowing; an EventSource
             * reconnects with Last-Event-ID and the dashboard reloads */
            if (rc < 0 || rc == 2) return HTTP_STREAM_END;
            c->resuming = 0;
            c->after = seq;
            if (rc == 0) c->frame = strdup(": ping\n\n");
        }
        if (!c->frame) return HTTP_STREAM_ERROR;
        c->len = strlen(c->frame);
        c->off = 0;
    }
    size_t n = c->len - c->off < max ? c->len - c->off : max;
    memcpy(buf, c->frame + c->off, n);
    c->off += n;
    if (c->off == c->len) {
        free(c->frame);
        c->frame = NULL;
    }
    return (ssize_t)n;
}

static void sse_free(void *ctx)
{
    sse_stream *c = ctx;
    events_listen(c->ev, 0);
    free(c->frame);
    free(c->study);
    free(c);
}

/* GET /api/v1/events[?study=NAME][&since=N]: from Last-Event-ID (or since)
 * when given, else from now on. */
void api_events(http_req *rq, service *sv)
{
    const char *from = http_header(rq, "Last-Event-ID"), *from_key = "Last-Event-ID";
    if (!from) {
        from = http_query(rq, "since");
        from_key = "since";
    }
    /* plain digits, as every number of the API's queries (a "+0" or " 0"
     * that strtoull takes is not an id we sent) */
    long long after = 0;
    if (from && http_parse_count(from, LLONG_MAX, &after) < 0) {
        /* not an id of ours: replaying everything would be a guess */
        http_respond_error(rq, 400, "invalid", from_key, "expected an event id, not '%s'", from);
        return;
    }
    const char *study = http_query(rq, "study");
    /* no study has the empty name (spec.c refuses it): the stream would
     * send nothing for ever, which a client cannot tell from a quiet
     * study (a page that built ?study= from an empty field) */
    if (study && !*study) {
        http_respond_error(rq, 400, "invalid", "study", "an empty study name: give ?study=NAME, "
                           "or leave study out for every study's events");
        return;
    }
    sse_stream *c = calloc(1, sizeof *c);
    if (!c || (study && !(c->study = strdup(study)))) {
        free(c);
        http_respond_error(rq, 500, "nomem", NULL, "out of memory");
        return;
    }
    c->ev = service_events(sv);
    events_listen(c->ev, 1);
    c->after = from ? (uint64_t)after : events_last(c->ev);
    c->resuming = from != NULL;
    http_respond_stream(rq, 200, "text/event-stream", sse_read, c, sse_free);
}
