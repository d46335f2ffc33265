/* test_utf8: what counts as a well-formed UTF-8 sequence (RFC 3629, as
 * Jansson checks it) and the repair of text that is not. */
#include <check.h>
#include <stdlib.h>

#include "check_main.h"
#include "../common/utf8.h"

START_TEST(test_sequences)
{
    ck_assert_int_eq(utf8_seq_len("a"), 1);
    ck_assert_int_eq(utf8_seq_len("\xC3\xA9"), 2);          /* é */
    ck_assert_int_eq(utf8_seq_len("\xE2\x82\xAC"), 3);      /* € */
    ck_assert_int_eq(utf8_seq_len("\xF0\x9F\x90\xA6"), 4);  /* U+1F426 */
    ck_assert_int_eq(utf8_seq_len("\xE9"), 0);              /* Latin-1 é */
    ck_assert_int_eq(utf8_seq_len("\x80"), 0);              /* lone continuation */
    ck_assert_int_eq(utf8_seq_len("\xC0\xAF"), 0);          /* overlong / */
    ck_assert_int_eq(utf8_seq_len("\xE0\x80\xAF"), 0);      /* overlong / */
    ck_assert_int_eq(utf8_seq_len("\xED\xA0\x80"), 0);      /* surrogate */
    ck_assert_int_eq(utf8_seq_len("\xF4\x90\x80\x80"), 0);  /* above U+10FFFF */
    ck_assert_int_eq(utf8_seq_len("\xE2\x82"), 0);          /* cut at the end */
    ck_assert(utf8_valid("caf\xC3\xA9"));
    ck_assert(!utf8_valid("caf\xE9"));
}
END_TEST

START_TEST(test_fix)
{
    char *s = utf8_fix("caf\xE9\n\xE2\x82\xAC\xE2\x82");
    ck_assert_str_eq(s, "caf\xEF\xBF\xBD\n\xE2\x82\xAC\xEF\xBF\xBD\xEF\xBF\xBD");
    ck_assert(utf8_valid(s));
    free(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("utf8");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_sequences);
    tcase_add_test(tc, test_fix);
    suite_add_tcase(su, tc);
    return check_run(su);
}
