/* storage_trials: the trial half of the SQLite backend of storage.h
 * (storage_sqlite.c opens the history and keeps the studies): inserting,
 * reporting on, finishing and reclaiming trials, and reading them back one at
 * a time, in pages, or as per-trial rows (values, metrics, logs, curves).
 * Invariant: every write of more than one row runs in one IMMEDIATE
 * transaction, so a trial has all its params, values and final rows or none;
 * and only a RUNNING trial takes reports or ends. */
#include "storage_sqlite_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_ROWS 256   /* trials held in memory at once by storage_trial_each */

/* Reads a row of TRIAL_COLS (storage_sqlite.c) into t (params not loaded). */
static int read_trial(sqlite3_stmt *s, storage_trial *t, kerror *err)
{
    int oom = 0;
    memset(t, 0, sizeof *t);
    t->id = sqlite3_column_int64(s, 0);
    t->study_id = sqlite3_column_int64(s, 1);
    t->number = sqlite3_column_int(s, 2);
    t->state = (trial_state)trial_state_parse((const char *)sqlite3_column_text(s, 3));
    t->has_value = sqlite3_column_type(s, 4) != SQLITE_NULL;
    t->value = sqlite3_column_double(s, 4);
    t->started_at = sqlite3_column_double(s, 5);
    t->finished_at = sqlite3_column_double(s, 6);
    t->worker = sq_column_dup(s, 7, &oom);
    t->failure = sq_column_dup(s, 8, &oom);
    t->last_step = sqlite3_column_int(s, 9);
    t->budget = sqlite3_column_int(s, 10);
    t->resumed_from = sq_column_int_or(s, 11, -1);
    t->retry_of = sq_column_int_or(s, 12, -1);
    t->enqueued_id = sqlite3_column_int64(s, 13);
    if (!oom) return KE_OK;
    storage_trial_free(t);
    return kerror_set(err, KE_NOMEM, NULL, "out of memory");
}

/* Appends the param in columns col.. (name, value_num, value_text) of s's
 * current row to t, growing t->params (capacity *cap); *oom set when a
 * copy failed. KE_NOMEM when the array could not grow. */
static int take_param(sqlite3_stmt *s, int col, storage_trial *t, int *cap, int *oom, kerror *err)
{
    storage_param *bigger = sq_grow(t->params, t->n_params, cap, sizeof *bigger);
    if (!bigger) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    t->params = bigger;
    storage_param *p = &t->params[t->n_params++];
    p->name = sq_column_dup(s, col, oom);
    p->is_text = sqlite3_column_type(s, col + 2) != SQLITE_NULL;
    p->num = p->is_text ? 0 : sqlite3_column_double(s, col + 1);
    p->text = sq_column_dup(s, col + 2, oom);
    return KE_OK;
}

/* Steps s (its params from column col on) to the end; KE_OK, KE_NOMEM or
 * KE_DB, s reset. target picks the trial each row belongs to (NULL: t). */
static int read_params(storage *st, sqlite3_stmt *s, int col, storage_trial *t,
                       storage_trial *(*target)(sqlite3_stmt *, void *), void *ctx, kerror *err)
{
    int rc = KE_OK, step, oom = 0, cap = 0;
    storage_trial *cur = t;
    while (rc == KE_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        storage_trial *to = target ? target(s, ctx) : t;
        if (to != cur) cap = to && to->params ? to->n_params : 0;   /* rows come grouped by trial */
        cur = to;
        if (to) rc = take_param(s, col, to, &cap, &oom, err);
    }
    if (rc == KE_OK && step != SQLITE_DONE) rc = sq_db_error(st, err, "reading params");
    if (rc == KE_OK && oom) rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    sqlite3_reset(s);
    return rc;
}

static int load_params(storage *st, storage_trial *t, kerror *err)
{
    sqlite3_stmt *s = sq_query(st, Q_PARAMS, err);
    if (!s) return KE_DB;
    sqlite3_bind_int64(s, 1, t->id);
    return read_params(st, s, 0, t, NULL, NULL, err);
}

