/* api_export: the study exports of the HTTP API (api_export.h): a producer
 * thread writes the rows into a pipe that the response reads. Invariant: the
 * producer alone uses the storage handle until it has written the last row
 * (then it gives the handle back), and freeing the response closes the read
 * end first, so a producer still writing fails (EPIPE) and ends. The status
 * is sent only once the producer has read the first row or ended (decided):
 * a study deleted before is a 404, not an empty export; one deleted, or a
 * read that fails, after the 200 went out ends the answer in error (a cut
 * chunked body), never as a whole export. */
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
    format_cell *cells;         /* a row's, layout.ncols of them */
    int csv, rows;
    format_writer fw;
    FILE *w;                    /* the pipe's write end */
    int rfd;
    pthread_t th;
    int started;
    int opened;                 /* the producer's: the header or '[' is written */
    pthread_mutex_t mu;         /* guards the three below */
    pthread_cond_t decided_cv;
    int decided;                /* the first row was read, or the listing ended */
    kerror err;                 /* how it ended, when before any row (code != KE_OK) */
    int cut;                    /* a row or a read failed, or the study went: the
                                 * answer ends in error (the JSON unclosed) */
} export_job;

/* Tells the handler waiting in api_export whether to answer 200 (err NULL)
 * or err's error. */
static void decide(export_job *j, const kerror *err)
{
    pthread_mutex_lock(&j->mu);
    if (err) j->err = *err;
    j->decided = 1;
    pthread_cond_signal(&j->decided_cv);
    pthread_mutex_unlock(&j->mu);
}

static void set_cut(export_job *j)
{
    pthread_mutex_lock(&j->mu);
    j->cut = 1;
    pthread_mutex_unlock(&j->mu);
}

static int is_cut(export_job *j)
{
    pthread_mutex_lock(&j->mu);
    int cut = j->cut;
    pthread_mutex_unlock(&j->mu);
    return cut;
}

/* The 200 goes out; then the CSV's header or the JSON's '['. */
static void open_document(export_job *j)
{
    decide(j, NULL);
    j->opened = 1;
    if (j->csv)
        format_begin(&j->fw, FORMAT_CSV, j->w, j->layout.cols, j->layout.ncols);
    else
        fputs("[", j->w);
}

/* 0 to go on; 1 to stop: the client went away, or the row failed (cut). */
static int export_row(const storage_trial *t, void *ctx)
{
    export_job *j = ctx;
    kerror err;
    if (!j->opened) open_document(j);
    if (j->csv) {
        if (api_csv_cells(&j->layout, j->st, t, j->cells, &err) != KE_OK) {
            set_cut(j);
            return 1;
        }
        format_row(&j->fw, j->cells);
    } else {
        /* A trial that cannot be encoded (out of memory) ends the export
         * early: a cut document is refused by any reader, a null row is not. */
        json_t *o = api_trial_json(t);
        int bad = !o || api_trial_metrics(j->st, t, o, &err) != KE_OK;
        char *text = bad ? NULL : format_json(o, JSON_COMPACT);
        fputs(j->rows++ ? ",\n" : "\n", j->w);
        bad = !text || fputs(text, j->w) == EOF;
        free(text);
        json_decref(o);
        if (bad) {
            set_cut(j);
            return 1;
        }
    }
    return ferror(j->w) != 0;   /* the client went away */
}

static void *export_thread(void *arg)
{
    export_job *j = arg;
    kerror err;
    kerror_clear(&err);
    /* a study deleted meanwhile is KE_NOTFOUND, as storage_trial_each
     * checks it is still there once the last page is read */
    int rc = storage_trial_each(j->st, j->study_id, NULL, export_row, j, &err);
    if (rc != KE_OK && !j->opened) {
        decide(j, &err);      /* the handler answers it: nothing is written */
    } else {
        if (!j->opened) open_document(j);
        if (rc != KE_OK) set_cut(j);
        if (!j->csv && !is_cut(j)) fputs("\n]\n", j->w);
        fflush(j->w);
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
        if (n == 0)   /* the producer has ended: whole, or cut */
            return is_cut(j) ? HTTP_STREAM_ERROR : HTTP_STREAM_END;
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
    free(j->cells);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->decided_cv);
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
    if (rc == KE_OK && csv && !(j->cells = calloc((size_t)j->layout.ncols, sizeof *j->cells))) {
        api_csv_close(&j->layout);
        rc = kerror_set(&err, KE_NOMEM, NULL, "out of memory");
    }
    if (rc != KE_OK) {
        close(fds[0]);
        close(fds[1]);
        release(owner, st);
        free(j);
        storage_study_free(s);
        http_respond_kerror(rq, &err);
        return;
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->decided_cv, NULL);
    j->w = fdopen(fds[1], "w");
    if (!j->w) close(fds[1]);
    j->started = j->w && pthread_create(&j->th, NULL, export_thread, j) == 0;
    if (!j->started) {
        export_free(j);
        storage_study_free(s);
        http_respond_error(rq, 500, "io", NULL, "cannot start the export");
        return;
    }
    /* This handler may block (a pool thread): the first page is read
     * before the status is chosen. */
    pthread_mutex_lock(&j->mu);
    while (!j->decided) pthread_cond_wait(&j->decided_cv, &j->mu);
    err = j->err;
    pthread_mutex_unlock(&j->mu);
    if (err.code != KE_OK) {
        if (err.code == KE_NOTFOUND)   /* said as api.c says a study deleted meanwhile */
            kerror_set(&err, KE_NOTFOUND, NULL, "study '%s' was deleted meanwhile", s->name);
        export_free(j);
        storage_study_free(s);
        http_respond_kerror(rq, &err);
        return;
    }
    storage_study_free(s);
    http_respond_stream(rq, 200, csv ? "text/csv; charset=utf-8" : "application/json",
                        export_read, j, export_free);
}
