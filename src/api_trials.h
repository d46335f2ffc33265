/* api_trials: the HTTP API's reads of a study's trials (docs/openapi.yaml):
 * pages of its trials (by number or best first, as objects or columns),
 * one trial in detail, the best trial and the learning curves, answered
 * from the API's cache (api_cache.h) while the study's stamp says they
 * still hold. Handlers of api.c's route table; ctx is the api. */
#ifndef KESTREL_API_TRIALS_H
#define KESTREL_API_TRIALS_H

#include "http.h"

/* GET /api/v1/studies/NAME/trials[?state=&sort=&offset=&limit=&after=&format=] */
void api_trials_list(http_req *rq, void *ctx);
/* GET /api/v1/studies/NAME/trials/NUMBER */
void api_trials_get(http_req *rq, void *ctx);
/* GET /api/v1/studies/NAME/best */
void api_trials_best(http_req *rq, void *ctx);
/* GET /api/v1/studies/NAME/curves[?offset=&limit=] */
void api_trials_curves(http_req *rq, void *ctx);

#endif
