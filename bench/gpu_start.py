#!/usr/bin/env python3
"""gpu_start: what a GPU trial's process pays before its first batch.

Every trial is a fresh process, so CUDA's start is paid per trial. Each
step below runs in a fresh process and adds one part to the one before:
CUDA's context (cudaFree(0) after cudaSetDevice), cuBLAS opened as
cuda/device.cu opens it (dlopen RTLD_NOW; also RTLD_LAZY to compare),
a cuBLAS handle; then whole `kestrel train` runs of one small epoch on
the GPU and on the CPU. Prints wall and CPU seconds (user + system, all
threads), medians of --reps runs.

Usage: gpu_start.py --kestrel BINARY [--reps 5]; LD_LIBRARY_PATH must let
ctypes find libcudart.so.13 and libcublas.so.13, as for kestrel.
"""
import argparse
import ctypes
import os
import resource
import statistics
import subprocess
import sys
import time


def part(upto, mode):
    rt = ctypes.CDLL("libcudart.so.13")
    if rt.cudaSetDevice(0) or rt.cudaFree(None):
        sys.exit("CUDA context failed")
    if upto == "context":
        return
    blas = ctypes.CDLL("libcublas.so.13", mode=mode)
    if upto == "dlopen":
        return
    h = ctypes.c_void_p()
    if blas.cublasCreate_v2(ctypes.byref(h)):
        sys.exit("cublasCreate failed")


def measure(cmd, reps):
    walls, cpus = [], []
    for _ in range(reps):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--part":
        part(sys.argv[2], int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kestrel", required=True)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    me = [sys.executable, os.path.abspath(__file__), "--part"]
    small = ["train", "--set", "max_train=2000", "--set", "epochs=1", "--set", "evaluate_test=false"]
    rows = [("python3 alone", [sys.executable, "-c", "import ctypes"]),
            ("+ CUDA context", me + ["context", "0"]),
            ("+ dlopen cuBLAS, RTLD_LAZY", me + ["dlopen", str(os.RTLD_LAZY)]),
            ("+ dlopen cuBLAS, RTLD_NOW", me + ["dlopen", str(os.RTLD_NOW)]),
            ("+ cublasCreate (RTLD_NOW)", me + ["handle", str(os.RTLD_NOW)]),
            ("kestrel train, 2000 rows, device=cuda", [a.kestrel] + small + ["--set", "device=cuda"]),
            ("kestrel train, 2000 rows, device=cpu", [a.kestrel] + small + ["--set", "device=cpu"])]
    subprocess.run([a.kestrel] + small, check=True, stdout=subprocess.DEVNULL)   # fills the dataset cache
    print(f"{'medians of ' + str(a.reps):<40} {'wall s':>8} {'CPU s':>8}")
    for name, cmd in rows:
        wall, cpu = measure(cmd, a.reps)
        print(f"{name:<40} {wall:>8.3f} {cpu:>8.3f}", flush=True)


if __name__ == "__main__":
    main()
