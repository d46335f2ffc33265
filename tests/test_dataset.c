/* Tests for trainer/dataset.c and trainer/dscache.c: IDX (gzip and plain,
 * written here) and the real Fashion-MNIST files, the decoded cache (hits,
 * corrupt and foreign files), CSV parsing and errors, synthetic data. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "check_main.h"
#include "tmpdir_fixture.h"
#include "idx_fixture.h"
#include "../trainer/csv.h"
#include "../trainer/dataset.h"
#include "../trainer/dscache.h"

/* n images of 2 x 3 pixels, pixel p of image i = 10 * i + p; labels given. */
static void write_pair(const char *img, const char *lbl, int gz, uint32_t n,
                       const unsigned char *labels)
{
    unsigned char px[64 * 6];
    for (uint32_t i = 0; i < n * 6; i++) px[i] = (unsigned char)(10 * (i / 6) + i % 6);
    uint32_t idims[3] = {n, 2, 3}, ldims[1] = {n};
    write_idx(img, gz, 0x803, 3, idims, px, n * 6);
    write_idx(lbl, gz, 0x801, 1, ldims, labels, n);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void assert_same(const dataset *a, const dataset *b)
{
    ck_assert_uint_eq(a->n, b->n);
    ck_assert_uint_eq(a->d, b->d);
    ck_assert_int_eq(a->task, b->task);
    ck_assert_uint_eq(a->n_classes, b->n_classes);
    ck_assert_uint_eq(a->t, b->t);
    ck_assert_uint_eq(a->h, b->h);
    ck_assert_uint_eq(a->w, b->w);
    ck_assert_uint_eq(a->c, b->c);
    ck_assert_uint_eq(a->test_begin, b->test_begin);
    ck_assert_int_eq(memcmp(a->x, b->x, a->n * a->d * sizeof(float)), 0);
    if (a->task == DATASET_CLASSIFICATION)
        ck_assert_int_eq(memcmp(a->y, b->y, a->n * sizeof(int32_t)), 0);
    else
        ck_assert_int_eq(memcmp(a->targets, b->targets, a->n * a->t * sizeof(float)), 0);
}

static void check_small_idx(int gz)
{
    const unsigned char lab[3] = {2, 0, 4}, tlab[2] = {1, 1};
    write_pair(tpath("i"), tpath("l"), gz, 3, lab);
    write_pair(tpath("ti"), tpath("tl"), gz, 2, tlab);
    dataset ds;
    kerror err;
    ck_assert_int_eq(dataset_load_idx(tpath("i"), tpath("l"), NULL, NULL, NULL, &ds, &err), KE_OK);
    ck_assert_uint_eq(ds.n, 3);
    ck_assert_uint_eq(ds.d, 6);
    ck_assert_uint_eq(ds.h, 2);
    ck_assert_uint_eq(ds.w, 3);
    ck_assert_uint_eq(ds.c, 1);
    ck_assert_uint_eq(ds.test_begin, 3);
    ck_assert_uint_eq(ds.n_classes, 5);
    ck_assert_int_eq(ds.mapped, 0);
    for (int i = 0; i < 18; i++)
        ck_assert_float_eq(ds.x[i], (float)(10 * (i / 6) + i % 6) / 255.0f);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(ds.y[i], lab[i]);
    dataset_free(&ds);

    ck_assert_int_eq(dataset_load_idx(tpath("i"), tpath("l"), tpath("ti"), tpath("tl"), NULL,
                                      &ds, &err), KE_OK);
    ck_assert_uint_eq(ds.n, 5);
    ck_assert_uint_eq(ds.test_begin, 3);
    ck_assert_int_eq(ds.y[3], 1);
    ck_assert_float_eq(ds.x[3 * 6 + 1], 1.0f / 255.0f);   /* first test image, pixel 1 */
    dataset_free(&ds);
}

START_TEST(idx_plain) { check_small_idx(0); }
END_TEST

START_TEST(idx_gzip) { check_small_idx(1); }
END_TEST

START_TEST(idx_errors)
{
    const unsigned char lab[3] = {0, 1, 2};
    write_pair(tpath("i"), tpath("l"), 1, 3, lab);
    write_pair(tpath("i2"), tpath("l2"), 0, 2, lab);
    dataset ds;
    kerror err;
    /* labels file where images are expected: wrong magic, file named */
    ck_assert_int_eq(dataset_load_idx(tpath("l"), tpath("l"), NULL, NULL, NULL, &ds, &err),
                     KE_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "magic"));
    ck_assert_ptr_nonnull(strstr(err.msg, tpath("l")));
    ck_assert_ptr_null(ds.x);
    /* 3 images, 2 labels */
    ck_assert_int_eq(dataset_load_idx(tpath("i"), tpath("l2"), NULL, NULL, NULL, &ds, &err),
                     KE_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "3 images"));
    ck_assert_ptr_nonnull(strstr(err.msg, "2 labels"));
    /* header promises 3 images, data holds 2 */
    unsigned char px[12] = {0};
    uint32_t dims[3] = {3, 2, 3};
    write_idx(tpath("short"), 1, 0x803, 3, dims, px, 12);
    ck_assert_int_eq(dataset_load_idx(tpath("short"), tpath("l"), NULL, NULL, NULL, &ds, &err),
                     KE_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "truncated"));
    /* trailing bytes after the promised data */
    unsigned char lab4[4] = {0, 1, 2, 3};
    uint32_t ld[1] = {3};
    write_idx(tpath("long"), 0, 0x801, 1, ld, lab4, 4);
    ck_assert_int_eq(dataset_load_idx(tpath("i"), tpath("long"), NULL, NULL, NULL, &ds, &err),
                     KE_INVALID);
    /* test images of another size */
    uint32_t td[3] = {3, 3, 3}, tl[1] = {3};
    unsigned char tpx[27] = {0};
    write_idx(tpath("ti"), 0, 0x803, 3, td, tpx, 27);
    write_idx(tpath("tl"), 0, 0x801, 1, tl, lab, 3);
    ck_assert_int_eq(dataset_load_idx(tpath("i"), tpath("l"), tpath("ti"), tpath("tl"), NULL,
                                      &ds, &err), KE_INVALID);
    ck_assert_int_eq(dataset_load_idx(tpath("nope"), tpath("l"), NULL, NULL, NULL, &ds, &err),
                     KE_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "nope"));
    dataset_free(&ds);
}
END_TEST

