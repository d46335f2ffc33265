#!/usr/bin/env python3
"""Learning-curve table of the Fashion-MNIST tuning space, for tuning_replay.

Reads the Kestrel databases of studies that trained unbiased random draws of
the space at the full budget (random search, or Hyperband's last bracket:
fresh trials whose budget is the whole run) and writes one row per trained
configuration: its parameters, the epoch at which it diverged (0: never),
its cost of one epoch in seconds, and its val_accuracy after each epoch.
Trials stopped from outside (max_seconds, a timeout) are left out: their
curve is cut for a reason that is not the configuration's.

The cost of an epoch is the median `seconds` report (wall time of the
epoch) of the configurations with the same network, batch size and
optimizer family in --idle databases, runs made on an otherwise idle
machine; without a match, in any database. So a table recorded on a loaded
machine still gets idle costs.

Usage: python3 bench/tuning_table.py [--idle DB ...] --out TABLE DB [DB ...]
"""
import argparse
import math
import sqlite3
import statistics

PARAMS = ("lr", "hidden", "dropout", "weight_decay", "batch_size", "optimizer")


def family(opt):
    return "adam" if opt.startswith("adam") else "sgd"


def rows(db, epochs):
    con = sqlite3.connect(db)
    out = []
    for tid, state, failure, last in con.execute(
            "SELECT id, state, coalesce(failure, ''), last_step FROM trials "
            "WHERE resumed_from IS NULL AND retry_of IS NULL AND (budget = 0 OR budget = ?)",
            (epochs,)):
        diverged = state == "FAILED" and "diverged" in failure
        if state != "COMPLETE" and not diverged:
            continue
        p = {}
        for name, num, text in con.execute(
                "SELECT name, value_num, value_text FROM trial_params WHERE trial_id = ?", (tid,)):
            p[name] = text if text is not None else num
        if any(k not in p for k in PARAMS):
            continue
        acc, secs = {}, []
        for step, name, value in con.execute(
                "SELECT step, name, value FROM trial_values WHERE trial_id = ? "
                "AND name IN ('val_accuracy', 'seconds')", (tid,)):
            if name == "val_accuracy":
                acc[step] = value
            elif value is not None:
                secs.append(value)
        if not diverged and len(acc) < epochs:
            continue
        out.append((p, max(last, 0) + 1 if diverged else 0, acc, secs))
    con.close()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dbs", nargs="+")
    ap.add_argument("--idle", nargs="*", default=[])
    ap.add_argument("--epochs", type=int, default=27)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    idle = [r for db in a.idle for r in rows(db, a.epochs)]
    table = [r for db in a.dbs for r in rows(db, a.epochs)]

    def key(p):
        return (str(p["hidden"]), int(p["batch_size"]), family(p["optimizer"]))

    def model(rs):
        by = {}
        for p, _, _, secs in rs:
            by.setdefault(key(p), []).extend(secs)
        return {k: statistics.median(v) for k, v in by.items() if v}

    m_idle, m_all = model(idle), model(idle + table)
    with open(a.out, "w") as f:
        f.write("\t".join(PARAMS + ("diverged_at", "epoch_seconds"))
                + "".join("\tacc%d" % e for e in range(1, a.epochs + 1)) + "\n")
        for p, div, acc, secs in table:
            cost = m_idle.get(key(p), m_all.get(key(p), statistics.median(secs) if secs else 1.0))
            curve = [acc.get(e, math.nan) for e in range(1, a.epochs + 1)]
            f.write("\t".join(str(p[k]) for k in PARAMS) + "\t%d\t%.4f\t" % (div, cost)
                    + "\t".join("nan" if math.isnan(v) else "%.6f" % v for v in curve) + "\n")
    print("%s: %d configurations (%d diverged); idle cost classes %d" % (
        a.out, len(table), sum(1 for r in table if r[1]), len(m_idle)))


if __name__ == "__main__":
    main()
