/* Tests for trainer/csv.c as a user meets it: files that are not what
 * csv_load expects (a directory, values out of float's range, a header
 * with an unnamed column, text that is not UTF-8, rows with a field too
 * many) are refused with the file, line and column, and nothing is loaded.
 * Real files in a fresh temporary folder (tmpdir_fixture.h). The loader's
 * other cases (parsing, names, categories, the cache) are in test_dataset. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "tmpdir_fixture.h"
#include "../trainer/csv.h"

/* Loads text as a CSV file of task (label the last column, no
 * categories): the code it returns; err->msg says why. */
static int load_text(const char *text, dataset_task task, const char *categorical, dataset *ds,
                     kerror *err)
{
    FILE *f = fopen(tpath("t.csv"), "w");
    ck_assert(f && fputs(text, f) >= 0 && fclose(f) == 0);
    return csv_load(tpath("t.csv"), NULL, task, categorical, NULL, NULL, ds, err);
}

static void refused(const char *text, dataset_task task, const char *categorical,
                    const char *needle)
{
    dataset ds;
    kerror err;
    ck_assert_int_eq(load_text(text, task, categorical, &ds, &err), KE_INVALID);
    ck_assert_msg(strstr(err.msg, needle), "'%s' lacks '%s'", err.msg, needle);
    ck_assert_ptr_null(ds.x);
}

/* csv:DIR (a folder given for its file) said "cannot allocate
 * 9223372036854775807 bytes": fopen opens a directory on Linux and its size
 * read as LONG_MAX. */
START_TEST(a_directory_is_refused_as_such)
{
    ck_assert_int_eq(mkdir(tpath("data.csv"), 0700), 0);
    dataset ds;
    kerror err;
    ck_assert_int_eq(csv_load(tpath("data.csv"), NULL, DATASET_CLASSIFICATION, NULL, NULL, NULL,
                              &ds, &err), KE_INVALID);
    ck_assert_msg(strstr(err.msg, "data.csv: is a directory, not a CSV file"), "%s", err.msg);
    ck_assert_ptr_null(ds.x);
}
END_TEST

/* A value strtod reads but float cannot hold ('inf', '-Infinity', '1e39')
 * was called non-numeric, with the hint to one-hot encode it; with
 * categorical=auto it made its whole column categorical (each distinct
 * number a feature of its own); as a regression target under task=auto it
 * made the column classes (300 rows: 300 classes, accuracy 0, a success).
 * Each is now refused as out of range, naming the line and the column. */
