/* report: parses one line of the trial report protocol, a JSON object such as
 * {"step": 3, "val_loss": 0.41, "acc": 0.9}. "step" (a non-negative integer)
 * makes the line an intermediate report; without it (or with "final": true)
 * its values are final. Other numeric fields are metrics; strings, bools and
 * nested values are ignored. NaN and Infinity literals (as Python's json
 * writes them) are accepted and flagged, so a NaN-producing trial can be
 * failed with that reason. See docs/protocol.md. */
#ifndef KESTREL_REPORT_H
#define KESTREL_REPORT_H

#include "kerror.h"

#define REPORT_MAX_METRICS 64
#define REPORT_NAME_MAX 64

typedef struct {
    char name[REPORT_NAME_MAX];
    double value;             /* NAN or +-INFINITY when the line said so */
} report_metric;

typedef struct {
    int has_step;
    long step;
    int final;                /* no step, or "final": true */
    int n;
    report_metric m[REPORT_MAX_METRICS];
} report_line;

/* KE_NOTFOUND when line is not a JSON object (plain log output: not a
 * report); KE_INVALID when it is one but a field is malformed ("step": -1),
 * err naming the field and why. */
int report_parse(const char *line, report_line *out, kerror *err);
/* The metric called name, or NULL. */
const report_metric *report_find(const report_line *r, const char *name);

#endif
