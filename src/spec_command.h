/* spec_command: command templates of a study spec: spec.c validates each
 * while parsing (spec_command_check), the scheduler expands one per trial
 * (spec_command_argv). */
#ifndef KESTREL_SPEC_COMMAND_H
#define KESTREL_SPEC_COMMAND_H

#include "spec.h"

/* Checks template tmpl (a shell string when quote is set, else one argv
 * element) against the spec's name and space: KE_OK, or KE_INVALID at path
 * for an unknown placeholder or an unmatched brace. Parameters expand to ""
 * here, so s needs its name and space but no point. */
int spec_command_check(const spec_study *s, const char *tmpl, int quote,
                       const char *path, kerror *err);

/* Builds a trial's argv (RUN_COMMAND) from the template, replacing {name}
 * with the parameter's value (shell-quoted in a shell string; "" when the
 * parameter is inactive), {trial} with trial_number, {study} with the study
 * name, and {{ / }} with { / }. A shell string becomes
 * {"/bin/sh", "-c", text}. Returns a NULL-terminated array to free with
 * spec_argv_free. */
int spec_command_argv(const spec_study *s, const space_point *p, int trial_number,
                      char ***argv, kerror *err);

#endif