START_TEST(values_beyond_float_are_out_of_range)
{
    refused("a,b,c\n1,inf,x\n3,4,y\n", DATASET_CLASSIFICATION, NULL,
            "t.csv:2: column 2 ('b'): value 'inf' out of range (only finite numbers within "
            "+-3.4e38 are read)");
    refused("a,b,c\n1,2,x\n-Infinity,4,y\n", DATASET_CLASSIFICATION, NULL,
            "t.csv:3: column 1 ('a'): value '-Infinity' out of range");
    refused("a,b,c\n1,2,x\n3,1e39,y\n", DATASET_CLASSIFICATION, NULL,
            "t.csv:3: column 2 ('b'): value '1e39' out of range");
    /* a column of numbers stays numeric under categorical=auto */
    refused("a,b,c\n1,2.5,x\n3,inf,y\n5,6,x\n", DATASET_CLASSIFICATION, "auto",
            "t.csv:3: column 2 ('b'): value 'inf' out of range");
    refused("a,b,c\n1,2,0.5\n3,4,1e39\n", DATASET_REGRESSION, NULL,
            "t.csv:3: column 3 ('c'): target '1e39' out of range (only finite numbers");
    /* task=auto: fractional targets with one out of range are a regression
     * column, and that target is refused */
    char text[8192] = "a,c\n";
    for (int i = 0; i < 300; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%d,%s\n", i,
                 i == 7 ? "inf" : i % 2 ? "0.25" : "1.5");
    refused(text, DATASET_AUTO, NULL, "t.csv:9: column 2 ('c'): target 'inf' out of range");
    /* integer targets, over half of them distinct, one beyond float */
    strcpy(text, "a,c\n");
    for (int i = 0; i < 300; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%d,%d\n", i, 1000 + i);
    memcpy(strstr(text, "2,1002"), "2,1e99", 6);
    refused(text, DATASET_AUTO, NULL, "t.csv:4: column 2 ('c'): target '1e99' out of range");
    /* labels that are names stay classes, 'inf' among them */
    dataset ds;
    kerror err;
    ck_assert_int_eq(load_text("a,c\n1,inf\n2,cat\n3,inf\n", DATASET_AUTO, NULL, &ds, &err),
                     KE_OK);
    ck_assert_int_eq(ds.task, DATASET_CLASSIFICATION);
    ck_assert_uint_eq(ds.n_classes, 2);
    dataset_free(&ds);
}
END_TEST

/* A header with an unnamed column, most often a trailing comma on every
 * line (some spreadsheet exports), made that empty column the label (the
 * last): "t.csv:2: column 4 (''): missing label ''", a row blamed for the
 * header; pandas' index (to_csv's default), an unnamed first column, was
 * trained on as a feature. Training refuses the header, naming the column; the row's
 * trailing field never comes into it. */
START_TEST(an_unnamed_column_is_refused_at_the_header)
{
    refused("a,b,label,\n1,2,x,\n3,4,y,\n", DATASET_CLASSIFICATION, NULL,
            "t.csv:1: column 4 of the header has no name (a comma at the end of the line?)");
    refused(",a,label\n0,2,x\n1,4,y\n", DATASET_CLASSIFICATION, NULL,
            "t.csv:1: column 1 of the header has no name (pandas' index? to_csv(index=False) "
            "leaves it out): name it or remove it");
    refused("a,,label\n1,2,x\n3,4,y\n", DATASET_AUTO, NULL,
            "t.csv:1: column 2 of the header has no name");
    refused("a, \"\" ,label\n1,2,x\n3,4,y\n", DATASET_CLASSIFICATION, NULL,
            "t.csv:1: column 2 of the header has no name");
    /* a blank first line is no header of one unnamed column */
    refused("\na,b,label\n1,2,x\n3,4,y\n", DATASET_CLASSIFICATION, NULL,
            "t.csv:1: the header line is empty (the first line must name the columns)");
}
END_TEST

/* Text a model file keeps (column names, class labels, categories) in
 * another encoding than UTF-8, as Latin-1 from a spreadsheet: the file
 * trained, then the checkpoint could not be written ("cannot serialise the
 * config"), at the end of the run with checkpoint_every=0. Refused when
 * read, naming the line and the column; a model's file needs no such text
 * where it ignores a column. */
START_TEST(text_that_is_not_utf8_is_refused_when_read)
{
    refused("a,pr\xe9" "cision,label\n1,2,x\n3,4,y\n", DATASET_CLASSIFICATION, NULL,
            "t.csv:1: column 2 of the header is not UTF-8 text (save the file as UTF-8)");
    refused("a,b,label\n1,2,caf\xc3\xa9\n3,4,th\xe9\n", DATASET_CLASSIFICATION, NULL,
            "t.csv:3: column 3 ('label'): a label that is not UTF-8 text (save the file as UTF-8)");
    refused("a,b,label\n1,2,x\n3,4,th\xe9\n", DATASET_AUTO, NULL,
            "t.csv:3: column 3 ('label'): a label that is not UTF-8 text");
    refused("color,b,label\nr\xe9" "d,2,x\nblue,4,y\n", DATASET_CLASSIFICATION, "auto",
            "t.csv:2: column 1 ('color'): a value that is not UTF-8 text");
    /* UTF-8 text is taken, names and labels as spelled */
    dataset ds;
    kerror err;
    ck_assert_int_eq(load_text("a,pr\xc3\xa9" "cision,label\n1,2,caf\xc3\xa9\n3,4,th\xc3\xa9\n",
                               DATASET_CLASSIFICATION, NULL, &ds, &err), KE_OK);
    ck_assert_str_eq(ds.names.features[1], "pr\xc3\xa9" "cision");
    ck_assert_str_eq(ds.names.classes[0], "caf\xc3\xa9");
    dataset_free(&ds);
}
END_TEST

/* A quoted field holding a comma (pandas quotes "Smith, John") is cut in
 * two: the row was refused as "4 fields, the header has 3", which a user
 * reading a row of 3 quoted fields could not explain; rows ending in a comma
 * the header has not alike. The count says why. */
START_TEST(a_quoted_comma_in_a_row_is_named)
{
    refused("a,b,label\n1,2,x\n\"3,5\",4,y\n", DATASET_CLASSIFICATION, NULL,
            "t.csv:3: 4 fields, the header has 3 (a quoted field holding a comma? not supported: "
            "it is cut in two)");
    refused("a,b,label\nx,\"2,5\",y\n1,2,y\n", DATASET_CLASSIFICATION, "auto",
            "t.csv:2: 4 fields, the header has 3 (a quoted field holding a comma?");
    /* a comma ending the rows but not the header */
    refused("a,b,label\n1,2,x,\n3,4,y,\n", DATASET_CLASSIFICATION, NULL,
            "t.csv:2: 4 fields, the header has 3 (a comma at the end of the line?)");
    /* no quote: the count alone */
    refused("a,b,label\n1,2,x\n3,4\n", DATASET_CLASSIFICATION, NULL,
            "t.csv:3: 2 fields, the header has 3");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("csv");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_directory_is_refused_as_such);
    tcase_add_test(tc, values_beyond_float_are_out_of_range);
    tcase_add_test(tc, an_unnamed_column_is_refused_at_the_header);
    tcase_add_test(tc, text_that_is_not_utf8_is_refused_when_read);
    tcase_add_test(tc, a_quoted_comma_in_a_row_is_named);
    suite_add_tcase(s, tc);
    return check_run(s);
}
