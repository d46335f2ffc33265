/* test_watch: what the service learns of other processes' changes to a
 * history (watch.c), with a second storage connection on a real file
 * playing the other process. */
#include "check_main.h"
#include "storage_fixture.h"
#include "../src/watch.h"

/* What the watch told, one "name:changed" or "name:gone" a call. */
static char told[512];

static void record(const storage_study *s, const char *name, void *ctx)
{
    (void)ctx;
    snprintf(told + strlen(told), sizeof told - strlen(told), "%s%s:%s", told[0] ? " " : "",
             name, s ? "changed" : "gone");
}

/* Another process's storage connection (the watch tells only of those). */
static storage *other(void)
{
    storage *o;
    ck_assert_msg(storage_open(&o, db_path, &err) == KE_OK, "%s", err.msg);
    return o;
}

static int64_t make(storage *o, const char *name)
{
    int64_t id;
    ck_assert_msg(storage_study_create(o, name, "{}", "h", "loss", 0, &id, &err) == KE_OK, "%s",
                  err.msg);
    return id;
}

START_TEST(changes_and_deletes_told)
{
    open_db();
    storage *o = other();
    make(o, "a");
    watch *w;
    ck_assert_int_eq(watch_open(&w, st, &err), KE_OK);
    ck_assert_int_eq(watch_poll(w, st, record, NULL, &err), KE_OK);
    ck_assert_str_eq(told, "");
    int64_t b = make(o, "b");
    ck_assert_int_eq(watch_poll(w, st, record, NULL, &err), KE_OK);
    ck_assert_str_eq(told, "b:changed");
    told[0] = '\0';
    ck_assert_int_eq(storage_study_delete(o, b, &err), KE_OK);
    ck_assert_int_eq(watch_poll(w, st, record, NULL, &err), KE_OK);
    ck_assert_str_eq(told, "b:gone");
    watch_close(w);
    storage_close(o);
}
END_TEST

/* A study deleted and made again under its name between two looks (a
 * `kestrel delete` and a `kestrel run` beside the server), in the same
 * state with the same counts: it is another study, and watchers hear that
 * the old one went and the new one came. Before, the two looked alike and
 * nothing was told: a dashboard went on showing the old study's trials. */
START_TEST(study_made_again_under_its_name_told)
{
    open_db();
    storage *o = other();
    int64_t a = make(o, "a");
    watch *w;
    ck_assert_int_eq(watch_open(&w, st, &err), KE_OK);
    ck_assert_int_eq(storage_study_delete(o, a, &err), KE_OK);
    make(o, "a");
    ck_assert_int_eq(watch_poll(w, st, record, NULL, &err), KE_OK);
    ck_assert_str_eq(told, "a:gone a:changed");
    watch_close(w);
    storage_close(o);
}
END_TEST

static Suite *watch_suite(void)
{
    Suite *s = suite_create("watch");
    TCase *tc = tcase_create("watch");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, changes_and_deletes_told);
    tcase_add_test(tc, study_made_again_under_its_name_told);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(watch_suite());
}
