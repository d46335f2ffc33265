#!/usr/bin/env python3
"""train_bench: Kestrel's built-in trainer against PyTorch on the same MLP.

Trains 784-256-128-10 (ReLU, Adam lr 1e-3, batch 128, fp32, cross-entropy)
on the Fashion-MNIST training set with `kestrel train` and with PyTorch in
one run, interleaved repetition by repetition, and prints

  - training samples/second of both (median over the repetitions; each
    repetition's figure covers its epochs after the first, which is the
    warm-up), and the ratio;
  - Kestrel's achieved GFLOP/s (the GEMM flops of forward and backward per
    sample times samples/s) against OpenBLAS's own SGEMM rate on the same
    calls, measured by bench/sgemm_rate.c;
  - peak memory (max RSS of each child, from wait4) against the training
    images' size in memory (60000 x 784 float32 = 188 MB).

Throughput excludes data loading and decoding for both: Kestrel reports
samples_per_sec over each epoch's training loop (n_train / seconds, not
counting validation); the PyTorch worker times its training loop the same
way, on tensors already in memory. Both train on 54000 rows (the 60000
training images minus a 10% validation part).

Run it through bench/train_bench.sh (it builds sgemm_rate). Run by hand on an
otherwise idle machine: other processes on the same cores skew every figure.
"""
import argparse
import gzip
import json
import os
import selectors
import statistics
import subprocess
import sys
import time

DATA = "/usr/share/datasets/fashion-mnist"
N_TRAIN = 54000
DATASET_MB = 60000 * 784 * 4 / 1e6


def run_measured(cmd, env=None):
    """Runs cmd and reaps it with wait4: (stdout, stderr, max RSS MB, wall s)."""
    r_out, w_out = os.pipe()
    r_err, w_err = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.dup2(w_out, 1)
        os.dup2(w_err, 2)
        os.close(r_out)
        os.close(r_err)
        try:
            os.execvpe(cmd[0], cmd, env if env is not None else os.environ)
        finally:
            os._exit(127)
    os.close(w_out)
    os.close(w_err)
    chunks = {r_out: [], r_err: []}
    sel = selectors.DefaultSelector()
    sel.register(r_out, selectors.EVENT_READ)
    sel.register(r_err, selectors.EVENT_READ)
    open_fds = 2
    while open_fds:
        for key, _ in sel.select():
            data = os.read(key.fd, 65536)
            if data:
                chunks[key.fd].append(data)
            else:
                sel.unregister(key.fd)
                os.close(key.fd)
                open_fds -= 1
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    out = b"".join(chunks[r_out]).decode()
    err = b"".join(chunks[r_err]).decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"train_bench: {' '.join(cmd)} failed:\n{err}")
    return out, err, ru.ru_maxrss * 1024 / 1e6, wall   # ru_maxrss is in KiB


def steady_rate(rates):
    """Samples/s over the epochs after the first: n epochs / sum of 1/rate."""
    rest = rates[1:]
    return len(rest) / sum(1.0 / r for r in rest)


def kestrel_run(args, seed, parallel):
    cmd = [args.kestrel, "train", "--set", f"parallel={parallel}",
           "--set", "data=fashion-mnist", "--set", f"hidden={args.hidden}",
           "--set", "activation=relu", "--set", "optimizer=adam", "--set", "lr=0.001",
           "--set", f"batch_size={args.batch}", "--set", f"threads={args.threads}",
           "--set", f"epochs={args.epochs}", "--set", "val_ratio=0.1",
           "--set", f"seed={seed}", "--set", f"cache_dir={args.cache_dir}"]
    env = dict(os.environ)
    env.pop("KESTREL_REPORT_FD", None)
    out, _, rss, wall = run_measured(cmd, env)
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    rates = [l["samples_per_sec"] for l in lines if "step" in l]
    final = lines[-1]
    return {"rates": rates, "rate": steady_rate(rates), "rss_mb": rss, "wall_s": wall,
            "test_accuracy": final.get("test_accuracy")}


