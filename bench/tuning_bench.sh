#!/bin/sh
# tuning_bench.sh: a real tuning benchmark (issue 4). Tunes Fashion-MNIST with
# the built-in trainer under four strategies (random search at full budget,
# Hyperband, ASHA, Hyperband with the GP sampler, BOHB-style) and measures the
# wall-clock time each needs to reach a target validation accuracy.
#
# Usage:
#   bench/tuning_bench.sh [KESTREL_BINARY]        run every study, then report
#   bench/tuning_bench.sh --report DB [TARGET...] report on a finished run again
#
# Settings come from the environment (defaults in brackets):
#   SEEDS ["1 2 3"]  METHODS ["random hyperband asha bohb"]  R [27] (epochs of
#   a full-budget trial = Hyperband's max_resource; eta is 3)  MAX_TRAIN [10000]
#   MAX_SECONDS [200] (wall-clock cap of each study)  TARGET [0.86]
#   TRIAL_TIMEOUT [120] (seconds; raise it with MAX_TRAIN=0, the full data)
#   DATA_DIR [/usr/share/datasets/fashion-mnist]  OUT [a new /tmp/kestrel-tuning.*]
#
# Studies run one after the other, seed by seed, with the methods interleaved
# so that a slow period of the machine does not fall on one method alone. The
# kestrel binary is copied first: a rebuild during the run does not change it.
# Time to target of a study: the first finished_at of a COMPLETE trial whose
# val_accuracy >= TARGET, minus the study's first started_at (any budget
# counts: a Hyperband trial at 9 of 27 epochs that reaches it, reached it).
# Run by hand on an otherwise idle machine; it makes no assertion.
set -eu
here=$(cd "$(dirname "$0")" && pwd)

median() {   # FORMAT VALUE...: the median of the values; "inf" sorts last
    fmt=$1
    shift
    printf '%s\n' "$@" | sort -g | awk -v fmt="$fmt\n" '{ v[NR] = $1 }
        END { if (NR == 0) { print "inf"; exit }
              if (NR % 2) { print v[(NR + 1) / 2]; exit }
              a = v[NR / 2]; b = v[NR / 2 + 1]
              if (a == "inf" || b == "inf") print "inf"; else printf fmt, (a + b) / 2 }'
}

# One line per study: name, time to target (inf if never), best val_accuracy,
# trials, epochs trained, the time of its last finished trial, the best
# val_accuracy of the trials finished by 60 s and by 120 s, and the epochs of
# the trials finished by the time the target was reached (inf if never; the
# epochs of trials still running then are not counted, for any method), and
# the time to the first epoch report that reached the target (trial_values.at:
# a running trial's report counts; inf if never).
study_rows() {   # db target
    sqlite3 -separator ' ' "$1" "
        WITH t0 AS (SELECT study_id, MIN(started_at) AS t0 FROM trials GROUP BY study_id),
        hit AS (SELECT study_id, MIN(finished_at) AS at FROM trials
                WHERE state = 'COMPLETE' AND value >= $2 GROUP BY study_id),
        ep AS (SELECT t.study_id, t.finished_at, t.last_step - COALESCE(
                   (SELECT p.last_step FROM trials p WHERE p.study_id = t.study_id
                                                       AND p.number = t.resumed_from), 0) AS n
               FROM trials t WHERE t.last_step >= 0)
        SELECT s.name,
               CASE WHEN MAX(t.state = 'COMPLETE' AND t.value >= $2)
                    THEN printf('%.1f', MIN(CASE WHEN t.state = 'COMPLETE' AND t.value >= $2
                                            THEN t.finished_at END) - t0.t0)
                    ELSE 'inf' END,
               printf('%.4f', MAX(CASE WHEN t.state = 'COMPLETE' THEN t.value END)),
               COUNT(*),
               SUM(CASE WHEN t.last_step >= 0 THEN t.last_step - COALESCE(
                   (SELECT p.last_step FROM trials p WHERE p.study_id = t.study_id
                                                       AND p.number = t.resumed_from), 0)
                   END),
               printf('%.0f', MAX(t.finished_at) - t0.t0),
               printf('%.4f', COALESCE(MAX(CASE WHEN t.state = 'COMPLETE'
                   AND t.finished_at - t0.t0 <= 60 THEN t.value END), 0)),
               printf('%.4f', COALESCE(MAX(CASE WHEN t.state = 'COMPLETE'
                   AND t.finished_at - t0.t0 <= 120 THEN t.value END), 0)),
               COALESCE((SELECT SUM(ep.n) FROM ep JOIN hit ON hit.study_id = ep.study_id
                         WHERE ep.study_id = s.id AND ep.finished_at <= hit.at),
                        CASE WHEN (SELECT at FROM hit WHERE hit.study_id = s.id) IS NULL
                             THEN 'inf' ELSE 0 END),
               COALESCE((SELECT printf('%.1f', v.at - t0.t0) FROM trial_values v
                         JOIN trials r ON r.id = v.trial_id
                         WHERE r.study_id = s.id AND v.name = s.metric AND v.value >= $2
                         ORDER BY v.at LIMIT 1), 'inf')
        FROM studies s JOIN trials t ON t.study_id = s.id JOIN t0 ON t0.study_id = s.id
        GROUP BY s.id ORDER BY s.name"
}

