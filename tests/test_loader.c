/* Tests for trainer/loader.c: epochs cover the index set exactly once in
 * batches (last one partial), seeded order independent of thread timing,
 * augmentation (shift, flip, noise) keeps shapes and ranges and is correct on
 * known images, the prefetch thread stops cleanly at any point, and without
 * prefetch the caller's fills, in pieces and in any order, give the same
 * batches. */
#include <check.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "../trainer/loader.h"
#include "../trainer/rng.h"

/* Tabular: row i has features i + j / 10 and label i % 7. */
static void make_table(dataset *ds, size_t n, size_t d)
{
    kerror err;
    ck_assert_int_eq(dataset_alloc(ds, DATASET_CLASSIFICATION, n, d, 0, &err), KE_OK);
    ds->n_classes = 7;
    for (size_t i = 0; i < n; i++) {
        ds->y[i] = (int32_t)(i % 7);
        for (size_t j = 0; j < d; j++) ds->x[i * d + j] = (float)i + (float)j / 10;
    }
}

/* n random h x w x c images with pixels in [0.1, 0.9]. */
static void make_images(dataset *ds, size_t n, size_t h, size_t w, size_t c)
{
    kerror err;
    ck_assert_int_eq(dataset_alloc(ds, DATASET_CLASSIFICATION, n, h * w * c, 0, &err), KE_OK);
    ds->n_classes = 2;
    ds->h = h;
    ds->w = w;
    ds->c = c;
    rng r;
    rng_seed(&r, 3);
    for (size_t i = 0; i < n * ds->d; i++) ds->x[i] = (float)(0.1 + 0.8 * rng_uniform(&r));
    for (size_t i = 0; i < n; i++) ds->y[i] = (int32_t)(i % 2);
}

static size_t *iota(size_t n, size_t step)
{
    size_t *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = i * step;
    return a;
}

/* Runs one epoch: every index of idx exactly once, batch sizes bs except a
 * partial last one, rows and labels gathered from the dataset unchanged. */
static void check_epoch(loader *l, const dataset *ds, const size_t *idx, size_t n, size_t bs,
                        uint64_t epoch, size_t *order)
{
    int *seen = calloc(ds->n, sizeof *seen);
    loader_batch b;
    size_t k = 0, batches = 0;
    loader_epoch_begin(l, epoch);
    while (loader_next(l, &b)) {
        ck_assert_uint_eq(b.index, batches++);
        ck_assert_uint_eq(b.epoch, epoch);
        ck_assert_uint_eq(b.size, n - k < bs ? n - k : bs);
        ck_assert_uint_eq((uintptr_t)b.x % 64, 0);   /* each slot starts on a cache line */
        for (size_t i = 0; i < b.size; i++) {
            size_t row = b.rows[i];
            seen[row]++;
            order[k++] = row;
            ck_assert_int_eq(b.y[i], ds->y[row]);
            ck_assert_int_eq(memcmp(b.x + i * ds->d, ds->x + row * ds->d, ds->d * sizeof(float)),
                             0);
        }
    }
    ck_assert_uint_eq(k, n);
    ck_assert_uint_eq(batches, loader_batches(l));
    for (size_t i = 0; i < n; i++) ck_assert_int_eq(seen[idx[i]], 1);
    ck_assert_int_eq(loader_next(l, &b), 0);
    free(seen);
}

START_TEST(epochs_cover_once)
{
    dataset ds;
    make_table(&ds, 250, 4);
    size_t n = 103, bs = 10, *idx = iota(n, 2);   /* every other row */
    size_t *o1 = malloc(n * sizeof *o1), *o2 = malloc(n * sizeof *o2);
    loader *l;
    kerror err;
    ck_assert_int_eq(loader_create(&l, &ds, idx, n, bs, 42, 1, NULL, NULL, 1, &err), KE_OK);
    ck_assert_uint_eq(loader_batches(l), 11);
    check_epoch(l, &ds, idx, n, bs, 0, o1);
    check_epoch(l, &ds, idx, n, bs, 1, o2);
    ck_assert_int_ne(memcmp(o1, o2, n * sizeof *o1), 0);
    loader_free(l);
    /* no shuffle: idx order every epoch; batch larger than n: one batch */
    ck_assert_int_eq(loader_create(&l, &ds, idx, n, 1000, 42, 0, NULL, NULL, 1, &err), KE_OK);
    ck_assert_uint_eq(loader_batches(l), 1);
    check_epoch(l, &ds, idx, n, n, 3, o1);
    ck_assert_int_eq(memcmp(o1, idx, n * sizeof *o1), 0);
    loader_free(l);
    free(o1);
    free(o2);
    free(idx);
    dataset_free(&ds);
}
END_TEST

