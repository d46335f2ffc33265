/* utf8: validation and repair of UTF-8 text; see utf8.h. Invariant:
 * utf8_fix's output is valid by utf8_valid's test, since it copies exactly
 * the sequences utf8_seq_len accepts. */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

int utf8_seq_len(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    int n;
    unsigned lo = 0x80, hi = 0xBF;      /* allowed range of the second byte */
    if (u[0] < 0x80) return 1;
    if (u[0] >= 0xC2 && u[0] <= 0xDF) n = 2;
    else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
        n = 3;
        if (u[0] == 0xE0) lo = 0xA0;    /* overlong */
        if (u[0] == 0xED) hi = 0x9F;    /* surrogates */
    } else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
        n = 4;
        if (u[0] == 0xF0) lo = 0x90;    /* overlong */
        if (u[0] == 0xF4) hi = 0x8F;    /* above U+10FFFF */
    } else {
        return 0;
    }
    if (u[1] < lo || u[1] > hi) return 0;
    for (int k = 2; k < n; k++)
        if (u[k] < 0x80 || u[k] > 0xBF) return 0;
    return n;
}

int utf8_valid(const char *s)
{
    for (int n; *s; s += n)
        if (!(n = utf8_seq_len(s))) return 0;
    return 1;
}

char *utf8_fix(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(3 * len + 1), *o = out;   /* each byte grows to 3 at most */
    if (!out) return NULL;
    while (*s) {
        int n = utf8_seq_len(s);
        if (n) {
            memcpy(o, s, (size_t)n);
            o += n;
            s += n;
        } else {
            memcpy(o, UTF8_REPLACEMENT, 3);
            o += 3;
            s++;
        }
    }
    *o = '\0';
    return out;
}
