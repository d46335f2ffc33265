/* fleet_client: N simulated workers against one `kestrel serve`, in one
 * thread (epoll, non-blocking keep-alive HTTP/1.1), cheap enough that the
 * server keeps most of a core on a 2-core machine. Each worker does what
 * `kestrel worker` does over the API (src/worker.c): register, then lease a
 * trial, finish it at once with a final value (a zero-length trial), and
 * heartbeat every lease_seconds / 3, until `--trials` completions; an empty
 * lease (204) waits --poll-ms as the worker's poll does. With --trial-ms T
 * a trial lasts T ms on average (uniform in [T/2, 3T/2]) before its finish,
 * so N workers offer at most N / T completions per ms instead of saturating
 * the server: at saturation (T = 0) a closed loop's latency is N workers /
 * the request rate (Little's law), whatever the server does. Latency runs from
 * the moment a worker has a request to send, so with fewer connections
 * than workers (--conns) it includes the wait for one. Prints one JSON
 * object: completions/s (over the round, and steady: after the last
 * registration, before fewer trials are left than workers), lease/finish/
 * heartbeat percentiles (leases also over the steady part alone, each
 * worker's first left out: the round's start is a burst of every worker's
 * first lease at once, some answered after the last registration), errors.
 *
 *   cc -O2 -o fleet_client bench/fleet_client.c common/monotime.c -lm
 *   fleet_client --port P --workers 1000 [--conns 1000] [--trials 6000]
 *                [--poll-ms 100] [--trial-ms 0] [--sources 8] [--timeout 300]
 *
 * Errors: any answer but 200/201/204 and any dropped connection (the
 * request is then sent again on a new one, as the worker does). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/monotime.h"

enum { REGISTER, LEASE, FINISH, HEARTBEAT, STEADY_LEASE };
static const char *const kind_name[] = {"register", "lease", "finish", "heartbeat", "steady_lease"};

typedef struct {
    long long id, lease;
    char key[40];
    int want;                   /* the request it sends next */
    double x[2];
    double queued, wake, next_beat;
    int sleeping;
    int leased;                 /* it has had a trial: its next lease is not the start's */
    int next_q;                 /* the queue of workers waiting for a connection */
} sim;

typedef struct {
    int fd, w, connecting;      /* w: the worker whose request is in flight, -1 when idle */
    char out[1024];
    size_t out_len, out_off;
    char *in;
    size_t in_len, in_cap;
    int src;
} conn;

typedef struct {
    double *v;
    size_t n, cap;
} series;

static struct {
    int port, n_workers, n_conns, n_sources, poll_ms, timeout_s, trial_ms;
    long target;
    sim *w;
    conn *c;
    int ep;
    int q_head, q_tail;         /* FIFO of workers, linked through next_q */
    int *idle, n_idle;          /* idle connections */
    series lat[5];              /* by kind, and the leases of the steady part */
    long done, errors, dropped, empty, status_err[600];
    double lease_s, next_wake;    /* next_wake: the earliest sleeper's */
    /* the steady part of the round: from the last worker's registration to
     * the completion that leaves fewer trials than workers (then some
     * workers find none: the round's tail) */
    int registered;
    long done_reg, done_tail;
    double t_reg, t_tail;
} g = {.n_sources = 8, .poll_ms = 100, .timeout_s = 300, .target = 4000};

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static void add(series *s, double v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 4096;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) die("realloc");
    }
    s->v[s->n++] = v;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(series *s, double p)
{
    if (!s->n) return 0;
    size_t i = (size_t)(p / 100.0 * (double)s->n);
    return s->v[i < s->n ? i : s->n - 1];
}

static void enqueue(int i)
{
    g.w[i].next_q = -1;
    g.w[i].queued = monotime_s();
    if (g.q_tail >= 0) g.w[g.q_tail].next_q = i;
    else g.q_head = i;
    g.q_tail = i;
}

static int dequeue(void)
{
    int i = g.q_head;
    if (i >= 0) {
        g.q_head = g.w[i].next_q;
        if (g.q_head < 0) g.q_tail = -1;
    }
    return i;
}

static void conn_open(int k)
{
    conn *c = &g.c[k];
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* spread over 127.0.0.1-n: the server caps connections per address */
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001 + c->src)};
    if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind");
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g.port),
                              .sin_addr.s_addr = htonl(0x7f000001)};
    c->connecting = connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0;
    if (c->connecting && errno != EINPROGRESS) die("connect");
    c->in_len = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)k};
    if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
}

