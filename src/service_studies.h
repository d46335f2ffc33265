/* service_studies: the studies the engine of `kestrel serve` runs: started
 * for a submit or a resume, stopped or deleted, finished once their
 * scheduler ends, and waiting to resume after a transient storage error.
 * Engine thread only; private to the service (service.c calls them). */
#ifndef KESTREL_SERVICE_STUDIES_H
#define KESTREL_SERVICE_STUDIES_H

#include "kerror.h"
#include "service_impl.h"
#include "spec.h"

/* The active study name, or NULL. */
study_run *svc_find_active(service *sv, const char *name);
/* A posted spec (taken, freed on failure): a new study, or a stored one
 * resumed with the same spec or a larger budget; KE_CONFLICT naming the
 * change when only its budget may change, or when it runs; KE_BUSY when
 * another process waits to resume it after a storage error. */
int svc_submit(service *sv, spec_study *spec, int *created, kerror *err);
/* Resumes stored study name from the history: KE_NOTFOUND, KE_CONFLICT
 * when it runs or is complete with nothing to run. asked: a user's resume
 * (POST .../resume), also KE_BUSY when another process waits to resume it
 * after a storage error; 0 for the server's own (its start, its waiting
 * studies), which resume a study left so by a server that died. */
int svc_resume(service *sv, const char *name, int retry_failed, int asked, kerror *err);
/* A stop or delete of a study that is not active here: KE_NOTFOUND,
 * KE_BUSY (another process runs it), KE_CONFLICT (stop: not running). */
int svc_stop_inactive(service *sv, const char *name, kerror *err);
int svc_delete_inactive(service *sv, const char *name, kerror *err);
/* A stop or delete of a study that waits to resume: stored STOPPED;
 * KE_NOTFOUND when it does not wait. */
int svc_stop_waiting(service *sv, const char *name, kerror *err);
/* The end of the stops svc_stop_waiting stored: committed, those studies
 * wait no more; else (the pass's batch rolled back) they wait again. */
void svc_stops_end(service *sv, int committed);
/* Takes a finished (or failed, rc < 0) study out of the active list; a
 * transient storage error makes it wait to resume instead. */
void svc_finish_study(service *sv, study_run *r, int rc, const kerror *step_err);
/* Resumes the waiting studies whose try is due, or stores the FAILED of
 * those given up. */
void svc_retry_waiting(service *sv);

#endif
