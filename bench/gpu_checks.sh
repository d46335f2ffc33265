#!/bin/sh
# gpu_checks.sh: issue 18's GPU checks in one run on the device machine, from
# the repository root with .gpu carried (bench/gpu_pack.sh made it here):
# tests/test_cuda (every GPU-vs-CPU comparison, graphs against eager steps,
# bit-exact resume), bench/gpu_bench.sh against PyTorch, how many concurrent
# trials share the GPU and at what total rate, and compute-sanitizer on the
# kernels and on a short run, with racecheck and initcheck on the run.
# BENCH_REPS: gpu_bench's interleaved repetitions (3); the concurrency
# step runs again under MPS where its daemon starts. Most important first; each step has a time
# limit (seconds, overridable: T_TEST 180, T_BENCH 150, T_SHARE 90, T_SAN 90,
# T_COST 120, T_START 120, T_STUDY 200). On an H200 the whole takes about 5
# minutes (the study 2.5 of them), inside one device command's 10 and leaving
# the device time a machine's start needs (15 minutes a session in all); on
# a slower machine choose steps with STEPS. SHARE_N: the counts
# of concurrent trials (1 2 4 8 16). STEPS: which steps run (test bench
# share san cost start study, all). STUDY_S: seconds of each device's study
# (60); STUDY_DEVICES (cuda cpu), STUDY_PARALLEL (4), STUDY_MPS (1; 0: the
# GPU study without MPS). Logs and summary.txt go to $OUT.
set -u
# The steps that timeout runs as this script again ("gpu_checks.sh share").
share_counts() {   # share_counts LABEL: one pass over SHARE_N
    all=0
    for n in ${SHARE_N:-1 2 4 8 16}; do
        d=/tmp/share-$1-$n
        rm -rf "$d" && mkdir -p "$d"
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$d/mem" 2>/dev/null &
        smi=$!
        i=0 pids=
        while [ $i -lt "$n" ]; do
            # The CPU seconds of each trial tell whether it waits for the GPU
            # asleep (blocking sync) or spinning.
            python3 -c 'import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:]).returncode
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("cpu_s %.3f" % (r.ru_utime + r.ru_stime))
sys.exit(rc)' "$KBIN/kestrel" train --set device=cuda --set hidden=256,128 --set batch_size=128 \
                --set epochs=3 --set evaluate_test=false --set cache_dir= > "$d/run$i" 2>&1 &
            pids="$pids $!"
            i=$((i + 1))
        done
        wait_rc=0
        for pid in $pids; do wait "$pid" || wait_rc=1; done
        [ "$wait_rc" = 0 ] || all=1
        kill "$smi" 2>/dev/null
        python3 - "$d" "$n" "$wait_rc" "$1" <<'PY'
import glob, json, statistics, sys
d, n, rc, label = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
total, ok, cpu, train_s = 0.0, 0, [], []
for f in sorted(glob.glob(d + "/run*")):
    lines = open(f).read().splitlines()
    steps = [json.loads(l) for l in lines if l.startswith("{") and '"samples_per_sec"' in l]
    cpu += [float(l.split()[1]) for l in lines if l.startswith("cpu_s ")]
    if steps:
        rates = [s["samples_per_sec"] for s in steps]
        total += statistics.median(rates[1:] or rates)
        train_s.append(sum(s["seconds"] for s in steps))
        ok += 1
mem = [int(x) for x in open(d + "/mem").read().split() if x.isdigit()]
print(f"{label} {n} concurrent: {ok} of {n} ran, {total:,.0f} samples/s in all, "
      f"{total / max(ok, 1):,.0f} each, peak GPU memory {max(mem, default=0)} MiB, "
      f"median CPU {statistics.median(cpu or [0]):.2f} s a trial for {statistics.median(train_s or [0]):.2f} s of epochs"
      + ("" if rc == "0" else ", a run FAILED"))
PY
    done
    return $all
}
share() {
    share_counts plain
    rc=$?
    # MPS lets the trials' kernels share the GPU at once instead of taking
    # turns in time slices; where its daemon starts, the counts again.
    if command -v nvidia-cuda-mps-control >/dev/null 2>&1; then
        export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
        mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
        if nvidia-cuda-mps-control -d; then
            share_counts MPS || rc=1
            echo quit | nvidia-cuda-mps-control
        else
            echo "MPS: the daemon did not start"
        fi
    else
        echo "MPS: no nvidia-cuda-mps-control"
    fi
    return $rc
}
san() {
    rc=0
    for case in fp32 bf16 fp16; do
        echo "== memcheck, test_cuda case $case"
        CK_FORK=no CK_RUN_SUITE=cuda CK_RUN_CASE=$case compute-sanitizer --tool memcheck --error-exitcode 3 \
            "$KROOT/.gpu/bin/test_cuda" || rc=$?
    done
    for tool in memcheck synccheck racecheck initcheck; do
        echo "== $tool, a short run"
        compute-sanitizer --tool $tool --error-exitcode 3 "$KROOT/.gpu/bin/kestrel" train --set device=cuda \
            --set data=synthetic-classification --set epochs=2 --set batchnorm=true --set dropout=0.1 \
            --set cuda_graphs=on || rc=$?
    done
    echo "== memcheck, a short run with the features streamed (augmentation)"
    compute-sanitizer --tool memcheck --error-exitcode 3 "$KROOT/.gpu/bin/kestrel" train --set device=cuda \
        --set data=synthetic-classification --set epochs=2 --set augment_noise=0.1 --set cuda_graphs=on || rc=$?
    return $rc
}
cost() {   # one trial's costs on the GPU, and Fashion-MNIST accuracy on both devices
    python3 - "$KBIN/kestrel" <<'PY'
import json, resource, statistics, subprocess, sys, time
kestrel = sys.argv[1]

def run(*sets):
    cmd = [kestrel, "train"] + [a for s in sets for a in ("--set", s)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, json.loads(out.strip().splitlines()[-1])

# As issue 19 measures the CPU trainer: fixed cost t(1) - (t(3) - t(1))/2.
base = ("device=cuda", "max_train=10000")   # the default dataset cache, as a study's trials
run(*base, "epochs=1")   # fills the cache
w = {1: [], 3: []}
c = {1: [], 3: []}
for _ in range(5):
    for e in (1, 3):
        wall, cpu, _ = run(*base, f"epochs={e}")
        w[e].append(wall)
        c[e].append(cpu)
m = {e: (statistics.median(w[e]), statistics.median(c[e])) for e in w}
print(f"GPU trial, max_train=10000, medians of 5: wall {m[1][0]:.3f} s at 1 epoch, {m[3][0]:.3f} s at 3; "
      f"fixed cost {m[1][0] - (m[3][0] - m[1][0]) / 2:.3f} s wall; CPU {m[1][1]:.3f} s at 1 epoch, "
      f"{(m[3][1] - m[1][1]) / 2:.3f} s CPU per epoch for {(m[3][0] - m[1][0]) / 2:.3f} s wall per epoch")
for dev in ("cuda", "cpu"):
    for prec in (("fp32", "bf16") if dev == "cuda" else ("fp32",)):
        wall, cpu, r = run(f"device={dev}", f"precision={prec}", "epochs=10", "hidden=256,128", "threads=8")
        print(f"Fashion-MNIST 10 epochs, 256-128, {dev} {prec}: val_accuracy {r['val_accuracy']:.4f}, "
              f"test_accuracy {r['test_accuracy']:.4f}, {wall:.1f} s wall")
PY
}
study() {   # a real ASHA study through `kestrel run`: on the GPU (under MPS where it starts), then the CPU
    d=/tmp/study
    rm -rf "$d" && mkdir -p "$d"
    rc=0
    strategy='{"name": "asha", "seed": 1, "options": {"max_resource": 27, "min_resource": 1, "eta": 3}}'
    for dev in ${STUDY_DEVICES:-cuda cpu}; do
        threads=1
        [ "$dev" = cpu ] && threads=$(( $(nproc) / ${STUDY_PARALLEL:-4} > 0 ? $(nproc) / ${STUDY_PARALLEL:-4} : 1 ))
        # bench/tuning's study, 4 trials at a time on the device
        sed -e "s|@NAME@|asha-$dev|" -e "s|@STRATEGY@|$strategy|" -e "s|@MAX_TRIALS@|10000|" \
            -e "s|@MAX_SECONDS@|${STUDY_S:-60}|" -e "s|@DATA_DIR@|/usr/share/datasets/fashion-mnist|" \
            -e "s|@TRIAL_TIMEOUT@|120|" -e "s|@MAX_TRAIN@|0|" -e "s|@R@|27|" \
            -e "s|\"max_parallel\": 2|\"max_parallel\": ${STUDY_PARALLEL:-4}|" \
            -e "s|\"seed\": 1}}|\"seed\": 1, \"device\": \"$dev\", \"threads\": $threads}}|" \
            "$KROOT/bench/tuning/study.json.in" > "$d/$dev.json"
        mps=0
        if [ "$dev" = cuda ] && [ "${STUDY_MPS:-1}" = 1 ] && command -v nvidia-cuda-mps-control >/dev/null 2>&1; then
            export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-study CUDA_MPS_LOG_DIRECTORY=/tmp/mps-study-log
            mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
            nvidia-cuda-mps-control -d && mps=1
        fi
        "$KBIN/kestrel" run --quiet --db "$d/$dev.db" "$d/$dev.json" > "$d/$dev.out" 2>&1
        echo "kestrel run, device=$dev, threads=$threads, ${STUDY_PARALLEL:-4} at a time, MPS $mps: exit $? (4: stopped at STUDY_S)"
        [ $mps = 1 ] && echo quit | nvidia-cuda-mps-control
        tail -3 "$d/$dev.out"
        python3 - "$d/$dev.db" "$dev" <<'PY' || rc=1
import sqlite3, statistics, sys
c = sqlite3.connect(sys.argv[1])
t0 = c.execute("select min(started_at) from trials").fetchone()[0]
states = dict(c.execute("select state, count(*) from trials group by state").fetchall())
best = c.execute("select max(value) from trials where state = 'COMPLETE'").fetchone()[0]
def first(target):
    at = c.execute("select min(at) from trial_values where name = 'val_accuracy' and value >= ?",
                   (target,)).fetchone()[0]
    return "%.1f s" % (at - t0) if at else "not reached"
epochs = c.execute("select count(*) from trial_values where name = 'val_accuracy'").fetchone()[0]
# a finished trial's wall time beyond its epochs' own seconds: start, data, evaluation, exit
over = [w - (e or 0) for w, e in c.execute(
    "select t.finished_at - t.started_at, (select sum(v.value) from trial_values v where "
    "v.trial_id = t.id and v.name = 'seconds') from trials t where t.state = 'COMPLETE'")]
ep_s = [r[0] for r in c.execute("select value from trial_values where name = 'seconds'")]
# trials still running when STUDY_S ran out end FAILED "interrupted: ..." (resumable)
failed = c.execute("select failure, count(*) from trials where state = 'FAILED' and "
                   "failure not like 'interrupted: %' group by failure").fetchall()
for why, n in failed:
    print("  FAILED x%d: %s" % (n, why))
print("%s: trials %s, %d epochs, best val_accuracy %.4f; first report >= 0.88 at %s, >= 0.89 at %s, "
      ">= 0.90 at %s; median epoch %.3f s; a trial's wall beyond its epochs, median %.3f s" % (
          sys.argv[2], states, epochs, best or 0, first(0.88), first(0.89), first(0.90),
          statistics.median(ep_s or [0]), statistics.median(over or [0])))
sys.exit(1 if failed or not states.get("COMPLETE") else 0)
PY
    done
    return $rc
}
case ${1:-} in
share) share; exit ;;
study) study; exit ;;
cost) cost; exit ;;
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

