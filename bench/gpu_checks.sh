#!/bin/sh
# gpu_checks.sh: issue 18's GPU checks in one run on the device machine, from
# the repository root with .gpu carried (bench/gpu_pack.sh made it here):
# tests/test_cuda (every GPU-vs-CPU comparison, graphs against eager steps,
# bit-exact resume), bench/gpu_bench.sh against PyTorch, how many concurrent
# trials share the GPU and at what total rate, and compute-sanitizer on the
# kernels and on a short run. Most important first; each step has a time
# limit (seconds, overridable: T_TEST 180, T_BENCH 90, T_SHARE 90, T_SAN 90)
# so the whole takes about 8 minutes at most, leaving the device time a
# machine's start needs (15 minutes a session in all). SHARE_N: the counts
# of concurrent trials (1 2 4 8 16). Logs and summary.txt go to $OUT.
set -u
# The steps that timeout runs as this script again ("gpu_checks.sh share").
share() {
    all=0
    for n in ${SHARE_N:-1 2 4 8 16}; do
        d=/tmp/share-$n
        rm -rf "$d" && mkdir -p "$d"
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$d/mem" 2>/dev/null &
        smi=$!
        i=0 pids=
        while [ $i -lt "$n" ]; do
            "$KBIN/kestrel" train --set device=cuda --set hidden=256,128 --set batch_size=128 \
                --set epochs=3 --set evaluate_test=false --set cache_dir= > "$d/run$i" 2>&1 &
            pids="$pids $!"
            i=$((i + 1))
        done
        wait_rc=0
        for pid in $pids; do wait "$pid" || wait_rc=1; done
        [ "$wait_rc" = 0 ] || all=1
        kill "$smi" 2>/dev/null
        python3 - "$d" "$n" "$wait_rc" <<'PY'
import glob, json, statistics, sys
d, n, rc = sys.argv[1], int(sys.argv[2]), sys.argv[3]
total, ok = 0.0, 0
for f in sorted(glob.glob(d + "/run*")):
    rates = [json.loads(l)["samples_per_sec"] for l in open(f) if l.startswith("{") and '"samples_per_sec"' in l]
    if rates:
        total += statistics.median(rates[1:] or rates)
        ok += 1
mem = [int(x) for x in open(d + "/mem").read().split() if x.isdigit()]
print(f"{n} concurrent: {ok} of {n} ran, {total:,.0f} samples/s in all, "
      f"{total / max(ok, 1):,.0f} each, peak GPU memory {max(mem, default=0)} MiB" + ("" if rc == "0" else ", a run FAILED"))
PY
    done
    [ "$all" = 0 ]
}
san() {
    for case in fp32 bf16 fp16; do
        echo "== memcheck, test_cuda case $case"
        CK_FORK=no CK_RUN_SUITE=cuda CK_RUN_CASE=$case compute-sanitizer --tool memcheck --error-exitcode 3 \
            "$KROOT/.gpu/bin/test_cuda" || return $?
    done
    for tool in memcheck synccheck; do
        echo "== $tool, a short run"
        compute-sanitizer --tool $tool --error-exitcode 3 "$KROOT/.gpu/bin/kestrel" train --set device=cuda \
            --set data=synthetic-classification --set epochs=2 --set batchnorm=true --set dropout=0.1 \
            --set cuda_graphs=on || return $?
    done
}
case ${1:-} in
share) share; exit ;;
san) export LD_LIBRARY_PATH=$KLIBS; san; exit ;;   # compute-sanitizer starts the programs itself
esac

root=$(pwd)
out=${OUT:-/tmp/gpu-checks}
mkdir -p "$out"
sum="$out/summary.txt"
: > "$sum"
say() { echo "$*" | tee -a "$sum"; }
[ -f .gpu/lib.tar.xz ] || { echo "gpu_checks.sh: no .gpu here (run bench/gpu_pack.sh, then carry .gpu)" >&2; exit 2; }

lib=/tmp/kestrel-lib
rm -rf "$lib" && mkdir -p "$lib" && tar xJf .gpu/lib.tar.xz -C "$lib" --strip-components=1
libs=$lib
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    $(python3 -c 'import os, nvidia.cublas as c; print(os.path.join(os.path.dirname(c.__file__), "lib"))' 2>/dev/null); do
    [ -d "$d" ] && libs="$libs:$d"
done
# Only Kestrel's programs see the carried libraries (PyTorch keeps its own).
bin=/tmp/kestrel-bin
export KBIN=$bin KLIBS=$libs KROOT=$root
mkdir -p "$bin"
for p in kestrel test_cuda; do
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$libs" "$root/.gpu/bin/$p" > "$bin/$p"
    chmod +x "$bin/$p"
done
# test_cuda and the bench read Fashion-MNIST where Debian puts it.
data=/usr/share/datasets/fashion-mnist
mkdir -p "$data" 2>/dev/null && cp .gpu/data/*.gz "$data/" 2>/dev/null ||
    say "note: could not install Fashion-MNIST in $data; its checks will not run"

step() {   # step NAME SECONDS LOG COMMAND...: runs it, says how it ended
    name=$1 limit=$2 log=$3
    shift 3
    t0=$(date +%s)
    timeout -k 5 "$limit" "$@" >> "$out/$log" 2>&1
    rc=$?
    case $rc in
    0) verdict=passed ;;
    77) verdict="skipped (exit 77)" ;;
    124|137) verdict="TIMED OUT after ${limit}s" ;;
    *) verdict="FAILED (exit $rc)" ;;
    esac
    say "$name: $verdict in $(($(date +%s) - t0))s ($log)"
}

{
    date -u
    echo "commit $(cat .gpu/commit 2>/dev/null)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader
    nvcc --version 2>/dev/null | tail -1
    command -v compute-sanitizer || echo "no compute-sanitizer on PATH"
    python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))'
    echo "libraries: $libs"
    LD_LIBRARY_PATH=$libs ldd .gpu/bin/kestrel | grep 'not found' || echo "kestrel: every library found"
} > "$out/env.txt" 2>&1
head -4 "$out/env.txt" | tee -a "$sum"

# 1. Every GPU-vs-CPU comparison. CK_FORK=no: one process, as
# compute-sanitizer needs, and no child forked after CUDA's start.
step "tests/test_cuda" "${T_TEST:-180}" test_cuda.log env CK_FORK=no CK_VERBOSITY=verbose "$bin/test_cuda"
grep -E '^[0-9]+%|FAIL|ERROR|SKIP' "$out/test_cuda.log" | head -20 | tee -a "$sum"

# 2. Against PyTorch on the same GPU: batch 128 and 1024, fp32 and bf16.
step "bench/gpu_bench.sh" "${T_BENCH:-90}" gpu_bench.log sh bench/gpu_bench.sh "$bin/kestrel" --epochs 4
grep -iE 'ratio|batch|samples' "$out/gpu_bench.log" | tail -8 | tee -a "$sum"

# 3. Trials sharing the GPU: N concurrent trainings of the bench MLP at
# batch 128, their summed samples/s (median of each run's epochs after the
# first) and the GPU memory in use at the peak.
step "concurrent trials" "${T_SHARE:-90}" share.log sh "$0" share
grep concurrent "$out/share.log" | tee -a "$sum"

# 4. compute-sanitizer: memcheck on the kernel checks, then memcheck and
# synccheck on a short whole run (graphs captured and replayed).
step "compute-sanitizer" "${T_SAN:-90}" sanitizer.log sh "$0" san
grep -E 'ERROR SUMMARY|^==|FAIL' "$out/sanitizer.log" | tail -12 | tee -a "$sum"
