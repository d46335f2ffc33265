/* cores: how many CPUs this process may use, the number the scheduler and a
 * worker divide among their parallel trials: the CPUs of its affinity mask
 * (taskset, Slurm's task binding, a container's cpuset), capped by a cgroup
 * CPU quota, v2 or v1 (a container's --cpus, a Kubernetes CPU limit),
 * rounded up.
 * The online CPUs of the machine count neither. */
#ifndef KESTREL_CORES_H
#define KESTREL_CORES_H

/* The CPUs this process may use; at least 1. */
int cores_usable(void);

/* The tightest cgroup v2 CPU quota on the way from this process's cgroup to
 * the hierarchy's root, in CPUs rounded up; 0 when there is none. root: where
 * the cgroup2 hierarchy is mounted (/sys/fs/cgroup); self: the text of
 * /proc/self/cgroup, whose "0::PATH" line names the cgroup. Each level's
 * cpu.max reads "QUOTA PERIOD" (microseconds) or "max PERIOD". */
int cores_cgroup_quota(const char *root, const char *self);

/* The same for a cgroup v1 CPU quota: the cgroup mount of mountinfo (the
 * text of /proc/self/mountinfo) whose options name "cpu", the process's
 * cgroup in that hierarchy (self's line naming "cpu", under the mount's
 * root), each level's cpu.cfs_quota_us (-1: none) over cpu.cfs_period_us. */
int cores_cgroup_v1_quota(const char *mountinfo, const char *self);

#endif
