/* report: parses one trial report line; see report.h and docs/protocol.md.
 * JSON has no NaN or Infinity, but Python's json.dumps writes them (C's
 * printf writes nan and inf), and a number like 1e999 overflows a double,
 * which Jansson refuses: so the bare literals and overflowing numbers are
 * first rewritten (outside strings only) into marker strings that Jansson
 * accepts and that map back to NAN / +-INFINITY, and the trial fails naming
 * the non-finite value instead of its line passing for log text.
 * Invariant: on success out->n <= REPORT_MAX_METRICS and every name is a
 * distinct key of the line (a repeated key keeps its last value). */
#include "report.h"

#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* The marker for a literal is the JSON string "\u0001<tag>": a reporter
 * would have to write that escape itself to collide with one. */
static const struct {
    const char *literal, *tag;
    double value;
} nonfinite[] = {
    {"-Infinity", "-Inf", -INFINITY},
    {"Infinity", "Inf", INFINITY},
    {"NaN", "NaN", NAN},
    {"-inf", "-Inf", -INFINITY},
    {"inf", "Inf", INFINITY},
    {"nan", "NaN", NAN},
};
#define N_NONFINITE (sizeof nonfinite / sizeof nonfinite[0])
#define MARKER_PREFIX "\"\\u0001"

static int word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* The nonfinite[] entry whose literal stands as a whole word at line[i],
 * or N_NONFINITE. */
static size_t literal_at(const char *line, size_t len, size_t i)
{
    if (i > 0 && word_char(line[i - 1])) return N_NONFINITE;
    for (size_t k = 0; k < N_NONFINITE; k++) {
        size_t l = strlen(nonfinite[k].literal);
        if (l <= len - i && !memcmp(line + i, nonfinite[k].literal, l) &&
            (i + l == len || !word_char(line[i + l])))
            return k;
    }
    return N_NONFINITE;
}

/* The length of the number at line[i] (NUL-terminated) when it overflows a
 * double (1e999: *k names its infinity in nonfinite[]), else 0. */
static size_t overflow_at(const char *line, size_t i, size_t *k)
{
    if ((i > 0 && (word_char(line[i - 1]) || line[i - 1] == '.')) ||
        !(line[i] == '-' || isdigit((unsigned char)line[i])))
        return 0;
    size_t e = i + 1;
    while (line[e] && strchr("+-.eE0123456789", line[e])) e++;
    char *end;
    double v = strtod(line + i, &end);
    if (end != line + e || !isinf(v)) return 0;
    *k = v < 0 ? 0 : 1;     /* -Infinity, Infinity */
    return e - i;
}

/* Copies line into a new buffer with the non-finite literals and numbers
 * outside strings replaced by markers, each less than 4x as long as what it
 * replaces. */
static char *rewrite_nonfinite(const char *line, size_t len)
{
    char *out = malloc(4 * len + 1);
    if (!out) return NULL;
    size_t o = 0;
    int in_str = 0;
    for (size_t i = 0; i < len;) {
        char c = line[i];
        size_t k = in_str ? N_NONFINITE : literal_at(line, len, i), n = 0;
        if (k < N_NONFINITE) n = strlen(nonfinite[k].literal);
        else if (!in_str) n = overflow_at(line, i, &k);
        if (n) {
            o += (size_t)sprintf(out + o, MARKER_PREFIX "%s\"", nonfinite[k].tag);
            i += n;
            continue;
        }
        out[o++] = line[i++];
        if (in_str && c == '\\' && i < len) out[o++] = line[i++];
        else if (c == '"') in_str = !in_str;
    }
    out[o] = '\0';
    return out;
}

/* Sets *v and returns 1 when j is a number or a non-finite marker. */
static int number_value(json_t *j, double *v)
{
    if (json_is_number(j)) {
        *v = json_number_value(j);
        return 1;
    }
    if (!json_is_string(j)) return 0;
    const char *s = json_string_value(j);
    for (size_t k = 0; k < N_NONFINITE; k++)
        if (s[0] == '\001' && !strcmp(s + 1, nonfinite[k].tag)) {
            *v = nonfinite[k].value;
            return 1;
        }
    return 0;
}

/* What a malformed field holds, for its error. */
static void describe(json_t *j, char *buf, size_t n)
{
    double v;
    if (number_value(j, &v)) snprintf(buf, n, "%.17g", v);
    else snprintf(buf, n, "%s", json_is_string(j) ? "a string" : json_is_boolean(j) ? "a boolean"
                                : json_is_null(j) ? "null" : "an array or object");
}

/* Steps go to storage as int, so a larger one is malformed like a negative
 * one. Integers come as doubles (JSON_DECODE_INT_AS_REAL), so one beyond
 * 64 bits is still a number that is out of range, not a line Jansson
 * refuses, and every step up to INT_MAX is exact. */
static int parse_step(json_t *j, report_line *out, kerror *err)
{
    double v;
    if (!number_value(j, &v) || !(v >= 0 && v <= (double)INT_MAX) || v != floor(v)) {
        char what[64];
        describe(j, what, sizeof what);
        return kerror_set(err, KE_INVALID, "step", "must be an integer from 0 to %d, not %s",
                          INT_MAX, what);
    }
    out->step = (long)v;
    out->has_step = 1;
    return KE_OK;
}

static int parse_fields(json_t *obj, report_line *out, kerror *err)
{
    const char *key;
    json_t *j;
    int final_flag = 0;
    json_object_foreach(obj, key, j) {
        double v;
        if (!strcmp(key, "step")) {
            int rc = parse_step(j, out, err);
            if (rc != KE_OK) return rc;
        } else if (!strcmp(key, "final")) {
            if (!json_is_boolean(j))
                return kerror_set(err, KE_INVALID, "final", "must be true or false");
            final_flag = json_is_true(j);
        } else if (number_value(j, &v)) {
            if (strlen(key) >= REPORT_NAME_MAX)
                return kerror_set(err, KE_INVALID, key, "metric name longer than %d bytes",
                                  REPORT_NAME_MAX - 1);
            if (out->n == REPORT_MAX_METRICS)
                return kerror_set(err, KE_INVALID, NULL, "more than %d metrics on one line",
                                  REPORT_MAX_METRICS);
            strcpy(out->m[out->n].name, key);
            out->m[out->n++].value = v;
        }
    }
    out->final = final_flag || !out->has_step;
    return KE_OK;
}

int report_parse(const char *line, report_line *out, kerror *err)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(line);
    size_t i = 0;
    while (i < len && isspace((unsigned char)line[i])) i++;
    if (i == len || line[i] != '{')   /* the common case of plain log output */
        return kerror_set(err, KE_NOTFOUND, NULL, "not a JSON object");
    char *text = rewrite_nonfinite(line, len);
    if (!text) return kerror_set(err, KE_NOMEM, NULL, "report_parse: out of memory");
    json_error_t jerr;
    json_t *obj = json_loads(text, JSON_DECODE_INT_AS_REAL, &jerr);
    free(text);
    if (!obj) return kerror_set(err, KE_NOTFOUND, NULL, "not a JSON object: %s", jerr.text);
    int rc = json_is_object(obj) ? parse_fields(obj, out, err)
                                 : kerror_set(err, KE_NOTFOUND, NULL, "not a JSON object");
    json_decref(obj);
    return rc;
}

const report_metric *report_find(const report_line *r, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->m[i].name, name)) return &r->m[i];
    return NULL;
}