/* Concatenation of all batches (rows and features) of epochs 0..epochs-1.
 * split 0: the prefetch thread fills them; else no prefetch, and each batch
 * is filled by the caller in two pieces, rows [split, size) before [0,
 * split), as data-parallel threads may. */
static void record(const dataset *ds, const size_t *idx, size_t n, size_t bs, uint64_t seed,
                   const loader_aug *aug, size_t epochs, size_t split, size_t *rows, float *x)
{
    loader *l;
    kerror err;
    ck_assert_int_eq(loader_create(&l, ds, idx, n, bs, seed, 1, aug, NULL, split == 0, &err), KE_OK);
    size_t k = 0;
    for (uint64_t e = 0; e < epochs; e++) {
        loader_epoch_begin(l, e);
        loader_batch b;
        while (loader_next(l, &b)) {
            loader_fill(l, &b, split, b.size);
            loader_fill(l, &b, 0, split);
            memcpy(rows + k, b.rows, b.size * sizeof *rows);
            memcpy(x + k * ds->d, b.x, b.size * ds->d * sizeof *x);
            k += b.size;
        }
    }
    loader_free(l);
}

START_TEST(same_seed_same_batches)
{
    dataset ds;
    make_images(&ds, 60, 4, 5, 1);
    size_t n = 60, *idx = iota(n, 1), epochs = 3, total = n * epochs;
    loader_aug aug;
    loader_aug_init(&aug);
    aug.shift_px = 1;
    aug.flip_p = 0.5;
    aug.noise_std = 0.05;
    size_t *r1 = malloc(total * sizeof *r1), *r2 = malloc(total * sizeof *r2);
    float *x1 = malloc(total * ds.d * sizeof *x1), *x2 = malloc(total * ds.d * sizeof *x2);
    record(&ds, idx, n, 7, 9, &aug, epochs, 0, r1, x1);
    record(&ds, idx, n, 7, 9, &aug, epochs, 0, r2, x2);
    ck_assert_int_eq(memcmp(r1, r2, total * sizeof *r1), 0);
    ck_assert_int_eq(memcmp(x1, x2, total * ds.d * sizeof *x1), 0);
    /* filled by the caller, in pieces and out of order: the same batches */
    for (size_t split = 1; split <= 7; split += 3) {
        memset(x2, 0, total * ds.d * sizeof *x2);
        record(&ds, idx, n, 7, 9, &aug, epochs, split, r2, x2);
        ck_assert_int_eq(memcmp(r1, r2, total * sizeof *r1), 0);
        ck_assert_int_eq(memcmp(x1, x2, total * ds.d * sizeof *x1), 0);
    }
    record(&ds, idx, n, 7, 10, &aug, epochs, 0, r2, x2);
    ck_assert_int_ne(memcmp(r1, r2, total * sizeof *r1), 0);
    /* an epoch replayed alone, or after abandoning another one midway, is
     * the same epoch */
    loader *l;
    kerror err;
    loader_batch b;
    ck_assert_int_eq(loader_create(&l, &ds, idx, n, 7, 9, 1, &aug, NULL, 1, &err), KE_OK);
    loader_epoch_begin(l, 0);
    ck_assert_int_eq(loader_next(l, &b), 1);
    loader_epoch_begin(l, 2);
    size_t k = 2 * n;
    while (loader_next(l, &b)) {
        ck_assert_int_eq(memcmp(b.rows, r1 + k, b.size * sizeof *r1), 0);
        ck_assert_int_eq(memcmp(b.x, x1 + k * ds.d, b.size * ds.d * sizeof *x1), 0);
        k += b.size;
    }
    ck_assert_uint_eq(k, total);
    loader_free(l);
    free(r1);
    free(r2);
    free(x1);
    free(x2);
    free(idx);
    dataset_free(&ds);
}
END_TEST