ratio_of() {   # a b: a / b to 2 decimals, n/a when either is missing or infinite
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (b == "" || b == "inf" || a == "inf" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'
}

report() {   # db target
    db=$1 target=$2
    echo "target val_accuracy >= $target"
    echo
    echo "| study | time to target (s) | by epoch reports (s) | epochs to target | best val_accuracy | best by 60 s | best by 120 s | trials | epochs trained | last trial ended (s) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    study_rows "$db" "$target" |
        awk '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $10, $9, $3, $7, $8, $4, $5, $6 }'
    echo
    echo "| method | median time to target (s) | by epoch reports (s) | seeds reaching it | median best val_accuracy | median best by 60 s | median best by 120 s | best val_accuracy (max over seeds) | median / random | median epochs to target | epochs / random |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    rows=$(study_rows "$db" "$target")
    methods=$(printf '%s\n' "$rows" | awk '{ sub(/-s[0-9]+$/, "", $1); print $1 }' | awk '!seen[$0]++')
    base="" ebase=""
    for m in random $(printf '%s\n' "$methods" | grep -vx random); do
        mine=$(printf '%s\n' "$rows" | awk -v m="$m" '{ n = $1; sub(/-s[0-9]+$/, "", n) } n == m')
        [ -n "$mine" ] || continue
        # word splitting of the unquoted substitutions is wanted: one argument per seed
        # shellcheck disable=SC2046
        med=$(median %.1f $(printf '%s\n' "$mine" | awk '{ print $2 }'))
        # shellcheck disable=SC2046
        rmed=$(median %.1f $(printf '%s\n' "$mine" | awk '{ print $10 }'))
        # shellcheck disable=SC2046
        best=$(median %.4f $(printf '%s\n' "$mine" | awk '{ print $3 }'))
        # shellcheck disable=SC2046
        by60=$(median %.4f $(printf '%s\n' "$mine" | awk '{ print $7 }'))
        # shellcheck disable=SC2046
        by120=$(median %.4f $(printf '%s\n' "$mine" | awk '{ print $8 }'))
        top=$(printf '%s\n' "$mine" | awk '$3 > t { t = $3 } END { print t }')
        n=$(printf '%s\n' "$mine" | wc -l)
        hit=$(printf '%s\n' "$mine" | awk '$2 != "inf"' | wc -l)
        # shellcheck disable=SC2046
        epochs=$(median %.0f $(printf '%s\n' "$mine" | awk '{ print $9 }'))
        [ "$m" = random ] && base=$med && ebase=$epochs
        ratio=$(ratio_of "$med" "$base")
        eratio=$(ratio_of "$epochs" "$ebase")
        echo "| $m | $med | $rmed | $hit of $n | $best | $by60 | $by120 | $top | $ratio | $epochs | $eratio |"
    done
}

if [ "${1:-}" = "--report" ]; then
    [ $# -ge 2 ] || { echo "usage: $0 --report DB [TARGET...]" >&2; exit 2; }
    db=$2
    shift 2
    [ $# -gt 0 ] || set -- "${TARGET:-0.86}"
    for t in "$@"; do report "$db" "$t"; echo; done
    exit 0
fi

kestrel=${1:-./kestrel}
[ -x "$kestrel" ] || { echo "tuning_bench.sh: no kestrel binary at $kestrel (build first, or pass its path)" >&2; exit 2; }
SEEDS=${SEEDS:-"1 2 3"}
METHODS=${METHODS:-"random hyperband asha bohb"}
R=${R:-27}
MAX_TRAIN=${MAX_TRAIN:-10000}
MAX_SECONDS=${MAX_SECONDS:-200}
TRIAL_TIMEOUT=${TRIAL_TIMEOUT:-120}
TARGET=${TARGET:-0.86}
DATA_DIR=${DATA_DIR:-/usr/share/datasets/fashion-mnist}
OUT=${OUT:-$(mktemp -d /tmp/kestrel-tuning.XXXXXX)}
mkdir -p "$OUT/specs"
cp "$kestrel" "$OUT/kestrel"
db=$OUT/tuning.db
echo "tuning_bench: results in $OUT (database $db)"
echo "R=$R eta=3 max_train=$MAX_TRAIN max_seconds=$MAX_SECONDS trial_timeout=$TRIAL_TIMEOUT seeds=[$SEEDS] methods=[$METHODS]"

# Decode the data once into the cache every trial reads (<db dir>/kestrel-cache),
# so that the first study does not pay for it.
"$OUT/kestrel" train --set data_dir="$DATA_DIR" --set max_train=1000 --set epochs=1 \
    --set cache_dir="$OUT/kestrel-cache" > /dev/null

for seed in $SEEDS; do
    for m in $METHODS; do
        [ -f "$here/tuning/$m.json" ] || { echo "tuning_bench.sh: unknown method $m" >&2; exit 2; }
        name=$m-s$seed
        # Hyperband ends after its last bracket (49 configurations for R = 27,
        # eta = 3) and needs max_trials >= that; the others run until max_seconds.
        case $m in hyperband|bohb) trials=1000 ;; *) trials=100000 ;; esac
        strategy=$(sed -e "s/@SEED@/$seed/g" -e "s/@R@/$R/g" "$here/tuning/$m.json")
        sed -e "s|@NAME@|$name|" -e "s|@STRATEGY@|$strategy|" -e "s|@MAX_TRIALS@|$trials|" \
            -e "s|@MAX_SECONDS@|$MAX_SECONDS|" -e "s|@DATA_DIR@|$DATA_DIR|" \
            -e "s|@TRIAL_TIMEOUT@|$TRIAL_TIMEOUT|" \
            -e "s|@MAX_TRAIN@|$MAX_TRAIN|" -e "s|@R@|$R|" \
            "$here/tuning/study.json.in" > "$OUT/specs/$name.json"
        echo "$(date +%T) $name: start (load $(cut -d' ' -f1 /proc/loadavg))"
        rc=0
        "$OUT/kestrel" run "$OUT/specs/$name.json" --db "$db" --quiet > "$OUT/$name.log" 2>&1 || rc=$?
        # 0: every trial ran; 4: stopped by max_seconds, which is expected
        case $rc in 0|4) ;; *) echo "tuning_bench.sh: $name exited with $rc, see $OUT/$name.log" >&2 ;; esac
        rm -rf "$db.trials/$name"   # checkpoints: up to 6 MB a trial
        study_rows "$db" "$TARGET" | awk -v n="$name" -v t="$(date +%T)" '$1 == n {
            printf "%s %s: time to target %s s, best %s, %s trials, %s epochs\n", t, n, $2, $3, $4, $5 }'
    done
done
echo
report "$db" "$TARGET"
