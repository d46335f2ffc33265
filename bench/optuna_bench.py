#!/usr/bin/env python3
"""optuna_bench: the Optuna side of bench/search_bench.sh.

Runs Optuna's RandomSampler and TPESampler (default settings, seed=seed) on
the same test functions, domains, seeds and budget as bench/search_bench.c, and
prints per function the median and interquartile range of the simple regret
(best value found minus the known minimum) and the wall time. The functions
are re-implemented here from src/testfn.c (same source, the Virtual Library of
Simulation Experiments); `--verify FILE` checks them against the values
search_bench --values wrote, so the two sides cannot silently differ.
Run by hand; needs python3-optuna (Debian) or `pip install optuna`.
"""
import argparse
import math
import sys
import time

import numpy as np
import optuna

HART_ALPHA = (1.0, 1.2, 3.0, 3.2)
HART3_A = ((3.0, 10, 30), (0.1, 10, 35), (3.0, 10, 30), (0.1, 10, 35))
HART3_P = ((0.3689, 0.1170, 0.2673), (0.4699, 0.4387, 0.7470),
           (0.1091, 0.8732, 0.5547), (0.0381, 0.5743, 0.8828))
HART6_A = ((10.0, 3.0, 17.0, 3.5, 1.7, 8.0), (0.05, 10.0, 17.0, 0.1, 8.0, 14.0),
           (3.0, 3.5, 1.7, 10.0, 17.0, 8.0), (17.0, 8.0, 0.05, 10.0, 0.1, 14.0))
HART6_P = ((0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
           (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
           (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
           (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381))


def branin(x):
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    q = x[1] - b * x[0] ** 2 + c * x[0] - 6
    return q * q + 10 * (1 - t) * math.cos(x[0]) + 10


def hartmann(x, a, p):
    return -sum(al * math.exp(-sum(ai * (xj - pj) ** 2 for ai, xj, pj in zip(ar, x, pr)))
                for al, ar, pr in zip(HART_ALPHA, a, p))


def goldstein_price(x):
    a, b = x
    s, d = a + b + 1, 2 * a - 3 * b
    t1 = 1 + s * s * (19 - 14 * a + 3 * a * a - 14 * b + 6 * a * b + 3 * b * b)
    t2 = 30 + d * d * (18 - 32 * a + 12 * a * a + 48 * b - 36 * a * b + 27 * b * b)
    return t1 * t2


def six_hump_camel(x):
    a, b = x
    return (4 - 2.1 * a * a + a ** 4 / 3) * a * a + a * b + (-4 + 4 * b * b) * b * b


def rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (x[i] - 1) ** 2 for i in range(len(x) - 1))


def ackley(x):
    n = len(x)
    sq = sum(v * v for v in x) / n
    cs = sum(math.cos(2 * math.pi * v) for v in x) / n
    return -20 * math.exp(-0.2 * math.sqrt(sq)) - math.exp(cs) + 20 + math.e


def levy(x):
    w = [1 + (v - 1) / 4 for v in x]
    s = math.sin(math.pi * w[0]) ** 2
    s += sum((wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2) for wi in w[:-1])
    return s + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)


# name: (function, low, high, known minimum): the table of src/testfn.c.
FUNCTIONS = {
    "branin": (branin, [-5, 0], [10, 15], 0.397887357729738),
    "hartmann3": (lambda x: hartmann(x, HART3_A, HART3_P), [0] * 3, [1] * 3, -3.86278214782076),
    "hartmann6": (lambda x: hartmann(x, HART6_A, HART6_P), [0] * 6, [1] * 6, -3.32236801141551),
    "goldstein_price": (goldstein_price, [-2, -2], [2, 2], 3.0),
    "six_hump_camel": (six_hump_camel, [-3, -2], [3, 2], -1.03162845348988),
    "rosenbrock4": (rosenbrock, [-5] * 4, [10] * 4, 0.0),
    "ackley5": (ackley, [-32.768] * 5, [32.768] * 5, 0.0),
    "levy4": (levy, [-10] * 4, [10] * 4, 0.0),
}

SAMPLERS = {
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
}


def run_study(name, sampler, seed, trials):
    f, low, high, minimum = FUNCTIONS[name]

    def objective(trial):
        x = [trial.suggest_float(f"x{i + 1}", lo, hi) for i, (lo, hi) in enumerate(zip(low, high))]
        return f(x)

    study = optuna.create_study(direction="minimize", sampler=SAMPLERS[sampler](seed))
    study.optimize(objective, n_trials=trials)
    return study.best_value - minimum


def verify(path):
    """Checks every line "name v1 .. vd f" of path against FUNCTIONS."""
    bad = 0
    with open(path) as fh:
        for line in fh:
            parts = line.split()
            name, vals = parts[0], [float(v) for v in parts[1:]]
            got, want = FUNCTIONS[name][0](vals[:-1]), vals[-1]
            if abs(got - want) > 1e-9 * (1 + abs(want)):
                print(f"optuna_bench: {name}{vals[:-1]}: python {got!r}, C {want!r}", file=sys.stderr)
                bad += 1
    return bad == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--functions", default=",".join(FUNCTIONS))
    ap.add_argument("--samplers", default="random,tpe")
    ap.add_argument("--tsv", action="store_true",
                    help="rows: function, strategy, median, q1, q3, worst, seconds (tab-separated)")
    ap.add_argument("--verify", metavar="FILE", help="check the functions against search_bench --values")
    args = ap.parse_args()
    if args.verify:
        return 0 if verify(args.verify) else 1
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not args.tsv:
        print(f"optuna {optuna.__version__}; {args.seeds} seeds x {args.trials} trials")
        print(f"{'function':16} {'strategy':16} {'median':>12} {'q1':>12} {'q3':>12} {'worst':>12} {'seconds':>9}")
    for name in args.functions.split(","):
        for sampler in args.samplers.split(","):
            t0 = time.monotonic()
            regret = [run_study(name, sampler, seed, args.trials) for seed in range(args.seeds)]
            secs = time.monotonic() - t0
            # numpy's default (linear) percentiles: the rule search_bench.c uses.
            q1, med, q3 = np.percentile(regret, [25, 50, 75])
            worst = max(regret)
            if args.tsv:
                print(f"{name}\toptuna-{sampler}\t{med:.6g}\t{q1:.6g}\t{q3:.6g}\t{worst:.6g}\t{secs:.3f}",
                      flush=True)
            else:
                print(f"{name:16} {sampler:16} {med:12.4g} {q1:12.4g} {q3:12.4g} {worst:12.4g} {secs:9.2f}",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
