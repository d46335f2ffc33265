/* Tests for report: the parsing of trial report lines (src/report.c). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../src/report.h"

static report_line r;
static kerror err;

static int parse(const char *line)
{
    kerror_clear(&err);
    return report_parse(line, &r, &err);
}

START_TEST(step_line_is_intermediate)
{
    ck_assert_int_eq(parse("{\"step\": 3, \"val_loss\": 0.41, \"acc\": 0.9}"), KE_OK);
    ck_assert_int_eq(r.has_step, 1);
    ck_assert_int_eq(r.step, 3);
    ck_assert_int_eq(r.final, 0);
    ck_assert_int_eq(r.n, 2);
    ck_assert_str_eq(r.m[0].name, "val_loss");
    ck_assert_double_eq(r.m[0].value, 0.41);
    ck_assert_double_eq(report_find(&r, "acc")->value, 0.9);
    ck_assert_ptr_null(report_find(&r, "step"));
    ck_assert_ptr_null(report_find(&r, "loss"));
}
END_TEST

START_TEST(line_without_step_is_final)
{
    ck_assert_int_eq(parse("{\"loss\": 2, \"n\": -7}"), KE_OK);
    ck_assert_int_eq(r.has_step, 0);
    ck_assert_int_eq(r.final, 1);
    ck_assert_double_eq(report_find(&r, "loss")->value, 2.0);
    ck_assert_double_eq(report_find(&r, "n")->value, -7.0);
}
END_TEST

START_TEST(final_flag_with_step)
{
    ck_assert_int_eq(parse("{\"step\": 10, \"final\": true, \"loss\": 0.5}"), KE_OK);
    ck_assert_int_eq(r.has_step, 1);
    ck_assert_int_eq(r.step, 10);
    ck_assert_int_eq(r.final, 1);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(parse("{\"step\": 10, \"final\": false, \"loss\": 0.5}"), KE_OK);
    ck_assert_int_eq(r.final, 0);
    ck_assert_int_eq(parse("{\"step\": 1, \"final\": 1}"), KE_INVALID);
    ck_assert_str_eq(err.path, "final");
}
END_TEST

START_TEST(nonfinite_literals)
{
    ck_assert_int_eq(parse("{\"a\": NaN, \"b\": Infinity, \"c\": -Infinity, \"d\": [NaN]}"), KE_OK);
    ck_assert_int_eq(r.n, 3);
    ck_assert(isnan(report_find(&r, "a")->value));
    ck_assert(isinf(report_find(&r, "b")->value) && report_find(&r, "b")->value > 0);
    ck_assert(isinf(report_find(&r, "c")->value) && report_find(&r, "c")->value < 0);
    ck_assert_int_eq(parse("{\"step\":2,\"loss\":NaN}"), KE_OK);
    ck_assert(isnan(report_find(&r, "loss")->value));
    ck_assert_int_eq(parse("{\"step\": NaN}"), KE_INVALID);
    ck_assert_int_eq(parse("{\"a\": NaNa}"), KE_NOTFOUND);
}
END_TEST

/* printf's spellings and numbers beyond a double: non-finite values, not
 * lines that pass for log text (the trial then fails naming them) */
START_TEST(nonfinite_printf_and_overflow)
{
    ck_assert_int_eq(parse("{\"a\": nan, \"b\": inf, \"c\": -inf, \"d\": 1e999, \"e\": -2E+400,"
                           " \"f\": 1e-999, \"g\": 1.5e308}"), KE_OK);
    ck_assert_int_eq(r.n, 7);
    ck_assert(isnan(report_find(&r, "a")->value));
    ck_assert(isinf(report_find(&r, "b")->value) && report_find(&r, "b")->value > 0);
    ck_assert(isinf(report_find(&r, "c")->value) && report_find(&r, "c")->value < 0);
    ck_assert(isinf(report_find(&r, "d")->value) && report_find(&r, "d")->value > 0);
    ck_assert(isinf(report_find(&r, "e")->value) && report_find(&r, "e")->value < 0);
    ck_assert_double_eq(report_find(&r, "f")->value, 0.0);
    ck_assert_double_eq(report_find(&r, "g")->value, 1.5e308);
    ck_assert_int_eq(parse("{\"x\": \"1e999 inf\", \"inf\": 2}"), KE_OK);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.m[0].name, "inf");
    ck_assert_int_eq(parse("{\"a\": info}"), KE_NOTFOUND);
}
END_TEST

START_TEST(nonfinite_inside_string_stays_string)
{
    ck_assert_int_eq(parse("{\"msg\": \"NaN and \\\" Infinity\", \"NaN\": 1, \"x\": \"-Infinity\"}"),
                     KE_OK);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.m[0].name, "NaN");
    ck_assert_double_eq(r.m[0].value, 1.0);
}
END_TEST

START_TEST(non_objects_rejected)
{
    const char *bad[] = {"epoch 3 done", "", "   ", "[1, 2]", "3.5", "\"text\"", "{\"a\": 1",
                         "{\"a\": 1} trailing", "null"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(parse(bad[i]), KE_NOTFOUND);
        ck_assert_int_eq(err.code, KE_NOTFOUND);
    }
}
END_TEST