/* A page's trials sorted by id, for matching param rows (ordered by trial
 * id) to them in one walk. */
typedef struct {
    storage_trial **by_id;
    int n, at;
} page_walk;

static int by_id(const void *a, const void *b)
{
    int64_t x = (*(storage_trial *const *)a)->id, y = (*(storage_trial *const *)b)->id;
    return (x > y) - (x < y);
}

static storage_trial *page_target(sqlite3_stmt *s, void *ctx)
{
    page_walk *w = ctx;
    int64_t id = sqlite3_column_int64(s, 0);
    while (w->at < w->n && w->by_id[w->at]->id < id) w->at++;
    return w->at < w->n && w->by_id[w->at]->id == id ? w->by_id[w->at] : NULL;
}

/* The params of page[0..n) in one query (the ids as a JSON array for
 * json_each) rather than one query per trial: a 100-trial page ran 101. */
static int load_page_params(storage *st, storage_trial *page, int n, kerror *err)
{
    if (n == 0) return KE_OK;
    storage_trial *sorted[PAGE_ROWS];
    char ids[PAGE_ROWS * 21 + 2];
    size_t len = 0;
    for (int i = 0; i < n; i++) sorted[i] = &page[i];
    qsort(sorted, (size_t)n, sizeof *sorted, by_id);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(ids + len, sizeof ids - len, "%c%lld", i ? ',' : '[', (long long)sorted[i]->id);
    ids[len++] = ']';
    sqlite3_stmt *s = sq_query(st, Q_PAGE_PARAMS, err);
    if (!s) return KE_DB;
    sqlite3_bind_text(s, 1, ids, (int)len, SQLITE_STATIC);
    page_walk w = {sorted, n, 0};
    return read_params(st, s, 1, NULL, page_target, &w, err);
}

/* Reads the one trial the bound query s selects, with its params, after
 * one_row has found it. */
static int fetch_trial(storage *st, sqlite3_stmt *s, storage_trial *out, kerror *err)
{
    int rc = read_trial(s, out, err);
    sqlite3_reset(s);
    if (rc == KE_OK && (rc = load_params(st, out, err)) != KE_OK)
        storage_trial_free(out);
    return rc;
}

/* The state of trial id, or KE_NOTFOUND. */
static int trial_state_of(storage *st, int64_t id, int *state, kerror *err)
{
    sqlite3_stmt *s = sq_query(st, Q_TRIAL_STATE, err);
    if (!s) return KE_DB;
    sqlite3_bind_int64(s, 1, id);
    int rc = sq_one_row(st, s, err, "no trial with id %lld", (long long)id);
    if (rc) return rc;
    *state = trial_state_parse((const char *)sqlite3_column_text(s, 0));
    sqlite3_reset(s);
    return KE_OK;
}

/* Inside a write transaction: KE_CONFLICT unless trial id is RUNNING. */
static int require_running(storage *st, int64_t id, const char *action, kerror *err)
{
    int state, rc = trial_state_of(st, id, &state, err);
    if (rc) return rc;
    if (state != TRIAL_RUNNING)
        return kerror_set(err, KE_CONFLICT, NULL, "cannot %s trial %lld: it is %s, "
                          "not RUNNING", action, (long long)id,
                          trial_state_name((trial_state)state));
    return KE_OK;
}

static int check_params(const storage_trial *t, kerror *err)
{
    for (int i = 0; i < t->n_params; i++) {
        const storage_param *p = &t->params[i];
        if (!p->name || (p->is_text && !p->text) || (!p->is_text && isnan(p->num)))
            return kerror_set(err, KE_INVALID, NULL, "param %d ('%s') has no value",
                              i, p->name ? p->name : "");
    }
    return KE_OK;
}

/* -1 means "none" in the API and NULL in the table. */
static void bind_number_or_null(sqlite3_stmt *s, int i, int number)
{
    if (number >= 0)
        sqlite3_bind_int(s, i, number);
    else
        sqlite3_bind_null(s, i);
}

