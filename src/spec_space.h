/* spec_space: parses and validates the "space" section of a study spec
 * (docs/spec.md: parameter types, ranges, grids, choices, conditions) into
 * a search space ordered parents first. */
#ifndef KESTREL_SPEC_SPACE_H
#define KESTREL_SPEC_SPACE_H

#include <jansson.h>

#include "kerror.h"
#include "../search/space.h"

/* The space of doc (the spec's root object) into *out (free with
 * space_free). Errors: KE_INVALID with the JSON path ("space.lr.low"),
 * KE_NOMEM; then *out holds nothing. */
int spec_space_parse(space *out, const json_t *doc, kerror *err);

#endif