START_TEST(step_validation)
{
    ck_assert_int_eq(parse("{\"step\": -1, \"loss\": 1}"), KE_INVALID);
    ck_assert_str_eq(err.path, "step");
    ck_assert_int_eq(parse("{\"step\": 1.5}"), KE_INVALID);
    ck_assert_int_eq(parse("{\"step\": \"3\"}"), KE_INVALID);
    ck_assert_int_eq(parse("{\"step\": 4.0, \"loss\": 1}"), KE_OK);
    ck_assert_int_eq(r.has_step, 1);
    ck_assert_int_eq(r.step, 4);
    ck_assert_int_eq(parse("{\"step\": 0}"), KE_OK);
    ck_assert_int_eq(r.step, 0);
    ck_assert_int_eq(r.final, 0);
    /* Steps are stored as int: a larger one would wrap to a negative step
     * that storage refuses, failing the whole run instead of one line. */
    ck_assert_int_eq(parse("{\"step\": 2147483647, \"loss\": 1}"), KE_OK);
    ck_assert_int_eq(r.step, 2147483647L);
    ck_assert_int_eq(parse("{\"step\": 2147483648, \"loss\": 1}"), KE_INVALID);
    ck_assert_str_eq(err.path, "step");
    ck_assert_int_eq(parse("{\"step\": 4294967297.0, \"loss\": 1}"), KE_INVALID);
}
END_TEST

/* A malformed step is a report the trial got wrong (KE_INVALID, naming the
 * field, the range and what it held), not a line that passes for log text
 * (KE_NOTFOUND): a step beyond 64 bits too, which Jansson alone refuses. */
START_TEST(malformed_step_says_what_it_held)
{
    static const struct { const char *line, *held; } bad[] = {
        {"{\"step\": 2147483648, \"loss\": 1}", "not 2147483648"},
        {"{\"step\": 99999999999999999999, \"loss\": 1}", "not 1e+20"},
        {"{\"step\": -1}", "not -1"},
        {"{\"step\": 2.5}", "not 2.5"},
        {"{\"step\": NaN}", "not nan"},
        {"{\"step\": \"3\"}", "not a string"},
        {"{\"step\": true}", "not a boolean"},
        {"{\"step\": null}", "not null"},
        {"{\"step\": [1]}", "not an array or object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(parse(bad[i].line), KE_INVALID);
        ck_assert_str_eq(err.path, "step");
        ck_assert_msg(strstr(err.msg, "from 0 to 2147483647") && strstr(err.msg, bad[i].held),
                      "%s: %s", bad[i].line, err.msg);
    }
    ck_assert_int_eq(parse("{\"step\": 2147483647.0, \"loss\": 1}"), KE_OK);
    ck_assert_int_eq(r.step, 2147483647L);
    ck_assert_int_eq(parse("{\"step\": 1, \"big\": 99999999999999999999}"), KE_OK);
    ck_assert_double_eq(report_find(&r, "big")->value, 1e20);
}
END_TEST

START_TEST(other_types_ignored)
{
    ck_assert_int_eq(parse("{\"name\": \"run\", \"ok\": true, \"z\": null, \"v\": [1], "
                           "\"o\": {\"loss\": 1}, \"loss\": 3}"), KE_OK);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.m[0].name, "loss");
}
END_TEST

START_TEST(metric_limits)
{
    char line[8192];
    size_t o = (size_t)sprintf(line, "{");
    for (int i = 0; i < REPORT_MAX_METRICS; i++)
        o += (size_t)sprintf(line + o, "%s\"m%d\": %d", i ? ", " : "", i, i);
    strcpy(line + o, "}");
    ck_assert_int_eq(parse(line), KE_OK);
    ck_assert_int_eq(r.n, REPORT_MAX_METRICS);
    ck_assert_double_eq(report_find(&r, "m63")->value, 63.0);
    strcpy(line + o, ", \"one_more\": 1}");
    ck_assert_int_eq(parse(line), KE_INVALID);

    char name[REPORT_NAME_MAX + 1];
    memset(name, 'n', REPORT_NAME_MAX - 1);
    name[REPORT_NAME_MAX - 1] = '\0';
    snprintf(line, sizeof line, "{\"%s\": 1}", name);
    ck_assert_int_eq(parse(line), KE_OK);
    ck_assert_str_eq(r.m[0].name, name);
    name[REPORT_NAME_MAX - 1] = 'n';
    name[REPORT_NAME_MAX] = '\0';
    snprintf(line, sizeof line, "{\"%s\": 1}", name);
    ck_assert_int_eq(parse(line), KE_INVALID);
}
END_TEST

START_TEST(whitespace_and_cr)
{
    ck_assert_int_eq(parse("  \t{\"step\": 1, \"loss\": 0.5}  \r"), KE_OK);
    ck_assert_int_eq(r.step, 1);
    ck_assert_double_eq(report_find(&r, "loss")->value, 0.5);
    ck_assert_int_eq(parse("{\"loss\": 0.25}\r"), KE_OK);
    ck_assert_double_eq(report_find(&r, "loss")->value, 0.25);
}
END_TEST

static Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, step_line_is_intermediate);
    tcase_add_test(tc, line_without_step_is_final);
    tcase_add_test(tc, final_flag_with_step);
    tcase_add_test(tc, nonfinite_literals);
    tcase_add_test(tc, nonfinite_printf_and_overflow);
    tcase_add_test(tc, nonfinite_inside_string_stays_string);
    tcase_add_test(tc, non_objects_rejected);
    tcase_add_test(tc, step_validation);
    tcase_add_test(tc, malformed_step_says_what_it_held);
    tcase_add_test(tc, other_types_ignored);
    tcase_add_test(tc, metric_limits);
    tcase_add_test(tc, whitespace_and_cr);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(report_suite());
}
