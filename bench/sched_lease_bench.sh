#!/bin/sh
# sched_lease_bench.sh: A/B of the scheduler's cost per trial on a long
# study (bench/sched_lease_bench.c): builds the bench against two
# libkestrel.a files, fills one history of N trials (bench/fill_history.c),
# then runs A and B alternately, each on a fresh copy of it, REPS times, and
# prints each run (seconds per trial: wall, CPU) and the ratios B/A of the
# medians (a loaded machine slows both alike; never read the seconds alone).
#   bench/sched_lease_bench.sh LIB_A LIB_B [N=10000] [K=200] [REPS=5] [PRUNER=median|none]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { echo "usage: $0 LIB_A LIB_B [N=10000] [K=200] [REPS=5] [PRUNER=median|none] (each LIB a build's libkestrel.a)" >&2; exit 2; }
A=$1 B=$2 N=${3:-10000} K=${4:-200} REPS=${5:-5} PRUNER=${6:-median}
tmp=$(mktemp -d /tmp/kestrel-leasebench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
flags="-std=gnu11 -O2 -pthread -I$here/.. -I$here/../common -I$here/../src -I$here/../search \
$(pkg-config --cflags jansson sqlite3)"
libs="$(pkg-config --libs jansson sqlite3 gsl openblas libmicrohttpd zlib | sed 's/-lgslcblas//') -lm"
# shellcheck disable=SC2086
${CC:-gcc} $flags "$here/fill_history.c" "$B" $libs -o "$tmp/fill"
# common/monotime.c is compiled in, not taken from LIB: a library built
# before monotime_cpu_s() still links.
for v in A B; do
    eval lib=\$$v
    # shellcheck disable=SC2086
    ${CC:-gcc} $flags "$here/sched_lease_bench.c" "$here/../common/monotime.c" "$lib" $libs -o "$tmp/bench_$v"
done
"$tmp/fill" "$tmp/base.db" long "$N" 1000000
for r in $(seq "$REPS"); do
    for v in A B; do
        cp "$tmp/base.db" "$tmp/k.db"
        rm -f "$tmp/k.db-wal" "$tmp/k.db-shm"
        t=$("$tmp/bench_$v" "$tmp/k.db" long "$K" "$PRUNER")
        echo "rep $r $v $t"
        echo "$t" | cut -d' ' -f1 >>"$tmp/$v.wall"
        echo "$t" | cut -d' ' -f2 >>"$tmp/$v.cpu"
    done
done
med() { sort -g "$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
for m in wall cpu; do
    a=$(med "$tmp/A.$m") b=$(med "$tmp/B.$m")
    echo "median s/trial ($m): A $a  B $b  B/A $(echo "$b $a" | awk '{printf "%.3f", $1/$2}')"
done
