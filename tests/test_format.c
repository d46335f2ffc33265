/* test_format: format_number and format_json write every real in the form
 * the %.{15,16,17}g loop picks (the shortest of them that reads back the
 * same), whatever the digits, exponent and rounding carry. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../src/format.h"
#include "../common/utf8.h"

/* The definition format_number is held to. */
static void reference(double v, char *buf, size_t n)
{
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, n, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* The definition format_float is held to. */
static void float_reference(float v, char *buf, size_t n)
{
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, n, "%.*g", digits, v);
        if (strtof(buf, NULL) == v) return;
    }
}

static uint64_t next(uint64_t *s)   /* xorshift64* */
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717u;
}

/* The i-th test value: edge cases first, then random bit patterns, random
 * uniforms at every scale and neighbours of powers of ten. */
static double sample(uint64_t *s, int i)
{
    static const double edges[] = {0.1, -0.1, 1.0 / 3, 2.0 / 3, 1e-5, 9.9999999999999995e-5,
                                   0.30000000000000004, 123456789012345.67, 1e15 + 0.5,
                                   9007199254740993.0, DBL_MAX, -DBL_MAX, DBL_MIN, 5e-324,
                                   1e21, 1e-7, 0.5, 1.5, 0.0001, 0.00012345678901234567};
    int ne = sizeof edges / sizeof edges[0];
    if (i < ne) return edges[i];
    uint64_t r = next(s);
    double v;
    switch (i % 3) {
    case 0:
        memcpy(&v, &r, sizeof v);
        return isfinite(v) ? v : 1.25;
    case 1: return ((double)(r >> 11) / 9007199254740992.0) * pow(10, (int)(r % 41) - 20);
    default: return nextafter(pow(10, (int)(r % 61) - 30), (r >> 32) & 1 ? INFINITY : 0);
    }
}

START_TEST(test_number_matches_the_printf_loop)
{
    uint64_t s = 88172645463325252u;
    char got[64], want[64];
    for (int i = 0; i < 300000; i++) {
        double v = sample(&s, i);
        format_number(v, got, sizeof got);
        reference(v, want, sizeof want);
        ck_assert_msg(!strcmp(got, want), "%.17g: %s, not %s", v, got, want);
    }
}
END_TEST

/* Every power of two and its neighbours, as numbers, floats and JSON: below
 * a power of two the reals that read back as it span half the range they
 * span above, the one place where a shorter form may read back while a
 * longer one rounded the other way does not. */
START_TEST(test_powers_of_two)
{
    char got[64], want[64];
    json_t *arr = json_array();
    for (int k = -1074; k <= 1023; k++) {
        double p2 = ldexp(1, k), vs[] = {p2, -p2, nextafter(p2, 0), nextafter(p2, INFINITY)};
        for (int i = 0; i < 4; i++) {
            format_number(vs[i], got, sizeof got);
            reference(vs[i], want, sizeof want);
            ck_assert_msg(!strcmp(got, want), "%.17g: %s, not %s", vs[i], got, want);
            json_array_append_new(arr, json_real(vs[i]));
        }
        float f = (float)p2;
        if (f == 0 || !isfinite(f)) continue;
        format_float(f, got, sizeof got);
        float_reference(f, want, sizeof want);
        ck_assert_msg(!strcmp(got, want), "float %.9g: %s, not %s", f, got, want);
    }
    char *text = format_json(arr, JSON_COMPACT);
    json_t *back = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(back);
    for (size_t i = 0; i < json_array_size(arr); i++)
        ck_assert(json_real_value(json_array_get(back, i)) == json_real_value(json_array_get(arr, i)));
    free(text);
    json_decref(back);
    json_decref(arr);
}
END_TEST

/* format_float: the first of %.{6..9}g that strtof reads back as the same
 * float32 (%g drops trailing zeros: 6 digits give "0.1", as %.1g would),
 * found by format_number's digit rounding, on a float's digits. */
START_TEST(test_float_is_the_shortest_that_reads_back)
{
    uint64_t s = 88172645463325252u;
    char got[64], want[64];
    for (int i = 0; i < 300000; i++) {
        double d = sample(&s, i);
        float v = (float)d;
        if (!isfinite(v)) continue;
        format_float(v, got, sizeof got);
        float_reference(v, want, sizeof want);
        ck_assert_msg(!strcmp(got, want), "%.9g: %s, not %s", v, got, want);
    }
    format_float(0.1f, got, sizeof got);
    ck_assert_str_eq(got, "0.1");
}
END_TEST

/* format_json shortens the reals Jansson writes with 16 or 17 digits and
 * leaves the rest (strings with digits in them too) as Jansson wrote them. */
START_TEST(test_json_reals)
{
    uint64_t s = 2463534242u;
    json_t *arr = json_array();
    json_array_append_new(arr, json_string("0.10000000000000001"));
    for (int i = 0; i < 20000; i++) json_array_append_new(arr, json_real(sample(&s, i)));
    char *text = format_json(arr, JSON_COMPACT);
    char *plain = json_dumps(arr, JSON_COMPACT);
    ck_assert_ptr_nonnull(text);
    ck_assert(!strncmp(text, "[\"0.10000000000000001\",", 23));
    char *p = text + 23, *q = plain + 23, want[64];
    for (size_t i = 1; i < json_array_size(arr); i++) {
        size_t n = strcspn(p, ",]"), m = strcspn(q, ",]"), digits = 0;
        double v = json_real_value(json_array_get(arr, i));
        for (size_t k = 0; k < m && q[k] != 'e'; k++) digits += q[k] >= '0' && q[k] <= '9';
        reference(v, want, sizeof want);
        if (!want[strcspn(want, ".e")]) strcat(want, ".0");
        if (digits < 16 || strlen(want) > m) {   /* Jansson's text kept */
            memcpy(want, q, m);
            want[m] = '\0';
        }
        ck_assert_msg(n == strlen(want) && !strncmp(p, want, n), "%.17g: %.*s, not %s", v,
                      (int)n, p, want);
        ck_assert(strtod(p, NULL) == v);
        p += n + 1;
        q += m + 1;
    }
    free(text);
    free(plain);
    json_decref(arr);
}
END_TEST

