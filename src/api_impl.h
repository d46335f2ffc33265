/* api_impl: private to the HTTP API of api.h; only api.c (the route table,
 * studies, health, metrics) and api_trials.c (the reads of a study's
 * trials) include it. It defines the api handle and its pool of read
 * connections, and the helpers both share (api_ names, internal). */
#ifndef KESTREL_API_IMPL_H
#define KESTREL_API_IMPL_H

#include <pthread.h>

#include "api.h"
#include "api_cache.h"
#include "storage.h"

#define POOL_KEEP 32            /* idle read connections kept */

struct api {
    service *sv;
    char *db_path;
    http_server *srv;           /* set once the server runs (atomic) */
    pthread_mutex_t mu;         /* the pool */
    storage *pool[POOL_KEEP];
    int n_pool;
    api_cache *cache;           /* bodies of study reads (best, trial pages) */
};

/* A read connection of the pool, or a new one; NULL (err set) when none
 * could be opened. api_pool_put gives it back (NULL allowed), or closes it
 * when the pool is full. */
storage *api_pool_get(api *a, kerror *err);
void api_pool_put(api *a, storage *st);
/* The study called name, read through a pooled handle that the caller puts
 * back; on failure it has answered the request and returns NULL. */
storage *api_get_study(api *a, http_req *rq, const char *name, storage_study *s);
/* A route reads its study by name, then writes or lists by the study's id:
 * a KE_NOTFOUND of the latter is a DELETE that went through in between
 * (another request or process). It is said as a study the route does not
 * find is, by the name the route was given ("no study with id 7" named an
 * id no client used); what says what was not done. Other codes pass. */
int api_deleted_meanwhile(int rc, const char *name, const char *what, kerror *err);

#endif
