/* test_sha256: SHA-256 against the FIPS 180-4 examples (NIST's "abc",
 * the 448-bit and 896-bit messages, a million 'a'), the same digests fed in
 * pieces, the hex forms, and the digest comparison. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "../src/sha256.h"

static void assert_hex(const unsigned char d[SHA256_BYTES], const char *want)
{
    char hex[SHA256_HEX];
    sha256_to_hex(d, hex);
    ck_assert_str_eq(hex, want);
}

static void assert_digest(const char *msg, const char *want)
{
    unsigned char d[SHA256_BYTES];
    sha256(msg, strlen(msg), d);
    assert_hex(d, want);
    /* fed a byte, then 63, then the rest: block edges inside a call */
    sha256_ctx c;
    sha256_init(&c);
    size_t n = strlen(msg), one = n < 1 ? n : 1, more = n - one < 63 ? n - one : 63;
    sha256_update(&c, msg, one);
    sha256_update(&c, msg + one, more);
    sha256_update(&c, msg + one + more, n - one - more);
    sha256_final(&c, d);
    assert_hex(d, want);
}

START_TEST(fips_examples)
{
    assert_digest("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    assert_digest("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmn"
                  "opqklmnopqrlmnopqrsmnopqrstnopqrstu",
                  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    assert_digest("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

START_TEST(a_million_a)
{
    static char a[1000000];
    memset(a, 'a', sizeof a);
    unsigned char d[SHA256_BYTES];
    sha256(a, sizeof a, d);
    assert_hex(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* a thousand pieces of 1000: the length carried across calls */
    sha256_ctx c;
    sha256_init(&c);
    for (int i = 0; i < 1000; i++) sha256_update(&c, a, 1000);
    sha256_final(&c, d);
    assert_hex(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

START_TEST(hex_and_comparison)
{
    static const char abc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    unsigned char d[SHA256_BYTES], back[SHA256_BYTES], upper[SHA256_BYTES];
    sha256("abc", 3, d);
    ck_assert_int_eq(sha256_from_hex(abc, back), 0);
    ck_assert(sha256_equal(d, back));
    ck_assert_int_eq(sha256_from_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F"
                                     "20015AD", upper), 0);
    ck_assert(sha256_equal(d, upper));
    /* too short, too long, not hex: refused, the digest left as it was */
    char bad[80];
    memcpy(back, d, sizeof d);
    snprintf(bad, sizeof bad, "%.63s", abc);
    ck_assert_int_eq(sha256_from_hex(bad, back), -1);
    snprintf(bad, sizeof bad, "%s0", abc);
    ck_assert_int_eq(sha256_from_hex(bad, back), -1);
    snprintf(bad, sizeof bad, "%s", abc);
    bad[10] = 'g';
    ck_assert_int_eq(sha256_from_hex(bad, back), -1);
    ck_assert_int_eq(sha256_from_hex("", back), -1);
    ck_assert(sha256_equal(d, back));
    /* a difference in the last byte alone is one */
    back[SHA256_BYTES - 1] ^= 1;
    ck_assert(!sha256_equal(d, back));
}
END_TEST

int main(void)
{
    Suite *su = suite_create("sha256");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, fips_examples);
    tcase_add_test(tc, a_million_a);
    tcase_add_test(tc, hex_and_comparison);
    suite_add_tcase(su, tc);
    return check_run(su);
}