START_TEST(image_augmentation_ranges)
{
    dataset ds;
    make_images(&ds, 40, 6, 5, 1);
    size_t n = 40, *idx = iota(n, 1), changed = 0;
    loader_aug aug;
    loader_aug_init(&aug);
    aug.shift_px = 2;
    aug.flip_p = 0.5;
    aug.noise_std = 0.3;
    loader *l;
    kerror err;
    loader_batch b;
    ck_assert_int_eq(loader_create(&l, &ds, idx, n, 16, 1, 1, &aug, NULL, 1, &err), KE_OK);
    loader_epoch_begin(l, 0);
    size_t total = 0;
    while (loader_next(l, &b)) {
        for (size_t i = 0; i < b.size; i++) {
            const float *src = ds.x + b.rows[i] * ds.d, *dst = b.x + i * ds.d;
            changed += memcmp(src, dst, ds.d * sizeof *dst) != 0;
            for (size_t j = 0; j < ds.d; j++) ck_assert(dst[j] >= 0.0f && dst[j] <= 1.0f);
            ck_assert_int_eq(b.y[i], ds.y[b.rows[i]]);
        }
        total += b.size;
    }
    ck_assert_uint_eq(total, n);
    ck_assert_uint_eq(changed, n);
    loader_free(l);
    free(idx);
    dataset_free(&ds);
}
END_TEST

START_TEST(flip_known_image)
{
    dataset ds;
    make_images(&ds, 3, 2, 3, 2);   /* 2 x 3 pixels, 2 channels */
    size_t idx[3] = {0, 1, 2};
    loader_aug aug;
    loader_aug_init(&aug);
    aug.flip_p = 1.0;
    loader *l;
    kerror err;
    loader_batch b;
    ck_assert_int_eq(loader_create(&l, &ds, idx, 3, 3, 1, 0, &aug, NULL, 1, &err), KE_OK);
    loader_epoch_begin(l, 0);
    ck_assert_int_eq(loader_next(l, &b), 1);
    for (size_t i = 0; i < 3; i++) {
        const float *src = ds.x + i * 12, *dst = b.x + i * 12;
        for (size_t r = 0; r < 2; r++)
            for (size_t c = 0; c < 3; c++)
                for (size_t ch = 0; ch < 2; ch++)
                    ck_assert_float_eq(dst[(r * 3 + c) * 2 + ch], src[(r * 3 + (2 - c)) * 2 + ch]);
    }
    loader_free(l);
    dataset_free(&ds);
}
END_TEST

/* dst is src shifted by some (dx, dy) with |dx|, |dy| <= k and zero fill. */
static int is_shift_of(const float *src, const float *dst, long h, long w, long k)
{
    for (long dy = -k; dy <= k; dy++) {
        for (long dx = -k; dx <= k; dx++) {
            int ok = 1;
            for (long r = 0; r < h && ok; r++) {
                for (long c = 0; c < w && ok; c++) {
                    long sr = r - dy, sc = c - dx;
                    float want = sr < 0 || sr >= h || sc < 0 || sc >= w ? 0.0f : src[sr * w + sc];
                    ok = dst[r * w + c] == want;
                }
            }
            if (ok) return 1;
        }
    }
    return 0;
}

