/* test_storage_query: reading the SQLite history back: trials page by page
 * (keyset by number, best first), learning curves, and the SQL views a user
 * queries with the sqlite3 shell, on real files in a temp dir. */
#include <math.h>

#include "check_main.h"
#include "storage_fixture.h"

/* ---- storage_trial_each ---- */

#define MANY 650
#define SEEN_MAX (MANY + 16)   /* room for trials added while a listing runs */

typedef struct {
    int n, stop_after;
    int numbers[SEEN_MAX];
    double values[SEEN_MAX];
    int has_value[SEEN_MAX];
    int bad_params;
    int checkpoints_busy;       /* wal_checkpoint(TRUNCATE)s a reader held up */
} seen;

static int collect_trial(const storage_trial *t, void *ctx)
{
    seen *s = ctx;
    ck_assert_int_lt(s->n, SEEN_MAX);
    char tag[32];
    snprintf(tag, sizeof tag, "t%d", t->number);
    if (t->number < MANY && (t->n_params != 2 || t->params[0].num != t->number / 2.0 ||
        !t->params[1].is_text || strcmp(t->params[1].text, tag) != 0))
        s->bad_params++;
    s->numbers[s->n] = t->number;
    s->values[s->n] = t->value;
    s->has_value[s->n] = t->has_value;
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

static seen *each(int64_t study, storage_filter f)
{
    static seen s;
    memset(&s, 0, sizeof s);
    int rc = storage_trial_each(st, study, &f, collect_trial, &s, &err);
    ck_assert_msg(rc == KE_OK, "trial_each: %s", err.msg);
    ck_assert_int_eq(s.bad_params, 0);
    return &s;
}

/* MANY trials: number % 3 == 0 FAILED without value, else COMPLETE with value
 * (number * 37) % 101, which repeats so ties occur. */
static int64_t many_trials(int maximize)
{
    int64_t sid = new_study(maximize ? "many-max" : "many-min", maximize);
    for (int i = 0; i < MANY; i++) {
        int64_t t = numbered_trial(sid, i);
        if (i % 3 == 0)
            finish(t, TRIAL_FAILED, 0, 0);
        else
            finish(t, TRIAL_COMPLETE, 1, (i * 37) % 101);
    }
    return sid;
}

START_TEST(each_by_number)
{
    open_db();
    int64_t sid = many_trials(0);
    seen *s = each(sid, (storage_filter){.state = -1});
    ck_assert_int_eq(s->n, MANY);
    for (int i = 0; i < MANY; i++) ck_assert_int_eq(s->numbers[i], i);

    s = each(sid, (storage_filter){.state = TRIAL_COMPLETE});
    ck_assert_int_eq(s->n, MANY - (MANY + 2) / 3);
    for (int i = 0; i < s->n; i++) ck_assert(s->numbers[i] % 3 != 0 && s->has_value[i]);
    for (int i = 1; i < s->n; i++) ck_assert_int_lt(s->numbers[i - 1], s->numbers[i]);

    s = each(sid, (storage_filter){.state = -1, .offset = 250, .limit = 300});
    ck_assert_int_eq(s->n, 300);
    for (int i = 0; i < 300; i++) ck_assert_int_eq(s->numbers[i], 250 + i);

    s = each(sid, (storage_filter){.state = -1, .offset = 600});
    ck_assert_int_eq(s->n, MANY - 600);
    ck_assert_int_eq(s->numbers[0], 600);

    /* FAILED trials are numbers 0, 3, 6, ...: skip 50 of them, take 150. */
    s = each(sid, (storage_filter){.state = TRIAL_FAILED, .offset = 50, .limit = 150});
    ck_assert_int_eq(s->n, 150);
    for (int i = 0; i < 150; i++) ck_assert_int_eq(s->numbers[i], 3 * (50 + i));

    /* The k-th COMPLETE trial is number k + k / 2 + 1; this spans two pages. */
    s = each(sid, (storage_filter){.state = TRIAL_COMPLETE, .offset = 100, .limit = 300});
    ck_assert_int_eq(s->n, 300);
    for (int i = 0; i < 300; i++) {
        int k = 100 + i;
        ck_assert_int_eq(s->numbers[i], k + k / 2 + 1);
    }

    s = each(sid, (storage_filter){.state = TRIAL_PRUNED});
    ck_assert_int_eq(s->n, 0);

    /* after a number (a caller's cursor): the trials after it, by number */
    s = each(sid, (storage_filter){.state = TRIAL_FAILED, .after = &(storage_cursor){.number = 301},
                                   .limit = 5});
    ck_assert_int_eq(s->n, 5);
    for (int i = 0; i < 5; i++) ck_assert_int_eq(s->numbers[i], 303 + 3 * i);

    static seen stop;
    memset(&stop, 0, sizeof stop);
    stop.stop_after = 300;
    ck_assert_int_eq(storage_trial_each(st, sid, &(storage_filter){.state = -1},
                                        collect_trial, &stop, &err), KE_OK);
    ck_assert_int_eq(stop.n, 300);

    ck_assert_int_eq(storage_trial_each(st, sid + 100, &(storage_filter){.state = -1},
                                        collect_trial, &stop, &err), KE_NOTFOUND);
    ck_assert_int_eq(storage_trial_each(st, sid, &(storage_filter){.state = 7},
                                        collect_trial, &stop, &err), KE_INVALID);
}
END_TEST

/* Best-first order: values by direction, ties by number, no value last. */
static void check_best_order(const seen *s, int maximize)
{
    for (int i = 1; i < s->n; i++) {
        if (!s->has_value[i]) {
            if (!s->has_value[i - 1]) ck_assert_int_lt(s->numbers[i - 1], s->numbers[i]);
            continue;
        }
        ck_assert_msg(s->has_value[i - 1], "a trial without value before one with");
        double a = s->values[i - 1], b = s->values[i];
        ck_assert(maximize ? a >= b : a <= b);
        if (a == b) ck_assert_int_lt(s->numbers[i - 1], s->numbers[i]);
    }
}

START_TEST(each_best_first)
{
    open_db();
    for (int maximize = 0; maximize <= 1; maximize++) {
        int64_t sid = many_trials(maximize);
        seen *s = each(sid, (storage_filter){.state = -1, .best_first = 1});
        ck_assert_int_eq(s->n, MANY);
        check_best_order(s, maximize);
        ck_assert(!s->has_value[MANY - 1]);
        ck_assert_double_eq(s->values[0], maximize ? 100 : 0);

        storage_trial best;
        ck_assert_int_eq(storage_trial_best(st, sid, &best, &err), KE_OK);
        ck_assert_int_eq(best.number, s->numbers[0]);
        storage_trial_free(&best);

        /* from any offset, across the pages' and the valued trials' ends
         * (433 have a value), the same rows as the whole listing's */
        static seen whole;
        whole = *s;
        static const int offsets[] = {1, 177, 255, 256, 420, 433, 600, 649, 650};
        for (size_t k = 0; k < sizeof offsets / sizeof *offsets; k++) {
            s = each(sid, (storage_filter){.state = -1, .best_first = 1, .offset = offsets[k]});
            ck_assert_int_eq(s->n, MANY - offsets[k]);
            for (int i = 0; i < s->n; i++)
                ck_assert_int_eq(s->numbers[i], whole.numbers[offsets[k] + i]);
        }
        s = each(sid, (storage_filter){.state = -1, .best_first = 1, .offset = 177, .limit = 300});
        ck_assert_int_eq(s->n, 300);
        for (int i = 0; i < s->n; i++) ck_assert_int_eq(s->numbers[i], whole.numbers[177 + i]);
        /* after any trial of the listing (a caller's cursor), the rest of
         * it: across the pages' and the valued trials' ends, from a trial
         * without a value, and after the last (nothing) */
        static const int afters[] = {0, 176, 255, 256, 431, 432, 433, 600, 649};
        for (size_t k = 0; k < sizeof afters / sizeof *afters; k++) {
            int i0 = afters[k];
            storage_cursor c = {whole.numbers[i0], whole.has_value[i0], whole.values[i0]};
            s = each(sid, (storage_filter){.state = -1, .best_first = 1, .after = &c});
            ck_assert_int_eq(s->n, MANY - 1 - i0);
            for (int i = 0; i < s->n; i++)
                ck_assert_int_eq(s->numbers[i], whole.numbers[i0 + 1 + i]);
            s = each(sid, (storage_filter){.state = -1, .best_first = 1, .after = &c, .limit = 7});
            ck_assert_int_eq(s->n, MANY - 1 - i0 < 7 ? MANY - 1 - i0 : 7);
        }
        /* a place no trial holds: the trials after it */
        storage_cursor between = {.number = 1000, .has_value = 1, .value = maximize ? 50.5 : 49.5};
        s = each(sid, (storage_filter){.state = -1, .best_first = 1, .after = &between});
        ck_assert_int_gt(s->n, 0);
        ck_assert(s->has_value[0] && s->values[0] == 50);   /* the next value either way */
        ck_assert_int_eq(storage_trial_each(st, sid, &(storage_filter){.state = -1, .offset = 1,
                                            .after = &between}, collect_trial, s, &err),
                         KE_INVALID);
        s = &whole;

        int first = s->numbers[300];
        s = each(sid, (storage_filter){.state = TRIAL_COMPLETE, .best_first = 1,
                                       .offset = 300, .limit = 50});
        ck_assert_int_eq(s->n, 50);
        ck_assert_int_eq(s->numbers[0], first);
        check_best_order(s, maximize);
    }
}
END_TEST

/* Adds trial `number` of the newest study by hand, as another process would. */
static void add_trial(int number, const char *state, const char *value)
{
    char sql[400];
    snprintf(sql, sizeof sql, "INSERT INTO trials (study_id, number, state, value, started_at, "
             "finished_at) SELECT max(id), %d, '%s', %s, 1, %s FROM studies", number,
             state, value, strcmp(state, "RUNNING") ? "2" : "NULL");
    sql_exec(sql);
}

/* Runs a full checkpoint (TRUNCATE) on a connection of its own, as the
 * server's checkpoint thread does: 1 when a reader held it up. */
static int checkpoint_busy(void)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    /* a fresh connection finds the WAL at its first read (else: nothing to do) */
    ck_assert_int_eq(sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL),
                     SQLITE_OK);
    int log = -1, done = -1;
    int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
    sqlite3_close(db);
    ck_assert(rc == SQLITE_OK || rc == SQLITE_BUSY);
    ck_assert_int_ge(log, 0);
    return rc == SQLITE_BUSY || log != done;
}