/* The inserts of storage_trial_insert, run inside its transaction; the new
 * row's id and number come back in *id and *number. */
static int insert_rows(storage *st, int64_t study_id, const storage_trial *t,
                       double started_at, int64_t *id, int *number, kerror *err)
{
    sqlite3_stmt *s = sq_query(st, Q_TRIAL_INSERT, err);
    if (!s) return KE_DB;
    sqlite3_bind_int64(s, 1, study_id);
    sqlite3_bind_double(s, 2, started_at);
    sq_bind_text_or_null(s, 3, t->worker);
    sqlite3_bind_int(s, 4, t->budget);
    bind_number_or_null(s, 5, t->resumed_from);
    bind_number_or_null(s, 6, t->retry_of);
    if (t->enqueued_id > 0) sqlite3_bind_int64(s, 7, t->enqueued_id);
    int rc = sq_one_row(st, s, err, "no study with id %lld", (long long)study_id);
    if (rc) return rc;
    *id = sqlite3_column_int64(s, 0);
    *number = sqlite3_column_int(s, 1);
    sqlite3_reset(s);

    for (int i = 0; i < t->n_params; i++) {
        const storage_param *p = &t->params[i];
        if (!(s = sq_query(st, Q_PARAM_INSERT, err))) return KE_DB;
        sqlite3_bind_int64(s, 1, *id);
        sqlite3_bind_text(s, 2, p->name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 3, i);
        if (p->is_text)
            sqlite3_bind_text(s, 5, p->text, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_double(s, 4, p->num);
        if ((rc = sq_run_write(st, s, err, "inserting param")) != KE_OK) return rc;
    }
    return KE_OK;
}

int storage_trial_insert(storage *st, int64_t study_id, storage_trial *t, kerror *err)
{
    int rc = check_params(t, err), number = 0;
    if (rc) return rc;
    double started_at = t->started_at != 0 ? t->started_at : sq_now_unix();
    int64_t id = 0;
    if ((rc = sq_begin(st, err)) != KE_OK) return rc;
    rc = sq_end_txn(st, insert_rows(st, study_id, t, started_at, &id, &number, err), err);
    if (rc) return rc;
    t->id = id;
    t->number = number;
    t->state = TRIAL_RUNNING;
    t->has_value = 0;
    t->started_at = started_at;
    t->finished_at = 0;
    t->last_step = -1;
    return KE_OK;
}

/* Inserts-or-replaces name = value rows for trial id through query q
 * (?1 trial, then ?2 step if step >= 0, then name, value, and the arrival
 * time if step >= 0). */
static int put_values(storage *st, int q, int64_t id, int step,
                      const storage_metric *m, int n, kerror *err)
{
    for (int i = 0; i < n; i++) {
        sqlite3_stmt *s = sq_query(st, q, err);
        if (!s) return KE_DB;
        int col = 1;
        sqlite3_bind_int64(s, col++, id);
        if (step >= 0) sqlite3_bind_int(s, col++, step);
        sq_bind_text_or_null(s, col++, m[i].name);
        sqlite3_bind_double(s, col++, m[i].value);
        if (step >= 0) sqlite3_bind_double(s, col, sq_now_unix());   /* a report's arrival */
        int rc = sq_run_write(st, s, err, "storing values");
        if (rc) return rc;
    }
    return KE_OK;
}

static int report_rows(storage *st, int64_t id, int step, const storage_metric *m,
                       int n, kerror *err)
{
    int rc = require_running(st, id, "report on", err);
    if (!rc) rc = put_values(st, Q_VALUE_INSERT, id, step, m, n, err);
    if (rc) return rc;
    sqlite3_stmt *s = sq_query(st, Q_LAST_STEP, err);
    if (!s) return KE_DB;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, step);
    return sq_run_write(st, s, err, "updating last step");
}

