#!/bin/sh
# bench/load.sh: a load check of `kestrel serve` with wrk (run by hand; it
# asserts nothing). It writes a study of 10,000 real trials into a fresh
# history through the storage API (bench/fill_history.c, compiled against the
# build's libkestrel.a), serves it, starts a second study whose trials keep
# running and reporting, then measures the trial list (first page, a deep
# page, a deep best-first page; 100 trials each) and the best-trial endpoint
# on loopback for 10 s each while the engine keeps writing. Prints
# requests/s, latency percentiles, and the server's CPU time per request
# (user + system of the kestrel process, trials not included: the figure
# that holds on a shared machine, where req/s follows the other load).
# Needs wrk (./bootstrap --bench installs it).
# Run from a configured build directory (in-tree or VPATH):
#   sh bench/load.sh [--build DIR]
#   DURATION=5s CONNS=32 TRIALS=100000 sh bench/load.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/history_server.sh"
DURATION=${DURATION:-10s}
CONNS=${CONNS:-16}
THREADS=${THREADS:-2}
TRIALS=${TRIALS:-10000}

# Installing wrk here took root and a fresh package list (a bare apt-get
# install fails without either): ./bootstrap --bench does both.
if ! command -v wrk >/dev/null 2>&1; then
    echo "bench/load.sh: wrk not found; install it with ./bootstrap --bench (Debian package wrk)" >&2
    exit 1
fi

history_build
t0=$(date +%s.%N)
"$tmp/fill_history" "$tmp/k.db" big "$TRIALS"
t1=$(date +%s.%N)
echo "study big: $TRIALS trials written in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}') s"

history_serve
echo "server: $base (database $tmp/k.db)"

post() {
    curl -sf -X POST -H 'Content-Type: application/json' --data "$2" "$base/api/v1/studies" >/dev/null ||
        { echo "creating study $1 failed" >&2; exit 1; }
}

# Trials that keep the engine writing (reports every 0.1 s) during the runs.
cat >"$tmp/busy.sh" <<'SH'
i=1
while [ $i -le 10 ]; do echo "{\"step\": $i, \"loss\": $1}" >&3; sleep 0.1; i=$((i + 1)); done
echo "{\"loss\": $1}" >&3
SH
post busy '{"name": "busy", "objective": {"metric": "loss", "direction": "minimize"},
  "space": {"x": {"type": "float", "low": -2, "high": 2}},
  "strategy": {"name": "random", "seed": 2},
  "budget": {"max_trials": 100000, "max_parallel": 4},
  "run": {"command": ["sh", "'"$tmp/busy.sh"'", "{x}"]}}'
sleep 1

# CPU seconds (user + system) the server has used so far.
cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$server/stat"
}

echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
deep=$((TRIALS - 100))
for path in "/api/v1/studies/big/trials?limit=100" \
            "/api/v1/studies/big/trials?offset=$deep&limit=100" \
            "/api/v1/studies/big/trials?sort=best&offset=$((TRIALS / 2))&limit=100" \
            "/api/v1/studies/big/best"; do
    echo
    echo "== GET $path ($THREADS threads, $CONNS connections, $DURATION)"
    c0=$(cpu_s)
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$base$path" >"$tmp/wrk"
    c1=$(cpu_s)
    grep -E 'Requests/sec|Transfer/sec|^ +(50|75|90|99)%|Non-2xx|Socket errors' "$tmp/wrk"
    n=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$tmp/wrk")
    awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN { printf "Server CPU/request: %.0f us (%d requests)\n", (b - a) * 1e6 / (n ? n : 1), n }'
done
echo
echo "busy study during the runs: $(curl -sf "$base/api/v1/studies/busy" | sed -n 's/.*"counts":\({[^}]*}\).*/\1/p')"
