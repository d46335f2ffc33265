/* http_impl: private to the HTTP server of http.h; only http.c (the server,
 * its connections, deadlines, pool and requests), http_respond.c (answers
 * and streams) and http_admit.c (what a request's headers alone decide)
 * include it. It defines the server and the request, and the helpers the
 * three share (http_ names, internal). */
#ifndef KESTREL_HTTP_IMPL_H
#define KESTREL_HTTP_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include <microhttpd.h>

#include "http.h"
#include "http_admit.h"

#define MAX_STATUS 600
/* A request line (its query included) and headers above this get 431
 * before anything is done. MHD itself refuses a Cookie line from about
 * 3.9 KB (it parses the cookies into the connection's memory; another
 * header line of 6 KB is read) and the request line from about 7.9 KB; between 7.4 and 7.9 KB its pool had room to
 * read them but none left for the answer's headers, so a POST took effect
 * and its client got an empty reply (and might retry it). */
#define HEADERS_MAX (6 * 1024)

typedef struct watch watch;     /* http.c */
typedef struct task task;       /* http.c */
typedef struct stream stream;   /* http_respond.c */

/* The libmicrohttpd calls the server makes, each typed as its header
 * declares it, looked up in the loaded library. */
#define MHD_CALLS(X)                                                                          \
    X(start_daemon) X(stop_daemon) X(get_daemon_info) X(get_connection_info)                  \
    X(get_connection_values) X(lookup_connection_value) X(suspend_connection)                 \
    X(resume_connection) X(queue_response) X(destroy_response) X(add_response_header)         \
    X(create_response_from_buffer) X(create_response_from_buffer_with_free_callback_cls)      \
    X(create_response_from_callback) X(create_response_from_fd) X(set_response_options)

typedef struct {
#define MHD_FIELD(f) __typeof__(MHD_##f) *f;
    MHD_CALLS(MHD_FIELD)
#undef MHD_FIELD
} mhd_api;

struct http_server {
    void *dl;                   /* the dlopen handle of libmicrohttpd */
    mhd_api mhd;
    struct MHD_Daemon *d;
    http_opts o;
    int port;
    atomic_ullong counts[MAX_STATUS];
    pthread_mutex_t mu;         /* watches, stopping, streams */
    pthread_cond_t wake;
    watch *watches;
    int stopping;
    stream *streams;            /* live ones, cancelled by http_stop */
    pthread_t reaper;
    int reaper_started;
    atomic_int closing;         /* http_stop began: new requests get 503 */
    atomic_int n_suspended;     /* connections suspended, not yet resumed */

    pthread_mutex_t pool_mu;    /* everything below */
    pthread_cond_t pool_work;   /* to the pool: a task is queued, or quit */
    pthread_cond_t pool_done;   /* to http_stop: busy or n_suspended fell */
    task *tasks, *tasks_tail;
    int n_queued, n_idle, busy; /* busy: tasks queued or running */
    pthread_t *threads;         /* joined by http_stop */
    int n_threads, cap_threads;
    int quit;
};

struct http_req {
    http_server *srv;
    struct MHD_Connection *conn;
    const char *method, *path;  /* path: of an absolute-form target, its path alone */
    char *authority;            /* an absolute-form target's host[:port], or NULL */
    char *body;
    size_t len, cap;
    int too_large;
    int headers_too_large;
    http_framing framing;       /* http_admit_framing's: refused at once unless OK */
    const char *framing_name;   /* the header name it refused (HTTP_FRAMING_BAD_NAME) */
    int responded;
    int queue_failed;
    int suspended;              /* its handler waits for http_resume */
    int offthread;              /* its handler runs on the pool: answers are held */
    int dead;                   /* the connection ended before the continuation ran */
    struct MHD_Response *held;  /* the answer made off the event thread */
    int held_status;
    http_handler then;          /* the continuation http_resume set */
    void *then_arg;
    const http_route *route;    /* for the pool */
    const char *params[HTTP_MAX_PARAMS];
    char *segs;                 /* the path, split in place for params */
};

/* http.c: runs run(arg) on a pool thread (KE_NOMEM when none could take
 * it); counts a connection's suspension and its resumption, which wakes
 * http_stop when it was the last. */
int http_pool_submit(http_server *s, void (*run)(void *), void *arg);
void http_suspend_conn(http_server *s, struct MHD_Connection *conn);
void http_resume_conn(http_server *s, struct MHD_Connection *conn);

/* http_respond.c: queues resp on the event thread, or drops it when the
 * connection is gone (KE_IO); cancels every live stream (http_stop). */
int http_deliver(http_req *rq, int status, struct MHD_Response *resp);
void http_cancel_streams(http_server *s);

#endif