int storage_trial_report(storage *st, int64_t trial_id, int step,
                         const storage_metric *m, int n, kerror *err)
{
    if (step < 0)
        return kerror_set(err, KE_INVALID, NULL, "report step %d is negative", step);
    int rc = sq_begin(st, err);
    if (rc) return rc;
    return sq_end_txn(st, report_rows(st, trial_id, step, m, n, err), err);
}

typedef struct {
    trial_state state;
    int has_value;
    double value;
    const storage_metric *final;
    int n_final;
    const char *failure, *stdout_tail, *stderr_tail;
} trial_end;

static int finish_rows(storage *st, int64_t id, const trial_end *e, kerror *err)
{
    int rc = require_running(st, id, "finish", err);
    if (rc) return rc;
    sqlite3_stmt *s = sq_query(st, Q_TRIAL_END, err);
    if (!s) return KE_DB;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, trial_state_name(e->state), -1, SQLITE_STATIC);
    if (e->has_value) sqlite3_bind_double(s, 3, e->value);
    sqlite3_bind_double(s, 4, sq_now_unix());
    sq_bind_text_or_null(s, 5, e->failure);
    if ((rc = sq_run_write(st, s, err, "finishing trial")) != KE_OK) return rc;
    if ((rc = put_values(st, Q_METRIC_INSERT, id, -1, e->final, e->n_final, err)) != KE_OK)
        return rc;
    if (!e->stdout_tail && !e->stderr_tail) return KE_OK;
    if (!(s = sq_query(st, Q_LOGS_INSERT, err))) return KE_DB;
    sqlite3_bind_int64(s, 1, id);
    sq_bind_text_or_null(s, 2, e->stdout_tail);
    sq_bind_text_or_null(s, 3, e->stderr_tail);
    return sq_run_write(st, s, err, "storing output tails");
}

int storage_trial_finish(storage *st, int64_t trial_id, trial_state state,
                         int has_value, double value,
                         const storage_metric *final, int n_final,
                         const char *failure, const char *stdout_tail,
                         const char *stderr_tail, kerror *err)
{
    if (state != TRIAL_COMPLETE && state != TRIAL_PRUNED && state != TRIAL_FAILED)
        return kerror_set(err, KE_INVALID, NULL, "a trial cannot finish as %s",
                          trial_state_name(state));
    trial_end e = {state, has_value && !isnan(value), value, final, n_final,
                   failure, stdout_tail, stderr_tail};
    int rc = sq_begin(st, err);
    if (rc) return rc;
    return sq_end_txn(st, finish_rows(st, trial_id, &e, err), err);
}

int storage_trials_reclaim_runs(storage *st, int64_t study_id, const storage_reclaim *how,
                                int *count, kerror *err)
{
    if (count) *count = 0;
    /* the numbers as a JSON array, for json_each: 11 bytes a number at most */
    size_t cap = (size_t)how->n_keep * 12 + 3, len = 1;
    char *keep = malloc(cap);
    if (!keep) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    keep[0] = '[';
    for (int i = 0; i < how->n_keep; i++)
        len += (size_t)snprintf(keep + len, cap - len, "%s%d", i ? "," : "", how->keep[i]);
    snprintf(keep + len, cap - len, "]");
    sqlite3_stmt *s = sq_query(st, Q_RECLAIM, err);
    if (!s) {
        free(keep);
        return KE_DB;
    }
    sqlite3_bind_int64(s, 1, study_id);
    sq_bind_text_or_null(s, 2, how->reason);
    sqlite3_bind_double(s, 3, sq_now_unix());
    sqlite3_bind_text(s, 4, keep, -1, free);
    sq_bind_text_or_null(s, 5, how->leased_before);
    sq_bind_text_or_null(s, 6, how->leased_after);
    int rc = sq_run_write(st, s, err, "reclaiming trials");
    if (!rc && count) *count = sqlite3_changes(st->db);
    return rc;
}

