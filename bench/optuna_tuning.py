#!/usr/bin/env python3
"""The Optuna + PyTorch side of bench/e2e_bench.py (issue 19, goal 8).

Tunes the Fashion-MNIST MLP space of bench/tuning/study.json.in (learning
rate, hidden widths, dropout, weight decay, batch size, optimizer) the way an
Optuna user does today: a TPE sampler with Optuna's HyperbandPruner, or a
random sampler with its MedianPruner, two trials at a time (n_jobs=2, one
torch thread each: the tuned setting on two cores), each trial training the
MLP in PyTorch for up to --epochs epochs with a cosine schedule and reporting
the validation accuracy after every epoch. Every epoch report is written to
--out as a JSON line {"t": seconds since the study started, "trial": n,
"epoch": e, "val_accuracy": v}, so time to a target counts a report that
reaches it, as Kestrel's side does with trial_values.at. Trials still
running at --max-seconds stop at their next epoch.

Features are standardized with the training part's mean and std (Kestrel's
`scaling=standard`); validation is a seeded 10% of the 60,000 training
images (Kestrel's val_ratio 0.1). Weight decay is decoupled for Adam and
AdamW (torch AdamW), as Kestrel's trainer applies it today.

Usage: python3 bench/optuna_tuning.py --sampler tpe|random --seed N
           [--max-seconds 360] [--epochs 27] [--max-train 0] --out FILE
Needs python3-torch, python3-optuna, python3-numpy (./bootstrap --bench).
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import threading
import time

import numpy as np
import optuna
import torch

DATA = "/usr/share/datasets/fashion-mnist"


def idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = struct.unpack(">I", raw[:4])[0]
    ndim = magic & 0xff
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(data_dir, max_train, seed):
    x = idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz")).reshape(60000, -1)
    y = idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    x = x.astype(np.float32) / 255.0
    perm = np.random.default_rng(seed).permutation(len(x))
    n_val = len(x) // 10
    val, train = perm[:n_val], perm[n_val:]
    if max_train:
        train = train[:max_train]
    mean = x[train].mean(axis=0)
    std = x[train].std(axis=0)
    std[std < 1e-6] = 1.0
    scale = lambda a: torch.from_numpy((a - mean) / std)
    return (scale(x[train]), torch.from_numpy(y[train]), scale(x[val]), torch.from_numpy(y[val]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sampler", choices=["tpe", "random"], required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=360)
    ap.add_argument("--epochs", type=int, default=27)
    ap.add_argument("--max-train", type=int, default=0)
    ap.add_argument("--data-dir", default=DATA)
    ap.add_argument("--out", required=True)
    ap.add_argument("--goal", type=float, help="stop the study once an epoch reaches this val_accuracy")
    a = ap.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    xt, yt, xv, yv = load(a.data_dir, a.max_train, 1)
    lock = threading.Lock()
    out = open(a.out, "w")
    t0 = time.monotonic()

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-4, 0.3, log=True)
        hidden = [int(h) for h in trial.suggest_categorical("hidden", ["128", "256,128", "512,256"]).split(",")]
        dropout = trial.suggest_float("dropout", 0.0, 0.5)
        wd = trial.suggest_float("weight_decay", 1e-6, 0.1, log=True)
        bs = trial.suggest_categorical("batch_size", [64, 128, 256])
        opt_name = trial.suggest_categorical("optimizer", ["sgd", "momentum", "adam", "adamw"])
        torch.manual_seed(trial.number + 1000 * a.seed)
        layers, width = [], xt.shape[1]
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU(), torch.nn.Dropout(dropout)]
            width = h
        model = torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))
        if opt_name in ("adam", "adamw"):
            opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
        else:
            opt = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=wd,
                                  momentum=0.9 if opt_name == "momentum" else 0.0)
        steps = math.ceil(len(xt) / bs)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs * steps)
        loss_fn = torch.nn.CrossEntropyLoss()
        g = torch.Generator().manual_seed(trial.number)
        acc = 0.0
        for epoch in range(1, a.epochs + 1):
            if time.monotonic() - t0 >= a.max_seconds:
                raise optuna.TrialPruned()
            model.train()
            order = torch.randperm(len(xt), generator=g)
            for i in range(steps):
                b = order[i * bs:(i + 1) * bs]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xt[b]), yt[b])
                loss.backward()
                opt.step()
                sched.step()
            model.eval()
            with torch.no_grad():
                acc = float((model(xv).argmax(1) == yv).float().mean())
            if not math.isfinite(acc):
                raise optuna.TrialPruned()
            with lock:
                out.write(json.dumps({"t": round(time.monotonic() - t0, 3), "trial": trial.number,
                                      "epoch": epoch, "val_accuracy": acc}) + "\n")
                out.flush()
            if a.goal is not None and acc >= a.goal:
                trial.study.stop()   # the running trials finish; nothing new starts
            trial.report(acc, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return acc

    if a.sampler == "tpe":
        sampler = optuna.samplers.TPESampler(seed=a.seed)
        pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=a.epochs, reduction_factor=3)
    else:
        sampler = optuna.samplers.RandomSampler(seed=a.seed)
        pruner = optuna.pruners.MedianPruner()
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    study.optimize(objective, n_jobs=2, timeout=a.max_seconds)
    out.close()
    print("optuna %s seed %d: %d trials, best %.4f in %.0f s" % (
        a.sampler, a.seed, len(study.trials), study.best_value, time.monotonic() - t0))


if __name__ == "__main__":
    sys.exit(main())
