/* fuzz_text: the fuzz input as a NUL-terminated string (malloc'd; the
 * caller frees it), for the parsers that take C strings. */
#ifndef KESTREL_FUZZ_TEXT_H
#define KESTREL_FUZZ_TEXT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return NULL;
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

#endif