#define FM DATASET_FASHION_MNIST_DIR "/"

START_TEST(fashion_test_set)
{
    dataset ds;
    kerror err;
    ck_assert_int_eq(dataset_load_idx(FM "t10k-images-idx3-ubyte.gz", FM "t10k-labels-idx1-ubyte.gz",
                                      NULL, NULL, NULL, &ds, &err), KE_OK);
    ck_assert_uint_eq(ds.n, 10000);
    ck_assert_uint_eq(ds.d, 784);
    ck_assert_uint_eq(ds.h, 28);
    ck_assert_uint_eq(ds.w, 28);
    ck_assert_uint_eq(ds.n_classes, 10);
    size_t count[10] = {0};
    for (size_t i = 0; i < ds.n; i++) {
        ck_assert(ds.y[i] >= 0 && ds.y[i] < 10);
        count[ds.y[i]]++;
    }
    for (int k = 0; k < 10; k++) ck_assert_uint_eq(count[k], 1000);
    float lo = 1, hi = 0;
    for (size_t i = 0; i < ds.n * ds.d; i++) {
        if (ds.x[i] < lo) lo = ds.x[i];
        if (ds.x[i] > hi) hi = ds.x[i];
    }
    ck_assert_float_eq(lo, 0.0f);
    ck_assert_float_eq(hi, 1.0f);
    dataset_free(&ds);
}
END_TEST

START_TEST(fashion_named)
{
    dataset_opts o;
    dataset_opts_init(&o);
    dataset ds;
    kerror err;
    ck_assert_int_eq(dataset_load(&o, &ds, &err), KE_OK);
    ck_assert_uint_eq(ds.n, 70000);
    ck_assert_uint_eq(ds.test_begin, 60000);
    ck_assert_uint_eq(dataset_out_dim(&ds), 10);
    dataset_free(&ds);
}
END_TEST

static int count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int k = 0;
    for (struct dirent *e; (e = readdir(d));)
        k += !strncmp(e->d_name, prefix, strlen(prefix));
    closedir(d);
    return k;
}

/* The permission string of the mapping holding p, from /proc/self/maps. */
static const char *mapping_perms(const void *p)
{
    static char perms[8];
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(f);
    unsigned long lo, hi, a = (unsigned long)p;
    perms[0] = '\0';
    char line[512];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && a >= lo && a < hi;
    fclose(f);
    return found ? perms : "";
}

START_TEST(cache_hit_equal)
{
    dataset plain, first, second;
    kerror err;
    const char *img = FM "t10k-images-idx3-ubyte.gz", *lbl = FM "t10k-labels-idx1-ubyte.gz";
    char cache[256];
    snprintf(cache, sizeof cache, "%s", tpath("cache"));
    ck_assert_int_eq(dataset_load_idx(img, lbl, NULL, NULL, NULL, &plain, &err), KE_OK);
    ck_assert_int_eq(dataset_load_idx(img, lbl, NULL, NULL, cache, &first, &err), KE_OK);
    ck_assert_int_eq(first.mapped, 1);
    ck_assert_int_eq(count_files(cache, "kds-"), 1);
    ck_assert_int_eq(count_files(cache, ".kds-tmp"), 0);
    ck_assert_int_eq(dataset_load_idx(img, lbl, NULL, NULL, cache, &second, &err), KE_OK);
    ck_assert_int_eq(second.mapped, 1);
    assert_same(&plain, &second);
    assert_same(&first, &second);
    /* the mapping is shared and read-only (one page-cache copy for every
     * trial): /proc shows it r--s, and a write faults instead of copying
     * (a writable mapping would let the child exit 0) */
    ck_assert_str_eq(mapping_perms(second.x), "r--s");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        second.x[0] = 42.0f;
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    /* killed by SIGSEGV (or, under ASan, its report and exit 1): not 0 */
    ck_assert(!WIFEXITED(status) || WEXITSTATUS(status) != 0);
    ck_assert_float_eq(second.x[0], plain.x[0]);
    dataset_free(&plain);
    dataset_free(&first);
    dataset_free(&second);
}
END_TEST

/* Several processes filling the same cache at once: each gets complete data
 * (a reader never sees a half-written file), and no temp file is left. */
START_TEST(cache_concurrent_processes)
{
    const char *img = FM "t10k-images-idx3-ubyte.gz", *lbl = FM "t10k-labels-idx1-ubyte.gz";
    char cache[256];
    snprintf(cache, sizeof cache, "%s", tpath("cache"));
    dataset ref;
    kerror err;
    ck_assert_int_eq(dataset_load_idx(img, lbl, NULL, NULL, NULL, &ref, &err), KE_OK);
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
        kids[k] = fork();
        ck_assert_int_ge(kids[k], 0);
        if (kids[k] == 0) {
            int bad = 0;
            for (int rep = 0; rep < 3; rep++) {
                dataset ds;
                bad |= dataset_load_idx(img, lbl, NULL, NULL, cache, &ds, NULL) != KE_OK ||
                       memcmp(ds.x, ref.x, ref.n * ref.d * sizeof(float)) != 0 ||
                       memcmp(ds.y, ref.y, ref.n * sizeof(int32_t)) != 0;
                dataset_free(&ds);
            }
            _exit(bad);
        }
    }
    for (int k = 0; k < 4; k++) {
        int status;
        ck_assert_int_eq(waitpid(kids[k], &status, 0), kids[k]);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
    }
    ck_assert_int_eq(count_files(cache, "kds-"), 1);
    ck_assert_int_eq(count_files(cache, ".kds-tmp"), 0);
    dataset_free(&ref);
}
END_TEST