/* While a best-first listing is read (each trial's callback, so between
 * its pages too), other processes end the trial that was running, add
 * trials better and worse than the ones listed, and without a value, and
 * checkpoint the WAL. */
static int collect_while_it_grows(const storage_trial *t, void *ctx)
{
    seen *s = ctx;
    static int next;
    if (s->n == 0) {   /* the trial running when the listing began ends, in the middle */
        sql_exec("UPDATE trials SET state = 'COMPLETE', value = 50, finished_at = 2 "
                 "WHERE number = 650 AND study_id = (SELECT max(id) FROM studies)");
        next = MANY + 1;
    }
    if (s->n % 100 == 0) {
        add_trial(next++, "COMPLETE", "-1");     /* better than all: behind every cursor */
        add_trial(next++, "COMPLETE", "1000");   /* worse than all: ahead of them */
        add_trial(next++, "FAILED", "NULL");
        s->checkpoints_busy += checkpoint_busy();
    }
    return collect_trial(t, ctx);
}

/* A best-first listing read in one snapshot (a109b52: offset pages, each
 * its own, handed a trial out twice when a better one finished between
 * two) held one read transaction for as long as its reader took: `kestrel
 * trials --sort best` of a 10,000-trial study piped into a slow reader
 * kept every checkpoint from finishing, and the WAL grew. Keyset pages on
 * (value, number) are each their own read: the checkpoint runs between
 * them; no trial comes twice, every trial finished before the listing
 * comes once, in order, and trials added behind the cursor do not come. */
