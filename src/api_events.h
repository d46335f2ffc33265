/* api_events: the event stream of the HTTP API (docs/openapi.yaml,
 * /api/v1/events): the service's study and trial events as server-sent
 * events, replayed from Last-Event-ID or ?since=, with a keep-alive comment
 * when nothing happens. Needs only the service. */
#ifndef KESTREL_API_EVENTS_H
#define KESTREL_API_EVENTS_H

#include "http.h"
#include "service.h"

/* Answers GET /api/v1/events[?study=NAME][&since=N] with a stream. */
void api_events(http_req *rq, service *sv);

#endif