START_TEST(shift_is_a_shift)
{
    dataset ds;
    make_images(&ds, 50, 5, 4, 1);
    size_t n = 50, *idx = iota(n, 1), moved = 0;
    loader_aug aug;
    loader_aug_init(&aug);
    aug.shift_px = 2;
    loader *l;
    kerror err;
    loader_batch b;
    ck_assert_int_eq(loader_create(&l, &ds, idx, n, 8, 5, 1, &aug, NULL, 1, &err), KE_OK);
    loader_epoch_begin(l, 0);
    while (loader_next(l, &b)) {
        for (size_t i = 0; i < b.size; i++) {
            const float *src = ds.x + b.rows[i] * ds.d, *dst = b.x + i * ds.d;
            ck_assert(is_shift_of(src, dst, 5, 4, 2));
            moved += memcmp(src, dst, ds.d * sizeof *dst) != 0;
        }
    }
    ck_assert_uint_gt(moved, n / 2);   /* P(dx = dy = 0) = 1/25 */
    loader_free(l);
    free(idx);
    dataset_free(&ds);
}
END_TEST

START_TEST(tabular_noise_and_targets)
{
    dataset ds;
    kerror err;
    size_t n = 500, d = 8;
    ck_assert_int_eq(dataset_alloc(&ds, DATASET_REGRESSION, n, d, 2, &err), KE_OK);
    for (size_t i = 0; i < n * d; i++) ds.x[i] = 100.0f;   /* far outside [0, 1]: no clamp */
    for (size_t i = 0; i < n * 2; i++) ds.targets[i] = (float)i;
    size_t *idx = iota(n, 1);
    loader_aug aug;
    loader_aug_init(&aug);
    aug.flip_p = 1.0;     /* image-only: ignored for tabular data */
    aug.noise_std = 0.5;
    loader *l;
    loader_batch b;
    ck_assert_int_eq(loader_create(&l, &ds, idx, n, 64, 3, 1, &aug, NULL, 1, &err), KE_OK);
    loader_epoch_begin(l, 0);
    double s = 0, s2 = 0;
    while (loader_next(l, &b)) {
        ck_assert_ptr_null(b.y);
        for (size_t i = 0; i < b.size; i++) {
            ck_assert_float_eq(b.targets[i * 2], (float)(b.rows[i] * 2));
            ck_assert_float_eq(b.targets[i * 2 + 1], (float)(b.rows[i] * 2 + 1));
            for (size_t j = 0; j < d; j++) {
                double u = b.x[i * d + j] - 100.0;
                s += u;
                s2 += u * u;
            }
        }
    }
    double m = s / (n * d), sd = sqrt(s2 / (n * d) - m * m);
    ck_assert_double_lt(fabs(m), 0.05);
    ck_assert_double_eq_tol(sd, 0.5, 0.05);
    loader_free(l);
    free(idx);
    dataset_free(&ds);
}
END_TEST

START_TEST(shutdown_and_errors)
{
    dataset ds;
    make_table(&ds, 100, 3);
    size_t *idx = iota(100, 1);
    loader *l;
    kerror err;
    loader_batch b;
    /* freed before any epoch, right after posting a prefetch, mid-epoch */
    ck_assert_int_eq(loader_create(&l, &ds, idx, 100, 10, 1, 1, NULL, NULL, 1, &err), KE_OK);
    ck_assert_int_eq(loader_next(l, &b), 0);   /* no epoch begun */
    loader_free(l);
    ck_assert_int_eq(loader_create(&l, &ds, idx, 100, 10, 1, 1, NULL, NULL, 1, &err), KE_OK);
    loader_epoch_begin(l, 0);
    loader_free(l);
    ck_assert_int_eq(loader_create(&l, &ds, idx, 100, 10, 1, 1, NULL, NULL, 1, &err), KE_OK);
    loader_epoch_begin(l, 0);
    ck_assert_int_eq(loader_next(l, &b), 1);
    ck_assert_int_eq(loader_next(l, &b), 1);
    loader_free(l);
    loader_free(NULL);

    ck_assert_int_eq(loader_create(&l, &ds, idx, 0, 10, 1, 1, NULL, NULL, 1, &err), KE_INVALID);
    ck_assert_ptr_null(l);
    ck_assert_int_eq(loader_create(&l, &ds, idx, 100, 0, 1, 1, NULL, NULL, 1, &err), KE_INVALID);
    idx[5] = 100;
    ck_assert_int_eq(loader_create(&l, &ds, idx, 100, 10, 1, 1, NULL, NULL, 1, &err), KE_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "out of range"));
    idx[5] = 5;
    loader_aug aug;
    loader_aug_init(&aug);
    aug.flip_p = 1.5;
    ck_assert_int_eq(loader_create(&l, &ds, idx, 100, 10, 1, 1, &aug, NULL, 1, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "augment.flip_p");
    free(idx);
    dataset_free(&ds);
}
END_TEST

