#!/usr/bin/env python3
"""The scheduler's own cost per trial (issue 19, goal 4).

A random-search study (or --strategy's, over --dims floats) of --trials
trials, each `sleep --sleep` (a shell script that then reports its first
parameter as the loss), --parallel at a time, run by
`kestrel run` on a fresh history. Prints the wall time against the ideal
(trials / parallel * sleep) and the CPU time of the Kestrel process itself
(user and system, read from /proc/PID/stat until it exits: the trials'
own CPU is not in it), per trial. With a second binary (an A/B) the two
alternate, rep by rep. Each rep also runs the same trials under
`xargs -P PARALLEL` (no history, no reports read, no watchdog): the floor
any launcher of these processes meets on this machine, since the trials
themselves (a shell, a sleep, their exec and exit) cost more than the
sleep. Asserts nothing.

Usage: python3 bench/sched_overhead.py [--trials 400] [--parallel 20]
           [--sleep 1] [--reps 3] [--strategy random] [--dims 1]
           KESTREL [BASELINE_KESTREL]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run(binary, spec, db):
    tck = os.sysconf("SC_CLK_TCK")
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "run", "--quiet", "--db", db, spec],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    own = (0.0, 0.0)
    while p.poll() is None:
        try:
            with open("/proc/%d/stat" % p.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            own = (int(fields[11]) / tck, int(fields[12]) / tck)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
        time.sleep(0.01)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit("%s run failed (%d): %s" % (binary, p.returncode, p.stderr.read().decode()))
    return wall, own[0], own[1]


def floor(obj, trials, parallel):
    """Wall time of the same trials run by xargs -P: the launcher's floor."""
    t0 = time.monotonic()
    subprocess.run(["xargs", "-P", str(parallel), "-n", "1", obj],
                   input="".join("%r\n" % (i / trials) for i in range(trials)).encode(),
                   stdout=subprocess.DEVNULL, check=True)
    return time.monotonic() - t0, 0.0, 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kestrel")
    ap.add_argument("baseline", nargs="?")
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--parallel", type=int, default=20)
    ap.add_argument("--sleep", type=float, default=1.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--strategy", default="random")
    ap.add_argument("--dims", type=int, default=1)
    a = ap.parse_args()
    bins = [os.path.abspath(a.kestrel)] + ([os.path.abspath(a.baseline)] if a.baseline else [])
    work = tempfile.mkdtemp(prefix="kestrel-sched-")
    try:
        obj = os.path.join(work, "obj.sh")
        with open(obj, "w") as f:
            f.write('#!/bin/sh\nsleep %g\necho "{\\"loss\\": $1}"\n' % a.sleep)
        os.chmod(obj, 0o755)
        spec = os.path.join(work, "sleep.json")
        with open(spec, "w") as f:
            json.dump({"name": "sleep", "objective": {"metric": "loss"},
                       "space": {"x%d" % i: {"type": "float", "low": 0, "high": 1}
                                 for i in range(a.dims)},
                       "strategy": {"name": a.strategy, "seed": 1},
                       "budget": {"max_trials": a.trials, "max_parallel": a.parallel},
                       "run": {"command": [obj, "{x0}"]}}, f)
        xargs = "xargs -P %d (floor)" % a.parallel
        res = {b: [] for b in bins + [xargs]}
        for r in range(a.reps):
            for i, b in enumerate(bins):
                res[b].append(run(b, spec, os.path.join(work, "h%d-%d.db" % (r, i))))
            res[xargs].append(floor(obj, a.trials, a.parallel))
        ideal = a.trials / a.parallel * a.sleep
        print("%d trials of sleep %g s, %d at a time (ideal %.1f s), %s over %d floats; medians of %d runs" % (
            a.trials, a.sleep, a.parallel, ideal, a.strategy, a.dims, a.reps))
        print("%-40s %9s %9s %9s %12s %12s" % ("binary", "wall", "/ ideal", "/ floor", "own user",
                                                "own CPU/trial"))
        low = statistics.median(x[0] for x in res[xargs])
        for b in bins + [xargs]:
            wall = statistics.median(x[0] for x in res[b])
            usr = statistics.median(x[1] for x in res[b])
            cpu = statistics.median(x[1] + x[2] for x in res[b])
            print("%-40s %8.2fs %8.3fx %8.3fx %11.2fs %11.2fms" % (b[-40:], wall, wall / ideal, wall / low,
                                                                 usr, 1e3 * cpu / a.trials))
        la = os.getloadavg()
        print("load average at the end: %.2f %.2f %.2f on %d CPUs" % (la + (os.cpu_count(),)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