int storage_trials_reclaim(storage *st, int64_t study_id, const char *reason,
                           int *count, kerror *err)
{
    storage_reclaim how = {.reason = reason};
    return storage_trials_reclaim_runs(st, study_id, &how, count, err);
}

int storage_study_fail(storage *st, int64_t study_id, const char *why,
                       const char *trials_reason, int *count, kerror *err)
{
    *count = 0;
    int rc = sq_begin(st, err);
    if (rc) return rc;
    rc = storage_study_set_state(st, study_id, STUDY_FAILED, why, err);
    if (rc == KE_OK) rc = storage_trials_reclaim(st, study_id, trials_reason, count, err);
    rc = sq_end_txn(st, rc, err);
    if (rc) *count = 0;
    return rc;
}

/* Reads up to `want` trials with params into page, statements reset before
 * returning so the callback may use this storage freely. */
static int read_page(storage *st, int q, int64_t study_id, int state, const storage_cursor *after,
                     int offset, int want, storage_trial *page, int *got, kerror *err)
{
    *got = 0;
    sqlite3_stmt *s = sq_query(st, q, err);
    if (!s) return KE_DB;
    sqlite3_bind_int64(s, 1, study_id);
    if (state >= 0) sqlite3_bind_text(s, 2, trial_state_name(state), -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, after->number);
    sqlite3_bind_int(s, 4, want);
    sqlite3_bind_int(s, 5, offset);
    if (sqlite3_bind_parameter_count(s) >= 6) sqlite3_bind_double(s, 6, after->value);
    int rc = KE_OK, step = SQLITE_DONE;
    while (*got < want && (step = sqlite3_step(s)) == SQLITE_ROW) {
        if ((rc = read_trial(s, &page[*got], err)) != KE_OK) break;
        (*got)++;
    }
    if (rc == KE_OK && *got < want && step != SQLITE_DONE)
        rc = sq_db_error(st, err, "listing trials");
    sqlite3_reset(s);
    return rc == KE_OK ? load_page_params(st, page, *got, err) : rc;
}

/* The study's direction, and its name into name (cut to size), for the
 * error of a listing whose study goes meanwhile. */
static int study_maximize(storage *st, int64_t study_id, int *maximize, char *name, size_t size,
                          kerror *err)
{
    sqlite3_stmt *s = sq_query(st, Q_STUDY_MAXIMIZE, err);
    if (!s) return KE_DB;
    sqlite3_bind_int64(s, 1, study_id);
    int rc = sq_one_row(st, s, err, "no study with id %lld", (long long)study_id);
    if (rc) return rc;
    *maximize = sqlite3_column_int(s, 0);
    const char *text = (const char *)sqlite3_column_text(s, 1);
    snprintf(name, size, "%s", text ? text : "");
    sqlite3_reset(s);
    return KE_OK;
}

/* A DELETE between two pages (or before the first) leaves the pages after
 * it empty, not in error: only the study still there, once the last page
 * is read, says the listing was whole (a study's id is never given again:
 * 011). */
int storage_study_still_there(storage *st, int64_t study_id, const char *name, kerror *err)
{
    int maximize;
    char again[8];
    int rc = study_maximize(st, study_id, &maximize, again, sizeof again, err);
    if (rc != KE_NOTFOUND) return rc;
    return kerror_set(err, KE_NOTFOUND, NULL, "study '%s' was deleted while its trials were "
                      "listed", name);
}

/* The statement of a listing's next page, from Q_EACH_ANY_NUM on (the ONE
 * ones follow the same way): by number, or best-first by offset for the
 * first page, then by keyset: the trials with a value after the cursor,
 * then (the cursor one without) those without a value. */
static int each_query(const storage_filter *f, int maximize, int first, const storage_cursor *c)
{
    int base = f->state < 0 ? Q_EACH_ANY_NUM : Q_EACH_ONE_NUM;
    if (!f->best_first) return base;
    if (first) return base + (maximize ? Q_EACH_ANY_MAX : Q_EACH_ANY_MIN) - Q_EACH_ANY_NUM;
    if (!c->has_value) return base + Q_EACH_ANY_NONE_AFTER - Q_EACH_ANY_NUM;
    return base + (maximize ? Q_EACH_ANY_MAX_AFTER : Q_EACH_ANY_MIN_AFTER) - Q_EACH_ANY_NUM;
}

