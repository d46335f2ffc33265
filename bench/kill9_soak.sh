#!/bin/sh
# kill9_soak: kill -9 `kestrel run` and `kestrel serve` at random moments,
# over and over, on one history with three studies (random search over a
# shell command, GP on a test function, ASHA over the built-in trainer), and
# check after every kill:
#   - the database passes `pragma integrity_check`;
#   - no study's COMPLETE count ever decreases;
#   - no trial process outlives its kestrel;
# then, at the end, a clean run of every study (each reclaims what the kills
# left RUNNING) leaves nothing RUNNING.
#   bench/kill9_soak.sh [ROUNDS]     (default 60; KESTREL=path/to/kestrel)
# Prints one line per round and a summary; exit status 1 on any violation.
set -u
ROUNDS=${1:-60}
KESTREL=${KESTREL:-$(pwd)/kestrel}
[ -x "$KESTREL" ] || { echo "kill9_soak.sh: no kestrel binary at $KESTREL (set KESTREL=path/to/kestrel)" >&2; exit 2; }
T=$(mktemp -d /tmp/kestrel-soak.XXXXXX)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$T"' EXIT
cd "$T"
DB=soak.db
q() { sqlite3 -cmd '.timeout 10000' "$DB" "$1"; }
# Whether a trial process of this soak is alive: every one (the shell
# command's, the ASHA study's `kestrel train`, and what they start) has its
# checkpoint folder, under $T, in its environment, where a mark on the
# command line was only the shell command's, so the trainers went unseen.
trials_alive() {
    grep -qszF "KESTREL_CHECKPOINT_DIR=$(pwd -P)/" /proc/[0-9]*/environ
}

cat > cmd.json <<J
{"name": "cmd", "objective": {"metric": "loss"},
 "space": {"x": {"type": "float", "low": -2, "high": 2}},
 "strategy": {"name": "random", "seed": 1}, "budget": {"max_trials": 100000, "max_parallel": 3},
 "run": {"command": "sleep 0.\$(od -An -N1 -tu1 /dev/urandom | tr -d ' '); echo '{{\"loss\": {x}}}'"}}
J
cat > gp.json <<J
{"name": "gp", "objective": {"metric": "value"},
 "space": {"x1": {"type": "float", "low": -5, "high": 10}, "x2": {"type": "float", "low": 0, "high": 15}},
 "strategy": {"name": "gp", "seed": 2}, "budget": {"max_trials": 100000, "max_parallel": 2},
 "run": {"function": "branin"}}
J
cat > asha.json <<J
{"name": "asha", "objective": {"metric": "val_loss"},
 "space": {"lr": {"type": "float", "low": 0.001, "high": 0.3, "log": true}},
 "strategy": {"name": "asha", "seed": 3, "options": {"max_resource": 9}},
 "budget": {"max_trials": 100000, "max_parallel": 2},
 "run": {"trainer": {"data": "synthetic-classification", "synthetic_samples": 200,
                     "hidden": [8], "epochs": 9}}}
J
specs="cmd gp asha"
fail=0 kills_run=0 kills_serve=0
violation() { echo "VIOLATION round $1: $2"; fail=$((fail + 1)); }
completes() { for s in $specs; do printf '%s ' "$(q "select count(*) from trials t join studies s on s.id = t.study_id where s.name = '$s' and t.state = 'COMPLETE'" 2>/dev/null || echo 0)"; done; }
rand() { od -An -N2 -tu2 /dev/urandom | tr -d ' '; }

prev=$(completes)
for round in $(seq 1 "$ROUNDS"); do
    set -- $specs
    shift $(( $(rand) % 3 ))
    spec=$1
    if [ $(( $(rand) % 2 )) -eq 0 ]; then
        mode=run
        "$KESTREL" run "$spec.json" --db "$DB" >/dev/null 2>&1 &
    else
        mode=serve
        "$KESTREL" serve --db "$DB" --listen 127.0.0.1:0 >/dev/null 2>&1 &
    fi
    pid=$!
    # a random moment from 0.2 to 3 s in: before, during and after starts
    sleep "$(awk -v r="$(rand)" 'BEGIN { printf "%.2f", 0.2 + 2.8 * r / 65535 }')"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    [ $mode = run ] && kills_run=$((kills_run + 1)) || kills_serve=$((kills_serve + 1))
    # the trials die with it (their watchdogs see it gone)
    i=0; while trials_alive && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    trials_alive && violation "$round" "trial processes outlived kestrel"
    [ "$(q 'pragma integrity_check')" = ok ] || violation "$round" "integrity_check failed"
    now=$(completes)
    set -- $prev
    for c in $now; do
        [ "$c" -ge "$1" ] || violation "$round" "COMPLETE went down ($prev -> $now)"
        shift
    done
    [ $mode = run ] && what="run ($spec)" || what="serve (all RUNNING studies)"
    echo "round $round: kill -9 $what, complete $now, running $(q "select count(*) from trials where state = 'RUNNING'")"
    prev=$now
done

# The end: each study runs to a stop cleanly; nothing may stay RUNNING.
for s in $specs; do
    "$KESTREL" run "$s.json" --db "$DB" >/dev/null 2>&1 &
    pid=$!
    sleep 2
    kill -TERM "$pid"; wait "$pid"
done
left=$(q "select count(*) from trials where state = 'RUNNING'")
[ "$left" -eq 0 ] || violation end "$left trials RUNNING after clean stops"
[ "$(q 'pragma integrity_check')" = ok ] || violation end "integrity_check failed"
total=$(q "select count(*) from trials where state = 'COMPLETE'")
died=$(q "select count(*) from trials where failure = 'interrupted: the kestrel process running it died'")
echo "summary: $ROUNDS rounds ($kills_run kill -9 of run, $kills_serve of serve), $total trials COMPLETE, $died trials reclaimed as died, $fail violations"
[ "$fail" -eq 0 ]
