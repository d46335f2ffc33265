/* fuzz_spec: libFuzzer target for the study spec parser (spec_parse, the
 * strategy and pruner option checks it runs, command templates). Invariant
 * checked: any input either parses or fails with KE_INVALID/KE_NOMEM and a
 * message, leaving nothing allocated (ASan's leak check). Run: make fuzz. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"

#include "../../src/spec.h"
#include "../../src/spec_command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text) return 0;
    spec_study s;
    kerror err;
    int rc = spec_parse(&s, text, &err);
    if (rc == KE_OK) {
        char **argv = NULL;
        if (s.run.kind == RUN_COMMAND) {
            space_point pt;
            memset(&pt, 0, sizeof pt);
            if (spec_command_argv(&s, &pt, 0, &argv, &err) == KE_OK) spec_argv_free(argv);
        }
        spec_free(&s);
    } else if (rc != KE_INVALID && rc != KE_NOMEM && rc != KE_IO) {
        abort();
    }
    free(text);
    return 0;
}