START_TEST(each_best_first_hands_out_each_trial_once_and_holds_no_snapshot)
{
    open_db();
    for (int maximize = 0; maximize <= 1; maximize++) {
        int64_t sid = many_trials(maximize);
        add_trial(MANY, "RUNNING", "NULL");
        static seen s;
        memset(&s, 0, sizeof s);
        ck_assert_int_eq(storage_trial_each(st, sid,
                                            &(storage_filter){.state = -1, .best_first = 1},
                                            collect_while_it_grows, &s, &err), KE_OK);
        ck_assert_int_eq(s.checkpoints_busy, 0);
        static char listed[SEEN_MAX];
        memset(listed, 0, sizeof listed);
        for (int i = 0; i < s.n; i++) {
            ck_assert_msg(!listed[s.numbers[i]], "trial %d twice", s.numbers[i]);
            listed[s.numbers[i]] = 1;
            ck_assert(s.numbers[i] < MANY || s.values[i] != (maximize ? 1000 : -1) ||
                      !s.has_value[i]);   /* a better one came behind the cursor */
        }
        for (int n = 0; n < MANY; n++) ck_assert_msg(listed[n], "trial %d missing", n);
        check_best_order(&s, maximize);
        sql_exec("DELETE FROM trials WHERE number >= 650");
    }
}
END_TEST

