#!/usr/bin/env python3
"""Optuna on the recorded curves: bench/tuning_replay's twin for the other side.

Replays what bench/optuna_tuning.py does (TPE + HyperbandPruner, or random +
MedianPruner, two trials at a time) on the table of bench/tuning_table.py: each
suggested configuration is "trained" as the table's nearest one (the same
distance as tuning_replay: unit cube, log scale for lr and weight_decay, a
categorical mismatch counts 1), one epoch costing the row's idle Kestrel
seconds times --slowdown (PyTorch's epoch over Kestrel's; 1 compares search
alone), and every epoch is reported to the pruner in the order the two
simulated workers reach it. Prints, per target, the median time over seeds
to the first epoch report at or above it (inf when not within --seconds) and
how many seeds reached it, in the table format of tuning_replay.

Usage: /usr/bin/python3 bench/optuna_replay.py --table bench/tuning/curves.tsv
           [--seeds 20] [--seconds 360] [--slowdown 1] [--target 0.9 ...]
           [--sampler tpe|random]
"""
import argparse
import csv
import heapq
import math
import statistics

import optuna

SPACE = {"lr": (1e-4, 0.3, True), "dropout": (0.0, 0.5, False), "weight_decay": (1e-6, 0.1, True)}
CATS = {"hidden": ["128", "256,128", "512,256"], "batch_size": [64, 128, 256],
        "optimizer": ["sgd", "momentum", "adam", "adamw"]}


def unit(name, v):
    lo, hi, log = SPACE[name]
    return (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo)) if log else (v - lo) / (hi - lo)


def load(path):
    rows = []
    for r in csv.DictReader(open(path), delimiter="\t"):
        acc = [float(r[k]) for k in r if k.startswith("acc")]
        rows.append({"u": {k: unit(k, float(r[k])) for k in SPACE},
                     "c": {"hidden": r["hidden"], "batch_size": int(float(r["batch_size"])),
                           "optimizer": r["optimizer"]},
                     "div": int(r["diverged_at"]), "cost": float(r["epoch_seconds"]), "acc": acc})
    return rows


def nearest(rows, p):
    u = {k: unit(k, p[k]) for k in SPACE}
    return min(rows, key=lambda r: sum((u[k] - r["u"][k]) ** 2 for k in SPACE)
               + sum(p[k] != r["c"][k] for k in CATS))


def study(rows, seed, a):
    if a.sampler == "tpe":
        st = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
                                 pruner=optuna.pruners.HyperbandPruner(
                                     min_resource=1, max_resource=a.epochs, reduction_factor=3))
    else:
        st = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed),
                                 pruner=optuna.pruners.MedianPruner())
    hit = [math.inf] * len(a.target)
    events = []   # (time, worker, trial, row, epoch)

    def start(now, w):
        t = st.ask()
        p = {k: t.suggest_float(k, *SPACE[k][:2], log=SPACE[k][2]) for k in SPACE}
        p.update({k: t.suggest_categorical(k, CATS[k]) for k in CATS})
        r = nearest(rows, p)
        heapq.heappush(events, (now + a.overhead + r["cost"] * a.slowdown, w, t.number, t, r, 1))

    for w in range(a.parallel):
        start(0.0, w)
    while events:
        now, w, _, t, r, e = heapq.heappop(events)
        if now > a.seconds:
            break
        if r["div"] and e >= r["div"] or math.isnan(r["acc"][e - 1]):
            st.tell(t, state=optuna.trial.TrialState.PRUNED)
            start(now, w)
            continue
        acc = r["acc"][e - 1]
        for i, tg in enumerate(a.target):
            if acc >= tg and now < hit[i]:
                hit[i] = now
        t.report(acc, e)
        if e == a.epochs:
            st.tell(t, acc)
            start(now, w)
        elif t.should_prune():
            st.tell(t, state=optuna.trial.TrialState.PRUNED)
            start(now, w)
        else:
            heapq.heappush(events, (now + r["cost"] * a.slowdown, w, t.number, t, r, e + 1))
    return hit, len(st.trials)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--table", required=True)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=360)
    ap.add_argument("--slowdown", type=float, default=1.0)
    ap.add_argument("--overhead", type=float, default=0.0)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=27)
    ap.add_argument("--sampler", choices=["tpe", "random"], default="tpe")
    ap.add_argument("--target", type=float, action="append")
    a = ap.parse_args()
    a.target = a.target or [0.90]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = load(a.table)
    hits, trials = [], 0
    for s in range(a.first_seed, a.first_seed + a.seeds):
        h, n = study(rows, s, a)
        hits.append(h)
        trials += n
    cells = []
    for i in range(len(a.target)):
        v = [h[i] for h in hits]
        cells.append("%.1f (%d/%d)" % (statistics.median(v), sum(map(math.isfinite, v)), a.seeds))
    print("| optuna-%s x%.2g | %s | %.0f |" % (a.sampler, a.slowdown, " | ".join(cells), trials / a.seeds))


if __name__ == "__main__":
    main()
