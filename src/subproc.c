/* subproc: fork, exec, read to the end, wait; see subproc.h. */
#define _GNU_SOURCE
#include "subproc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int subproc_run(char *const *argv, size_t max, char **out, size_t *n, kerror *err)
{
    *out = NULL;
    *n = 0;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return kerror_set(err, KE_IO, NULL, "cannot run %s: %s", argv[0], strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) dup2(null, 0);
        dup2(fds[1], 1);
        execvp(argv[0], argv);
        fprintf(stderr, "kestrel: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return kerror_set(err, KE_IO, NULL, "cannot run %s: %s", argv[0], strerror(errno));
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int too_big = 0, oom = 0;
    for (;;) {
        if (len + 65536 + 1 > cap && !too_big && !oom) {
            size_t c = cap ? cap * 2 : 65536 * 2;
            char *b = realloc(buf, c);
            if (b) buf = b, cap = c;
            else oom = 1;
        }
        char sink[4096];
        /* read to the end even past max, so the child never blocks on a full pipe */
        int keep = !too_big && !oom;
        ssize_t r = read(fds[0], keep ? buf + len : sink, keep ? cap - len - 1 : sizeof sink);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (keep) len += (size_t)r;
        if (len > max) too_big = 1;
    }
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    int rc = KE_OK;
    if (oom) rc = kerror_set(err, KE_NOMEM, NULL, "out of memory");
    else if (too_big) rc = kerror_set(err, KE_INVALID, NULL, "%s printed more than %zu bytes", argv[0], max);
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        rc = kerror_set(err, KE_IO, NULL, "%s failed (exit %d; its message is above)", argv[0],
                        WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (rc != KE_OK) {
        free(buf);
        return rc;
    }
    if (!buf && !(buf = malloc(1))) return kerror_set(err, KE_NOMEM, NULL, "out of memory");
    buf[len] = '\0';
    *out = buf;
    *n = len;
    return KE_OK;
}