int storage_trial_each(storage *st, int64_t study_id, const storage_filter *f,
                       storage_trial_fn fn, void *ctx, kerror *err)
{
    static const storage_filter all = {.state = -1};
    if (!f) f = &all;
    if (f->state < -1 || f->state > TRIAL_FAILED || f->offset < 0 || f->limit < 0 ||
        (f->after && (f->offset > 0 || (f->after->has_value && isnan(f->after->value)))))
        return kerror_set(err, KE_INVALID, NULL, "bad trial filter (state %d, "
                          "offset %d, limit %d%s)", f->state, f->offset, f->limit,
                          f->after ? ", after a trial" : "");
    char name[KERROR_MSG_MAX / 2];
    int maximize = 0, rc = study_maximize(st, study_id, &maximize, name, sizeof name, err);
    if (rc) return rc;
    storage_trial *page = calloc(PAGE_ROWS, sizeof *page);
    if (!page) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    /* Each page its own read, none held while fn runs: one read
     * transaction for a best-first listing into a slow reader (kestrel
     * trials | less) kept every checkpoint from finishing. Pages go on
     * from the last trial listed, never by offset: a better trial finishing
     * between two pages pushed the next one down a row, handing a trial
     * out twice. The offset skips once, in the first page; a listing
     * after a caller's cursor is by keyset from its first page. */
    storage_cursor after = {.number = -1, .has_value = 1,
                            .value = maximize ? INFINITY : -INFINITY};
    if (f->after) after = *f->after;
    int delivered = 0, stop = 0;
    while (!stop && rc == KE_OK) {
        int want = PAGE_ROWS, got;
        if (f->limit > 0 && f->limit - delivered < want) want = f->limit - delivered;
        if (want == 0) break;
        int first = delivered == 0 && !f->after;
        int q = each_query(f, maximize, first, &after);
        int by_value = f->best_first && !first && after.has_value;
        rc = read_page(st, q, study_id, f->state, &after, delivered ? 0 : f->offset, want, page,
                       &got, err);
        if (got > 0)
            after = (storage_cursor){page[got - 1].number, page[got - 1].has_value,
                                     page[got - 1].value};
        for (int i = 0; i < got; i++) {
            if (rc == KE_OK && !stop) stop = fn(&page[i], ctx) != 0;
            storage_trial_free(&page[i]);
        }
        delivered += got;
        if (got == want) continue;
        /* a short page ends the listing, but for the trials with a value
         * read by keyset: those without one follow, from the first */
        if (rc != KE_OK || !by_value) {
            if (rc == KE_OK && !stop) rc = storage_study_still_there(st, study_id, name, err);
            break;
        }
        after = (storage_cursor){.number = -1, .has_value = 0};
    }
    free(page);
    return rc;
}

int storage_trial_get(storage *st, int64_t study_id, int number,
                      storage_trial *out, kerror *err)
{
    sqlite3_stmt *s = sq_query(st, Q_TRIAL_GET, err);
    if (!s) return KE_DB;
    sqlite3_bind_int64(s, 1, study_id);
    sqlite3_bind_int(s, 2, number);
    int rc = sq_one_row(st, s, err, "study %lld has no trial %d", (long long)study_id,
                     number);
    return rc ? rc : fetch_trial(st, s, out, err);
}

int storage_trial_best(storage *st, int64_t study_id, storage_trial *out, kerror *err)
{
    sqlite3_stmt *s = sq_query(st, Q_TRIAL_BEST, err);
    if (!s) return KE_DB;
    sqlite3_bind_int64(s, 1, study_id);
    int rc = sq_one_row(st, s, err, "study %lld has no COMPLETE trial with a value",
                     (long long)study_id);
    return rc ? rc : fetch_trial(st, s, out, err);
}

