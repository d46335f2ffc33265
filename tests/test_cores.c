/* test_cores: the CPUs a study divides among its trials: the affinity mask
 * counts, not the machine's online CPUs (a process bound to one CPU gets 1),
 * and a cgroup quota caps it: v2's cpu.max at each level from the process's
 * cgroup up to the hierarchy's root, the tightest in CPUs rounded up, "max"
 * and malformed files ignored; v1's cpu.cfs_quota_us under the mount whose
 * options name "cpu", also as a container sees it (files written into a
 * folder that stands for /sys/fs/cgroup). */
#define _GNU_SOURCE
#include <check.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "../src/cores.h"

static char root[64];

static void put(const char *dir, const char *cpu_max)
{
    char path[256];
    snprintf(path, sizeof path, "%s%s", root, dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s%s/cpu.max", root, dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(cpu_max, f);
    fclose(f);
}

static void make_root(void)
{
    snprintf(root, sizeof root, "/tmp/kestrel-cores.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static void drop_root(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}

/* One level's cpu.max: a quota in CPUs rounded up; "max" and malformed
 * files are no quota. */
START_TEST(a_quota_in_cpus_rounded_up)
{
    static const struct {
        const char *cpu_max;
        int cpus;
    } t[] = {{"max 100000\n", 0},    {"200000 100000\n", 2}, {"150000 100000\n", 2},
             {"50000 100000\n", 1},  {"lots 100000\n", 0},   {"100000 0\n", 0},
             {"-1 100000\n", 0}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        put("", t[i].cpu_max);
        ck_assert_int_eq(cores_cgroup_quota(root, "0::/\n"), t[i].cpus);
    }
}
END_TEST

START_TEST(the_tightest_level_on_the_way_up)
{
    put("/a", "300000 100000\n");
    put("/a/b", "max 100000\n");
    /* cgroup v1 lines before v2's are passed over */
    const char *self = "4:memory:/x\n1:cpu:/\n0::/a/b\n";
    ck_assert_int_eq(cores_cgroup_quota(root, self), 3);
    put("/a/b", "100000 100000\n");
    ck_assert_int_eq(cores_cgroup_quota(root, self), 1);
    put("", "200000 100000\n");
    ck_assert_int_eq(cores_cgroup_quota(root, self), 1);
    put("/a/b", "max 100000\n");
    ck_assert_int_eq(cores_cgroup_quota(root, self), 2);
}
END_TEST

START_TEST(no_quota_without_a_v2_line_or_a_file)
{
    ck_assert_int_eq(cores_cgroup_quota(root, "1:cpu:/\n"), 0);
    ck_assert_int_eq(cores_cgroup_quota(root, "10::/a\n"), 0);
    ck_assert_int_eq(cores_cgroup_quota(root, "0::/gone/deeper\n"), 0);
}
END_TEST

/* v1 quota files in a folder named like the cpu hierarchy's mount */
static void put_v1(const char *dir, const char *quota, const char *period)
{
    char path[256];
    const char *names[2] = {"cpu.cfs_quota_us", "cpu.cfs_period_us"};
    const char *values[2] = {quota, period};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s%s", root, dir);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s%s/%s", root, dir, names[i]);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "%s\n", values[i]);
        fclose(f);
    }
}

START_TEST(a_v1_quota_under_the_cpu_mount)
{
    put_v1("/cpu,cpuacct", "-1", "100000");
    put_v1("/cpu,cpuacct/docker", "-1", "100000");
    put_v1("/cpu,cpuacct/docker/abc", "150000", "100000");
    char mounts[1024];
    /* a cpuset mount first: its options name "cpuset", not "cpu" */
    snprintf(mounts, sizeof mounts,
             "30 25 0:27 / %s/cpuset rw,nosuid shared:9 - cgroup cgroup rw,cpuset\n"
             "31 25 0:28 / %s/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup rw,cpu,cpuacct\n",
             root, root);
    const char *self = "5:cpuset:/\n4:cpu,cpuacct:/docker/abc\n0::/\n";
    ck_assert_int_eq(cores_cgroup_v1_quota(mounts, self), 2);
    put_v1("/cpu,cpuacct/docker", "100000", "100000");
    ck_assert_int_eq(cores_cgroup_v1_quota(mounts, self), 1);
    /* a container's view: the mount's root is its own cgroup */
    snprintf(mounts, sizeof mounts,
             "31 25 0:28 /docker/abc %s/cpu,cpuacct/docker/abc rw - cgroup cgroup rw,cpuacct,cpu\n", root);
    ck_assert_int_eq(cores_cgroup_v1_quota(mounts, self), 2);
    /* a cgroup outside the mount's root, no cpu line, no cpu mount */
    ck_assert_int_eq(cores_cgroup_v1_quota(mounts, "4:cpu,cpuacct:/other\n"), 0);
    ck_assert_int_eq(cores_cgroup_v1_quota(mounts, "5:cpuset:/\n0::/\n"), 0);
    ck_assert_int_eq(cores_cgroup_v1_quota("30 25 0:27 / /x rw - cgroup cgroup rw,cpuset\n", self), 0);
}
END_TEST

/* Check forks each test, so the narrowed mask stays in this test. */
START_TEST(the_affinity_mask_counts_not_the_online_cpus)
{
    int all = cores_usable();
    ck_assert_int_ge(all, 1);
    ck_assert_int_le(all, (int)sysconf(_SC_NPROCESSORS_ONLN));
    cpu_set_t set;
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int first = 0;
    while (!CPU_ISSET(first, &set)) first++;
    CPU_ZERO(&set);
    CPU_SET(first, &set);
    ck_assert_int_eq(sched_setaffinity(0, sizeof set, &set), 0);
    ck_assert_int_eq(cores_usable(), 1);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("cores");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, make_root, drop_root);
    tcase_add_test(tc, a_quota_in_cpus_rounded_up);
    tcase_add_test(tc, the_tightest_level_on_the_way_up);
    tcase_add_test(tc, no_quota_without_a_v2_line_or_a_file);
    tcase_add_test(tc, a_v1_quota_under_the_cpu_mount);
    tcase_add_test(tc, the_affinity_mask_counts_not_the_online_cpus);
    suite_add_tcase(su, tc);
    return check_run(su);
}
