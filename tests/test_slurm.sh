#!/bin/sh
# test_slurm: kestrel workers placed by a real Slurm. The test starts a
# one-node cluster of its own (munged with a fresh key, slurmctld, slurmd,
# all in a temporary folder, on free ports; Debian's slurm-wlm and munge,
# which ./bootstrap installs), a `kestrel serve` that runs no trial itself,
# and `kestrel slurm submit` of a job array of workers; every trial must run
# inside a Slurm job (its worker names the job) and the study must end with
# the results of a local run of the same seed. Then it stops everything.
# Skips (77) only where the Slurm or munge programs are missing, or when not
# root (the daemons run as root here).
set -u
KESTREL=${KESTREL:-$(pwd)/kestrel}
for prog in munged mungekey slurmctld slurmd sbatch sinfo squeue python3 sqlite3; do
    command -v $prog >/dev/null 2>&1 || { echo "SKIP: $prog is not installed (./bootstrap installs slurm-wlm and munge)"; exit 77; }
done
[ "$(id -u)" = 0 ] || { echo "SKIP: the one-node Slurm of this test runs as root"; exit 77; }

T=$(mktemp -d /tmp/kestrel-slurm.XXXXXX)
chmod 755 "$T"
SERVE=
stop_all() {
    [ -n "$SERVE" ] && kill "$SERVE" 2>/dev/null && wait "$SERVE" 2>/dev/null
    for f in "$T/slurmd.pid" "$T/slurmctld.pid" "$T/munge/munged.pid"; do
        [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
    done
    # the daemons remove their pid files as they exit
    for i in $(seq 100); do
        [ -s "$T/slurmd.pid" ] || [ -s "$T/slurmctld.pid" ] || [ -s "$T/munge/munged.pid" ] || break
        sleep 0.1
    done
    stop_slurm
    rm -rf "$T"
}
# Kills whatever daemon of this cluster is left (one that ignored SIGTERM,
# or one of a start that failed).
stop_slurm() {
    pkill -KILL -f "$T/slurm.conf" 2>/dev/null
    for i in $(seq 100); do
        pgrep -f "$T/slurm.conf" >/dev/null || break
        sleep 0.1
    done
}
trap stop_all EXIT
cd "$T"
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
no() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() { if eval "$2"; then ok "$1"; else no "$1"; fi; }
# Polls cmd until it succeeds; the limit (seconds of the clock, not polls:
# a poll of a dead controller blocks) only guards against a hang.
wait_for() {
    what=$1; shift
    end=$(( $(date +%s) + 600 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        if eval "$*"; then return 0; fi
        sleep 0.1
    done
    echo "gave up waiting for $what"
    return 1
}
# Slurm's clients wait for an unreachable controller far longer than a poll may.
sinfo() { timeout 20 sinfo "$@"; }
squeue() { timeout 20 squeue "$@"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- the cluster ------------------------------------------------------------
mkdir -p munge state spool log
chmod 700 munge
mungekey -c -k "$T/munge/munge.key" || { echo "mungekey failed"; exit 1; }
munged -f --key-file="$T/munge/munge.key" --socket="$T/munge/munge.sock" \
    --pid-file="$T/munge/munged.pid" --log-file="$T/munge/munged.log" \
    --seed-file="$T/munge/munged.seed" || { echo "munged failed"; exit 1; }
HOST=$(hostname -s)
# Writes slurm.conf with two ports free a moment ago (another program may
# take one before the daemon binds it: then the start is tried again).
write_conf() {
cat > slurm.conf <<EOF
ClusterName=kestrel-test
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge/munge.sock
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
NodeName=$HOST CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}
export SLURM_CONF="$T/slurm.conf"
# 0 once the node is idle; 1 when a daemon could not start or died.
start_slurm() {
    write_conf
    slurmctld -f "$SLURM_CONF" && slurmd -f "$SLURM_CONF" || return 1
    end=$(( $(date +%s) + 300 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        [ "$(sinfo -h -o %t 2>/dev/null)" = idle ] && return 0
        for d in slurmctld slurmd; do
            pgrep -f "$d -f $SLURM_CONF" >/dev/null || { echo "$d died"; return 1; }
        done
        sleep 0.1
    done
    return 1
}
up=0
for try in 1 2 3; do
    if start_slurm; then up=1; break; fi
    cat log/*
    stop_slurm
    rm -rf log/* state/* spool/* slurmd.pid slurmctld.pid
done
[ $up = 1 ] || { echo "no one-node Slurm in 3 tries"; exit 1; }
ok "a one-node Slurm is up"

# --- a study whose every trial runs in a Slurm job ---------------------------
cat > spec.json <<'J'
{"name": "slurm", "objective": {"metric": "value", "direction": "minimize"},
 "space": {"x1": {"type": "float", "low": -5, "high": 10},
           "x2": {"type": "float", "low": 0, "high": 15}},
 "strategy": {"name": "random", "seed": 7},
 "budget": {"max_trials": 8, "max_parallel": 2},
 "run": {"function": "branin"}}
J
"$KESTREL" serve --db k.db --listen 127.0.0.1:0 --max-parallel 0 --run spec.json \
    >serve.out 2>serve.err &
SERVE=$!
wait_for "the server" 'grep -q "^listening on" serve.out' || { cat serve.err; exit 1; }
URL=$(sed -n 's|^listening on \(http://[^/]*\)/$|\1|p' serve.out)

"$KESTREL" slurm submit --server "$URL" --workers 2 --idle-exit 2 --work-dir "$T/work" \
    --log-dir "$T" -- --chdir="$T" >job.txt 2>submit.err; rc=$?
check "kestrel slurm submit prints the job id" "[ $rc -eq 0 ] && grep -qE '^[0-9]+$' job.txt"
JOB=$(cat job.txt)
q() { sqlite3 k.db "$1"; }
wait_for "the study to complete" '[ "$(q "select state from studies where name = '"'slurm'"'" 2>/dev/null)" = COMPLETE ]'
check "the study completes" "[ \"\$(q \"select state from studies where name = 'slurm'\")\" = COMPLETE ]"
check "every trial ran in a task of job $JOB" \
    "[ \$(q \"select count(*) from trials where worker like '% slurm:${JOB}_%'\") -eq 8 ]"
check "both array tasks registered" \
    "[ \$(q \"select count(*) from workers where name like '% slurm:${JOB}_%'\") -eq 2 ]"
wait_for "the workers to exit once idle" '[ -z "$(squeue -h -j "$JOB" 2>/dev/null)" ]'
check "the idle workers ended their jobs" "[ -z \"\$(squeue -h -j $JOB)\" ]"
check "each task logged its worker" "[ \$(grep -l 'registered as' kestrel-worker-${JOB}_*.log | wc -l) -eq 2 ]"

"$KESTREL" run --db local.db --quiet spec.json >/dev/null 2>&1
check "the same values as a local run of the seed" \
    "[ \"\$(sqlite3 local.db 'select group_concat(value) from (select value from trials order by number)')\" = \"\$(q 'select group_concat(value) from (select value from trials order by number)')\" ]"

# --- kestrel serve --slurm-workers keeps workers queued while studies run ---
kill "$SERVE"; wait "$SERVE"
sed 's/"name": "slurm"/"name": "scaled"/; s/"seed": 7/"seed": 8/' spec.json > scaled.json
# Another user's coordinator on the same port names its jobs alike: its two
# held tasks were counted as this server's, which then submitted none.
PORT=$(free_port)
chmod 755 munge   # the other user's sbatch talks to munged too
runuser -u nobody -- env SLURM_CONF="$SLURM_CONF" sbatch --hold --array=0-1 \
    --job-name="kestrel-worker-$PORT" --chdir=/tmp --output=/dev/null --wrap true >/dev/null 2>other.err
check "another user holds two tasks named as this server's" \
    "[ \"\$(squeue -h -r -u nobody -n kestrel-worker-$PORT | wc -l)\" -eq 2 ]"
"$KESTREL" serve --db k.db --listen 127.0.0.1:$PORT --max-parallel 0 --run scaled.json \
    --slurm-workers 2 --slurm-idle-exit 2 --slurm-args "--chdir=$T" >serve2.out 2>serve2.err &
SERVE=$!
wait_for "the scaled study to complete" '[ "$(q "select state from studies where name = '"'scaled'"'" 2>/dev/null)" = COMPLETE ]'
check "a study runs on the workers the server queued" \
    "[ \$(q \"select count(*) from trials t join studies s on s.id = t.study_id where s.name = 'scaled' and t.worker like '% slurm:%'\") -eq 8 ]"
check "the server logged its submissions" "grep -q 'slurm: submitted job' serve2.err"
wait_for "its workers to exit once idle" '[ -z "$(squeue -h -u root -t PENDING,RUNNING 2>/dev/null)" ]'
check "no worker job is left once the study is done" "[ -z \"\$(squeue -h -u root)\" ]"
scancel -u nobody

# --- workers that end at their start are not submitted again every 2 s -------
# A second server on a history another one coordinates: its workers are
# refused (409) and exit 2. It submitted a new job every 2 s for as long as
# its study ran; it now says why and waits, longer each time.
kill "$SERVE"; wait "$SERVE"
"$KESTREL" serve --db k2.db --listen 127.0.0.1:0 --max-parallel 0 >coord.out 2>coord.err &
COORD=$!
wait_for "the coordinator" 'grep -q "^listening on" coord.out'
sed 's/"name": "slurm"/"name": "refused"/' spec.json > refused.json
"$KESTREL" serve --db k2.db --listen 127.0.0.1:0 --max-parallel 0 --run refused.json \
    --slurm-workers 1 --slurm-idle-exit 2 --slurm-args "--chdir=$T" >serve3.out 2>serve3.err &
SERVE=$!
wait_for "the failed job to be noticed" 'grep -q "ended without registering" serve3.err'
check "the server says its workers never registered, names their logs, and waits" \
    "grep -q 'slurm: the workers of job [0-9]* ended without registering with this server (their output: ./kestrel-worker-[0-9]*_\*.log); submitting again in 4 s' serve3.err"
kill "$SERVE"; wait "$SERVE"
SERVE=$COORD

echo "# $pass passed, $fail failed"
[ $fail -eq 0 ] || { echo "--- serve.err"; tail -20 serve.err serve2.err; for f in kestrel-worker-*.log; do echo "--- $f"; tail -5 "$f"; done; }
[ $fail -eq 0 ]