/* With a scaler, shifts and flips act on the stored pixels and the row is
 * scaled after them: a loader over the raw data gives, bit for bit, the
 * batches of a loader over the same data augmented by hand and scaled, in
 * prefetch and caller-fill modes alike, so a vacated pixel is scaled black
 * ((0 - shift) * scale), not the mean; the dataset is left as it was. */
START_TEST(scaled_after_shift_and_flip)
{
    dataset ds;
    make_images(&ds, 50, 5, 4, 2);
    size_t n = 50, *idx = iota(n, 1);
    split_scaler sc;
    kerror err;
    ck_assert_int_eq(split_scaler_fit(&sc, SPLIT_SCALE_STANDARD, &ds, idx, 30, &err), KE_OK);
    float *orig = malloc(ds.n * ds.d * sizeof *orig);
    memcpy(orig, ds.x, ds.n * ds.d * sizeof *orig);
    loader_aug aug, geo;
    loader_aug_init(&aug);
    aug.shift_px = 1;
    aug.flip_p = 0.5;
    aug.clamp01 = 0;
    for (int prefetch = 0; prefetch <= 1; prefetch++) {
        loader *a, *raw;
        ck_assert_int_eq(loader_create(&a, &ds, idx, n, 8, 4, 1, &aug, &sc, prefetch, &err), KE_OK);
        geo = aug;   /* the same draws, no scaler: the augmented raw rows */
        ck_assert_int_eq(loader_create(&raw, &ds, idx, n, 8, 4, 1, &geo, NULL, prefetch, &err), KE_OK);
        loader_batch ba, br;
        size_t black = 0;
        loader_epoch_begin(a, 1);
        loader_epoch_begin(raw, 1);
        while (loader_next(a, &ba)) {
            ck_assert_int_eq(loader_next(raw, &br), 1);
            loader_fill(a, &ba, 0, ba.size);
            loader_fill(raw, &br, 0, br.size);
            for (size_t i = 0; i < ba.size; i++) {
                float want[40];
                split_scaler_row(&sc, want, br.x + i * ds.d);
                ck_assert_int_eq(memcmp(ba.x + i * ds.d, want, ds.d * sizeof(float)), 0);
                for (size_t j = 0; j < ds.d; j++) black += br.x[i * ds.d + j] == 0.0f;
            }
        }
        ck_assert_uint_gt(black, 0);   /* the shifts did vacate pixels */
        loader_free(a);
        loader_free(raw);
    }
    ck_assert_int_eq(memcmp(orig, ds.x, ds.n * ds.d * sizeof *orig), 0);
    sc.d = 3;   /* a scaler of another width is refused */
    loader *l;
    ck_assert_int_eq(loader_create(&l, &ds, idx, n, 8, 4, 1, NULL, &sc, 1, &err), KE_INVALID);
    ck_assert_str_eq(err.path, "scaling");
    split_scaler_free(&sc);
    free(orig);
    free(idx);
    dataset_free(&ds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, epochs_cover_once);
    tcase_add_test(tc, same_seed_same_batches);
    tcase_add_test(tc, image_augmentation_ranges);
    tcase_add_test(tc, flip_known_image);
    tcase_add_test(tc, shift_is_a_shift);
    tcase_add_test(tc, tabular_noise_and_targets);
    tcase_add_test(tc, shutdown_and_errors);
    tcase_add_test(tc, scaled_after_shift_and_flip);
    suite_add_tcase(s, tc);
    return check_run(s);
}