static void conn_write(int k)
{
    conn *c = &g.c[k];
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) return;     /* the read side sees the close */
        c->out_off += (size_t)n;
    }
    struct epoll_event ev = {.events = EPOLLIN | (c->out_off < c->out_len ? EPOLLOUT : 0),
                             .data.u32 = (uint32_t)k};
    epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Builds worker i's next request on connection k and sends it. */
static void send_req(int k, int i)
{
    conn *c = &g.c[k];
    sim *w = &g.w[i];
    char body[700], path[96];
    int n;
    switch (w->want) {
    case REGISTER:
        snprintf(path, sizeof path, "/api/v1/workers");
        n = snprintf(body, sizeof body, "{\"host\":\"sim%d\",\"pid\":%d,\"slots\":1,\"gpus\":[],"
                     "\"labels\":{},\"lease\":true,\"gpus_free\":0}", i, 100000 + i);
        break;
    case LEASE:
        snprintf(path, sizeof path, "/api/v1/workers/%lld/lease", w->id);
        n = snprintf(body, sizeof body, "{\"gpus_free\":0,\"key\":\"%s\"}", w->key);
        break;
    case HEARTBEAT:
        snprintf(path, sizeof path, "/api/v1/workers/%lld/heartbeat", w->id);
        n = snprintf(body, sizeof body, "{\"key\":\"%s\"}", w->key);
        break;
    default:
        snprintf(path, sizeof path, "/api/v1/leases/%lld/finish", w->lease);
        n = snprintf(body, sizeof body, "{\"worker\":%lld,\"key\":\"%s\",\"lines\":[\"{\\\"loss\\\": "
                     "%.17g}\"],\"exit\":{\"exited\":true,\"exit_code\":0,\"signaled\":false,"
                     "\"signal\":0,\"timed_out\":false,\"terminated\":false,\"exec_failed\":false,"
                     "\"seconds\":0.0},\"stdout_tail\":\"\",\"stderr_tail\":\"\"}", w->id, w->key,
                     w->x[0] * w->x[0] + w->x[1] * w->x[1]);
        break;
    }
    c->out_len = (size_t)snprintf(c->out, sizeof c->out, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                                  path, n, body);
    c->out_off = 0;
    c->w = i;
    if (!c->connecting) conn_write(k);
}

static void dispatch(void)
{
    while (g.n_idle > 0 && g.q_head >= 0) send_req(g.idle[--g.n_idle], dequeue());
}

/* Where the value of "key" starts in s, or NULL. */
static const char *after_key(const char *s, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = s ? strstr(s, pat) : NULL;
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ' || *p == ':') p++;
    return p;
}

static void sleep_until(sim *w, double t)
{
    w->sleeping = 1;
    w->wake = t;
    if (t < g.next_wake) g.next_wake = t;
}

/* Worker w got the lease whose answer is lease: 1 when its trial now runs
 * (it sleeps), 0 when the finish goes out at once. */
static int take_lease(sim *w, const char *lease, double t)
{
    const char *p = after_key(lease, "lease");
    w->lease = p ? atoll(p) : 0;
    w->leased = 1;
    p = after_key(strstr(lease, "\"trial\""), "x");
    if (p && *p == '[') {
        char *end;
        w->x[0] = strtod(p + 1, &end);
        w->x[1] = *end == ',' ? strtod(end + 1, NULL) : 0;
    }
    w->want = FINISH;
    if (g.trial_ms <= 0) return 0;
    /* the trial runs: uniform in [trial_ms / 2, 3 trial_ms / 2] */
    sleep_until(w, t + g.trial_ms / 1000.0 * (0.5 + (double)rand() / RAND_MAX));
    return 1;
}

