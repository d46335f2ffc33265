/* fuzz_report: libFuzzer target for the trial report-line parser
 * (report_parse, with its rewriting of NaN/Infinity/nan/inf and overflowing
 * numbers). Invariants checked: at most REPORT_MAX_METRICS metrics, each
 * name NUL-terminated and shorter than REPORT_NAME_MAX. Run: make fuzz. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"

#include "../../src/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = fuzz_text(data, size);
    if (!line) return 0;
    report_line r;
    kerror err;
    if (report_parse(line, &r, &err) == KE_OK) {
        if (r.n < 0 || r.n > REPORT_MAX_METRICS) abort();
        for (int i = 0; i < r.n; i++)
            if (strnlen(r.m[i].name, REPORT_NAME_MAX) >= REPORT_NAME_MAX) abort();
    }
    free(line);
    return 0;
}