/* Overwrites len bytes at off of path. */
static void poke(const char *path, long off, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(cache_corrupt_rebuilt)
{
    const unsigned char lab[3] = {2, 0, 1};
    write_pair(tpath("i"), tpath("l"), 1, 3, lab);
    char cache[256];
    snprintf(cache, sizeof cache, "%s", tpath("cache"));
    dataset ref, ds;
    kerror err;
    ck_assert_int_eq(dataset_load_idx(tpath("i"), tpath("l"), NULL, NULL, NULL, &ref, &err), KE_OK);
    ck_assert_int_eq(dataset_load_idx(tpath("i"), tpath("l"), NULL, NULL, cache, &ds, &err), KE_OK);
    dataset_free(&ds);
    char file[512];
    const char *paths[2] = {tpath("i"), tpath("l")};
    ck_assert_int_eq(dscache_path(cache, paths, 2, "idx-ubyte v1", file, sizeof file, &err), KE_OK);
    struct stat st;
    ck_assert_int_eq(stat(file, &st), 0);
    ck_assert_int_eq(st.st_size, 4096 + 3 * 6 * 4 + 3 * 4);

    /* a label out of range in the payload */
    int32_t bad = 77;
    poke(file, 4096 + 3 * 6 * 4, &bad, sizeof bad);
    ck_assert_int_eq(dataset_load_idx(tpath("i"), tpath("l"), NULL, NULL, cache, &ds, &err), KE_OK);
    assert_same(&ref, &ds);
    dataset_free(&ds);
    /* a damaged header (rebuilt by the load above, damaged again) */
    poke(file, 20, "garbage!", 8);
    ck_assert_int_eq(dataset_load_idx(tpath("i"), tpath("l"), NULL, NULL, cache, &ds, &err), KE_OK);
    assert_same(&ref, &ds);
    ck_assert_int_eq(ds.mapped, 1);
    dataset_free(&ds);
    /* a file cut short */
    ck_assert_int_eq(truncate(file, 4096 + 10), 0);
    ck_assert_int_eq(dataset_load_idx(tpath("i"), tpath("l"), NULL, NULL, cache, &ds, &err), KE_OK);
    assert_same(&ref, &ds);
    dataset_free(&ds);
    ck_assert_int_eq(stat(file, &st), 0);
    ck_assert_int_eq(st.st_size, 4096 + 3 * 6 * 4 + 3 * 4);
    /* a foreign file under the cache's name */
    write_text(file, "not a dataset cache at all");
    ck_assert_int_eq(dataset_load_idx(tpath("i"), tpath("l"), NULL, NULL, cache, &ds, &err), KE_OK);
    assert_same(&ref, &ds);
    dataset_free(&ds);
    /* a changed source (here: new size) gets a new key: a stale cache is never used */
    const unsigned char lab2[3] = {1, 1, 0};
    write_pair(tpath("i"), tpath("l"), 0, 3, lab2);
    ck_assert_int_eq(dataset_load_idx(tpath("i"), tpath("l"), NULL, NULL, cache, &ds, &err), KE_OK);
    ck_assert_int_eq(ds.y[0], 1);
    dataset_free(&ds);
    dataset_free(&ref);
}
END_TEST

/* A cache file is taken only from this user and only when no one else may
 * write it: its key and sum are FNV hashes anyone can compute and its
 * payload carries no checksum, so a file planted in a shared cache folder
 * (--db /tmp/x.db caches in /tmp/kestrel-cache) could hand every trial
 * other data (here a label changed to another valid class). */
START_TEST(cache_of_another_writer_ignored)
{
    const unsigned char lab[3] = {2, 0, 1};
    write_pair(tpath("i"), tpath("l"), 1, 3, lab);
    char cache[256], file[512];
    snprintf(cache, sizeof cache, "%s", tpath("cache"));
    dataset ref, ds;
    kerror err;
    ck_assert_int_eq(dataset_load_idx(tpath("i"), tpath("l"), NULL, NULL, NULL, &ref, &err), KE_OK);
    const char *paths[2] = {tpath("i"), tpath("l")};
    ck_assert_int_eq(dscache_path(cache, paths, 2, "idx-ubyte v1", file, sizeof file, &err), KE_OK);
    int32_t other = 0;   /* label 2 -> 0: in range, so no check catches it */
    for (int round = 0; round < 2; round++) {
        if (round == 1 && geteuid() != 0) break;   /* only root can give a file away */
        ck_assert_int_eq(dataset_load_idx(tpath("i"), tpath("l"), NULL, NULL, cache, &ds, &err),
                         KE_OK);
        dataset_free(&ds);
        poke(file, 4096 + 3 * 6 * 4, &other, sizeof other);
        if (round == 0) ck_assert_int_eq(chmod(file, 0666), 0);
        else ck_assert_int_eq(chown(file, 65534, 65534), 0);
        ck_assert_int_eq(dataset_load_idx(tpath("i"), tpath("l"), NULL, NULL, cache, &ds, &err),
                         KE_OK);
        assert_same(&ref, &ds);
        dataset_free(&ds);
    }
    dataset_free(&ref);
}
END_TEST

START_TEST(cache_unwritable_skipped)
{
    const unsigned char lab[2] = {0, 1};
    write_pair(tpath("i"), tpath("l"), 0, 2, lab);
    write_text(tpath("file"), "x");
    dataset ds;
    kerror err;
    ck_assert_int_eq(dataset_load_idx(tpath("i"), tpath("l"), NULL, NULL, tpath("file/cache"),
                                      &ds, &err), KE_OK);
    ck_assert_int_eq(ds.mapped, 0);
    ck_assert_uint_eq(ds.n, 2);
    dataset_free(&ds);
}
END_TEST

START_TEST(csv_classification)
{
    write_text(tpath("a.csv"), "\"a\", b ,kind\r\n1,2,dog\r\n3.5,-4e1,cat\r\n\r\n5,6,ant\n7,8,cat\n\n");
    dataset ds;
    kerror err;
    ck_assert_int_eq(csv_load(tpath("a.csv"), NULL, DATASET_CLASSIFICATION, NULL, NULL, NULL, &ds,
                                      &err), KE_OK);
    ck_assert_uint_eq(ds.n, 4);
    ck_assert_uint_eq(ds.d, 2);
    ck_assert_uint_eq(ds.n_classes, 3);
    ck_assert_uint_eq(ds.h, 0);
    const int32_t want[4] = {2, 1, 0, 1};   /* ant < cat < dog */
    for (int i = 0; i < 4; i++) ck_assert_int_eq(ds.y[i], want[i]);
    ck_assert_float_eq(ds.x[2], 3.5f);
    ck_assert_float_eq(ds.x[3], -40.0f);
    dataset_free(&ds);

    /* integer labels sort numerically; label column chosen by name */
    write_text(tpath("b.csv"), "x,label,z\n0,10,1\n1,9,2\n2,2,3\n3,10,4\n");
    ck_assert_int_eq(csv_load(tpath("b.csv"), "label", DATASET_CLASSIFICATION, NULL, NULL, NULL, &ds,
                                      &err), KE_OK);
    const int32_t want2[4] = {2, 1, 0, 2};
    for (int i = 0; i < 4; i++) ck_assert_int_eq(ds.y[i], want2[i]);
    ck_assert_float_eq(ds.x[1 * 2 + 0], 1.0f);
    ck_assert_float_eq(ds.x[1 * 2 + 1], 2.0f);
    dataset_free(&ds);
}
END_TEST

/* DATASET_AUTO reads a label column of fractional numbers, or of mostly
 * distinct numbers, as a regression target, and class codes as classes. */
START_TEST(csv_auto_task)
{
    write_text(tpath("frac.csv"), "f1,y\n1,0.5\n2,1\n3,0.5\n");
    dataset ds;
    kerror err;
    ck_assert_int_eq(csv_load(tpath("frac.csv"), "y", DATASET_AUTO, NULL, NULL, NULL, &ds, &err), KE_OK);
    ck_assert_int_eq(ds.task, DATASET_REGRESSION);
    ck_assert(ds.t == 1 && ds.targets[0] == 0.5f && ds.targets[1] == 1.0f && ds.x[2] == 3.0f);
    dataset_free(&ds);
    write_text(tpath("codes.csv"), "f1,y\n1,3\n2,1\n3,3\n4,10\n");
    ck_assert_int_eq(csv_load(tpath("codes.csv"), "y", DATASET_AUTO, NULL, NULL, NULL, &ds, &err), KE_OK);
    ck_assert_int_eq(ds.task, DATASET_CLASSIFICATION);
    ck_assert_uint_eq(ds.n_classes, 3);
    dataset_free(&ds);
    FILE *f = fopen(tpath("prices.csv"), "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "f1,price\n");
    for (int i = 0; i < 300; i++) fprintf(f, "%d,%d\n", i, 1000 + (i * 37) % 250);
    fclose(f);
    ck_assert_int_eq(csv_load(tpath("prices.csv"), NULL, DATASET_AUTO, NULL, NULL, NULL, &ds, &err), KE_OK);
    ck_assert_int_eq(ds.task, DATASET_REGRESSION);
    ck_assert_float_eq(ds.targets[1], 1037.0f);
    dataset_free(&ds);
    write_text(tpath("names.csv"), "f1,y\n1,cat\n2,0.5\n");
    ck_assert_int_eq(csv_load(tpath("names.csv"), "y", DATASET_AUTO, NULL, NULL, NULL, &ds, &err), KE_OK);
    ck_assert_int_eq(ds.task, DATASET_CLASSIFICATION);
    dataset_free(&ds);
}
END_TEST

/* A quoted column name holding a comma (it would shift every column) is
 * refused, naming the file and the line; quotes alone are fine
 * (csv_classification). */
START_TEST(csv_quoted_header)
{
    write_text(tpath("q.csv"), "\"a, b\",c,label\n1,2,0\n");
    dataset ds;
    kerror err;
    ck_assert_int_eq(csv_load(tpath("q.csv"), NULL, DATASET_CLASSIFICATION, NULL, NULL, NULL, &ds, &err),
                     KE_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "q.csv:1: a quoted column name holds a comma"));
}
END_TEST

START_TEST(csv_regression_cached)
{
    write_text(tpath("r.csv"), "f1,y,f2\n1,0.5,2\n3,-1.25,4\n");
    dataset ds, again;
    kerror err;
    ck_assert_int_eq(csv_load(tpath("r.csv"), "y", DATASET_REGRESSION, NULL, NULL, tpath("c"), &ds,
                                      &err), KE_OK);
    ck_assert_int_eq(ds.task, DATASET_REGRESSION);
    ck_assert_uint_eq(ds.t, 1);
    ck_assert_ptr_null(ds.y);
    ck_assert_float_eq(ds.targets[0], 0.5f);
    ck_assert_float_eq(ds.targets[1], -1.25f);
    ck_assert_float_eq(ds.x[3], 4.0f);
    ck_assert_int_eq(csv_load(tpath("r.csv"), "y", DATASET_REGRESSION, NULL, NULL, tpath("c"), &again,
                                      &err), KE_OK);
    ck_assert_int_eq(again.mapped, 1);
    assert_same(&ds, &again);
    dataset_free(&again);
    /* the same file read as classification is a different cache entry */
    ck_assert_int_eq(csv_load(tpath("r.csv"), "y", DATASET_CLASSIFICATION, NULL, NULL, tpath("c"),
                                      &again, &err), KE_OK);
    ck_assert_int_eq(again.task, DATASET_CLASSIFICATION);
    ck_assert_int_eq(again.y[0], 1);
    dataset_free(&again);
    dataset_free(&ds);
}
END_TEST

static void assert_names(const dsnames *n, const char *features, const char *label,
                         const char *classes)
{
    char buf[256] = "";
    for (size_t i = 0; i < n->n_features; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? "," : "", n->features[i]);
    ck_assert_str_eq(buf, features);
    ck_assert_str_eq(n->label ? n->label : "(none)", label);
    buf[0] = '\0';
    for (size_t i = 0; i < n->n_classes; i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? "," : "", n->classes[i]);
    ck_assert_str_eq(buf, classes);
}

/* A CSV's names (the model file stores them): the feature columns in file
 * order, the label column and the labels as classes are numbered, also when
 * a later run maps the cache file instead of decoding; a cache file of
 * another version (1 held no names) is rebuilt. */
START_TEST(csv_names_cached)
{
    write_text(tpath("n.csv"), "b,label,a\n1,10,2\n3,9,4\n5,10,6\n");
    dataset ds;
    kerror err;
    ck_assert_int_eq(csv_load(tpath("n.csv"), "label", DATASET_CLASSIFICATION, NULL, NULL, tpath("c"),
                              &ds, &err), KE_OK);
    ck_assert_int_eq(ds.mapped, 1);
    assert_names(&ds.names, "b,a", "label", "9,10");
    dataset_free(&ds);
    ck_assert_int_eq(csv_load(tpath("n.csv"), "label", DATASET_CLASSIFICATION, NULL, NULL, tpath("c"),
                              &ds, &err), KE_OK);
    ck_assert_int_eq(ds.mapped, 1);
    assert_names(&ds.names, "b,a", "label", "9,10");
    dataset_free(&ds);
    char file[512];
    const char *paths[1] = {tpath("n.csv")};
    ck_assert_int_eq(dscache_path(tpath("c"), paths, 1, "csv v4 task=0 last=0 label=label", file,
                                  sizeof file, &err), KE_OK);
    uint32_t version = 1;
    poke(file, 8, &version, sizeof version);
    ck_assert_int_eq(csv_load(tpath("n.csv"), "label", DATASET_CLASSIFICATION, NULL, NULL, tpath("c"),
                              &ds, &err), KE_OK);
    assert_names(&ds.names, "b,a", "label", "9,10");
    dataset_free(&ds);
    FILE *f = fopen(file, "rb");
    ck_assert(f && fseek(f, 8, SEEK_SET) == 0 && fread(&version, 4, 1, f) == 1);
    fclose(f);
    ck_assert_uint_eq(version, 2);
    write_text(tpath("r.csv"), "x,y\n1,0.5\n2,0.25\n");
    ck_assert_int_eq(csv_load(tpath("r.csv"), NULL, DATASET_REGRESSION, NULL, NULL, NULL, &ds, &err),
                     KE_OK);
    assert_names(&ds.names, "x", "y", "");
    dataset_free(&ds);
}
END_TEST

/* A model's names (predict): columns by name in its order, others ignored,
 * a missing one refused; the label column optional; labels numbered by its
 * classes, numerically when they are numbers ("10.0" is "10"), and one
 * outside them refused naming the line. */
START_TEST(csv_known_names)
{
    dsnames names = {0};
    kerror err;
    const char *features[2] = {"a", "b"}, *classes[3] = {"2", "9", "10"};
    ck_assert_int_eq(dsnames_set_columns(&names, features, 2, "y", &err), KE_OK);
    ck_assert_int_eq(dsnames_set_classes(&names, classes, 3, &err), KE_OK);
    csv_known model = {NULL, &names, NULL, 0};
    dataset ds;
    write_text(tpath("k.csv"), "id,y,b,a\n7,10.0,1,2\n8,2,3,4\n9,9,5,6\n");
    ck_assert_int_eq(csv_load(tpath("k.csv"), NULL, DATASET_CLASSIFICATION, NULL, &model, NULL, &ds,
                              &err), KE_OK);
    const float x[6] = {2, 1, 4, 3, 6, 5};
    ck_assert(ds.d == 2 && memcmp(ds.x, x, sizeof x) == 0);
    ck_assert(ds.n_classes == 3 && ds.y[0] == 2 && ds.y[1] == 0 && ds.y[2] == 1);
    dataset_free(&ds);
    write_text(tpath("k.csv"), "b,a\n1,2\n");
    ck_assert_int_eq(csv_load(tpath("k.csv"), NULL, DATASET_CLASSIFICATION, NULL, &model, NULL, &ds,
                              &err), KE_OK);
    ck_assert(ds.task == DATASET_CLASSIFICATION && ds.n_classes == 0 && ds.x[0] == 2);
    dataset_free(&ds);
    write_text(tpath("k.csv"), "a,B,y\n1,2,9\n");
    ck_assert_int_eq(csv_load(tpath("k.csv"), NULL, DATASET_CLASSIFICATION, NULL, &model, NULL, &ds,
                              &err), KE_INVALID);
    ck_assert_msg(strstr(err.msg, "k.csv: no column 'b' (the model takes its feature columns by "
                         "name: 'a', 'b')"), "%s", err.msg);
    write_text(tpath("k.csv"), "a,b,y\n1,2,9\n1,2,3\n");
    ck_assert_int_eq(csv_load(tpath("k.csv"), NULL, DATASET_CLASSIFICATION, NULL, &model, NULL, &ds,
                              &err), KE_INVALID);
    ck_assert_msg(strstr(err.msg, "k.csv:3: column 3 ('y'): label '3' was not in the training data "
                         "(the model knows 3 classes: '2', '9', '10')"), "%s", err.msg);
    write_text(tpath("k.csv"), "a,b,y\n1,2,9\n1,2,\n");
    ck_assert_int_eq(csv_load(tpath("k.csv"), NULL, DATASET_CLASSIFICATION, NULL, &model, NULL, &ds,
                              &err), KE_INVALID);
    ck_assert_msg(strstr(err.msg, "k.csv:3: column 3 ('y'): missing label ''"), "%s", err.msg);
    dsnames_free(&names);
}
END_TEST

static void csv_fails(const char *text, const char *label, dataset_task task, int code,
                      const char *needle)
{
    write_text(tpath("e.csv"), text);
    dataset ds;
    kerror err;
    ck_assert_int_eq(csv_load(tpath("e.csv"), label, task, NULL, NULL, NULL, &ds, &err), code);
    ck_assert_msg(strstr(err.msg, needle), "'%s' lacks '%s'", err.msg, needle);
    ck_assert_ptr_null(ds.x);
}

START_TEST(csv_errors)
{
    csv_fails("a,b,c\n1,2,x\n3,oops,y\n", NULL, DATASET_CLASSIFICATION, KE_INVALID,
              "e.csv:3: column 2 ('b'): non-numeric value 'oops'");
    /* missing values are named as such, with their row and column */
    csv_fails("a,b,c\n1,2,x\n3,,y\n", NULL, DATASET_CLASSIFICATION, KE_INVALID,
              "e.csv:3: column 2 ('b'): missing value '' (not imputed");
    csv_fails("a,b,c\n1,2,x\nNA,4,y\n", NULL, DATASET_CLASSIFICATION, KE_INVALID,
              "e.csv:3: column 1 ('a'): missing value 'NA'");
    csv_fails("a,b,c\n1,2,x\n3,4\n", NULL, DATASET_CLASSIFICATION, KE_INVALID,
              "e.csv:3: 2 fields, the header has 3");
    csv_fails("a,b,c\n1,2,x\n3,4,y,5\n", NULL, DATASET_CLASSIFICATION, KE_INVALID, "4 fields");
    csv_fails("a,b,c\n1,2,x\n", "label", DATASET_CLASSIFICATION, KE_INVALID,
              "no column named 'label'");
    csv_fails("a,b,c\n1,2,x\n", NULL, DATASET_REGRESSION, KE_INVALID, "non-numeric target 'x'");
    csv_fails("a,b,c\n1,2,x\n3,4,x\n", NULL, DATASET_CLASSIFICATION, KE_INVALID, "distinct");
    csv_fails("a,b,c\n1,,x\n3,4,y\n", NULL, DATASET_CLASSIFICATION, KE_INVALID, "missing value");
    csv_fails("a,b,c\n1,nan,x\n3,4,y\n", NULL, DATASET_CLASSIFICATION, KE_INVALID, "'nan'");
    /* a missing label is an error, not a class of its own ('' or 'NA' was
     * one more class, trained on and reported without a word) */
    csv_fails("a,b,c\n1,2,x\n3,4,\n5,6,y\n", NULL, DATASET_CLASSIFICATION, KE_INVALID,
              "e.csv:3: column 3 ('c'): missing label '' (not imputed");
    csv_fails("a,b,c\n1,2,0\n3,4,NA\n5,6,1\n", NULL, DATASET_AUTO, KE_INVALID,
              "e.csv:3: column 3 ('c'): missing label 'NA'");
    csv_fails("a,b,c\n1,2,0.5\n3,4,nan\n", NULL, DATASET_REGRESSION, KE_INVALID,
              "e.csv:3: column 3 ('c'): missing target 'nan'");
    csv_fails("", NULL, DATASET_CLASSIFICATION, KE_INVALID, "header");
    csv_fails("a,b\n\n", NULL, DATASET_CLASSIFICATION, KE_INVALID, "no data rows");
    csv_fails("label\n1\n2\n", NULL, DATASET_CLASSIFICATION, KE_INVALID, "feature column");
    dataset ds;
    kerror err;
    ck_assert_int_eq(csv_load(tpath("missing.csv"), NULL, DATASET_CLASSIFICATION, NULL, NULL, NULL,
                                      &ds, &err), KE_IO);
    /* a NUL byte (a binary file, or a cut one) ended the text there: the
     * rows after it were dropped without a word */
    static const char nul[] = "a,b,c\n1,2,x\n3,4,y\n\0\n5,6,x\n7,8,y\n";
    FILE *f = fopen(tpath("e.csv"), "wb");
    ck_assert(f && fwrite(nul, 1, sizeof nul - 1, f) == sizeof nul - 1 && fclose(f) == 0);
    ck_assert_int_eq(csv_load(tpath("e.csv"), NULL, DATASET_CLASSIFICATION, NULL, NULL, NULL, &ds,
                              &err), KE_INVALID);
    ck_assert_msg(strstr(err.msg, "e.csv:4: a NUL byte (not a text file)"), "%s", err.msg);
}
END_TEST

/* A file without a header line: its first row was taken as the column names
 * without a word (one row fewer, columns named '1.5', '2'). A header of
 * numbers is refused, except pandas' names of unnamed columns (0, 1, ...,
 * to_csv of a DataFrame made from an array). */
START_TEST(csv_header_of_numbers)
{
    csv_fails("1.5,2,0\n3,4,1\n5,6,0\n", NULL, DATASET_CLASSIFICATION, KE_INVALID,
              "e.csv:1: the header line holds only numbers ('1.5', '2', '0')");
    csv_fails("1,2,3\n3,4,1\n5,6,0\n", NULL, DATASET_AUTO, KE_INVALID,
              "e.csv:1: the header line holds only numbers");
    write_text(tpath("pd.csv"), "0,1,2\n1.5,2,0\n3,4,1\n");
    dataset ds;
    kerror err;
    ck_assert_int_eq(csv_load(tpath("pd.csv"), NULL, DATASET_CLASSIFICATION, NULL, NULL, NULL, &ds,
                              &err), KE_OK);
    ck_assert_uint_eq(ds.n, 2);
    ck_assert_float_eq(ds.x[0], 1.5f);
    dataset_free(&ds);
}
END_TEST

/* strtod reads hexadecimal: a label 0x10 was class 16, the same class as a
 * label 16, and a feature 0x1p4 was 16.0. Values are decimal numbers; the
 * others are refused with the file, line and column. */
START_TEST(csv_hexadecimal_refused)
{
    csv_fails("a,b,c\n1,0x10,0\n3,4,1\n", NULL, DATASET_CLASSIFICATION, KE_INVALID,
              "e.csv:2: column 2 ('b'): hexadecimal value '0x10' (only decimal numbers are read)");
    csv_fails("a,b,c\n1,2,0\n3,-0X1p4,1\n", NULL, DATASET_CLASSIFICATION, KE_INVALID,
              "e.csv:3: column 2 ('b'): hexadecimal value '-0X1p4'");
    csv_fails("a,b,c\n1,2,16\n3,4,0x10\n5,6,1\n", NULL, DATASET_CLASSIFICATION, KE_INVALID,
              "e.csv:3: column 3 ('c'): hexadecimal label '0x10' (only decimal numbers are read)");
    csv_fails("a,b,c\n1,2,16\n3,4,0x10\n5,6,1\n", NULL, DATASET_AUTO, KE_INVALID,
              "e.csv:3: column 3 ('c'): hexadecimal label '0x10'");
    csv_fails("a,b,c\n1,2,0.5\n3,4,0x10\n", NULL, DATASET_REGRESSION, KE_INVALID,
              "e.csv:3: column 3 ('c'): hexadecimal target '0x10'");
    /* decimal spellings strtod and Python share stay numbers */
    write_text(tpath("dec.csv"), "a,b,c\n+1.,.5,0\n-2e1,3E-1,1\n");
    dataset ds;
    kerror err;
    ck_assert_int_eq(csv_load(tpath("dec.csv"), NULL, DATASET_CLASSIFICATION, NULL, NULL, NULL, &ds,
                              &err), KE_OK);
    ck_assert(ds.x[0] == 1.0f && ds.x[1] == 0.5f && ds.x[2] == -20.0f && ds.x[3] == 0.3f);
    dataset_free(&ds);
}
END_TEST

/* categorical: a column of k categories becomes k one-hot features in its
 * place, in sorted order; auto picks the non-numeric columns; the cache is
 * bypassed (it would lose the categories). */
START_TEST(csv_categorical)
{
    write_text(tpath("cat.csv"), "size,color,zip,y\n1,red,75001,a\n2,blue,10115,b\n"
                                 "3,red,75001,a\n4,green,10115,b\n");
    csv_fails("size,color,y\n1,red,a\n2,blue,b\n", NULL, DATASET_CLASSIFICATION, KE_INVALID,
              "e.csv:2: column 2 ('color'): non-numeric value 'red' (a category? one-hot encode it "
              "with categorical=");
    dataset ds;
    kerror err;
    const char *specs[] = {"auto", "color"};
    for (int s = 0; s < 2; s++) {
        ck_assert_int_eq(csv_load(tpath("cat.csv"), NULL, DATASET_CLASSIFICATION, specs[s],
                                          NULL, tpath("cache"), &ds, &err), KE_OK);
        ck_assert_uint_eq(ds.d, 5);   /* size, blue, green, red, zip */
        ck_assert_int_eq(ds.mapped, 0);
        ck_assert_uint_eq(ds.categories.n, 1);
        const onehot_column *col = onehot_find(&ds.categories, "color");
        ck_assert_uint_eq(col->k, 3);
        ck_assert_str_eq(col->values[0], "blue");
        ck_assert_str_eq(col->values[2], "red");
        const float row1[5] = {2, 1, 0, 0, 10115}, row3[5] = {4, 0, 1, 0, 10115};
        ck_assert(memcmp(ds.x + 5, row1, sizeof row1) == 0);
        ck_assert(memcmp(ds.x + 15, row3, sizeof row3) == 0);
        dataset_free(&ds);
    }
    /* a numeric column by name: a zip code is a category, not a quantity */
    ck_assert_int_eq(csv_load(tpath("cat.csv"), NULL, DATASET_CLASSIFICATION, "color,zip",
                                      NULL, NULL, &ds, &err), KE_OK);
    ck_assert_uint_eq(ds.d, 6);
    ck_assert_uint_eq(ds.categories.n, 2);
    ck_assert_str_eq(ds.categories.cols[1].values[1], "75001");
    onehot known = ds.categories;   /* predict's case: the model's categories */
    csv_known model = {&known, NULL, NULL, 0};
    ds.categories = (onehot){0};
    dataset_free(&ds);
    write_text(tpath("new.csv"), "size,color,zip\n5,green,10115\n6,purple,75001\n");
    ck_assert_int_eq(csv_load(tpath("new.csv"), NULL, DATASET_UNLABELED, NULL, &model, NULL,
                                      &ds, &err), KE_INVALID);
    ck_assert_msg(strstr(err.msg, "new.csv:3: column 2 ('color'): category 'purple' was not in the "
                         "training data (the model knows 3:"), "%s", err.msg);
    write_text(tpath("new.csv"), "size,zip\n5,10115\n");
    ck_assert_int_eq(csv_load(tpath("new.csv"), NULL, DATASET_UNLABELED, NULL, &model, NULL,
                                      &ds, &err), KE_INVALID);
    ck_assert_msg(strstr(err.msg, "no column 'color' (the model one-hot encodes it)"), "%s", err.msg);
    write_text(tpath("new.csv"), "size,color,zip\n5,green,10115\n");
    ck_assert_int_eq(csv_load(tpath("new.csv"), NULL, DATASET_UNLABELED, NULL, &model, NULL,
                                      &ds, &err), KE_OK);
    const float want[6] = {5, 0, 1, 0, 1, 0};
    ck_assert(ds.d == 6 && memcmp(ds.x, want, sizeof want) == 0 && ds.categories.n == 0);
    dataset_free(&ds);
    onehot_free(&known);

    /* the option's errors name the column and the reason */
    ck_assert_int_eq(csv_load(tpath("cat.csv"), NULL, DATASET_CLASSIFICATION, "colour",
                                      NULL, NULL, &ds, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "categorical");
    ck_assert_msg(strstr(err.msg, "'colour' is no column of the header"), "%s", err.msg);
    ck_assert_int_eq(csv_load(tpath("cat.csv"), NULL, DATASET_CLASSIFICATION, "y", NULL,
                                      NULL, &ds, &err), KE_INVALID);
    ck_assert_msg(strstr(err.msg, "'y' is the label column"), "%s", err.msg);
    write_text(tpath("na.csv"), "size,color,y\n1,red,a\n2,NA,b\n");
    ck_assert_int_eq(csv_load(tpath("na.csv"), NULL, DATASET_CLASSIFICATION, "auto", NULL,
                                      NULL, &ds, &err), KE_INVALID);
    ck_assert_msg(strstr(err.msg, "na.csv:3: column 2 ('color'): missing value 'NA'"), "%s", err.msg);
    ck_assert_ptr_null(ds.x);
}
END_TEST

/* Nearest-class-mean accuracy: high when the blobs are well separated. */
static double centroid_accuracy(const dataset *ds)
{
    size_t k = ds->n_classes, d = ds->d;
    double *mu = calloc(k * d, sizeof *mu);
    size_t *cnt = calloc(k, sizeof *cnt);
    for (size_t i = 0; i < ds->n; i++) {
        cnt[ds->y[i]]++;
        for (size_t j = 0; j < d; j++) mu[ds->y[i] * d + j] += ds->x[i * d + j];
    }
    for (size_t c = 0; c < k; c++)
        for (size_t j = 0; j < d; j++) mu[c * d + j] /= (double)cnt[c];
    size_t right = 0;
    for (size_t i = 0; i < ds->n; i++) {
        size_t best = 0;
        double bd = INFINITY;
        for (size_t c = 0; c < k; c++) {
            double s = 0;
            for (size_t j = 0; j < d; j++) {
                double u = ds->x[i * d + j] - mu[c * d + j];
                s += u * u;
            }
            if (s < bd) bd = s, best = c;
        }
        right += best == (size_t)ds->y[i];
    }
    free(mu);
    free(cnt);
    return (double)right / (double)ds->n;
}

START_TEST(synthetic_classification)
{
    dataset_opts o;
    dataset_opts_init(&o);
    o.source = "synthetic-classification";
    o.synth_n = 1000;
    o.synth_d = 2;
    o.synth_classes = 10;
    o.seed = 7;
    dataset a, b, c;
    kerror err;
    ck_assert_int_eq(dataset_load(&o, &a, &err), KE_OK);
    ck_assert_int_eq(dataset_load(&o, &b, &err), KE_OK);
    assert_same(&a, &b);
    ck_assert_uint_eq(a.n_classes, 10);
    ck_assert_uint_eq(a.test_begin, 1000);
    for (size_t i = 0; i < a.n; i++) ck_assert(a.y[i] >= 0 && a.y[i] < 10);
    ck_assert_msg(centroid_accuracy(&a) > 0.9, "accuracy %g", centroid_accuracy(&a));
    o.seed = 8;
    ck_assert_int_eq(dataset_load(&o, &c, &err), KE_OK);
    ck_assert_int_ne(memcmp(a.x, c.x, a.n * a.d * sizeof(float)), 0);
    dataset_free(&a);
    dataset_free(&b);
    dataset_free(&c);
    o.synth_classes = 1;
    ck_assert_int_eq(dataset_load(&o, &a, &err), KE_INVALID);
}
END_TEST

START_TEST(synthetic_regression)
{
    dataset_opts o;
    dataset_opts_init(&o);
    o.source = "synthetic-regression";
    o.synth_n = 2000;
    o.synth_d = 5;
    o.synth_targets = 2;
    o.synth_noise = 0.05;
    dataset a, b;
    kerror err;
    ck_assert_int_eq(dataset_load(&o, &a, &err), KE_OK);
    ck_assert_int_eq(dataset_load(&o, &b, &err), KE_OK);
    assert_same(&a, &b);
    ck_assert_uint_eq(dataset_out_dim(&a), 2);
    ck_assert_ptr_null(a.y);
    for (size_t i = 0; i < a.n * a.d; i++) ck_assert(a.x[i] >= -1.0f && a.x[i] <= 1.0f);
    /* the signal dominates the noise: target variance >> noise^2 */
    for (size_t k = 0; k < 2; k++) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < a.n; i++) {
            double v = a.targets[i * 2 + k];
            ck_assert(isfinite(v));
            s += v;
            s2 += v * v;
        }
        double var = s2 / a.n - (s / a.n) * (s / a.n);
        ck_assert_msg(var > 100 * 0.05 * 0.05, "target %zu variance %g", k, var);
    }
    dataset_free(&a);
    dataset_free(&b);
}
END_TEST