want() {   # want KEY: whether STEPS names that step
    case " ${STEPS:-test bench share san cost start study} " in *" $1 "*) return 0 ;; esac
    return 1
}
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
want test && step "tests/test_cuda" "${T_TEST:-180}" test_cuda.log env CK_FORK=no CK_VERBOSITY=verbose "$bin/test_cuda"
[ -f "$out/test_cuda.log" ] && grep -E '^[0-9]+%|FAIL|ERROR|SKIP' "$out/test_cuda.log" | head -20 | tee -a "$sum"

# 2. Against PyTorch on the same GPU: batch 128 and 1024, fp32 and bf16.
want bench && step "bench/gpu_bench.sh" "${T_BENCH:-150}" gpu_bench.log sh bench/gpu_bench.sh "$bin/kestrel" --epochs 4 --reps "${BENCH_REPS:-3}"
[ -f "$out/gpu_bench.log" ] && grep -E 'ratio|^ +[0-9]' "$out/gpu_bench.log" | tail -8 | tee -a "$sum"

# 3. Trials sharing the GPU: N concurrent trainings of the bench MLP at
# batch 128, their summed samples/s (median of each run's epochs after the
# first) and the GPU memory in use at the peak.
want share && step "concurrent trials" "${T_SHARE:-90}" share.log sh "$0" share
[ -f "$out/share.log" ] && grep -E 'concurrent|MPS' "$out/share.log" | tee -a "$sum"

