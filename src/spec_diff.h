/* spec_diff: what differs between two study specs (JSON documents), said
 * the way a person reads it: "budget.max_trials: 30 -> 40". The service
 * and `kestrel run` name it when a stored study's spec differs from the one
 * given, and let a change confined to the budget through. */
#ifndef KESTREL_SPEC_DIFF_H
#define KESTREL_SPEC_DIFF_H

#include <stddef.h>
#include <jansson.h>

/* Writes the first difference between stored_json (a stored spec's text)
 * and given (object keys in sorted order, arrays by index) into buf as
 * "PATH: OLD -> NEW" (a side without the field shows "(none)"), the first
 * outside "budget" and "enqueue" when there is one; "" when they are equal. Returns how many top-level fields differ, and sets
 * *budget_only when every difference lies under "budget". */
int spec_diff(const char *stored_json, const json_t *given, char *buf, size_t n,
              int *budget_only);

#endif