/* A real stays a real: an integral value whose shortest form has no point
 * or exponent (15 to 17 digits) keeps Jansson's ".0", so a reader does not
 * take it back as an integer. */
START_TEST(test_json_integral_reals_stay_reals)
{
    static const double v[] = {1e16 + 2, 12345678901234567.0, -1e16 - 2, 9007199254740993.0,
                               1234567890123456.0, 123456789012345.0, 1e15, 100000000000000.0};
    static const char *const want[] = {"10000000000000002.0", "12345678901234568.0",
                                       "-10000000000000002.0", "9007199254740992.0",
                                       "1234567890123456.0", "123456789012345.0", "1e+15",
                                       "100000000000000.0"};
    int n = sizeof v / sizeof v[0];
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(arr, json_real(v[i]));
    char *text = format_json(arr, JSON_COMPACT);
    ck_assert_ptr_nonnull(text);
    json_t *back = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(back);
    const char *p = text + 1;
    for (int i = 0; i < n; i++) {
        size_t len = strcspn(p, ",]");
        ck_assert_msg(len == strlen(want[i]) && !strncmp(p, want[i], len), "%.17g: %.*s, not %s", v[i],
                      (int)len, p, want[i]);
        json_t *e = json_array_get(back, (size_t)i);
        ck_assert_msg(json_is_real(e) && json_real_value(e) == v[i], "%.*s", (int)len, p);
        p += len + 1;
    }
    free(text);
    json_decref(back);
    json_decref(arr);
}
END_TEST

/* A table's columns line up by characters: a cell with non-ASCII text
 * (two bytes a character here) is padded like an ASCII one. */
START_TEST(test_table_pads_characters_not_bytes)
{
    static const char *const cols[] = {"choice", "value"};
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    format_writer w;
    format_begin(&w, FORMAT_TABLE, out, cols, 2);
    format_row(&w, (format_cell[]){{.kind = CELL_TEXT, .text = "\u00fcn\u00efc\u00f8d\u00e9"},
                                   {.kind = CELL_INT, .num = 1}});
    format_row(&w, (format_cell[]){{.kind = CELL_TEXT, .text = "unicode"}, {.kind = CELL_INT, .num = 2}});
    format_end(&w);
    fclose(out);
    char *second = strchr(text, '\n') + 1, *third = strchr(second, '\n') + 1;
    int first_at = (int)(strchr(second, '1') - second), second_at = (int)(strchr(third, '2') - third);
    /* both rows' values at the same character column: 4 more bytes before it in the first */
    ck_assert_int_eq(first_at, second_at + 4);
    free(text);
}
END_TEST

/* A table cell longer than the writer's 1023 bytes is cut before the
 * character that straddles the cut, not inside it: "é" at bytes 1022-1023
 * left its lead byte alone, a broken character on the terminal. */
START_TEST(test_table_cuts_on_a_character_boundary)
{
    static const char *const cols[] = {"note"};
    char cell[1100];
    memset(cell, 'a', 1022);
    strcpy(cell + 1022, "\u00e9 and more");
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    format_writer w;
    format_begin(&w, FORMAT_TABLE, out, cols, 1);
    format_row(&w, (format_cell[]){{.kind = CELL_TEXT, .text = cell}});
    format_end(&w);
    fclose(out);
    char *row = strchr(text, '\n') + 1;
    ck_assert_msg(utf8_valid(text), "the table is not valid UTF-8");
    ck_assert_uint_eq(strcspn(row, "\n"), 1022);   /* the a's, without half of the é */
    free(text);
}
END_TEST

/* A number cell that is an integer a double holds exactly is written in
 * plain digits in CSV and JSON, as the API writes it; other numbers keep
 * their shortest form. */
START_TEST(test_integral_cells_in_plain_digits)
{
    static const char *const cols[] = {"n", "x", "big"};
    for (int kind = FORMAT_JSON; kind <= FORMAT_CSV; kind++) {
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        format_writer w;
        format_begin(&w, (format_kind)kind, out, cols, 3);
        format_row(&w, (format_cell[]){{.kind = CELL_NUM, .num = 7838326779731690.0},
                                       {.kind = CELL_NUM, .num = 0.1},
                                       {.kind = CELL_NUM, .num = 1e300}});
        format_end(&w);
        fclose(out);
        ck_assert_msg(strstr(text, "7838326779731690") && strstr(text, "0.1") &&
                      strstr(text, "1e+300") && !strstr(text, "e+15"), "%s", text);
        free(text);
    }
}
END_TEST

int main(void)
{
    Suite *su = suite_create("format");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_number_matches_the_printf_loop);
    tcase_add_test(tc, test_float_is_the_shortest_that_reads_back);
    tcase_add_test(tc, test_powers_of_two);
    tcase_add_test(tc, test_json_reals);
    tcase_add_test(tc, test_json_integral_reals_stay_reals);
    tcase_add_test(tc, test_table_pads_characters_not_bytes);
    tcase_add_test(tc, test_table_cuts_on_a_character_boundary);
    tcase_add_test(tc, test_integral_cells_in_plain_digits);
    suite_add_tcase(su, tc);
    return check_run(su);
}
