/* sha256: the SHA-256 hash of FIPS 180-4 (section 6.2), for secrets the
 * history keeps only as a hash (the workers' keys, migration 013), and a
 * comparison of two digests in a time that does not depend on where they
 * differ. Stands alone: no allocation, no error; the caller owns every
 * buffer. */
#ifndef KESTREL_SHA256_H
#define KESTREL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_BYTES 32
#define SHA256_HEX (2 * SHA256_BYTES + 1)   /* lowercase hex and its NUL */

typedef struct {
    uint32_t h[8];          /* the hash value so far */
    uint64_t bits;          /* message length so far */
    unsigned char block[64];
    size_t used;            /* bytes waiting in block */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
/* Pads, writes the digest to out and leaves c to be initialised again. */
void sha256_final(sha256_ctx *c, unsigned char out[SHA256_BYTES]);
/* The digest of n bytes at data, in one call. */
void sha256(const void *data, size_t n, unsigned char out[SHA256_BYTES]);
/* digest as 64 lowercase hex digits and a NUL, into hex. */
void sha256_to_hex(const unsigned char digest[SHA256_BYTES], char hex[SHA256_HEX]);
/* 0, digest filled, when hex is exactly 64 hex digits (either case); -1
 * (digest as it was) otherwise. */
int sha256_from_hex(const char *hex, unsigned char digest[SHA256_BYTES]);
/* 1 when a and b are the same digest, looking at every byte of both. */
int sha256_equal(const unsigned char a[SHA256_BYTES], const unsigned char b[SHA256_BYTES]);

#endif
