#!/bin/sh
# train_ab.sh: A/B of two or more kestrel binaries on the bench MLP
# (784-256-128-10, Adam, batch 128, 2 threads, 4 epochs), run by run in
# turn so that a machine whose speed drifts slows every binary alike. Prints
# each binary's steady samples/s per run (the median of its last 3 epochs)
# and their median.
# Usage: bench/train_ab.sh [-n RUNS] BINARY BINARY... [-- kestrel train options]
# Example: bench/train_ab.sh -n 5 /tmp/kestrel-old ./kestrel -- --set threads=1
# Run by hand on an idle machine.
set -eu
runs=4
if [ "${1:-}" = "-n" ]; then runs=$2; shift 2; fi
bins=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do bins="$bins $1"; shift; done
[ "${1:-}" = "--" ] && shift
[ -n "$bins" ] || { echo "usage: $0 [-n RUNS] BINARY BINARY... [-- options]" >&2; exit 2; }
for b in $bins; do
    [ -x "$b" ] || { echo "train_ab.sh: no kestrel binary at $b" >&2; exit 2; }
done
cache=${KESTREL_CACHE_DIR:-/tmp/kestrel-bench-cache}
out=$(mktemp /tmp/kestrel-train-ab.XXXXXX)
err=$(mktemp /tmp/kestrel-train-ab.XXXXXX)
trap 'rm -f "$out" "$err"' EXIT
r=1
while [ "$r" -le "$runs" ]; do
    i=0
    for b in $bins; do
        i=$((i + 1))
        v=$("$b" train --set data=fashion-mnist --set hidden=256,128 --set activation=relu \
                --set optimizer=adam --set lr=0.001 --set batch_size=128 --set threads=2 \
                --set epochs=4 --set val_ratio=0.1 --set seed="$r" --set cache_dir="$cache" "$@" \
                2>"$err" | grep -o '"samples_per_sec":[0-9.]*' | cut -d: -f2 | tail -3 |
                sort -n | sed -n 2p)
        # a median of the runs that worked would hide a binary that fails
        if [ -z "$v" ]; then
            echo "train_ab.sh: $b train failed in run $r:" >&2
            tail -n 5 "$err" >&2
            exit 1
        fi
        # by position, not path: an A/A of one binary keeps its columns apart
        echo "$i $v" >> "$out"
    done
    r=$((r + 1))
done
i=0
for b in $bins; do
    i=$((i + 1))
    awk -v i="$i" '$1 == i { print $2 }' "$out" | sort -n |
        awk -v b="$b" '{v[NR] = $1; s = s sprintf(" %.0f", $1)}
            END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
                 printf "%s: median %.0f samples/s (runs:%s)\n", b, m, s}'
done
