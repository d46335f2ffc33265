/* test_events: the live feed's ring, held frames, readers and listeners
 * (src/events.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../src/events.h"
#include "kerror.h"

static char *dup_json(int n)
{
    char *s = malloc(32);
    snprintf(s, 32, "{\"n\": %d}", n);
    return s;
}

/* The frame after `after` for study (NULL: any) without waiting; its id in
 * *seq; NULL when there is none. */
static char *next(events *e, uint64_t after, const char *study, uint64_t *seq)
{
    char *frame = NULL;
    int rc = events_next(e, after, study, 0, &frame, seq);
    ck_assert_int_ge(rc, 0);
    return rc >= 1 ? frame : NULL;
}

START_TEST(frames_are_numbered_filtered_and_kept_for_a_ring)
{
    events *e = events_new();
    uint64_t base = events_last(e);   /* this run's start: its ids follow */
    ck_assert_uint_gt(base, 1000000000000000ull);   /* the clock's microseconds */
    events_put(e, "a", "trial_started", dup_json(1));
    events_put(e, "b", "trial_started", dup_json(2));
    events_put(e, "a", "study_state", NULL);   /* out of memory: dropped, no id taken */
    ck_assert_uint_eq(events_last(e), base + 2);
    uint64_t seq;
    char *f = next(e, base, NULL, &seq);
    char want[128];
    snprintf(want, sizeof want, "id: %llu\nevent: trial_started\ndata: {\"n\": 1}\n\n",
             (unsigned long long)(base + 1));
    ck_assert_str_eq(f, want);
    free(f);
    f = next(e, base, "b", &seq);
    ck_assert_uint_eq(seq, base + 2);
    free(f);
    ck_assert_ptr_null(next(e, base + 2, NULL, &seq));
    /* an id from a previous run (beyond the newest) gets everything held */
    f = next(e, base + 99, NULL, &seq);
    ck_assert_uint_eq(seq, base + 1);
    free(f);
    /* a reader behind the ring is told (2) that the frames up to its oldest
     * are lost, whatever its study (the lost ones may have been of it), and
     * resumes there */
    for (int i = 0; i < EVENTS_RING; i++) events_put(e, "a", "trial_reported", dup_json(i));
    uint64_t oldest = events_last(e) - EVENTS_RING + 1;
    for (int filtered = 0; filtered < 2; filtered++) {
        f = NULL;
        ck_assert_int_eq(events_next(e, base + 1, filtered ? "b" : NULL, 0, &f, &seq), 2);
        ck_assert_ptr_null(f);
        ck_assert_uint_eq(seq, oldest - 1);
    }
    f = next(e, seq, NULL, &seq);
    ck_assert_uint_eq(seq, oldest);
    free(f);
    events_end(e);
    char *frame = NULL;
    ck_assert_int_eq(events_next(e, 0, NULL, 1000, &frame, &seq), KE_INTERRUPTED);
    events_free(e);
}
END_TEST

/* A server restarted numbered its events from 1 again: a client that kept
 * the id 3 of the run before (EventSource's Last-Event-ID) and came back
 * once the new run had made 5 resumed after the new run's 3, and missed its
 * first three events. */
START_TEST(an_id_of_an_earlier_run_gets_every_event_of_this_one)
{
    events *e = events_new();
    uint64_t base = events_last(e), seq;
    for (int i = 0; i < 5; i++) events_put(e, "a", "trial_started", dup_json(i));
    for (uint64_t old = 0; old <= 3; old += 3) {   /* since=0, and the earlier run's 3 */
        char *f = next(e, old, NULL, &seq);
        ck_assert_uint_eq(seq, base + 1);
        free(f);
    }
    events_free(e);
}
END_TEST

START_TEST(held_frames_wait_for_their_release)
{
    events *e = events_new();
    events_hold(e, "a", "trial_started", dup_json(1));
    events_hold(e, "a", "trial_finished", dup_json(2));
    uint64_t base = events_last(e);
    events_release(e, 1);
    ck_assert_uint_eq(events_last(e), base + 2);
    events_hold(e, "a", "trial_started", dup_json(3));   /* rolled back: never seen */
    events_release(e, 0);
    ck_assert_uint_eq(events_last(e), base + 2);
    events_hold(e, "a", "trial_started", dup_json(4));
    events_free(e);   /* frees what is still held */
}
END_TEST

START_TEST(trial_events_are_wanted_while_a_stream_listens)
{
    events *e = events_new();
    ck_assert(!events_wanted(e));
    events_listen(e, 1);
    events_listen(e, 1);
    ck_assert(events_wanted(e));
    events_listen(e, 0);
    ck_assert(events_wanted(e));
    /* the last one left: still wanted for EVENTS_KEEP_S (a reconnect) */
    events_listen(e, 0);
    ck_assert(events_wanted(e));
    events_free(e);
}
END_TEST

static Suite *events_suite(void)
{
    Suite *s = suite_create("events");
    TCase *tc = tcase_create("events");
    tcase_add_test(tc, frames_are_numbered_filtered_and_kept_for_a_ring);
    tcase_add_test(tc, an_id_of_an_earlier_run_gets_every_event_of_this_one);
    tcase_add_test(tc, held_frames_wait_for_their_release);
    tcase_add_test(tc, trial_events_are_wanted_while_a_stream_listens);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(events_suite());
}