/* Deletes the study being listed (as `kestrel delete` in another process
 * would) when the listing has handed out `at` trials. */
typedef struct {
    seen s;
    int at;
    int64_t sid;
} deleting;

static int collect_then_delete(const storage_trial *t, void *ctx)
{
    deleting *d = ctx;
    if (d->s.n == d->at) {
        kerror e;
        ck_assert_int_eq(storage_study_delete(st, d->sid, &e), KE_OK);
    }
    return collect_trial(t, &d->s);
}

/* storage_trial_each reads a page of 256 at a time with nothing held
 * between pages: a study deleted meanwhile had the pages after it come back
 * empty, and the listing ended KE_OK after 256 of 650 trials (`kestrel
 * trials --format csv` of a study deleted while it printed: a partial list
 * and exit 0). It is KE_NOTFOUND, naming the study, in every order, and in
 * the first page too; a study deleted after the last trial was handed out
 * is no cut. */
START_TEST(each_of_a_study_deleted_meanwhile_is_notfound)
{
    open_db();
    for (int best = 0; best <= 1; best++) {
        static const int ats[] = {10, 300};
        for (size_t k = 0; k < sizeof ats / sizeof *ats; k++) {
            int64_t sid = many_trials(0);
            static deleting d;
            memset(&d, 0, sizeof d);
            d.at = ats[k];
            d.sid = sid;
            kerror_clear(&err);
            int rc = storage_trial_each(st, sid, &(storage_filter){.state = -1, .best_first = best},
                                        collect_then_delete, &d, &err);
            ck_assert_msg(rc == KE_NOTFOUND, "best %d, deleted at %d: rc %d after %d trials",
                          best, ats[k], rc, d.s.n);
            ck_assert_msg(strstr(err.msg, "'many-min'") && strstr(err.msg, "deleted"), "%s",
                          err.msg);
            ck_assert_int_lt(d.s.n, MANY);
        }
    }
    /* deleted as the last trial is handed out: the listing was whole */
    int64_t sid = many_trials(0);
    static deleting d;
    memset(&d, 0, sizeof d);
    d.at = MANY - 1;
    d.sid = sid;
    ck_assert_int_eq(storage_trial_each(st, sid, &(storage_filter){.state = -1, .limit = MANY},
                                        collect_then_delete, &d, &err), KE_OK);
    ck_assert_int_eq(d.s.n, MANY);
}
END_TEST

/* ---- storage_curves_each ---- */

#define CURVE_CALLS 8
#define CURVE_POINTS 4

typedef struct {
    int calls, stop_after;
    int number[CURVE_CALLS], n[CURVE_CALLS];
    trial_state state[CURVE_CALLS];
    int steps[CURVE_CALLS][CURVE_POINTS];
    double values[CURVE_CALLS][CURVE_POINTS];
} curves;

static int collect_curve(int number, trial_state state, const int *steps,
                         const double *values, int n, void *ctx)
{
    curves *c = ctx;
    ck_assert_int_lt(c->calls, CURVE_CALLS);
    ck_assert_int_le(n, CURVE_POINTS);
    c->number[c->calls] = number;
    c->state[c->calls] = state;
    c->n[c->calls] = n;
    for (int i = 0; i < n; i++) {
        c->steps[c->calls][i] = steps[i];
        c->values[c->calls][i] = values[i];
    }
    c->calls++;
    return c->stop_after && c->calls >= c->stop_after;
}

static curves *curves_of(int64_t study, const char *metric, int offset, int limit,
                         int stop_after)
{
    static curves c;
    memset(&c, 0, sizeof c);
    c.stop_after = stop_after;
    int rc = storage_curves_each(st, study, metric, offset, limit, collect_curve, &c, &err);
    ck_assert_msg(rc == KE_OK, "curves_each: %s", err.msg);
    return &c;
}