void storage_trial_free(storage_trial *t)
{
    if (!t) return;
    free(t->worker);
    free(t->failure);
    for (int i = 0; i < t->n_params; i++) {
        free(t->params[i].name);
        free(t->params[i].text);
    }
    free(t->params);
    t->worker = t->failure = NULL;
    t->params = NULL;
    t->n_params = 0;
}

/* The rows of query q (?1 = key: a trial or study id), as *n elements of size bytes in *items, take(s, items, i) filling row i
 * (non-zero when out of memory). On failure drop(items, n) frees the rows
 * read so far and *items, *n come back NULL, 0. */
static int collect_rows(storage *st, int q, int64_t key, size_t size,
                        int (*take)(sqlite3_stmt *, void *, int), void (*drop)(void *, int),
                        void **items, int *n, kerror *err)
{
    *items = NULL;
    *n = 0;
    sqlite3_stmt *s = sq_query(st, q, err);
    if (!s) return KE_DB;
    sqlite3_bind_int64(s, 1, key);
    int cap = 0, step, rc = KE_OK;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        void *bigger = sq_grow(*items, *n, &cap, size);
        if (bigger) *items = bigger;
        if (!bigger || take(s, *items, *n)) {
            rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
            break;
        }
        (*n)++;
    }
    if (rc == KE_OK && step != SQLITE_DONE) rc = sq_db_error(st, err, "reading trial rows");
    sqlite3_reset(s);
    if (rc) {
        drop(*items, *n);
        *items = NULL;
        *n = 0;
    }
    return rc;
}

/* collect_rows for a trial's rows: KE_NOTFOUND when there is no such trial. */
static int collect(storage *st, int q, int64_t trial_id, size_t size,
                   int (*take)(sqlite3_stmt *, void *, int), void (*drop)(void *, int),
                   void **items, int *n, kerror *err)
{
    *items = NULL;
    *n = 0;
    int state, rc = trial_state_of(st, trial_id, &state, err);
    return rc ? rc : collect_rows(st, q, trial_id, size, take, drop, items, n, err);
}

static int take_value(sqlite3_stmt *s, void *arr, int i)
{
    storage_value *v = (storage_value *)arr + i;
    int oom = 0;
    v->step = sqlite3_column_int(s, 0);
    v->name = sq_column_dup(s, 1, &oom);
    v->value = sqlite3_column_type(s, 2) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 2);
    return oom;
}

static int take_metric(sqlite3_stmt *s, void *arr, int i)
{
    storage_metric *m = (storage_metric *)arr + i;
    int oom = 0;
    m->name = sq_column_dup(s, 0, &oom);
    m->value = sqlite3_column_type(s, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 1);
    return oom;
}

static void drop_values(void *arr, int n)
{
    storage_values_free(arr, n);
}

int storage_trial_values(storage *st, int64_t trial_id, storage_value **out,
                         int *n, kerror *err)
{
    void *items;
    int rc = collect(st, Q_VALUES, trial_id, sizeof **out, take_value, drop_values, &items, n,
                     err);
    *out = items;
    return rc;
}

void storage_values_free(storage_value *v, int n)
{
    for (int i = 0; v && i < n; i++) free(v[i].name);
    free(v);
}

static void drop_metrics(void *arr, int n)
{
    storage_metrics_free(arr, n);
}

int storage_trial_metrics(storage *st, int64_t trial_id, storage_metric **out,
                          int *n, kerror *err)
{
    void *items;
    int rc = collect(st, Q_METRICS, trial_id, sizeof **out, take_metric, drop_metrics, &items, n,
                     err);
    *out = items;
    return rc;
}

/* The names query q lists for a study, as metrics of NaN values. */
static int study_names(storage *st, int q, int64_t study_id, storage_metric **out, int *n,
                       kerror *err)
{
    void *items;
    int rc = collect_rows(st, q, study_id, sizeof **out, take_metric, drop_metrics, &items, n,
                          err);
    *out = items;
    return rc;
}

