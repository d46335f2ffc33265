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

# serve_spec DB FILE N [OPTION...]: posts s.json to a `kestrel serve --db DB OPTION...` (a
# fresh log each: one left by the last server is not read for this one's
# address), waits for FILE's study to hold N COMPLETE trials, and stops the
# server.
serve_spec() {
    db=$1 file=$2 n=$3
    shift 3
    # the background shell truncates serveN.out when it gets to it: a call
    # before with the same N left its 'listening on' line there, which the
    # wait below could read before then, and post to no URL
    rm -f serve$n.out serve$n.err
    $KESTREL serve --db "$db" --listen 127.0.0.1:0 "$@" >serve$n.out 2>serve$n.err &
    pid=$!
    # hang guards (5 minutes), for a loaded machine: each waits for a state
    i=0; while [ $i -lt 3000 ] && ! grep -qs '^listening on' serve$n.out; do sleep 0.1; i=$((i + 1)); done
    url=$(sed -n 's|^listening on \(http://[^/]*\)/$|\1|p' serve$n.out)
    python3 -c 'import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1], open("s.json", "rb").read()))' "$url/api/v1/studies"
    i=0; while [ $i -lt 3000 ] && [ "$(sqlite3 "$file" "select count(*) from trials where state = 'COMPLETE'")" != "$n" ]; do
        sleep 0.1; i=$((i + 1)); done
    kill $pid; wait $pid
}

