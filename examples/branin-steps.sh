#!/bin/sh
# A trial command for the dashboard demo (examples/branin-gp.json): the
# Branin function at (x1, x2), reported as a made-up training curve that
# falls to the true value over 8 steps, a quarter second apart, on fd
# $KESTREL_REPORT_FD (else stdout), then {"value": f(x1, x2)}.
#
#   sh examples/branin-steps.sh X1 X2
set -eu
[ $# -eq 2 ] || { echo "usage: $0 X1 X2" >&2; exit 2; }
fd=${KESTREL_REPORT_FD:-1}
steps=8
i=1
while [ "$i" -le "$steps" ]; do
    # Branin-Hoo: a (x2 - b x1^2 + c x1 - r)^2 + s (1 - t) cos(x1) + s, plus a
    # gap that closes as the steps go by.
    awk -v x1="$1" -v x2="$2" -v i="$i" -v n="$steps" 'BEGIN {
        pi = atan2(0, -1); b = 5.1 / (4 * pi * pi); c = 5 / pi; t = 1 / (8 * pi)
        f = (x2 - b * x1 * x1 + c * x1 - 6) ^ 2 + 10 * (1 - t) * cos(x1) + 10
        v = f * (1 + 2 * (n - i) / n)
        if (i < n) printf "{\"step\": %d, \"value\": %.10g}\n", i, v
        else printf "{\"step\": %d, \"value\": %.10g}\n{\"value\": %.10g}\n", i, f, f
    }' >&"$fd"
    [ "$i" -lt "$steps" ] && sleep 0.25
    i=$((i + 1))
done
