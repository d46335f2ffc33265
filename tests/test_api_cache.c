/* test_api_cache: the API's cache of JSON bodies (src/api_cache.c): what
 * it answers for a key and a stamp, and that a dashboard's kept pages of a
 * study stay kept together. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../src/api_cache.h"

static api_body *put(api_cache *c, const char *key, const storage_stamp *st, const char *text)
{
    api_body *b = api_cache_put(c, key, st, strdup(text), strlen(text));
    ck_assert_ptr_nonnull(b);
    return b;
}

/* The text kept for key at st, or NULL. */
static char *got(api_cache *c, const char *key, const storage_stamp *st)
{
    api_body *b = api_cache_get(c, key, st);
    if (!b) return NULL;
    size_t len;
    const char *body = api_body_text(b, &len);
    char *text = strndup(body, len);
    api_body_release(b);
    return text;
}

START_TEST(a_body_answers_its_key_at_its_stamp_only)
{
    api_cache *c = api_cache_new();
    storage_stamp st = {.id = 1, .created_at = 5, .version = 3, .settled = 0};
    api_body *held = put(c, "best", &st, "one");
    char *t = got(c, "best", &st);
    ck_assert_str_eq(t, "one");
    free(t);
    storage_stamp later = st;
    later.version++;
    ck_assert_ptr_null(got(c, "best", &later));
    ck_assert_ptr_null(got(c, "trials", &st));
    storage_stamp turned = st;   /* the direction turned by a new spec */
    turned.maximize = 1;
    ck_assert_ptr_null(got(c, "best", &turned));
    /* a new body for the key replaces the old one, which its holder keeps */
    api_body_release(put(c, "best", &later, "two"));
    ck_assert_ptr_null(got(c, "best", &st));
    size_t len;
    ck_assert_int_eq(memcmp(api_body_text(held, &len), "one", 3), 0);
    api_body_release(held);
    api_cache_free(c);
}
END_TEST

/* A dashboard's reload of a 10,000-trial study asks for six pages of its
 * trials and six of their curves (api_trials.c's keys), and the best trial between
 * them: direct-mapped, two of these pages shared a slot with each other or
 * with the best trial, and each load built them again. */
START_TEST(a_studys_kept_pages_stay_kept_together)
{
    api_cache *c = api_cache_new();
    storage_stamp st = {.id = 1, .created_at = 5, .version = -1, .settled = 0};
    storage_stamp live = {.id = 1, .created_at = 5, .version = 1, .settled = 0};
    char key[64];
    for (int round = 0; round < 3; round++) {
        for (int off = 0; off < 12000; off += 2000) {
            snprintf(key, sizeof key, "settled trials %d 2000 ", off);
            if (round == 0) api_body_release(put(c, key, &st, key));
            snprintf(key, sizeof key, "settled curves %d 2000 value", off);
            if (round == 0) api_body_release(put(c, key, &st, key));
        }
        live.version++;
        api_body_release(put(c, "best", &live, "best"));
    }
    for (int off = 0; off < 12000; off += 2000)
        for (int curves = 0; curves < 2; curves++) {
            snprintf(key, sizeof key, curves ? "settled curves %d 2000 value" : "settled trials %d 2000 ",
                     off);
            char *t = got(c, key, &st);
            ck_assert_msg(t && !strcmp(t, key), "%s was not kept", key);
            free(t);
        }
    api_cache_free(c);
}
END_TEST

/* Bodies no longer asked for (a deleted study's pages of 10,000 trials)
 * filled the budget and, each in a set of its own, were never replaced:
 * from then on no new body was kept. The least recently used make room. */
START_TEST(old_bodies_make_room_for_new_ones)
{
    api_cache *c = api_cache_new();
    storage_stamp old = {.id = 1, .created_at = 5, .version = 3, .settled = 0};
    storage_stamp st = {.id = 2, .created_at = 6, .version = 1, .settled = 0};
    char key[64];
    for (int i = 0; i < 16; i++) {
        char *text = calloc(1, API_CACHE_MAX_BODY);
        ck_assert_ptr_nonnull(text);
        snprintf(key, sizeof key, "trials -1 1 %d 10000", i * 10000);
        api_body_release(api_cache_put(c, key, &old, text, API_CACHE_MAX_BODY));
    }
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "settled trials %d 2000 ", i * 2000);
        api_body_release(put(c, key, &st, key));
        char *t = got(c, key, &st);
        ck_assert_msg(t && !strcmp(t, key), "%s was not kept", key);
        free(t);
    }
    api_cache_free(c);
}
END_TEST

static Suite *api_cache_suite(void)
{
    Suite *s = suite_create("api_cache");
    TCase *tc = tcase_create("api_cache");
    tcase_add_test(tc, a_body_answers_its_key_at_its_stamp_only);
    tcase_add_test(tc, a_studys_kept_pages_stay_kept_together);
    tcase_add_test(tc, old_bodies_make_room_for_new_ones);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(api_cache_suite());
}
