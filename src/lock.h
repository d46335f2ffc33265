/* lock: makes sure only one process runs a given study at a time. The lock
 * is an open-file-description byte-range lock on the database file itself, at
 * a byte offset given by the study id: a path that names the same file
 * another way (a symbolic or hard link) meets the same lock (storage_open
 * refuses a hard-linked history all the same: SQLite's log goes by name).
 * The kernel drops it when its holder dies, even by kill -9: a study whose
 * lock is free has no live runner, and any trial still RUNNING in it
 * belonged to a dead process. */
#ifndef KESTREL_LOCK_H
#define KESTREL_LOCK_H

#include <stdint.h>

#include "kerror.h"

typedef struct {
    int fd;         /* -1 when not held */
    int64_t study_id;
} lock_handle;

/* Takes the lock of study_id in the existing database db_path without
 * waiting: KE_BUSY when another process (or another handle in this one)
 * holds it. */
int lock_study(lock_handle *h, const char *db_path, int64_t study_id, kerror *err);
/* No study has id 0: its lock is held by the `kestrel serve` that
 * coordinates the database's workers. One does at a time: lease ids are
 * counted in memory from the last stored, and a second coordinator would
 * end the first's live leases as a dead server's. */
#define LOCK_COORDINATOR 0
/* Releases it (no-op when not held). */
void lock_release(lock_handle *h);

#endif
