#!/bin/sh
# search_bench.sh: builds bench/search_bench, runs it and bench/optuna_bench.py
# on the same functions, seeds and budget, and prints one table of median and
# worst-seed simple regrets: Kestrel random, Sobol, Optuna TPE, then Kestrel's
# GP as it was before issue 16 (every option of that issue turned off,
# $BEFORE) and as it is, each run sequentially and with --parallel P trials
# running at once (durations drawn per trial, completion order simulated),
# with the ratios gp/tpe and gp(P)/gp(1); then the GP suggestion timing at each
# of the --timing-rows sizes. Run by hand from a configured build directory
# (in-tree or VPATH):
#   bench/search_bench.sh [--build DIR] [--seeds N] [--trials N] [--functions a,b]
#                         [--parallel P] [--timing-rows N,N,...]
# PYTHON picks the interpreter (default: the first of python3,
# /usr/bin/python3 that imports optuna).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=.
if [ "${1:-}" = "--build" ]; then
    build=$2
    shift 2
fi
seeds=20 trials=50 functions= parallel=4 rows=200,1000,2000,10000
# The GP options that undo issue 16's changes (docs/gp.md lists each).
BEFORE=${BEFORE:-'{"parallel": "constant_liar", "subset": 0, "trust_region": false, "prior_mean": 0, "noise_prior": false, "wall_redraw": false, "warp_shift": false, "exploit_last": 0}'}
while [ $# -gt 0 ]; do
    case $1 in
    --seeds) seeds=$2; shift 2 ;;
    --trials) trials=$2; shift 2 ;;
    --functions) functions=$2; shift 2 ;;
    --parallel) parallel=$2; shift 2 ;;
    --timing-rows) rows=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--seeds N] [--trials N] [--functions a,b,...] [--parallel P] [--timing-rows N,...]" >&2; exit 2 ;;
    esac
done

if [ -z "${PYTHON:-}" ]; then
    for p in python3 /usr/bin/python3; do
        if "$p" -c 'import optuna' 2>/dev/null; then PYTHON=$p; break; fi
    done
fi
if [ -z "${PYTHON:-}" ]; then
    echo "$0: no python3 with optuna (apt-get install python3-optuna, or ./bootstrap --bench)" >&2
    exit 1
fi

make -s -C "$build" bench/search_bench
bench=$build/bench/search_bench
tmp=$(mktemp -d /tmp/search_bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

"$bench" --values > "$tmp/values"
"$PYTHON" "$here/optuna_bench.py" --verify "$tmp/values"

set -- --seeds "$seeds" --trials "$trials"
[ -n "$functions" ] && set -- "$@" --functions "$functions"
# One BLAS thread: the GP's matrices are small, and the programs run one
# after the other so none's wall time includes another's load.
export OPENBLAS_NUM_THREADS=1
"$bench" --tsv --no-timing --strategies random,sobol,gp "$@" > "$tmp/kestrel"
"$bench" --tsv --no-timing --strategies gp --options "$BEFORE" --label before "$@" >> "$tmp/kestrel"
for s in gp before; do
    if [ $s = gp ]; then set -- "$@" --strategies gp; else set -- "$@" --strategies gp --options "$BEFORE" --label before; fi
    "$bench" --tsv --no-timing --parallel "$parallel" "$@" |
        awk -F'\t' -v OFS='\t' -v p="$parallel" '{ $2 = $2 "@p" p; print }' >> "$tmp/kestrel"
    set -- --seeds "$seeds" --trials "$trials"
    [ -n "$functions" ] && set -- "$@" --functions "$functions"
done
"$PYTHON" "$here/optuna_bench.py" --tsv --samplers tpe "$@" > "$tmp/optuna"

echo "machine: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$("$PYTHON" -c 'import optuna; print("optuna", optuna.__version__)'); $seeds seeds x $trials trials; before = $BEFORE"
echo "simple regret (best found - known minimum; lower is better): median, and the worst seed below it"
cat "$tmp/kestrel" "$tmp/optuna" | awk -F'\t' -v p="$parallel" '
    {
        if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
        med[$1, $2] = $3; worst[$1, $2] = $6; secs[$2] += $7
    }
    END {
        ncol = split("kestrel-random kestrel-sobol optuna-tpe kestrel-gp-before kestrel-gp " \
                     "kestrel-gp-before@p" p " kestrel-gp@p" p, col, " ")
        split("random sobol tpe gp-before gp gp-before@p" p " gp@p" p, head, " ")
        printf "| %-15s", "function"
        for (c = 1; c <= ncol; c++) printf " | %-12s", head[c]
        printf " | %-7s | %-9s |\n", "gp/tpe", "gp@p/gp"
        printf "|%s", "-----------------"
        for (c = 1; c <= ncol; c++) printf "|%s", "--------------"
        printf "|---------|-----------|\n"
        for (i = 1; i <= n; i++) {
            f = order[i]
            printf "| %-15s", f
            for (c = 1; c <= ncol; c++) printf " | %-12.3g", med[f, col[c]]
            printf " | %-7s | %-9s |\n", ratio(med[f, "kestrel-gp"], med[f, "optuna-tpe"]),
                ratio(med[f, "kestrel-gp@p" p], med[f, "kestrel-gp"])
            printf "| %-15s", "  worst seed"
            for (c = 1; c <= ncol; c++) printf " | %-12.3g", worst[f, col[c]]
            printf " | %-7s | %-9s |\n", "", ""
        }
        printf "| %-15s", "seconds (all)"
        for (c = 1; c <= ncol; c++) printf " | %-12.1f", secs[col[c]]
        printf " | %-7s | %-9s |\n", "", ""
    }
    function ratio(a, b) { return b > 0 ? sprintf("%.3g", a / b) : (a > 0 ? "inf" : "-") }'

echo
echo "GP suggestion in 6 dims (hartmann6, uniform random history), warm (after one at rows - 1) and cold (first of a strategy):"
"$bench" --timing-only --timing-rows "$rows" --tsv | awk -F'\t' '
    { printf "  %6d trials: median %8.1f ms (min %.1f, max %.1f, %d reps); cold %.1f ms\n", $3, $5, $6, $7, $4, $8 }'
