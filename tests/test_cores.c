/* test_cores: the CPUs a study divides among its trials: the affinity mask
 * counts, not the machine's online CPUs (a process bound to one CPU gets 1),
 * and a cgroup v2 quota caps it: each level's cpu.max from the process's
 * cgroup up to the hierarchy's root, the tightest in CPUs rounded up, "max"
 * and malformed files ignored (written into a folder that stands for
 * /sys/fs/cgroup). */
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
    tcase_add_test(tc, the_affinity_mask_counts_not_the_online_cpus);
    suite_add_tcase(su, tc);
    return check_run(su);
}
