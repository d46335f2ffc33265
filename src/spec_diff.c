/* spec_diff: see spec_diff.h. Values are compared with json_equal (so 3 and
 * 3.0 differ, as the spec hash sees them) and shown as compact JSON. */
#define _GNU_SOURCE
#include "spec_diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void show(const json_t *v, char *buf, size_t n)
{
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS) : NULL;
    snprintf(buf, n, "%s", v ? (text ? text : "?") : "(none)");
    free(text);
}

/* Finds the first differing path below a and b (which differ). */
static void first(const json_t *a, const json_t *b, const char *path, char *buf, size_t n)
{
    if (json_is_object(a) && json_is_object(b)) {
        /* keys of either side, visited in sorted order */
        const char *best = NULL, *key;
        const json_t *v;
        const json_t *sides[2] = {a, b};
        for (int s = 0; s < 2; s++)
            json_object_foreach((json_t *)sides[s], key, v) {
                if (json_equal(json_object_get(a, key), json_object_get(b, key))) continue;
                if (!best || strcmp(key, best) < 0) best = key;
            }
        if (best) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", best);
            first(json_object_get(a, best), json_object_get(b, best), sub, buf, n);
            return;
        }
    } else if (json_is_array(a) && json_is_array(b) && json_array_size(a) == json_array_size(b)) {
        for (size_t i = 0; i < json_array_size(a); i++) {
            if (json_equal(json_array_get(a, i), json_array_get(b, i))) continue;
            char sub[512];
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            first(json_array_get(a, i), json_array_get(b, i), sub, buf, n);
            return;
        }
    }
    char old[160], new[160];
    show(a, old, sizeof old);
    show(b, new, sizeof new);
    snprintf(buf, n, "%s: %s -> %s", *path ? path : "(the spec)", old, new);
}

int spec_diff(const char *stored_json, const json_t *given, char *buf, size_t n,
              int *budget_only)
{
    buf[0] = '\0';
    *budget_only = 1;
    int fields = 0;
    json_t *stored = json_loads(stored_json, 0, NULL);
    const char *key;
    const json_t *v;
    const json_t *sides[2] = {stored, given};
    for (int s = 0; s < 2; s++)
        json_object_foreach((json_t *)sides[s], key, v) {
            const json_t *other = json_object_get(sides[1 - s], key);
            if (json_equal(v, other) || (s == 1 && json_object_get(stored, key))) continue;
            fields++;
            if (strcmp(key, "budget") != 0 && strcmp(key, "enqueue") != 0) *budget_only = 0;
        }
    if (fields && !*budget_only && stored) {
        /* name a difference that blocks, not a budget change that would pass */
        json_t *a = json_copy(stored), *b = json_copy((json_t *)given);
        for (int s = 0; s < 2; s++) {
            json_object_del(s ? b : a, "budget");
            json_object_del(s ? b : a, "enqueue");
        }
        first(a, b, "", buf, n);
        json_decref(a);
        json_decref(b);
    } else if (fields) {
        first(stored, given, "", buf, n);
    } else {
        *budget_only = 0;
    }
    json_decref(stored);
    return fields;
}
