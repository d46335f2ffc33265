/* fuzz_http: libFuzzer target for HTTP request handling: each input is sent
 * as raw bytes to a real server (http.c on libmicrohttpd, on a loopback
 * port, with a token and Kestrel's routing, query, body and error paths),
 * then the answer is read to its end. The routes answer from the request
 * alone (no engine), so inputs stay independent. Run: make fuzz. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../../src/http.h"

static void echo(http_req *rq, void *ctx)
{
    (void)ctx;
    size_t n;
    const char *body = http_body(rq, &n);
    const char *q = http_query(rq, "q");
    json_t *o = json_pack("{s:s, s:s?, s:s?, s:i}", "path", http_path(rq), "p0",
                          http_param(rq, 0), "q", q, "len", (int)n);
    (void)body;
    http_respond_json(rq, 200, o);
}

static void fail(http_req *rq, void *ctx)
{
    (void)ctx;
    http_respond_error(rq, 400, "invalid", "x", "bad %s", http_path(rq));
}

static const http_route routes[] = {
    {"GET", "/healthz", echo, 1, NULL, 0, NULL},
    {"GET", "/api/v1/studies/*", echo, 0, "q", 0, NULL},
    {"POST", "/api/v1/studies", echo, 0, NULL, 0, NULL},
    {"DELETE", "/api/v1/studies/*/trials/*", fail, 0, NULL, 0, NULL},
};

static int port;

static void start(void)
{
    static http_server *srv;
    if (srv) return;
    kerror err;
    http_opts o = {.host = "127.0.0.1", .port = 0, .token = "ab+c/d", .auth_reads = 1,
                   .routes = routes, .n_routes = 4};
    if (http_start(&srv, &o, &err) != KE_OK) abort();
    port = http_port(srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    start();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {2, 0};   /* an input the server waits on (no end of headers) */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        ssize_t w = send(fd, data, size, MSG_NOSIGNAL);
        (void)w;
        shutdown(fd, SHUT_WR);
        char buf[4096];
        while (recv(fd, buf, sizeof buf, 0) > 0) {}
    }
    close(fd);
    return 0;
}
