/* spec_command: command templates of a study spec, private to spec.c and
 * spec_command.c. The public entry points, spec_command_argv and
 * spec_argv_free, are declared in spec.h; this header adds what spec.c needs
 * to validate a template while parsing. */
#ifndef KESTREL_SPEC_COMMAND_H
#define KESTREL_SPEC_COMMAND_H

#include "spec.h"

/* Bytes of a string choice or fixed value: bounds what one placeholder
 * expands to. */
#define SPEC_TEXT_VALUE_MAX 1024

/* Checks template tmpl (a shell string when quote is set, else one argv
 * element) against the spec's name and space: KE_OK, or KE_INVALID at path
 * for an unknown placeholder or an unmatched brace. Parameters expand to ""
 * here, so s needs its name and space but no point. */
int spec_command_check(const spec_study *s, const char *tmpl, int quote,
                       const char *path, kerror *err);

#endif
