#!/bin/sh
# A trial command for Kestrel in POSIX sh (awk does the arithmetic): a
# made-up training run whose loss falls each epoch to (x-1)^2 + 0.1*exp(-epochs).
# Reports {"step": e, "loss": ...} per epoch, then a final {"loss": ...}, on
# fd $KESTREL_REPORT_FD when Kestrel runs it, else on stdout (docs/protocol.md).
#
#   sh examples/objective.sh --x 0.5 [--epochs 5]
set -eu

x=
epochs=5
while [ $# -gt 0 ]; do
    case "$1" in
        --x) x=$2; shift 2 ;;
        --x=*) x=${1#--x=}; shift ;;
        --epochs) epochs=$2; shift 2 ;;
        --epochs=*) epochs=${1#--epochs=}; shift ;;
        *) echo "usage: $0 --x FLOAT [--epochs N]" >&2; exit 2 ;;
    esac
done
[ -n "$x" ] || { echo "usage: $0 --x FLOAT [--epochs N]" >&2; exit 2; }

report() {
    if [ -n "${KESTREL_REPORT_FD:-}" ]; then
        printf '%s\n' "$1" >&"$KESTREL_REPORT_FD"
    else
        printf '%s\n' "$1"
    fi
}

e=1
loss=
while [ "$e" -le "$epochs" ]; do
    # the last term vanishes at the last epoch; %.17g keeps the value exact
    loss=$(awk -v x="$x" -v e="$e" -v n="$epochs" \
        'BEGIN { printf "%.17g", (x - 1) ^ 2 + 0.1 * exp(-e) + 0.5 * (1 / e - 1 / n) }')
    report "{\"step\": $e, \"loss\": $loss}"
    echo "epoch $e: loss $loss" >&2
    e=$((e + 1))
done
report "{\"loss\": $loss}"