TORCH_MODES = {
    # what the task specifies: torch.set_num_threads(2), OpenBLAS left alone
    # (Debian's PyTorch runs its GEMMs in OpenBLAS, which then also starts 2
    # threads of its own next to PyTorch's 2 OpenMP threads)
    "spec": {"torch_threads": 2, "env": {}},
    # the fastest setting found on 2 cores: PyTorch's own ops on 1 thread,
    # OpenBLAS's GEMMs on 2
    "tuned": {"torch_threads": 1, "env": {"OPENBLAS_NUM_THREADS": "2"}},
}


def torch_run(args, mode, seed):
    m = TORCH_MODES[mode]
    env = dict(os.environ)
    env.update(m["env"])
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-worker",
           "--threads", str(m["torch_threads"]), "--hidden", args.hidden,
           "--batch", str(args.batch), "--epochs", str(args.epochs), "--seed", str(seed),
           "--max-batches", str(args.spec_batches if mode == "spec" else 0)]
    out, _, rss, wall = run_measured(cmd, env)
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    rates = [l["samples_per_sec"] for l in lines if "epoch" in l]
    return {"rates": rates, "rate": steady_rate(rates), "rss_mb": rss, "wall_s": wall,
            "test_accuracy": lines[-1].get("test_accuracy")}


