/* sched_dir: the trial folders "<work_dir>/<study>/<number>" Kestrel makes
 * for trials (checkpoints, whatever a trial saves there). Invariant: only
 * folders holding SCHED_DIR_MARK are ever cleared or removed, so a
 * --work-dir that already held a user's folder of the same name never loses
 * it. */
#ifndef KESTREL_SCHED_DIR_H
#define KESTREL_SCHED_DIR_H

#include "kerror.h"

/* The file in every trial folder Kestrel makes. */
#define SCHED_DIR_MARK ".kestrel-trial"

/* Makes the trial folder dir (and its parents), empty but for its mark: one
 * Kestrel made before is cleared first. KE_CONFLICT when dir exists without
 * the mark; KE_IO when a step fails. */
int sched_dir_make(const char *dir, kerror *err);

/* Removes the trial folder dir and everything under it (symbolic links are
 * removed, not followed) when Kestrel made it. KE_OK also when dir does not
 * exist; KE_CONFLICT, removing nothing, when it exists without
 * SCHED_DIR_MARK; KE_IO when the removal fails. */
int sched_dir_remove(const char *dir, kerror *err);

#endif