/* Call i of c is trial `number` in `state` with the n (step, value) pairs. */
static void assert_curve(const curves *c, int i, int number, trial_state state, int n,
                         const int *steps, const double *values)
{
    ck_assert_int_eq(c->number[i], number);
    ck_assert_int_eq(c->state[i], state);
    ck_assert_int_eq(c->n[i], n);
    for (int k = 0; k < n; k++) {
        ck_assert_int_eq(c->steps[i][k], steps[k]);
        ck_assert_double_eq(c->values[i][k], values[k]);
    }
}

static void report(int64_t trial, int step, const char *metric, double value)
{
    storage_metric m = {(char *)metric, value};
    int rc = storage_trial_report(st, trial, step, &m, 1, &err);
    ck_assert_msg(rc == KE_OK, "trial_report: %s", err.msg);
}

START_TEST(curves_each)
{
    open_db();
    int64_t sid = new_study("curves", 0), other = new_study("other", 0);
    /* Trial 0 reports out of step order; trial 1 never reports; trial 2 has
     * acc at a step where it has no loss and a NaN loss; trial 3 only acc. */
    int64_t t0 = numbered_trial(sid, 0), t1 = numbered_trial(sid, 1);
    int64_t t2 = numbered_trial(sid, 2), t3 = numbered_trial(sid, 3);
    report(t0, 2, "loss", 0.5);
    report(t0, 2, "acc", 0.1);
    report(t0, 0, "loss", 0.9);
    report(t0, 1, "acc", 0.05);
    report(t0, 1, "loss", 0.7);
    report(t2, 5, "loss", 0.3);
    report(t2, 3, "loss", 0.4);
    report(t2, 4, "acc", 0.2);
    report(t3, 1, "acc", 0.3);
    finish(t0, TRIAL_COMPLETE, 1, 0.5);
    finish(t1, TRIAL_FAILED, 0, 0);
    finish(t3, TRIAL_PRUNED, 0, 0);
    report(numbered_trial(other, 0), 0, "loss", 9.0);

    curves *c = curves_of(sid, "loss", 0, 0, 0);
    ck_assert_int_eq(c->calls, 4);
    assert_curve(c, 0, 0, TRIAL_COMPLETE, 3, (int[]){0, 1, 2}, (double[]){0.9, 0.7, 0.5});
    assert_curve(c, 1, 1, TRIAL_FAILED, 0, NULL, NULL);
    assert_curve(c, 2, 2, TRIAL_RUNNING, 2, (int[]){3, 5}, (double[]){0.4, 0.3});
    assert_curve(c, 3, 3, TRIAL_PRUNED, 0, NULL, NULL);

    c = curves_of(sid, "acc", 0, 0, 0);
    ck_assert_int_eq(c->calls, 4);
    assert_curve(c, 0, 0, TRIAL_COMPLETE, 2, (int[]){1, 2}, (double[]){0.05, 0.1});
    assert_curve(c, 1, 1, TRIAL_FAILED, 0, NULL, NULL);
    assert_curve(c, 2, 2, TRIAL_RUNNING, 1, (int[]){4}, (double[]){0.2});
    assert_curve(c, 3, 3, TRIAL_PRUNED, 1, (int[]){1}, (double[]){0.3});

    c = curves_of(sid, "nope", 0, 0, 0);
    ck_assert_int_eq(c->calls, 4);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(c->n[i], 0);

    /* Pages of trials by number; a page past the end calls nothing. */
    c = curves_of(sid, "loss", 1, 2, 0);
    ck_assert_int_eq(c->calls, 2);
    assert_curve(c, 0, 1, TRIAL_FAILED, 0, NULL, NULL);
    assert_curve(c, 1, 2, TRIAL_RUNNING, 2, (int[]){3, 5}, (double[]){0.4, 0.3});
    c = curves_of(sid, "loss", 3, 0, 0);
    ck_assert_int_eq(c->calls, 1);
    assert_curve(c, 0, 3, TRIAL_PRUNED, 0, NULL, NULL);
    c = curves_of(sid, "loss", 4, 0, 0);
    ck_assert_int_eq(c->calls, 0);
    c = curves_of(other, "loss", 0, 0, 0);
    ck_assert_int_eq(c->calls, 1);
    assert_curve(c, 0, 0, TRIAL_RUNNING, 1, (int[]){0}, (double[]){9.0});

    /* fn's non-zero stops the walk, also before the last curve's flush. */
    c = curves_of(sid, "loss", 0, 0, 1);
    ck_assert_int_eq(c->calls, 1);
    c = curves_of(sid, "loss", 0, 0, 3);
    ck_assert_int_eq(c->calls, 3);
    assert_curve(c, 2, 2, TRIAL_RUNNING, 2, (int[]){3, 5}, (double[]){0.4, 0.3});
    c = curves_of(sid, "loss", 0, 0, 4);
    ck_assert_int_eq(c->calls, 4);

    /* A NaN report reads back as NaN. */
    report(t2, 6, "loss", NAN);
    c = curves_of(sid, "loss", 2, 1, 0);
    ck_assert_int_eq(c->n[0], 3);
    ck_assert_int_eq(c->steps[0][2], 6);
    ck_assert(isnan(c->values[0][2]));

    ck_assert_int_eq(storage_curves_each(st, sid, "loss", -1, 0, collect_curve, c, &err),
                     KE_INVALID);
    ck_assert_int_eq(storage_curves_each(st, sid, "loss", 0, -1, collect_curve, c, &err),
                     KE_INVALID);
}
END_TEST