START_TEST(named_sources)
{
    dataset_opts o;
    dataset_opts_init(&o);
    dataset ds;
    kerror err;
    o.source = "imagenet";
    ck_assert_int_eq(dataset_load(&o, &ds, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "source");
    o.source = "mnist";
    ck_assert_int_eq(dataset_load(&o, &ds, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "data_dir");
    o.dir = tmpdir;
    ck_assert_int_eq(dataset_load(&o, &ds, &err), KE_IO);
    const unsigned char lab[4] = {0, 1, 2, 3};
    write_pair(tpath("train-images-idx3-ubyte"), tpath("train-labels-idx1-ubyte"), 0, 4, lab);
    write_pair(tpath("t10k-images-idx3-ubyte.gz"), tpath("t10k-labels-idx1-ubyte.gz"), 1, 2, lab);
    ck_assert_int_eq(dataset_load(&o, &ds, &err), KE_OK);
    ck_assert_uint_eq(ds.n, 6);
    ck_assert_uint_eq(ds.test_begin, 4);
    dataset_free(&ds);
    write_text(tpath("n.csv"), "a,y\n1,2\n3,4\n");
    char src[300];
    snprintf(src, sizeof src, "csv:%s", tpath("n.csv"));
    o.source = src;
    o.csv_task = DATASET_REGRESSION;
    ck_assert_int_eq(dataset_load(&o, &ds, &err), KE_OK);
    ck_assert_float_eq(ds.targets[1], 4.0f);
    dataset_free(&ds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, tmpdir_setup, tmpdir_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, idx_plain);
    tcase_add_test(tc, idx_gzip);
    tcase_add_test(tc, idx_errors);
    tcase_add_test(tc, fashion_test_set);
    tcase_add_test(tc, fashion_named);
    tcase_add_test(tc, cache_hit_equal);
    tcase_add_test(tc, cache_concurrent_processes);
    tcase_add_test(tc, cache_corrupt_rebuilt);
    tcase_add_test(tc, cache_of_another_writer_ignored);
    tcase_add_test(tc, cache_unwritable_skipped);
    tcase_add_test(tc, csv_classification);
    tcase_add_test(tc, csv_regression_cached);
    tcase_add_test(tc, csv_names_cached);
    tcase_add_test(tc, csv_known_names);
    tcase_add_test(tc, csv_auto_task);
    tcase_add_test(tc, csv_quoted_header);
    tcase_add_test(tc, csv_errors);
    tcase_add_test(tc, csv_header_of_numbers);
    tcase_add_test(tc, csv_hexadecimal_refused);
    tcase_add_test(tc, csv_categorical);
    tcase_add_test(tc, synthetic_classification);
    tcase_add_test(tc, synthetic_regression);
    tcase_add_test(tc, named_sources);
    suite_add_tcase(s, tc);
    return check_run(s);
}
