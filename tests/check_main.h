/* check_main: what every Check test program's main() does with its suite:
 * run it, free the runner, and turn the failures into the exit status
 * automake's test driver reads. */
#ifndef KESTREL_CHECK_MAIN_H
#define KESTREL_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

/* Runs every test of s (the runner takes s) and returns EXIT_FAILURE when
 * one failed, else EXIT_SUCCESS. */
static inline int check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
