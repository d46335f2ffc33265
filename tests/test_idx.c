/* Tests for trainer/dataset.c's IDX loader as a user meets it: label files
 * whose classes are not what the data means (test_dataset keeps the format's
 * own cases). Files are written here, gzip as the real ones are. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "tmpdir_fixture.h"
#include "idx_fixture.h"
#include "../trainer/dataset.h"

#define ROWS 10000   /* per file; 1 x 1 images */

/* Writes images (all 0) and labels label(i) for i < ROWS to img and lbl. */
static void write_set(const char *img, const char *lbl, int (*label)(int))
{
    static unsigned char px[ROWS], lab[ROWS];
    for (int i = 0; i < ROWS; i++) lab[i] = (unsigned char)label(i);
    uint32_t idims[3] = {ROWS, 1, 1}, ldims[1] = {ROWS};
    write_idx(img, 1, 0x803, 3, idims, px, ROWS);
    write_idx(lbl, 1, 0x801, 1, ldims, lab, ROWS);
}

static int digits(int i) { return i % 10; }
static int one_stray(int i) { return i == 37 ? 42 : i % 10; }
static int twenty_strays(int i) { return i % 500 == 3 ? 42 : i % 10; }
static int letters(int i) { return 1 + i % 26; }   /* EMNIST letters: 1..26 */
static int no_five(int i) { return i % 10 == 5 ? 4 : i % 10; }

/* Loads the training set i, l and the test set ti, tl into ds; cache: a
 * cache folder or NULL. */
static int load(dataset *ds, const char *cache, kerror *err)
{
    return dataset_load_idx(tpath("i"), tpath("l"), tpath("ti"), tpath("tl"), cache, ds, err);
}

/* One corrupt byte in a re-gzipped t10k-labels (a 42 among 0..9) made a
 * 43-class model, 33 of its outputs for classes no row has, and the run was
 * recorded as a success. A largest label standing beyond empty classes and
 * held by a handful of rows among thousands is refused, naming the file,
 * label and item; also when the decoded data comes from the cache. Labels
 * that start above 0 (EMNIST letters), a class a subset lacks, and a high
 * label held by enough rows to be meant keep their classes. */
START_TEST(a_stray_label_is_refused)
{
    dataset ds;
    kerror err;
    write_set(tpath("i"), tpath("l"), digits);
    write_set(tpath("ti"), tpath("tl"), one_stray);
    for (int pass = 0; pass < 3; pass++) {
        const char *cache = pass ? tpath("cache") : NULL;
        ck_assert_int_eq(load(&ds, cache, &err), KE_INVALID);
        ck_assert_msg(strstr(err.msg, tpath("tl")) &&
                      strstr(err.msg, ": label 42 (1 row, the first at index 37) stands beyond "
                             "labels 10 to 41, which no row has, while the other classes hold "
                             "2000 rows (median): a corrupt label? Every label up to the largest "
                             "becomes a class (43 here)"), "%s", err.msg);
        ck_assert_ptr_null(ds.x);
    }
    write_set(tpath("ti"), tpath("tl"), twenty_strays);
    ck_assert_msg(load(&ds, NULL, &err) == KE_OK, "%s", err.msg);
    ck_assert_uint_eq(ds.n_classes, 43);
    dataset_free(&ds);
    write_set(tpath("i"), tpath("l"), letters);
    write_set(tpath("ti"), tpath("tl"), letters);
    ck_assert_msg(load(&ds, NULL, &err) == KE_OK, "%s", err.msg);
    ck_assert_uint_eq(ds.n_classes, 27);
    dataset_free(&ds);
    write_set(tpath("i"), tpath("l"), no_five);
    write_set(tpath("ti"), tpath("tl"), no_five);
    ck_assert_msg(load(&ds, NULL, &err) == KE_OK, "%s", err.msg);
    ck_assert_uint_eq(ds.n_classes, 10);
    dataset_free(&ds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("idx");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_stray_label_is_refused);
    suite_add_tcase(s, tc);
    return check_run(s);
}