# 4. compute-sanitizer: memcheck on the kernel checks, then memcheck and
# synccheck on a short whole run (graphs captured and replayed).
want san && step "compute-sanitizer" "${T_SAN:-90}" sanitizer.log sh "$0" san
[ -f "$out/sanitizer.log" ] && grep -E 'ERROR SUMMARY|^==|FAIL' "$out/sanitizer.log" | tail -12 | tee -a "$sum"

# 5. One trial's fixed cost and CPU per epoch on the GPU (blocking sync:
# the CPU sleeps while the GPU works), and Fashion-MNIST accuracy, GPU
# against CPU.
want cost && step "trial cost and accuracy" "${T_COST:-120}" cost.log sh "$0" cost
[ -f "$out/cost.log" ] && grep -E '^(GPU|Fashion)' "$out/cost.log" | tee -a "$sum"

# 6. Where a GPU trial's fixed cost goes: CUDA's context, cuBLAS opened,
# its handle, a whole small run on each device (bench/gpu_start.py).
want start && step "a GPU process's start" "${T_START:-120}" start.log \
    env LD_LIBRARY_PATH="$libs" python3 bench/gpu_start.py --kestrel "$bin/kestrel"
[ -f "$out/start.log" ] && cat "$out/start.log" | tee -a "$sum"

# 7. A real study on the GPU: bench/tuning's Fashion-MNIST space under
# ASHA (27 epochs at most, 4 trials at a time) through `kestrel run` for
# STUDY_S seconds, then the same study on the CPU (the cores shared among
# the trials): the scheduler, reports and promotions on the device, the times to
# 0.88-0.90 validation accuracy, and what a trial costs beyond its epochs.
want study && step "an ASHA study on each device" "${T_STUDY:-200}" study.log sh "$0" study
[ -f "$out/study.log" ] && grep -E '^(kestrel run|cuda|cpu|  FAILED)' "$out/study.log" | tee -a "$sum"
