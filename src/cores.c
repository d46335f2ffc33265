/* cores: the CPUs this process may use; see cores.h. */
#define _GNU_SOURCE
#include "cores.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* CPUs of one cpu.max ("QUOTA PERIOD"), rounded up; 0 for "max" or text
 * that is not a quota. */
static int quota_of(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char q[32];
    long long period = 0;
    int n = fscanf(f, "%31s %lld", q, &period);
    fclose(f);
    if (n != 2 || period <= 0 || !strcmp(q, "max")) return 0;
    char *end;
    long long quota = strtoll(q, &end, 10);
    if (*end || quota <= 0) return 0;
    long long cpus = (quota + period - 1) / period;
    return cpus > 4096 ? 4096 : (int)cpus;
}

int cores_cgroup_quota(const char *root, const char *self)
{
    const char *line = self;
    while (strncmp(line, "0::", 3)) {   /* the v2 line, among v1's */
        line = strchr(line, '\n');
        if (!line) return 0;
        line++;
    }
    line += 3;
    size_t len = strcspn(line, "\n");
    char path[4096];
    if (strlen(root) + len + sizeof "/cpu.max" > sizeof path) return 0;
    int n = snprintf(path, sizeof path, "%s%.*s", root, (int)len, line);
    while (n > 0 && path[n - 1] == '/') path[--n] = '\0';
    int best = 0;
    size_t root_len = strlen(root);
    for (;;) {
        char file[4096 + sizeof "/cpu.max"];
        snprintf(file, sizeof file, "%s/cpu.max", path);
        int q = quota_of(file);
        if (q > 0 && (best == 0 || q < best)) best = q;
        char *slash = strrchr(path, '/');
        if (!slash || (size_t)(slash - path) < root_len) break;
        *slash = '\0';
    }
    return best;
}

int cores_usable(void)
{
    int cores = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) cores = CPU_COUNT(&set);
    if (cores < 1) cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f) {
        char self[8192];
        size_t n = fread(self, 1, sizeof self - 1, f);
        fclose(f);
        self[n] = '\0';
        int quota = cores_cgroup_quota("/sys/fs/cgroup", self);
        if (quota > 0 && quota < cores) cores = quota;
    }
    return cores > 0 ? cores : 1;
}
