#!/bin/sh
# bench/dashboard_bench.sh: the dashboard on a study of 10,000 real trials
# (issue 5: "stays responsive with 10,000 trials"), run by hand; it asserts
# nothing. Writes the study into a fresh history through the storage API
# (bench/fill_history.c, as bench/load.sh does), serves it with `kestrel
# serve`, resumes it with a larger budget so that Branin trials keep adding to
# it (tens a second: the page polls and redraws the whole time, a stress
# case), and runs bench/dashboard_bench.mjs in headless Debian
# chromium (playwright-core from tests/browser, installed by ./bootstrap).
# Run from a configured build directory (in-tree or VPATH):
#   sh bench/dashboard_bench.sh [--build DIR]
#   TRIALS=20000 REPS=3 LIVE_S=5 sh bench/dashboard_bench.sh
# NICE=N gives the live study's trials run.nice N (unset: the spec has none,
# so an older binary reads it too). For an A/B of nice values set it in both
# arms (NICE=0 for the default): see bench/README.md, 2026-12-04.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
. "$here/history_server.sh"
TRIALS=${TRIALS:-10000}
export TRIALS
[ -d "$here/../tests/browser/node_modules/playwright-core" ] ||
    { echo "dashboard_bench.sh: run ./bootstrap first (npm ci in tests/browser)" >&2; exit 2; }

history_build
"$tmp/fill_history" "$tmp/k.db" big "$TRIALS" 1000000
history_serve
BASE=$base/
export BASE
curl -sf -X POST "${BASE}api/v1/studies/big/resume" >/dev/null
# the machine's load: figures taken beside other work compare only A/B
[ -n "${NICE:-}" ] && echo "the live study's trials at run.nice $NICE"
echo "load average before the loads: $(cut -d' ' -f1-3 /proc/loadavg)"
node "$here/dashboard_bench.mjs"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
n=$(curl -sf "${BASE}api/v1/studies/big" | sed -n 's/.*"total": *\([0-9]*\).*/\1/p')
echo "the study had $n trials at the end"
