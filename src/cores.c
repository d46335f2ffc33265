/* cores: the CPUs this process may use; see cores.h. */
#define _GNU_SOURCE
#include "cores.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The number a small file holds (a word such as "-1" or "100000"), or 0. */
static long long number_in(const char *dir, const char *name)
{
    char path[4200], word[32];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = fscanf(f, "%31s", word);
    fclose(f);
    char *end;
    long long v = n == 1 ? strtoll(word, &end, 10) : 0;
    return n == 1 && !*end ? v : 0;
}

static int cpus_of(long long quota, long long period)
{
    if (quota <= 0 || period <= 0) return 0;
    long long cpus = (quota + period - 1) / period;
    return cpus > 4096 ? 4096 : (int)cpus;
}

/* cgroup v2: cpu.max reads "QUOTA PERIOD" or "max PERIOD". */
static int quota_v2(const char *dir)
{
    char path[4200], q[32];
    long long period = 0;
    snprintf(path, sizeof path, "%s/cpu.max", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = fscanf(f, "%31s %lld", q, &period);
    fclose(f);
    char *end;
    long long quota = n == 2 ? strtoll(q, &end, 10) : 0;
    return n == 2 && !*end ? cpus_of(quota, period) : 0;
}

/* cgroup v1: cpu.cfs_quota_us (-1: none) over cpu.cfs_period_us. */
static int quota_v1(const char *dir)
{
    return cpus_of(number_in(dir, "cpu.cfs_quota_us"), number_in(dir, "cpu.cfs_period_us"));
}

/* The tightest quota from top/rel up to top itself; 0 when none. */
static int tightest(const char *top, const char *rel, size_t rel_len, int (*quota)(const char *))
{
    char path[4096];
    size_t top_len = strlen(top);
    if (top_len + rel_len >= sizeof path) return 0;
    int n = snprintf(path, sizeof path, "%s%.*s", top, (int)rel_len, rel);
    while ((size_t)n > top_len && path[n - 1] == '/') path[--n] = '\0';
    int best = 0;
    for (;;) {
        int q = quota(path);
        if (q > 0 && (best == 0 || q < best)) best = q;
        char *slash = strrchr(path, '/');
        if (!slash || (size_t)(slash - path) < top_len) break;
        *slash = '\0';
    }
    return best;
}

/* Whether a comma-separated list names want. */
static int names(const char *list, size_t len, const char *want)
{
    size_t k = strlen(want);
    for (const char *c = list, *end = list + len; c < end;) {
        size_t n = strcspn(c, ",");
        if (n > (size_t)(end - c)) n = (size_t)(end - c);
        if (n == k && !strncmp(c, want, k)) return 1;
        c += n + 1;
    }
    return 0;
}

/* The cgroup path in /proc/self/cgroup ("ID:CONTROLLERS:PATH" lines) of
 * v2 (want "": the "0::PATH" line) or of the v1 hierarchy whose
 * controllers name want; its length in *len. */
static const char *cgroup_of(const char *self, const char *want, size_t *len)
{
    for (const char *line = self; *line;) {
        const char *eol = line + strcspn(line, "\n");
        const char *ctl = memchr(line, ':', (size_t)(eol - line));
        const char *path = ctl ? memchr(ctl + 1, ':', (size_t)(eol - ctl - 1)) : NULL;
        if (path) {
            size_t ctl_len = (size_t)(path - ctl - 1);
            int hit = *want ? names(ctl + 1, ctl_len, want) : ctl_len == 0 && !strncmp(line, "0:", 2);
            if (hit) {
                *len = (size_t)(eol - path - 1);
                return path + 1;
            }
        }
        line = *eol ? eol + 1 : eol;
    }
    return NULL;
}

int cores_cgroup_quota(const char *root, const char *self)
{
    size_t len;
    const char *path = cgroup_of(self, "", &len);
    return path ? tightest(root, path, len, quota_v2) : 0;
}

int cores_cgroup_v1_quota(const char *mountinfo, const char *self)
{
    size_t len;
    const char *path = cgroup_of(self, "cpu", &len);
    if (!path) return 0;
    for (const char *line = mountinfo; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER */
        char root[1024], point[1024], type[32], super[512];
        const char *dash = strstr(line, " - ");
        const char *eol = line + strcspn(line, "\n");
        if (!dash || dash > eol) continue;
        if (sscanf(line, "%*s %*s %*s %1023s %1023s", root, point) != 2) continue;
        if (sscanf(dash + 3, "%31s %*s %511s", type, super) != 2 || strcmp(type, "cgroup")) continue;
        if (!names(super, strlen(super), "cpu")) continue;
        /* the mount shows the hierarchy from root down: the process's
         * cgroup must lie under it */
        size_t root_len = strcmp(root, "/") ? strlen(root) : 0;
        if (strncmp(path, root, root_len) || (len > root_len && path[root_len] != '/')) return 0;
        return tightest(point, path + root_len, len - root_len, quota_v1);
    }
    return 0;
}

static int read_text(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return 1;
}

int cores_usable(void)
{
    int cores = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) cores = CPU_COUNT(&set);
    if (cores < 1) cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    enum { SELF_MAX = 8192, MOUNTS_MAX = 65536 };
    char *self = malloc(SELF_MAX), *mounts = malloc(MOUNTS_MAX);
    if (self && mounts && read_text("/proc/self/cgroup", self, SELF_MAX)) {
        int quota = cores_cgroup_quota("/sys/fs/cgroup", self);
        if (read_text("/proc/self/mountinfo", mounts, MOUNTS_MAX)) {
            int v1 = cores_cgroup_v1_quota(mounts, self);
            if (v1 > 0 && (quota == 0 || v1 < quota)) quota = v1;
        }
        if (quota > 0 && quota < cores) cores = quota;
    }
    free(self);
    free(mounts);
    return cores > 0 ? cores : 1;
}
