/* api_export: the study exports of the HTTP API (api_export.h): a producer
 * thread writes the rows into a pipe that the response reads. Invariant: the
 * producer alone uses the storage handle until it has written the last row
 * (then it gives the handle back), and freeing the response closes the read
 * end first, so a producer still writing fails (EPIPE) and ends. */
#define _GNU_SOURCE   /* pipe2 */
#include "api_export.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_json.h"
#include "format.h"

typedef struct {
    api_export_release release; /* gives st back */
    void *owner;                /* release's */
    storage *st;                /* the producer's until it ends */
    int64_t study_id;
    api_csv layout;             /* the CSV's columns */
    int csv, rows;
    format_writer fw;
    FILE *w;                    /* the pipe's write end */
    int rfd;
    pthread_t th;
    int started;
    int cut;                    /* a row failed: the document stays unclosed */
} export_job;

static int export_row(const storage_trial *t, void *ctx)
{
    export_job *j = ctx;
    kerror err;
    if (j->csv) {
        format_cell cells[API_CSV_COLS];
        if (api_csv_cells(&j->layout, j->st, t, cells, &err) != KE_OK) return 1;
        format_row(&j->fw, cells);
    } else {
        /* A trial that cannot be encoded (out of memory) ends the export
         * early: a cut document is refused by any reader, a null row is not. */
        json_t *o = api_trial_json(t);
        if (o && api_trial_metrics(j->st, t, o, &err) != KE_OK) return 1;
        fputs(j->rows++ ? ",\n" : "\n", j->w);
        char *text = o ? format_json(o, JSON_COMPACT) : NULL;
        int bad = !text || fputs(text, j->w) == EOF;
        free(text);
        json_decref(o);
        if (bad) return j->cut = 1;
    }
    return ferror(j->w) != 0;   /* the client went away */
}

static void *export_thread(void *arg)
{
    export_job *j = arg;
    kerror err;
    if (j->csv) {
        format_begin(&j->fw, FORMAT_CSV, j->w, j->layout.cols, j->layout.ncols);
        storage_trial_each(j->st, j->study_id, NULL, export_row, j, &err);
        fflush(j->w);
    } else {
        fputs("[", j->w);
        if (storage_trial_each(j->st, j->study_id, NULL, export_row, j, &err) == KE_OK && !j->cut)
            fputs("\n]\n", j->w);
    }
    fclose(j->w);
    j->w = NULL;
    j->release(j->owner, j->st);
    j->st = NULL;
    return NULL;
}

static ssize_t export_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    export_job *j = ctx;
    for (;;) {
        ssize_t n = read(j->rfd, buf, max);
        if (n > 0) return n;
        if (n == 0) return HTTP_STREAM_END;
        if (errno != EINTR) return HTTP_STREAM_ERROR;
    }
}

/* Closing the read end first makes a producer still writing fail (EPIPE)
 * and end, so the join is short. */
static void export_free(void *ctx)
{
    export_job *j = ctx;
    if (j->rfd >= 0) close(j->rfd);
    if (j->started) pthread_join(j->th, NULL);
    if (j->w) fclose(j->w);
    if (j->st) j->release(j->owner, j->st);
    api_csv_close(&j->layout);
    free(j);
}

void api_export(http_req *rq, storage *st, storage_study *s, int csv, api_export_release release,
                void *owner)
{
    export_job *j = calloc(1, sizeof *j);
    int fds[2] = {-1, -1};
    if (!j || pipe2(fds, O_CLOEXEC) != 0) {
        int e = j ? errno : ENOMEM;
        free(j);
        storage_study_free(s);
        release(owner, st);
        http_respond_error(rq, 500, "io", NULL, "cannot start the export: %s", strerror(e));
        return;
    }
    *j = (export_job){.release = release, .owner = owner, .st = st, .study_id = s->id, .csv = csv,
                      .rfd = fds[0]};
    kerror err;
    int rc = csv ? api_csv_open(&j->layout, st, s, &err) : KE_OK;
    storage_study_free(s);
    if (rc != KE_OK) {
        close(fds[0]);
        close(fds[1]);
        release(owner, st);
        free(j);
        http_respond_kerror(rq, &err);
        return;
    }
    j->w = fdopen(fds[1], "w");
    if (!j->w) close(fds[1]);
    j->started = j->w && pthread_create(&j->th, NULL, export_thread, j) == 0;
    if (!j->started) {
        export_free(j);
        http_respond_error(rq, 500, "io", NULL, "cannot start the export");
        return;
    }
    http_respond_stream(rq, 200, csv ? "text/csv; charset=utf-8" : "application/json",
                        export_read, j, export_free);
}
