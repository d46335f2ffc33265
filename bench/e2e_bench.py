#!/usr/bin/env python3
"""End to end against what users run today (issue 19, goal 8).

The same Fashion-MNIST MLP space (bench/tuning/study.json.in) tuned on the
same two cores by
  kestrel-asha, kestrel-hyperband, kestrel-random: `kestrel run` with the
      built-in trainer, two trials at a time (the spec's max_parallel 2);
      random is issue 19 goal 7's baseline (ASHA and Hyperband at most 1/3
      of its time to 0.90);
  optuna-tpe-hb, optuna-random-median: bench/optuna_tuning.py, Optuna's TPE
      with its HyperbandPruner and random search with its MedianPruner,
      training the same MLP in PyTorch, n_jobs=2 with one torch thread each;
each study at most --max-seconds long (it ends once a trial reaches the last
target: objective.goal for Kestrel, study.stop() for Optuna), seeds
interleaved (seed 1 of every method, then seed 2, ...) so a slow period of
the machine does not fall on one method. Time to a target is the first
epoch report whose val_accuracy reaches it, from the study's start (Kestrel: trial_values.at minus the
first trial's start; Optuna: the report times optuna_tuning.py writes,
from after its data load, as a user's script would start its study).
Prints per method and target the median over seeds (inf: not reached), how
many seeds reached it, the best Optuna median over the best Kestrel median
(goal 8) and random's over ASHA's (goal 7), each a lower bound ">" when the
slower side's median is past --max-seconds. Asserts nothing; run it by hand on an otherwise idle machine.

Usage: /usr/bin/python3 bench/e2e_bench.py [--seeds 1 2 3] [--max-seconds 360]
           [--epochs 27] [--max-train 0] [--methods ...] [--out DIR] KESTREL
"""
import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = (0.89, 0.90, 0.9025)
METHODS = ("kestrel-asha", "kestrel-hyperband", "kestrel-random", "optuna-tpe-hb", "optuna-random-median")


def kestrel_spec(method, seed, a, data_dir):
    strategy = open(os.path.join(HERE, "tuning", method.split("-", 1)[1] + ".json")).read()
    strategy = strategy.replace("@SEED@", str(seed)).replace("@R@", str(a.epochs))
    text = open(os.path.join(HERE, "tuning", "study.json.in")).read()
    for k, v in (("@NAME@", "%s-s%d" % (method, seed)), ("@STRATEGY@", strategy.strip()),
                 ("@MAX_TRIALS@", "100000"), ("@MAX_SECONDS@", str(a.max_seconds)),
                 ("@DATA_DIR@", data_dir), ("@TRIAL_TIMEOUT@", "600"),
                 ("@MAX_TRAIN@", str(a.max_train)), ("@R@", str(a.epochs))):
        text = text.replace(k, v)
    # ends the study once a trial reaches the last target: every time to a
    # target is measured by then, and the run takes no longer than it needs
    return text.replace('"direction": "maximize"}', '"direction": "maximize", "goal": %r}' % TARGETS[-1])


def kestrel_times(db, name):
    con = sqlite3.connect(db)
    out = []
    for t in TARGETS:
        row = con.execute(
            "SELECT min(v.at) - (SELECT min(started_at) FROM trials WHERE study_id = s.id) "
            "FROM trial_values v JOIN trials r ON r.id = v.trial_id JOIN studies s ON s.id = r.study_id "
            "WHERE s.name = ? AND v.name = 'val_accuracy' AND v.value >= ?", (name, t)).fetchone()
        out.append(row[0] if row and row[0] is not None else float("inf"))
    con.close()
    return out


