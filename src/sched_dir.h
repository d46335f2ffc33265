/* sched_dir: the trial folders "<work_dir>/<study>/<number>" Kestrel makes
 * for trials (checkpoints, whatever a trial saves there). Invariant: only
 * folders holding SCHED_DIR_MARK are ever cleared or removed, so a
 * --work-dir that already held a user's folder of the same name never loses
 * it. */
#ifndef KESTREL_SCHED_DIR_H
#define KESTREL_SCHED_DIR_H

#include <stddef.h>

#include "kerror.h"

/* The file in every trial folder Kestrel makes. */
#define SCHED_DIR_MARK ".kestrel-trial"

/* snprintf of a path into buf: KE_INVALID, naming its start, when it does
 * not fit (a path cut to its buffer names another folder, and must never
 * be acted on). */
int sched_dir_path(char *buf, size_t n, kerror *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Makes the folder path and its parents (mode 0755 less the umask): 0, or
 * -1 with errno. path: shorter than PATH_MAX. */
int sched_dir_mkdirs(const char *path);

/* Makes the trial folder dir (and its parents), empty but for its mark: one
 * Kestrel made before is cleared first. KE_INVALID, making nothing, when
 * the path of its mark is PATH_MAX or longer (as is every path cut to a
 * PATH_MAX buffer); KE_CONFLICT when dir exists without the mark, or when
 * the folder it is in (the study's) is a symbolic link, making nothing;
 * KE_IO when a step fails. */
int sched_dir_make(const char *dir, kerror *err);

/* Removes the trial folder dir and everything under it (symbolic links are
 * removed, not followed) when Kestrel made it. KE_OK also when dir does not
 * exist (a file where a folder of its path must be included); KE_INVALID as for sched_dir_make; KE_CONFLICT, removing nothing,
 * when it exists without SCHED_DIR_MARK or when the folder it is in is a
 * symbolic link; KE_IO when the removal fails. */
int sched_dir_remove(const char *dir, kerror *err);

/* Packs a trial folder into one gzipped tar, the file archive (`tar -czf
 * archive --hard-dereference -C dir .`; created or replaced), to ship between worker and
 * server without holding it in memory; *n its size. KE_INVALID, the file
 * removed, when it is over max bytes. */
int sched_dir_pack(const char *dir, const char *archive, size_t max, size_t *n, kerror *err);
/* Makes the trial folder dir from such an archive file, then removes the
 * file. It is unpacked inside a marked folder beside dir ("DIR.unpack",
 * which only Kestrel's user may enter) and then replaces dir: on failure
 * dir is as it was and the beside folder gone. The archive's modes are
 * masked by the umask, without set-user-ID or set-group-ID bits; KE_INVALID
 * (err names the entry) when it holds anything but files, folders and
 * symbolic links (a hard link, a device file, a fifo), when it is no gzip
 * and tar stream or one cut short, or when it would unpack to more than max
 * bytes (a gzip bomb): all but a device or fifo before anything is written. */
int sched_dir_unpack(const char *dir, const char *archive, long long max, kerror *err);

#endif