/* What worker i does with the answer (status, body). */
static void on_answer(int i, int status, char *body)
{
    sim *w = &g.w[i];
    double t = monotime_s();
    add(&g.lat[w->want], t - w->queued);
    if (w->want == LEASE && w->leased && g.t_reg > 0 && g.t_tail == 0)
        add(&g.lat[STEADY_LEASE], t - w->queued);
    if (status != 200 && status != 201 && status != 204) {
        g.errors++;
        g.status_err[status < 600 && status > 0 ? status : 0]++;
        if (status == 404) w->want = REGISTER;      /* as the worker does: register again */
        else if (w->want == FINISH) w->want = LEASE; /* the lease is gone (409) */
        sleep_until(w, t + g.poll_ms / 1000.0);
        return;
    }
    const char *p;
    switch (w->want) {
    case REGISTER:
        p = after_key(body, "id");
        w->id = p ? atoll(p) : 0;
        p = after_key(body, "key");
        if (p && *p == '"') snprintf(w->key, sizeof w->key, "%.32s", p + 1);
        p = after_key(body, "lease_seconds");
        if (p && !g.lease_s) g.lease_s = atof(p);
        w->next_beat = t + (g.lease_s > 0 ? g.lease_s : 30) / 3;
        w->want = LEASE;
        if (++g.registered == g.n_workers) {
            g.t_reg = t;
            g.done_reg = g.done;
        }
        /* a server that gives a first trial with the registration */
        p = after_key(body, "lease");
        if (p && *p == '{' && take_lease(w, p, t)) return;
        break;
    case HEARTBEAT:
        w->next_beat = t + (g.lease_s > 0 ? g.lease_s : 30) / 3;
        w->want = LEASE;
        break;
    case LEASE:
        if (status == 204) {
            g.empty++;
            sleep_until(w, t + g.poll_ms / 1000.0 * (0.5 + (double)(i % 64) / 64));
            return;
        }
        if (take_lease(w, body, t)) return;
        break;
    default:
        if (++g.done == g.target - g.n_workers) {
            g.t_tail = t;
            g.done_tail = g.done;
        }
        w->want = t >= w->next_beat ? HEARTBEAT : LEASE;
        break;
    }
    enqueue(i);
}

/* Parses every complete answer in c's buffer; -1 when the server closed. */
static int conn_read(int k)
{
    conn *c = &g.c[k];
    for (;;) {
        if (c->in_cap - c->in_len < 4096) {
            c->in_cap = c->in_cap ? 2 * c->in_cap : 16384;
            c->in = realloc(c->in, c->in_cap);
            if (!c->in) die("realloc");
        }
        ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1);
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) return -1;
        c->in_len += (size_t)n;
    }
    c->in[c->in_len] = '\0';
    char *hdr_end = strstr(c->in, "\r\n\r\n");
    if (!hdr_end || c->w < 0) return 0;
    int status = atoi(c->in + 9);
    long len = 0;
    int close_it = 0;
    for (char *h = strstr(c->in, "\r\n"); h && h < hdr_end; h = strstr(h + 2, "\r\n")) {
        if (!strncasecmp(h + 2, "Content-Length:", 15)) len = atol(h + 17);
        if (!strncasecmp(h + 2, "Connection: close", 17)) close_it = 1;
    }
    char *body = hdr_end + 4;
    if ((size_t)(body - c->in) + (size_t)len > c->in_len) return 0;
    char save = body[len];
    body[len] = '\0';
    int i = c->w;
    c->w = -1;
    on_answer(i, status, body);
    body[len] = save;
    size_t used = (size_t)(body - c->in) + (size_t)len;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    if (close_it) return -1;
    g.idle[g.n_idle++] = k;
    return 0;
}

/* The server closed c: its request (if any) goes again on a new one. */
static void conn_reset(int k)
{
    conn *c = &g.c[k];
    epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->w >= 0) {
        g.dropped++;
        g.errors++;
        int i = c->w;
        c->w = -1;
        g.w[i].next_q = g.q_head;   /* first in line, latency still counting */
        g.q_head = i;
        if (g.q_tail < 0) g.q_tail = i;
    } else {
        /* closed while idle: take it out of the idle list */
        for (int j = 0; j < g.n_idle; j++)
            if (g.idle[j] == k) g.idle[j] = g.idle[--g.n_idle];
    }
    conn_open(k);
    g.idle[g.n_idle++] = k;
}