# exports DB WORK: kestrel best --export-model through DB (no --work-dir)
# copies the best trial's model, the one in WORK/s/BEST
exports() {
    best=$($KESTREL best s --db "$1" --format csv | awk -F, 'NR == 2 {print $1}')
    rm -f m.kck
    $KESTREL best s --db "$1" --export-model m.kck >/dev/null 2>err.txt && cmp -s m.kck "$2/s/$best/checkpoint.kck"
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
    "[ \"\$(cat real/k.db.trials/s/*/checkpoint.kck link.db.trials/s/*/checkpoint.kck 2>/dev/null | sort -u)\" = '$R/real/.kestrel-cache' ]"
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
serve_spec qlink.db real/q.db 2
check "kestrel serve through a link to the history: one set of trial folders beside the file" \
    "[ \"\$(ls real/q.db.trials/s 2>&1)\" = \"\$(printf '0\\n1')\" ] && [ ! -e qlink.db.trials ]"

# --- a study's --work-dir is remembered by the history -------------------
# run with a relative --work-dir, then resumed from another folder without
# it: by kestrel run, by kestrel serve; then kestrel best --export-model and
# kestrel delete without it find the folders there
mkdir w sub
spec 1
$KESTREL run s.json --db w/k.db --work-dir mine2 >/dev/null 2>&1; rc=$?
check "a study run with --work-dir: its trial folder there" "[ $rc -eq 0 ] && [ -d mine2/s/0 ]"
check "the history keeps the folder, absolute" \
    "[ \"\$(sqlite3 w/k.db \"select work_dir from studies where name = 's'\")\" = '$R/mine2' ]"
spec 2
(cd sub && $KESTREL run ../s.json --db ../w/k.db >/dev/null 2>&1); rc=$?
check "resumed by kestrel run without --work-dir: its next trial folder in the same folder" \
    "[ $rc -eq 0 ] && [ -d mine2/s/1 ] && [ ! -e w/k.db.trials ] && [ ! -e sub/mine2 ]"
spec 3
serve_spec w/k.db w/k.db 3
check "resumed by kestrel serve: its next trial folder in the same folder" \
    "[ -d mine2/s/2 ] && [ ! -e w/k.db.trials ]"
check "best --export-model without --work-dir finds the best trial's model there" \
    "exports w/k.db mine2"
# a --work-dir given again that differs moves the study's folder, said (its
# trailing "/" not stored)
spec 4
$KESTREL run s.json --db w/k.db --work-dir other/ >/dev/null 2>err.txt; rc=$?
check "a different --work-dir on resume: used and stored, a warning naming both folders" \
    "[ $rc -eq 0 ] && [ -d other/s/3 ] && grep -q \"$R/mine2\" err.txt && grep -q \"$R/other\" err.txt && [ \"\$(sqlite3 w/k.db \"select work_dir from studies\")\" = '$R/other' ]"
mv other/s/3 mine2/s/3
$KESTREL run s.json --db w/k.db --work-dir mine2 >/dev/null 2>&1
$KESTREL delete s --db w/k.db >/dev/null 2>&1; rc=$?
check "kestrel delete without --work-dir removes the folders there" \
    "[ $rc -eq 0 ] && [ ! -e mine2/s ]"

# --- kestrel serve --work-dir: the folder of the studies it creates ------
# a study posted to it keeps its trial folders in D, stored with it (made
# absolute), where kestrel best --export-model and kestrel delete find them
# without the option; a study that exists keeps its own folder
mkdir v
spec 2
serve_spec v/k.db v/k.db 2 --work-dir srv
check "a study created over HTTP by kestrel serve --work-dir D: its trial folders in D" \
    "[ \"\$(ls srv/s 2>&1)\" = \"\$(printf '0\\n1')\" ] && [ ! -e v/k.db.trials ]"
check "the history keeps D, absolute, with the study" \
    "[ \"\$(sqlite3 v/k.db \"select work_dir from studies where name = 's'\")\" = '$R/srv' ]"
check "best --export-model without --work-dir finds its model in D" "exports v/k.db srv"
spec 3
(cd sub && $KESTREL run ../s.json --db ../v/k.db >/dev/null 2>&1); rc=$?
check "resumed by kestrel run without --work-dir: its next trial folder in D" \
    "[ $rc -eq 0 ] && [ -d srv/s/2 ] && [ ! -e v/k.db.trials ]"
$KESTREL delete s --db v/k.db >/dev/null 2>&1; rc=$?
check "kestrel delete without --work-dir removes the folders in D" "[ $rc -eq 0 ] && [ ! -e srv/s ]"
spec 1
$KESTREL run s.json --db v/k.db >/dev/null 2>&1
spec 2
serve_spec v/k.db v/k.db 2 --work-dir srv
check "a study that exists, resumed over HTTP, keeps its own folder" \
    "[ -d v/k.db.trials/s/1 ] && [ ! -e srv/s ] && [ -z \"\$(sqlite3 v/k.db \"select work_dir from studies\")\" ]"

# --- a study run through a link before 4e00c07 ---------------------------
# its folders are in LINK.trials, named after the link, not the file: found
# there through the link by best --export-model and a resume, which stores
# them for good: delete through the file's own name removes them
mkdir old
ln -s old/k.db olink.db
spec 1
$KESTREL run s.json --db old/k.db >/dev/null 2>&1
mkdir olink.db.trials
mv old/k.db.trials/s olink.db.trials/s
rmdir old/k.db.trials
rm -f m.kck
$KESTREL best s --db olink.db --export-model m.kck >/dev/null 2>err.txt; rc=$?
check "best --export-model finds a model in LINK.trials, where a run through the link put it" \
    "[ $rc -eq 0 ] && cmp -s m.kck olink.db.trials/s/0/checkpoint.kck"
spec 2
$KESTREL run s.json --db olink.db >/dev/null 2>&1; rc=$?
check "resumed through the link: its next trial folder beside the others, in LINK.trials" \
    "[ $rc -eq 0 ] && [ -d olink.db.trials/s/1 ] && [ ! -e old/k.db.trials ] && [ \"\$(sqlite3 old/k.db \"select work_dir from studies\")\" = '$R/olink.db.trials' ]"
$KESTREL delete s --db old/k.db >/dev/null 2>&1; rc=$?
check "kestrel delete through the file's name removes the folders in LINK.trials" "[ $rc -eq 0 ] && [ ! -e olink.db.trials/s ]"

# --- trials whose folder cannot be made ---------------------------------
# they are FAILED and use up max_trials: the next run said the study was
# done ("nothing left to run", or failed again) and never that
# --retry-failed runs them; it now says how many are left and names it.
# As root no chmod makes a folder unwritable: a regular file stands where
# a folder must be made
count() { sqlite3 "$1" "select count(*) from trials where state = '$2'"; }
mkdir -p part/k.db.trials/s
: > part/k.db.trials/s/1
spec 3
$KESTREL run s.json --db part/k.db >out1.txt 2>&1; rc=$?
check "a trial whose folder is a file Kestrel did not make: FAILED, the others COMPLETE" \
    "[ $rc -eq 0 ] && [ \$(count part/k.db FAILED) -eq 1 ] && [ \$(count part/k.db COMPLETE) -eq 2 ]"
$KESTREL run s.json --db part/k.db >out2.txt 2>&1; rc=$?
check "run again: nothing left to run, 1 FAILED trial left, --retry-failed named" \
    "[ $rc -eq 0 ] && grep -q 'study s: complete, 3 trials (2 complete, 0 pruned, 1 failed, 0 interrupted), .*; nothing left to run; 1 FAILED trial left: --retry-failed runs it again\$' out2.txt"
rm part/k.db.trials/s/1
$KESTREL run s.json --db part/k.db --retry-failed >out3.txt 2>&1; rc=$?
check "--retry-failed runs it, and the line names no FAILED trial left" \
    "[ $rc -eq 0 ] && [ \$(count part/k.db COMPLETE) -eq 3 ] && ! grep -q 'FAILED trial' out3.txt"
mkdir none
: > none/k.db.trials
$KESTREL run s.json --db none/k.db >out1.txt 2>err1.txt; rc=$?
check "a file where the trials folder must be: every trial FAILED, naming the file" \
    "[ $rc -eq 1 ] && [ \$(count none/k.db FAILED) -eq 3 ] && grep -q 'FAILED (cannot start the trial: cannot create $R/none/k.db.trials/s/0: $R/none/k.db.trials is a file, not a folder: move it away or choose another work folder)' out1.txt"
rm none/k.db.trials
$KESTREL run s.json --db none/k.db >out2.txt 2>err2.txt; rc=$?
check "run again once mended: nothing left to run, 3 FAILED trials left, --retry-failed named" \
    "[ $rc -eq 1 ] && grep -q 'study s: failed, 3 trials (0 complete, 0 pruned, 3 failed, 0 interrupted); nothing left to run; 3 FAILED trials left: --retry-failed runs them again\$' out2.txt"
$KESTREL run s.json --db none/k.db --retry-failed >out3.txt 2>&1; rc=$?
check "--retry-failed runs them: the study complete" "[ $rc -eq 0 ] && [ \$(count none/k.db COMPLETE) -eq 3 ]"
$KESTREL run s.json --db none/k.db --retry-failed >out4.txt 2>&1; rc=$?
check "--retry-failed again: nothing left to run, no FAILED trial to retry (as the server's 409)" \
    "[ $rc -eq 0 ] && grep -q 'study s: complete, 6 trials (3 complete, 0 pruned, 3 failed, 0 interrupted), .*; nothing left to run; no FAILED trial to retry (each was retried already)\$' out4.txt"
# no trial folder can be under a file: a delete has none to remove there
mv none/k.db.trials none/moved
: > none/k.db.trials
$KESTREL delete s --db none/k.db >out4.txt 2>&1; rc=$?
check "kestrel delete with a file where the trials folder was: deleted, exit 0" \
    "[ $rc -eq 0 ] && grep -q '^deleted study s (6 trials)\$' out4.txt"

# --- a study named kestrel-cache, its folders in the history's folder ------
# The local dataset cache was <db's folder>/kestrel-cache, and a study of that
# name run with --work-dir the history's folder had its trial folders (and
# .kestrel-study) in it: a `rm -rf D/kestrel-cache` of that study's folders
# removed every study's decoded datasets. The cache's name is one no study
# can have.
mkdir kc
cat > kc.json <<'J'
{"name": "kestrel-cache", "objective": {"metric": "value"},
 "space": {"x": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random", "seed": 1}, "budget": {"max_trials": 1},
 "run": {"command": "echo $KESTREL_CACHE_DIR > $KESTREL_CHECKPOINT_DIR/cache.txt; echo '{{\"value\": {x}}}'"}}
J
$KESTREL run kc.json --db kc/k.db --work-dir kc >out.txt 2>&1; rc=$?
check "a study named kestrel-cache with --work-dir the history's folder: its folder is not the dataset cache" \
    "[ $rc -eq 0 ] && [ \"\$(cat kc/kestrel-cache/0/cache.txt)\" = '$R/kc/.kestrel-cache' ]"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
