/* idx_fixture: writes IDX files (images, labels) for the IDX loader's
 * tests (test_dataset, test_idx), gzip or plain, as the real ones are. */
#ifndef KESTREL_IDX_FIXTURE_H
#define KESTREL_IDX_FIXTURE_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <zlib.h>

static inline void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Writes an IDX file: magic, ndim dims, then len data bytes; gzip or plain. */
static inline void write_idx(const char *path, int gz, uint32_t magic, int ndim,
                             const uint32_t *dims, const unsigned char *data, size_t len)
{
    unsigned char hdr[16];
    put_be32(hdr, magic);
    for (int i = 0; i < ndim; i++) put_be32(hdr + 4 + 4 * i, dims[i]);
    size_t hl = 4 + 4 * (size_t)ndim;
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(gzwrite(f, hdr, (unsigned)hl), (int)hl);
        if (len) ck_assert_int_eq(gzwrite(f, data, (unsigned)len), (int)len);
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(hdr, 1, hl, f), hl);
        if (len) ck_assert_uint_eq(fwrite(data, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
    }
}

#endif
