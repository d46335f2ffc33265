/* cmd_fn: `kestrel fn NAME --set x1=V ...` evaluates a built-in test function
 * and writes its value with the trial report protocol. Studies whose run is
 * {"function": NAME} spawn it, so test functions go through exactly the same
 * child-process path (timeouts, reports, failures) as any user command. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nearest.h"
#include "testfn.h"

static void help(void)
{
    printf("Usage: kestrel fn NAME --set x1=VALUE --set x2=VALUE ...\n"
           "Evaluate a built-in test function and write {\"value\": f(x)} on the report\n"
           "channel ($KESTREL_REPORT_FD, else stdout). Functions (dimension, minimum):\n");
    for (const testfn *const *f = testfn_all(); *f; f++)
        printf("  %-16s %2d-D  min %.10g\n", (*f)->name, (*f)->dim, (*f)->minimum);
}

int cmd_fn_main(int argc, char **argv, const cli_ctx *ctx)
{
    (void)ctx;
    if (cli_wants_help(argc, argv)) {
        help();
        return CLI_OK;
    }
    if (argc < 2) return cli_usage("fn", "expected a function's name");
    if (argv[1][0] == '-') return cli_usage("fn", "unknown option '%s'", argv[1]);
    const testfn *fn = testfn_find(argv[1]);
    if (!fn) {
        const char *names[64];
        int n = 0;
        for (const testfn *const *f = testfn_all(); *f && n < 63; f++) names[n++] = (*f)->name;
        names[n] = NULL;
        const char *near = nearest_name(argv[1], names);
        if (near) return cli_usage("fn", "unknown function '%s' (did you mean '%s'?)", argv[1], near);
        return cli_usage("fn", "unknown function '%s'", argv[1]);
    }
    double x[TESTFN_MAX_DIM];
    int seen[TESTFN_MAX_DIM] = {0};
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--set") != 0 || i + 1 >= argc)
            return cli_usage("fn", "expected --set xN=VALUE, got '%s'", argv[i]);
        const char *kv = argv[++i];
        char *end;
        long k = kv[0] == 'x' ? strtol(kv + 1, &end, 10) : 0;
        if (kv[0] != 'x' || k < 1 || k > fn->dim || *end != '=')
            continue;   /* other parameters of the study are not the function's */
        const char *text = end + 1;
        double v = strtod(text, &end);
        if (end == text || *end || !isfinite(v))
            return cli_usage("fn", "x%ld: '%s' is not a number", k, text);
        if (seen[k - 1]) return cli_usage("fn", "x%ld: given twice", k);   /* which one was meant? */
        x[k - 1] = v;
        seen[k - 1] = 1;
    }
    for (int i = 0; i < fn->dim; i++)
        if (!seen[i]) return cli_usage("fn", "x%d: missing (%s takes x1..x%d)", i + 1, fn->name, fn->dim);
    FILE *out = cli_report_stream();
    double v = fn->f(x);
    /* the protocol's spellings of what JSON cannot write (not printf's inf) */
    if (isfinite(v)) fprintf(out, "{\"value\": %.17g}\n", v);
    else fprintf(out, "{\"value\": %s}\n", isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
    fflush(out);
    return CLI_OK;
}