def read_idx(path, offset):
    import numpy as np
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def torch_worker(args):
    """One PyTorch training run; prints a JSON line per epoch, then the final one."""
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x = read_idx(f"{DATA}/train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
    y = read_idx(f"{DATA}/train-labels-idx1-ubyte.gz", 8).astype(np.int64)
    xt = read_idx(f"{DATA}/t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
    yt = read_idx(f"{DATA}/t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)
    rows = np.random.default_rng(args.seed).permutation(len(x))[:N_TRAIN]
    mean = x[rows].mean(0)
    std = np.maximum(x[rows].std(0), 1e-6)   # standard scaling, fitted on the train rows
    X = torch.from_numpy((x[rows] - mean) / std)
    Y = torch.from_numpy(y[rows])
    del x
    widths = [784] + [int(w) for w in args.hidden.split(",")] + [10]
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(args.seed)
    n_batches = (N_TRAIN + args.batch - 1) // args.batch
    if args.max_batches:
        n_batches = min(n_batches, args.max_batches)
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(N_TRAIN, generator=g)
        for b in range(n_batches):
            idx = perm[b * args.batch:(b + 1) * args.batch]
            xb, yb = X[idx], Y[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        dt = time.perf_counter() - t0
        samples = min(N_TRAIN, n_batches * args.batch)
        print(json.dumps({"epoch": epoch + 1, "samples_per_sec": samples / dt,
                          "loss": float(loss)}), flush=True)
    with torch.no_grad():
        logits = model(torch.from_numpy((xt - mean) / std))
        acc = float((logits.argmax(1) == torch.from_numpy(yt)).float().mean())
    print(json.dumps({"test_accuracy": acc}), flush=True)


def sgemm_rates(args):
    res = {}
    # "NxT": N concurrent streams on batch/N rows each, as parallel=data runs
    for t in sorted({1, args.threads}) + ([f"{args.threads}x1"] if args.threads > 1 else []):
        out = subprocess.run([args.sgemm, str(t), str(args.batch), "3", "784",
                              *args.hidden.split(","), "10"],
                             check=True, capture_output=True, text=True).stdout
        res[t] = [json.loads(l) for l in out.splitlines()]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kestrel", default="./kestrel")
    ap.add_argument("--sgemm", default="./sgemm_rate")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=4, help="per run; the first is warm-up")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--hidden", default="256,128")
    ap.add_argument("--cache-dir", default="/tmp/kestrel-bench-cache")
    ap.add_argument("--spec-batches", type=int, default=60,
                    help="batches per epoch for the 'spec' PyTorch mode, which is slow")
    ap.add_argument("--torch-modes", default="spec,tuned")
    ap.add_argument("--kestrel-modes", default="data,blas",
                    help="kestrel's parallel= settings to run; the first is the 'kestrel' row")
    ap.add_argument("--json", help="also write all figures to this file")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--max-batches", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        torch_worker(args)
        return
    if args.epochs < 2:
        sys.exit("train_bench: --epochs must be >= 2 (the first is warm-up)")
    modes = [m for m in args.torch_modes.split(",") if m]

    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    # fill the decoded-dataset cache so no measured run decodes the gzip files
    subprocess.run([args.kestrel, "train", "--set", "epochs=1", "--set", "max_train=1000",
                    "--set", f"cache_dir={args.cache_dir}"], check=True, capture_output=True)
    kmodes = [m for m in args.kestrel_modes.split(",") if m]
    kname = {m: "kestrel" if i == 0 else f"kestrel-{m}" for i, m in enumerate(kmodes)}
    runs = {kname[m]: [] for m in kmodes}
    for m in modes:
        runs[f"pytorch-{m}"] = []
    for rep in range(args.reps):
        for km in kmodes:
            r = kestrel_run(args, rep + 1, km)
            runs[kname[km]].append(r)
            print(f"rep {rep + 1} {kname[km]} (parallel={km}): {r['rate']:.0f} samples/s "
                  f"(epochs {[round(x) for x in r['rates']]}), "
                  f"max RSS {r['rss_mb']:.0f} MB, test acc {r['test_accuracy']:.4f}", flush=True)
        for m in modes:
            t = torch_run(args, m, rep + 1)
            runs[f"pytorch-{m}"].append(t)
            print(f"rep {rep + 1} pytorch-{m}: {t['rate']:.0f} samples/s (epochs {[round(x) for x in t['rates']]}), "
                  f"max RSS {t['rss_mb']:.0f} MB, test acc {t['test_accuracy']:.4f}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")

    sg = sgemm_rates(args)
    step = sg[args.threads][-1]
    flops_per_sample = step["step_flops"] / args.batch
    med = {k: statistics.median(r["rate"] for r in v) for k, v in runs.items()}
    rss = {k: max(r["rss_mb"] for r in v) for k, v in runs.items()}
    k_gflops = med["kestrel"] * flops_per_sample / 1e9

    print()
    # the best single epoch says what the code can do when nothing else runs;
    # the medians are the figures, the best epochs show how noisy the machine was
    best = {k: max(max(r["rates"][1:]) for r in v) for k, v in runs.items()}
    print(f"| run | samples/s (median of {args.reps}) | Kestrel / this | best epoch | max RSS MB | RSS / dataset |")
    print("|---|---|---|---|---|---|")
    for k in runs:
        print(f"| {k} | {med[k]:.0f} | {med['kestrel'] / med[k]:.2f}x | {best[k]:.0f} | {rss[k]:.0f} | "
              f"{rss[k] / DATASET_MB:.2f}x |")
    print()
    print(f"GEMM flops per sample (forward + backward): {flops_per_sample / 1e6:.3f} MFLOP")
    for t, lines in sg.items():
        print(f"OpenBLAS SGEMM on the same calls, {t} thread(s): {lines[-1]['total_gflops']:.1f} GFLOP/s "
              f"(" + ", ".join(f"{l['gemm']} {l['m']}x{l['n']}x{l['k']}: {l['gflops']:.0f}" for l in lines[:-1]) + ")")
    print(f"Kestrel ({kmodes[0]}) achieved: {k_gflops:.1f} GFLOP/s = "
          f"{100 * k_gflops / step['total_gflops']:.0f}% of the {args.threads}-thread SGEMM rate")
    if f"{args.threads}x1" in sg:
        streams = sg[f"{args.threads}x1"][-1]["total_gflops"]
        print(f"  and {100 * k_gflops / streams:.0f}% of {args.threads} concurrent 1-thread streams "
              f"on {args.batch // args.threads}-row shards ({streams:.1f} GFLOP/s)")
    print(f"dataset in memory: {DATASET_MB:.0f} MB (60000 x 784 float32)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": runs, "median": med, "max_rss_mb": rss, "sgemm": sg,
                       "kestrel_gflops": k_gflops, "flops_per_sample": flops_per_sample}, f, indent=1)


if __name__ == "__main__":
    main()
