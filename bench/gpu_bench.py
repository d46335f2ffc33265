#!/usr/bin/env python3
"""gpu_bench: Kestrel's CUDA trainer against PyTorch (CUDA) on the same MLP.

Trains 784-256-128-10 (ReLU, Adam lr 1e-3, cross-entropy) on the
Fashion-MNIST training set for every combination of batch size (128, 1024)
and precision (fp32; bf16 GEMM inputs with fp32 accumulation and master
weights), with `kestrel train device=cuda` and with PyTorch, and prints
training samples/second of both and the ratio Kestrel / PyTorch.

Both sides keep the data on the GPU and time only the training loop:
Kestrel reports samples_per_sec per epoch (n_train / training seconds, no
validation); the PyTorch loop below gathers shuffled batches from a GPU
tensor and synchronises before reading the clock. Each figure is the median
over the epochs after the first (the first holds Kestrel's CUDA-graph
capture and PyTorch's cuBLAS warm-up). Both train on 54000 rows (60000
training images minus 10% validation). PyTorch bf16 uses torch.autocast,
which also runs the element-wise work in bf16 where it is safe; Kestrel
rounds only the GEMM inputs.

A second PyTorch figure, "graphed", captures the whole step (gather,
forward, loss, backward, Adam with capturable=True) once as a CUDA graph
and replays it per batch, as torch.cuda.graph's whole-network example does:
PyTorch without its per-operation launch cost, the stronger peer at small
batches. It drops the last partial batch and counts only the rows trained.
With --reps R every figure is the median of R interleaved measurements.

Run through bench/gpu_bench.sh on an otherwise idle GPU.
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import time

HIDDEN = "256,128"


def kestrel_rate(binary, batch, precision, epochs, data_dir):
    cmd = [binary, "train", "--set", "device=cuda", "--set", f"precision={precision}",
           "--set", f"hidden={HIDDEN}", "--set", "optimizer=adam", "--set", "lr=0.001",
           "--set", f"batch_size={batch}", "--set", f"epochs={epochs}",
           "--set", f"data_dir={data_dir}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:   # its stderr says why (a binary built without CUDA, no device)
        raise SystemExit("gpu_bench: %s exited with %d:\n%s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    out = r.stdout
    rates = [json.loads(l)["samples_per_sec"] for l in out.splitlines()
             if l.startswith("{") and '"step"' in l]
    return statistics.median(rates[1:] or rates)


def load_images(data_dir):
    import numpy as np
    with gzip.open(os.path.join(data_dir, "train-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255
    with gzip.open(os.path.join(data_dir, "train-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-6)
    return x[:54000], y[:54000]


def torch_setup(x_np, y_np):
    """The data on the GPU and the seeded bench MLP: (device, x, y, model)."""
    import torch
    dev = torch.device("cuda")
    torch.manual_seed(1)
    x = torch.from_numpy(x_np).to(dev)
    y = torch.from_numpy(y_np).to(dev)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10)).to(dev)
    return dev, x, y, model


def torch_rate(x_np, y_np, batch, precision, epochs):
    import torch
    dev, x, y, model = torch_setup(x_np, y_np)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    n, rates = x.shape[0], []
    for _ in range(epochs):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=dev)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        torch.cuda.synchronize()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates[1:] or rates)


def torch_graphed_rate(x_np, y_np, batch, precision, epochs):
    import torch
    dev, x, y, model = torch_setup(x_np, y_np)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    idx = torch.arange(batch, device=dev)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):   # warm-up before capture, as the docs require
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        step()
    n, rates = x.shape[0], []
    for _ in range(epochs):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=dev)
        rows = 0
        for i in range(0, n - batch + 1, batch):
            idx.copy_(perm[i:i + batch])
            graph.replay()
            rows += batch
        torch.cuda.synchronize()
        rates.append(rows / (time.perf_counter() - t0))
    return statistics.median(rates[1:] or rates)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kestrel", required=True)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    x, y = load_images(a.data_dir)
    print(f"{'batch':>6} {'precision':>9} {'kestrel/s':>12} {'pytorch/s':>12} {'ratio':>6}"
          f" {'graphed/s':>12} {'ratio':>6}")
    for batch in (128, 1024):
        for precision in ("fp32", "bf16"):
            k, t, g = [], [], []
            for _ in range(a.reps):
                k.append(kestrel_rate(a.kestrel, batch, precision, a.epochs, a.data_dir))
                t.append(torch_rate(x, y, batch, precision, a.epochs))
                g.append(torch_graphed_rate(x, y, batch, precision, a.epochs))
            k, t, g = statistics.median(k), statistics.median(t), statistics.median(g)
            print(f"{batch:>6} {precision:>9} {k:>12.0f} {t:>12.0f} {k / t:>6.2f}"
                  f" {g:>12.0f} {k / g:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