def optuna_times(path):
    reports = [json.loads(line) for line in open(path) if line.strip()]
    return [min((r["t"] for r in reports if r["val_accuracy"] >= t), default=float("inf"))
            for t in TARGETS]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kestrel")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--max-seconds", type=float, default=360)
    ap.add_argument("--epochs", type=int, default=27)
    ap.add_argument("--max-train", type=int, default=0)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out")
    a = ap.parse_args()
    if any(m.startswith("optuna") for m in a.methods):
        try:   # before any study: else the Kestrel studies run, then this stops
            import numpy, optuna, torch   # noqa: F401  (what optuna_tuning.py imports)
        except ImportError as e:
            raise SystemExit("e2e_bench: the Optuna methods need numpy, optuna and torch in this python "
                             "(%s: %s); run it with /usr/bin/python3 after ./bootstrap --bench"
                             % (sys.executable, e))
    out = a.out or tempfile.mkdtemp(prefix="kestrel-e2e-")
    os.makedirs(out, exist_ok=True)
    kestrel = os.path.abspath(a.kestrel)
    db = os.path.join(out, "e2e.db")
    print("e2e_bench: results in %s" % out, flush=True)
    # a study's first trial would otherwise decode the dataset for the others
    subprocess.run([kestrel, "train", "--set", "max_train=1000", "--set", "epochs=1",
                    "--set", "data_dir=" + a.data_dir,
                    "--set", "cache_dir=" + os.path.join(out, "kestrel-cache")],
                   check=True, stdout=subprocess.DEVNULL)
    times = {m: [] for m in a.methods}
    for seed in a.seeds:
        for m in a.methods:
            name = "%s-s%d" % (m, seed)
            t = time.strftime("%T")
            if m.startswith("kestrel"):
                spec = os.path.join(out, name + ".json")
                with open(spec, "w") as f:
                    f.write(kestrel_spec(m, seed, a, a.data_dir))
                rc = subprocess.run([kestrel, "run", "--quiet", "--db", db, spec],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
                if rc not in (0, 4):
                    raise SystemExit("%s exited with %d" % (name, rc))
                times[m].append(kestrel_times(db, name))
                # the trials' checkpoints (about 2 MB each, hundreds a study) are
                # read by no later study: a full run would leave gigabytes
                shutil.rmtree(os.path.join(db + ".trials", name), ignore_errors=True)
            else:
                path = os.path.join(out, name + ".jsonl")
                sampler = "tpe" if "tpe" in m else "random"
                subprocess.run([sys.executable, os.path.join(HERE, "optuna_tuning.py"), "--sampler",
                                sampler, "--seed", str(seed), "--max-seconds", str(a.max_seconds),
                                "--epochs", str(a.epochs), "--max-train", str(a.max_train),
                                "--data-dir", a.data_dir, "--out", path, "--goal", str(TARGETS[-1])],
                               check=True, stdout=subprocess.DEVNULL)
                times[m].append(optuna_times(path))
            print("%s %s: %s (load %.1f)" % (t, name, " ".join(
                "%.1f" % x for x in times[m][-1]), os.getloadavg()[0]), flush=True)
    print("\ntime to val_accuracy >= target (s), median over seeds %s, from epoch reports" % a.seeds)
    print("| method | " + " | ".join("%.4g" % t for t in TARGETS) + " |")
    print("|---|" + "---:|" * len(TARGETS))
    med = {}
    for m in a.methods:
        med[m] = [statistics.median(r[i] for r in times[m]) for i in range(len(TARGETS))]
        hits = [sum(r[i] != float("inf") for r in times[m]) for i in range(len(TARGETS))]
        print("| %s | %s |" % (m, " | ".join("%.1f (%d/%d)" % (med[m][i], hits[i], len(a.seeds))
                                           for i in range(len(TARGETS)))))
    ks = [m for m in a.methods if m.startswith("kestrel")]
    op = [m for m in a.methods if m.startswith("optuna")]
    if ks and op:
        print("| best Optuna / best Kestrel | %s |" % " | ".join(
            ratio(min(med[m][i] for m in op), min(med[m][i] for m in ks), a.max_seconds)
            for i in range(len(TARGETS))))
    if "kestrel-asha" in a.methods and "kestrel-random" in a.methods:   # goal 7
        print("| kestrel-random / kestrel-asha | %s |" % " | ".join(
            ratio(med["kestrel-random"][i], med["kestrel-asha"][i], a.max_seconds)
            for i in range(len(TARGETS))))


def ratio(slow, fast, max_seconds):
    """slow / fast as "N.NNx"; a lower bound (">") when slow's median is past
    the study's end, since it is then at least max_seconds; n/a when fast's is."""
    inf = float("inf")
    if fast in (0, inf):
        return "n/a"
    return ">%.2fx" % (max_seconds / fast) if slow == inf else "%.2fx" % (slow / fast)


if __name__ == "__main__":
    sys.exit(main())
