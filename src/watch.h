/* watch: notices what other processes change in a history, so the service
 * can show live a study that `kestrel run --db` runs beside it or that
 * `kestrel delete` removes. It keeps a snapshot of every study's state and
 * trial counts and compares it with storage only when another connection
 * has committed since the last look (storage_data_version), so an idle
 * history costs one PRAGMA per poll. Used by the service's engine thread. */
#ifndef KESTREL_WATCH_H
#define KESTREL_WATCH_H

#include "storage.h"

typedef struct watch watch;

/* Called for a study that appeared or changed (s, name = s->name) or went
 * away (s NULL); s is valid during the call only. A study deleted and made
 * again under its name between two polls is told as gone, then as new. */
typedef void (*watch_fn)(const storage_study *s, const char *name, void *ctx);

/* Takes the first snapshot of st. Free with watch_close. */
int watch_open(watch **out, storage *st, kerror *err);
/* Calls fn for every difference since the last poll when another
 * connection committed in between; nothing otherwise. */
int watch_poll(watch *w, storage *st, watch_fn fn, void *ctx, kerror *err);
void watch_close(watch *w);

#endif