int storage_study_metric_names(storage *st, int64_t study_id, storage_metric **out, int *n,
                               kerror *err)
{
    return study_names(st, Q_METRIC_NAMES, study_id, out, n, err);
}

int storage_study_param_names(storage *st, int64_t study_id, storage_metric **out, int *n,
                              kerror *err)
{
    return study_names(st, Q_PARAM_NAMES, study_id, out, n, err);
}

void storage_metrics_free(storage_metric *m, int n)
{
    for (int i = 0; m && i < n; i++) free(m[i].name);
    free(m);
}

int storage_trial_logs(storage *st, int64_t trial_id, char **stdout_tail,
                       char **stderr_tail, kerror *err)
{
    *stdout_tail = *stderr_tail = NULL;
    sqlite3_stmt *s = sq_query(st, Q_LOGS, err);
    if (!s) return KE_DB;
    sqlite3_bind_int64(s, 1, trial_id);
    int rc = sq_one_row(st, s, err, "no trial with id %lld", (long long)trial_id), oom = 0;
    if (rc) return rc;
    *stdout_tail = sq_column_dup(s, 0, &oom);
    *stderr_tail = sq_column_dup(s, 1, &oom);
    sqlite3_reset(s);
    if (!oom) return KE_OK;
    free(*stdout_tail);
    free(*stderr_tail);
    *stdout_tail = *stderr_tail = NULL;
    return kerror_set(err, KE_NOMEM, NULL, "out of memory");
}

/* Hands the curve collected so far to fn; returns fn's verdict. */
static int flush_curve(storage_curve_fn fn, void *ctx, int number, int state,
                       const int *steps, const double *values, int n)
{
    return number < 0 ? 0 : fn(number, (trial_state)state, steps, values, n, ctx);
}

int storage_curves_each(storage *st, int64_t study_id, const char *metric, int offset,
                        int limit, storage_curve_fn fn, void *ctx, kerror *err)
{
    if (offset < 0 || limit < 0)
        return kerror_set(err, KE_INVALID, NULL, "bad page (offset %d, limit %d)", offset, limit);
    sqlite3_stmt *s = sq_query(st, Q_CURVES, err);
    if (!s) return KE_DB;
    sqlite3_bind_int64(s, 1, study_id);
    sq_bind_text_or_null(s, 2, metric);
    sqlite3_bind_int(s, 3, limit > 0 ? limit : -1);
    sqlite3_bind_int(s, 4, offset);
    int *steps = NULL, cap_s = 0, cap_v = 0, n = 0, number = -1, state = 0, stop = 0;
    double *values = NULL;
    int rc = KE_OK, step = SQLITE_DONE;
    while (!stop && (step = sqlite3_step(s)) == SQLITE_ROW) {
        int num = sqlite3_column_int(s, 0);
        if (num != number) {
            stop = flush_curve(fn, ctx, number, state, steps, values, n);
            number = num;
            state = trial_state_parse((const char *)sqlite3_column_text(s, 1));
            n = 0;
        }
        if (stop || sqlite3_column_type(s, 2) == SQLITE_NULL) continue;
        int *bs = sq_grow(steps, n, &cap_s, sizeof *steps);
        if (bs) steps = bs;
        double *bv = bs ? sq_grow(values, n, &cap_v, sizeof *values) : NULL;
        if (bv) values = bv;
        if (!bs || !bv) {
            rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
            break;
        }
        steps[n] = sqlite3_column_int(s, 2);
        values[n++] = sqlite3_column_type(s, 3) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 3);
    }
    if (rc == KE_OK && !stop && step != SQLITE_DONE) rc = sq_db_error(st, err, "reading curves");
    sqlite3_reset(s);
    if (rc == KE_OK && !stop) flush_curve(fn, ctx, number, state, steps, values, n);
    free(steps);
    free(values);
    return rc;
}
