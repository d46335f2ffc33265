#!/usr/bin/env python3
"""What a built-in trainer trial costs around its epochs (issue 19, goals 1-2).

Fixed cost: a trial run the way the scheduler runs it (its environment:
KESTREL_CACHE_DIR, KESTREL_THREADS=1, OPENBLAS_NUM_THREADS=1,
KESTREL_CHECKPOINT_DIR; its options: whatever `kestrel run` adds for that
binary), with max_train=10000, for epochs=1 and epochs=3. The fixed cost is
t(1) - (t(3) - t(1)) / 2 over the medians of --reps runs, in wall time and in
CPU time (user + system) of the process. With a second binary (an A/B), the
two are run interleaved, rep by rep, so machine drift hits both alike. The
"plain" rows run the issue's command as a user types it
(`kestrel train --set epochs=E --set max_train=10000 --set threads=1`, no
Kestrel environment; XDG_CACHE_HOME points into the bench's folder).

Memory: --concurrent N trials of the same dataset run at once (epochs=20);
each one's /proc/PID/smaps_rollup is sampled while it trains, and the bench
prints the largest anonymous memory (what the trial adds to the machine:
page-cache pages of the mapped dataset are shared) and RSS (which counts the shared, mapped dataset
in every process) seen per trial.

Usage: python3 bench/trial_overhead.py [--reps 5] [--concurrent 4]
           KESTREL [BASELINE_KESTREL]
The dataset cache is filled once before timing (a study's first trial pays
the decode; every later one maps the file). Asserts nothing.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def supports(binary, option):
    out = subprocess.run([binary, "train", "--help"], capture_output=True, text=True).stdout
    return option in out


def trial_cmd(binary, epochs, work):
    """argv and environment of a trainer trial as `kestrel run` spawns it."""
    args = [binary, "train"]
    if supports(binary, "evaluate_test"):
        # what sched_launch.c adds before the spec's options
        args += ["--set", "checkpoint_every=0", "--set", "evaluate_test=false"]
    args += ["--set", "max_train=10000", "--set", "epochs=%d" % epochs]
    ck = os.path.join(work, "trial")
    os.makedirs(ck, exist_ok=True)
    env = dict(os.environ, KESTREL_CACHE_DIR=os.path.join(work, "cache"), KESTREL_THREADS="1",
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", KESTREL_CHECKPOINT_DIR=ck)
    return args, env


def plain_cmd(binary, epochs, work):
    args = [binary, "train", "--set", "epochs=%d" % epochs, "--set", "max_train=10000",
            "--set", "threads=1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KESTREL_")}
    env["XDG_CACHE_HOME"] = os.path.join(work, "xdg")
    return args, env


def timed(args, env):
    """(wall seconds, CPU seconds) of one run; raises on failure."""
    t0 = time.monotonic()
    p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode()
    p.stderr.close()
    if p.returncode != 0:
        raise SystemExit("%s failed (%d): %s" % (" ".join(args), p.returncode, err))
    return wall, ru.ru_utime + ru.ru_stime


def private_kb(pid):
    """(Anonymous, Rss) of pid in kB, or None once it ended. Anonymous is the
    memory the trial adds to the machine: its heap and stacks, and any page of
    a private file mapping it wrote (copy on write). Private_Clean would count
    page-cache pages of the shared dataset that no other process happens to
    map at that moment."""
    vals = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":"):
                    vals[parts[0][:-1]] = int(parts[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    if "Rss" not in vals:
        return None
    return vals.get("Anonymous", 0), vals["Rss"]


def memory(binary, n, work):
    procs = []
    for i in range(n):
        d = os.path.join(work, "mem%d" % i)
        os.makedirs(d, exist_ok=True)
        args, env = trial_cmd(binary, 20, d)
        env["KESTREL_CACHE_DIR"] = os.path.join(work, "cache")
        procs.append(subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    peak = [(0, 0)] * n
    while any(p.poll() is None for p in procs):
        for i, p in enumerate(procs):
            v = private_kb(p.pid) if p.poll() is None else None
            if v and v[0] > peak[i][0]:
                peak[i] = v
        time.sleep(0.05)
    return peak


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kestrel")
    ap.add_argument("baseline", nargs="?")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--concurrent", type=int, default=4)
    a = ap.parse_args()
    bins = [os.path.abspath(a.kestrel)] + ([os.path.abspath(a.baseline)] if a.baseline else [])
    work = tempfile.mkdtemp(prefix="kestrel-overhead-")
    try:
        for b in bins:   # fill the caches once: a study's first trial decodes
            for mk in (trial_cmd, plain_cmd):
                timed(*mk(b, 1, work))
        runs = {(b, m, e): [] for b in bins for m in ("trial", "plain") for e in (1, 3)}
        for _ in range(a.reps):
            for m, mk in (("trial", trial_cmd), ("plain", plain_cmd)):
                for e in (1, 3):
                    for b in bins:
                        runs[(b, m, e)].append(timed(*mk(b, e, work)))
        print("fixed cost of a trainer trial, max_train=10000, medians of %d runs "
              "(t1 - (t3 - t1) / 2)" % a.reps)
        print("%-8s %-40s %9s %9s %11s %9s %9s %11s" % ("mode", "binary", "wall t1", "wall t3",
                                                       "wall fixed", "cpu t1", "cpu t3",
                                                       "cpu fixed"))
        fixed = {}
        for m in ("trial", "plain"):
            for b in bins:
                w1 = statistics.median(r[0] for r in runs[(b, m, 1)])
                w3 = statistics.median(r[0] for r in runs[(b, m, 3)])
                c1 = statistics.median(r[1] for r in runs[(b, m, 1)])
                c3 = statistics.median(r[1] for r in runs[(b, m, 3)])
                fixed[(b, m)] = (w1 - (w3 - w1) / 2, c1 - (c3 - c1) / 2)
                print("%-8s %-40s %8.0fms %8.0fms %10.0fms %8.0fms %8.0fms %10.0fms" % (
                    m, b[-40:], 1e3 * w1, 1e3 * w3, 1e3 * fixed[(b, m)][0], 1e3 * c1, 1e3 * c3,
                    1e3 * fixed[(b, m)][1]))
        if len(bins) == 2:
            for m in ("trial", "plain"):
                new, old = fixed[(bins[0], m)], fixed[(bins[1], m)]
                print("%s: baseline / kestrel fixed cost: wall %.1fx, cpu %.1fx" % (
                    m, old[0] / new[0] if new[0] > 0 else float("inf"),
                    old[1] / new[1] if new[1] > 0 else float("inf")))
        if a.concurrent:
            print("\n%d concurrent trials of one dataset (epochs=20): peak per trial" % a.concurrent)
            for b in bins:
                peak = memory(b, a.concurrent, work)
                print("%-40s anonymous %s MB, rss %s MB" % (
                    b[-40:], " ".join("%.0f" % (p / 1024) for p, _ in peak),
                    " ".join("%.0f" % (r / 1024) for _, r in peak)))
        la = os.getloadavg()
        print("\nload average at the end: %.2f %.2f %.2f on %d CPUs" % (la + (os.cpu_count(),)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
