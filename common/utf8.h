/* utf8: keeps text that comes from outside (a trial's output, its exit
 * reason, a CSV's names) valid UTF-8, which JSON, SQLite's text and the
 * dashboard need: a byte that does not start a well-formed sequence (RFC
 * 3629: no overlong forms, no surrogates, nothing above U+10FFFF) stands for
 * U+FFFD, or is refused. */
#ifndef KESTREL_UTF8_H
#define KESTREL_UTF8_H

#include <stddef.h>

#define UTF8_REPLACEMENT "\xEF\xBF\xBD"   /* U+FFFD */

/* Bytes of the well-formed sequence that starts at s (1 to 4; s is
 * NUL-terminated), or 0 when s[0] starts none. */
int utf8_seq_len(const char *s);
/* 1 when the NUL-terminated s is valid UTF-8. */
int utf8_valid(const char *s);
/* A malloc'd copy of s with every byte that starts no sequence replaced by
 * U+FFFD; NULL when out of memory. The caller frees it. */
char *utf8_fix(const char *s);

#endif