/* ---- views, through the plain sqlite3 API ---- */

START_TEST(views_answer)
{
    open_db();
    int64_t mn = new_study("branin-random", 0), mx = new_study("acc-max", 1);
    double values[] = {2.0, 0.4, 7.0, 0.4};
    for (int i = 0; i < 4; i++) {
        finish(numbered_trial(mn, i), TRIAL_COMPLETE, 1, values[i]);
        finish(numbered_trial(mx, i), TRIAL_COMPLETE, 1, values[i]);
    }
    finish(numbered_trial(mn, 4), TRIAL_PRUNED, 1, -1.0);
    int64_t running = numbered_trial(mx, 4);
    storage_metric m = {"acc", 0.9};
    ck_assert_int_eq(storage_trial_report(st, running, 3, &m, 1, &err), KE_OK);

    assert_sql("SELECT number || ' ' || value || ' ' || params FROM best_trials "
               "WHERE study = 'branin-random'", "1 0.4 {\"x\":0.5,\"tag\":\"t1\"}");
    assert_sql("SELECT number || ' ' || value || ' ' || params FROM best_trials "
               "WHERE study = 'acc-max'", "2 7.0 {\"x\":1.0,\"tag\":\"t2\"}");
    assert_sql("SELECT json_extract(params, '$.tag') FROM best_trials "
               "WHERE study = 'acc-max'", "t2");
    assert_sql("SELECT count(*) FROM best_trials", "2");
    assert_sql("SELECT n_trials || n_running || n_complete || n_pruned || n_failed "
               "|| ' ' || best_number || ' ' || best_value FROM study_summary "
               "WHERE study = 'branin-random'", "50410 1 0.4");
    assert_sql("SELECT n_running || ' ' || best_value FROM study_summary "
               "WHERE study = 'acc-max'", "1 7.0");
    assert_sql("SELECT state || ' ' || last_step || ' ' || coalesce(duration, 'none') "
               "|| ' ' || metrics FROM trial_overview WHERE study = 'acc-max' "
               "AND number = 4", "RUNNING 3 none {}");
    assert_sql("SELECT count(*) FROM trial_overview WHERE duration >= 0", "9");
}
END_TEST

static Suite *storage_query_suite(void)
{
    Suite *s = suite_create("storage_query");
    TCase *rows = tcase_create("query");
    tcase_add_checked_fixture(rows, setup, teardown);
    /* Histories of 650 trials: Check's 4 s default is too short on a loaded
     * 2-core machine (seen at load average 17) */
    tcase_set_timeout(rows, 60);
    tcase_add_test(rows, each_by_number);
    tcase_add_test(rows, each_best_first);
    tcase_add_test(rows, each_best_first_hands_out_each_trial_once_and_holds_no_snapshot);
    tcase_add_test(rows, each_of_a_study_deleted_meanwhile_is_notfound);
    tcase_add_test(rows, curves_each);
    tcase_add_test(rows, views_answer);
    suite_add_tcase(s, rows);
    return s;
}

int main(void)
{
    return check_run(storage_query_suite());
}
