#!/bin/sh
# search_bench.sh: builds bench/search_bench, runs it and bench/optuna_bench.py
# on the same functions, seeds and budget, and prints one table of median
# simple regrets (Kestrel random, Sobol, GP; Optuna random, TPE) with the
# ratios gp/tpe and gp/random, then the GP suggestion timing. Run by hand from
# a configured build directory (in-tree or VPATH):
#   bench/search_bench.sh [--build DIR] [search_bench options...]
# Extra options (--seeds, --trials, --functions) go to both programs.
# PYTHON picks the interpreter (default: the first of python3,
# /usr/bin/python3 that imports optuna).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=.
if [ "${1:-}" = "--build" ]; then
    build=$2
    shift 2
fi
seeds=20 trials=50 functions=
while [ $# -gt 0 ]; do
    case $1 in
    --seeds) seeds=$2; shift 2 ;;
    --trials) trials=$2; shift 2 ;;
    --functions) functions=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--seeds N] [--trials N] [--functions a,b,...]" >&2; exit 2 ;;
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
# One BLAS thread: the GP's matrices are small, and the two programs run one
# after the other so neither's wall time includes the other's load.
OPENBLAS_NUM_THREADS=1 "$bench" --tsv "$@" > "$tmp/kestrel"
"$PYTHON" "$here/optuna_bench.py" --tsv "$@" > "$tmp/optuna"

echo "machine: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "$("$PYTHON" -c 'import optuna; print("optuna", optuna.__version__)'); $seeds seeds x $trials trials"
echo "median simple regret (best found - known minimum; lower is better), [q1, q3] below each"
cat "$tmp/kestrel" "$tmp/optuna" | awk -F'\t' '
    $1 == "timing" { timing[$2] = $3; tmin[$2] = $4; tmax[$2] = $5; next }
    {
        if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
        med[$1, $2] = $3; iqr[$1, $2] = sprintf("[%.3g, %.3g]", $4, $5); secs[$2] += $6
    }
    END {
        ncol = split("kestrel-random kestrel-sobol kestrel-gp optuna-random optuna-tpe", col, " ")
        printf "| %-15s", "function"
        for (c = 1; c <= ncol; c++) printf " | %-20s", col[c]
        printf " | %-9s | %-9s |\n", "gp/tpe", "gp/random"
        printf "|%s", "-----------------"
        for (c = 1; c <= ncol; c++) printf "|%s", "----------------------"
        printf "|-----------|-----------|\n"
        for (i = 1; i <= n; i++) {
            f = order[i]
            printf "| %-15s", f
            for (c = 1; c <= ncol; c++) printf " | %-20.4g", med[f, col[c]]
            gp = med[f, "kestrel-gp"]; tpe = med[f, "optuna-tpe"]; rnd = med[f, "kestrel-random"]
            printf " | %-9s | %-9s |\n", ratio(gp, tpe), ratio(gp, rnd)
            printf "| %-15s", ""
            for (c = 1; c <= ncol; c++) printf " | %-20s", iqr[f, col[c]]
            printf " | %-9s | %-9s |\n", "", ""
        }
        printf "| %-15s", "seconds (all)"
        for (c = 1; c <= ncol; c++) printf " | %-20.1f", secs[col[c]]
        printf " | %-9s | %-9s |\n", "", ""
        printf "\nGP suggestion with 200 observed trials in 6 dims (hartmann6), median of 20: "
        printf "%.1f ms (min %.1f, max %.1f; target <= 50 ms); first (cold-fit) suggestion %.1f ms\n",
            timing["gp-suggest-ms"], tmin["gp-suggest-ms"], tmax["gp-suggest-ms"],
            timing["gp-cold-suggest-ms"]
    }
    function ratio(a, b) { return b > 0 ? sprintf("%.3g", a / b) : (a > 0 ? "inf" : "-") }'
