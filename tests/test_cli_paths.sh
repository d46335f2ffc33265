#!/bin/sh
# End-to-end tests of where the real `kestrel` binary puts and finds a
# study's files: the default trial folders and dataset cache follow the
# history file itself, whatever name (a symbolic link, a relative path from
# another folder) reaches it, so a promotion, `kestrel delete` and
# `kestrel best --export-model` find every trial's folder under any name.
fixture=paths
. "${top_srcdir:-$(pwd)}/tests/cli_fixture.sh"
R=$(pwd -P)   # the fixture's folder, its links resolved

# A command study whose every trial leaves a "model" in its folder.
spec() {
    cat > s.json <<J
{"name": "s", "objective": {"metric": "value"},
 "space": {"x": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random", "seed": 1},
 "budget": {"max_trials": $1, "max_parallel": 1},
 "run": {"command": "echo \$KESTREL_CACHE_DIR > \$KESTREL_CHECKPOINT_DIR/checkpoint.kck; echo '{{\"value\": {x}}}'"}}
J
}

# --- a history run through a symbolic link, then through its own name ----
mkdir real
ln -s real/k.db link.db
spec 2
$KESTREL run s.json --db real/k.db >/dev/null 2>&1 && { spec 4; $KESTREL run s.json --db link.db >/dev/null 2>&1; }; rc=$?
check "a study resumed through a link to its history: exit 0" "[ $rc -eq 0 ]"
check "its trial folders are all beside the history file, none beside the link" \
    "[ \"\$(ls real/k.db.trials/s)\" = \"\$(printf '0\\n1\\n2\\n3')\" ] && [ ! -e link.db.trials ]"
check "its trials share the dataset cache beside the history file" \
    "[ \"\$(cat real/k.db.trials/s/*/checkpoint.kck link.db.trials/s/*/checkpoint.kck 2>/dev/null | sort -u)\" = '$R/real/kestrel-cache' ]"
best=$($KESTREL best s --db link.db --format csv | awk -F, 'NR == 2 {print $1}')
for db in link.db real/k.db; do
    rm -f m.kck
    $KESTREL best s --db $db --export-model m.kck >/dev/null 2>err.txt; rc=$?
    check "best --export-model through $db finds the best trial's model" \
        "[ $rc -eq 0 ] && cmp -s m.kck real/k.db.trials/s/$best/checkpoint.kck"
done
$KESTREL delete s --db link.db >/dev/null 2>&1; rc=$?
check "kestrel delete through the link removes the trial folders beside the history" \
    "[ $rc -eq 0 ] && [ ! -e real/k.db.trials/s ]"
# an explicit --work-dir is the folder given, whatever the history's name
spec 1
$KESTREL run s.json --db link.db --work-dir mine >/dev/null 2>&1; rc=$?
check "an explicit --work-dir is used as given" "[ $rc -eq 0 ] && [ -d mine/s/0 ] && [ ! -e real/k.db.trials/s ]"
$KESTREL delete s --db link.db --work-dir mine >/dev/null 2>&1

# kestrel serve names them as kestrel run does: a study begun by run, its
# budget raised over HTTP to a server of the history through the link
ln -s real/q.db qlink.db
spec 1
$KESTREL run s.json --db real/q.db >/dev/null 2>&1
spec 2
$KESTREL serve --db qlink.db --listen 127.0.0.1:0 >serve.out 2>serve.err &
pid=$!
i=0; while [ $i -lt 600 ] && ! grep -qs '^listening on' serve.out; do sleep 0.1; i=$((i + 1)); done
url=$(sed -n 's|^listening on \(http://[^/]*\)/$|\1|p' serve.out)
python3 -c 'import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1], open("s.json", "rb").read()))' "$url/api/v1/studies"
i=0; while [ $i -lt 600 ] && [ "$(sqlite3 real/q.db "select count(*) from trials where state = 'COMPLETE'")" != 2 ]; do
    sleep 0.1; i=$((i + 1)); done
kill $pid; wait $pid
check "kestrel serve through a link to the history: one set of trial folders beside the file" \
    "[ \"\$(ls real/q.db.trials/s 2>&1)\" = \"\$(printf '0\\n1')\" ] && [ ! -e qlink.db.trials ]"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
