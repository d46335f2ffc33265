#!/usr/bin/env python3
"""A trial command for Kestrel: a made-up training run whose loss falls
smoothly each epoch to (x-1)^2 + (y+2)^2 + 0.1*exp(-epochs).

Reports one {"step": e, "loss": ...} line per epoch and a final {"loss": ...}
line on the report channel (docs/protocol.md): fd $KESTREL_REPORT_FD when
Kestrel runs it, stdout when run by hand.

    python3 examples/objective.py --x 0.5 --y -1 --epochs 5
"""
import argparse
import json
import math
import os
import sys


def report_channel():
    fd = os.environ.get("KESTREL_REPORT_FD")
    if fd is None:
        return sys.stdout
    return os.fdopen(int(fd), "w", buffering=1)   # line-buffered: each report arrives at once


def loss_at(epoch, epochs, x, y):
    base = (x - 1.0) ** 2 + (y + 2.0) ** 2
    # the second term vanishes at the last epoch, so the curve ends at base + 0.1*exp(-epochs)
    return base + 0.1 * math.exp(-epoch) + 0.5 * (1.0 / epoch - 1.0 / epochs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--x", type=float, required=True)
    ap.add_argument("--y", type=float, required=True)
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args()
    if args.epochs < 1:
        ap.error("--epochs must be at least 1")

    out = report_channel()
    loss = float("nan")
    for epoch in range(1, args.epochs + 1):
        loss = loss_at(epoch, args.epochs, args.x, args.y)
        print(json.dumps({"step": epoch, "loss": loss}), file=out)
        print(f"epoch {epoch}: loss {loss:.6f}", file=sys.stderr)   # log text, not a report
    print(json.dumps({"loss": loss}), file=out)


if __name__ == "__main__":
    main()