static void wake_sleepers(double t)
{
    g.next_wake = t + 1;
    for (int i = 0; i < g.n_workers; i++) {
        sim *w = &g.w[i];
        if (!w->sleeping) continue;
        if (w->wake <= t) {
            w->sleeping = 0;
            enqueue(i);
        } else if (w->wake < g.next_wake) {
            g.next_wake = w->wake;
        }
    }
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static void print_series(const char *name, series *s)
{
    qsort(s->v, s->n, sizeof *s->v, cmp);
    printf(", \"%s_n\": %zu, \"%s_p50_ms\": %.3f, \"%s_p99_ms\": %.3f, \"%s_max_ms\": %.3f", name,
           s->n, name, pct(s, 50) * 1e3, name, pct(s, 99) * 1e3, name,
           s->n ? s->v[s->n - 1] * 1e3 : 0);
}

int main(int argc, char **argv)
{
    for (int a = 1; a + 1 < argc; a += 2) {
        const char *k = argv[a], *v = argv[a + 1];
        if (!strcmp(k, "--port")) g.port = atoi(v);
        else if (!strcmp(k, "--workers")) g.n_workers = atoi(v);
        else if (!strcmp(k, "--conns")) g.n_conns = atoi(v);
        else if (!strcmp(k, "--trials")) g.target = atol(v);
        else if (!strcmp(k, "--poll-ms")) g.poll_ms = atoi(v);
        else if (!strcmp(k, "--trial-ms")) g.trial_ms = atoi(v);
        else if (!strcmp(k, "--sources")) g.n_sources = atoi(v);
        else if (!strcmp(k, "--timeout")) g.timeout_s = atoi(v);
        else {
            fprintf(stderr, "fleet_client: unknown option %s\n", k);
            return 2;
        }
    }
    if (g.port <= 0 || g.n_workers <= 0) {
        fprintf(stderr, "usage: fleet_client --port P --workers N [--conns C] [--trials T] "
                "[--poll-ms MS] [--trial-ms MS] [--sources S] [--timeout S]\n");
        return 2;
    }
    if (g.n_conns <= 0 || g.n_conns > g.n_workers) g.n_conns = g.n_workers;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)g.n_conns + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    g.w = calloc((size_t)g.n_workers, sizeof *g.w);
    g.c = calloc((size_t)g.n_conns, sizeof *g.c);
    g.idle = calloc((size_t)g.n_conns, sizeof *g.idle);
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!g.w || !g.c || !g.idle || g.ep < 0) die("setup");
    g.q_head = g.q_tail = -1;
    for (int k = 0; k < g.n_conns; k++) {
        g.c[k].w = -1;
        g.c[k].src = k % g.n_sources;
        conn_open(k);
        g.idle[g.n_idle++] = k;
    }
    double t0 = monotime_s(), cpu0 = cpu_s();
    g.next_wake = t0 + 1;
    for (int i = 0; i < g.n_workers; i++) enqueue(i);   /* REGISTER */
    struct epoll_event evs[256];
    while (g.done < g.target && monotime_s() - t0 < g.timeout_s) {
        dispatch();
        double t = monotime_s();
        int ms = g.next_wake > t ? (int)((g.next_wake - t) * 1e3) + 1 : 0;
        int n = epoll_wait(g.ep, evs, 256, ms);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int e = 0; e < n; e++) {
            int k = (int)evs[e].data.u32;
            conn *c = &g.c[k];
            if (c->connecting && (evs[e].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                if (soerr) {
                    conn_reset(k);
                    continue;
                }
                c->connecting = 0;
                if (c->w >= 0) conn_write(k);
                else {
                    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)k};
                    epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
                continue;
            }
            if (evs[e].events & EPOLLOUT) conn_write(k);
            if ((evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && conn_read(k) < 0) conn_reset(k);
        }
        t = monotime_s();
        if (t >= g.next_wake) wake_sleepers(t);
    }
    double secs = monotime_s() - t0, cpu = cpu_s() - cpu0;
    double steady = g.t_tail > g.t_reg && g.t_reg > 0
                        ? (double)(g.done_tail - g.done_reg) / (g.t_tail - g.t_reg) : 0;
    printf("{\"workers\": %d, \"conns\": %d, \"completions\": %ld, \"seconds\": %.3f, "
           "\"per_s\": %.1f, \"steady_per_s\": %.1f, \"errors\": %ld, \"dropped\": %ld, "
           "\"empty\": %ld, \"client_cpu_s\": %.3f",
           g.n_workers, g.n_conns, g.done, secs, (double)g.done / secs, steady, g.errors, g.dropped,
           g.empty, cpu);
    for (int k = 0; k < 5; k++) print_series(kind_name[k], &g.lat[k]);
    printf(", \"status_errors\": {");
    for (int s = 0, first = 1; s < 600; s++)
        if (g.status_err[s]) {
            printf("%s\"%d\": %ld", first ? "" : ", ", s, g.status_err[s]);
            first = 0;
        }
    printf("}}\n");
    return g.done >= g.target ? 0 : 1;
}
