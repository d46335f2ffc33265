/* api_cache: the API's cache of JSON bodies of study reads (a study's best
 * trial, pages of its trials), so that many clients polling a study that
 * does not change cost one query each instead of a query per trial and the
 * JSON encoding. An entry is valid for the study's stamp (id, creation time,
 * the version its trial writes move, the direction best-first follows:
 * storage_study_stamp), so any write to the study's trials, by any process,
 * and a turned direction make its entries miss; reports move
 * only RUNNING trials, whose bodies the API does not keep. A full page of
 * finished trials by number, or of their curves, is kept under the stamp's
 * settled count alone (version -1: any), which the study's growth does not
 * move (api_trials.c).
 * Ownership: the cache owns its bodies; a body handed out stays valid until
 * its holder releases it (api_body_release), even once replaced. */
#ifndef KESTREL_API_CACHE_H
#define KESTREL_API_CACHE_H

#include <stddef.h>

#include "storage.h"

typedef struct api_cache api_cache;
typedef struct api_body api_body;

api_cache *api_cache_new(void);   /* NULL when out of memory */
void api_cache_free(api_cache *c);   /* NULL allowed; bodies still held stay valid */

/* The body stored for key at stamp, with a reference for the caller, or
 * NULL (none, or stored for another stamp). */
api_body *api_cache_get(api_cache *c, const char *key, const storage_stamp *stamp);

/* Stores text (malloc'd, len bytes; the cache takes it) for key at stamp
 * and returns it with a reference for the caller; NULL when out of memory
 * (text freed). Bodies over API_CACHE_MAX_BODY are returned, not kept. */
#define API_CACHE_MAX_BODY (4u << 20)
api_body *api_cache_put(api_cache *c, const char *key, const storage_stamp *stamp, char *text,
                        size_t len);

const char *api_body_text(const api_body *b, size_t *len);
/* Drops a reference (void * for http_respond_shared's release). */
void api_body_release(void *b);

#endif
