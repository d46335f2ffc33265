#!/bin/sh
# End-to-end tests of the query and study commands (trials, best, studies,
# enqueue, the CSV export) on real histories: real SQLite files, trials run
# as real child processes. Every parameter and metric a study's trials have
# is a column, and every column's name differs from every other's, as a
# reader keyed by name (csv.DictReader, pandas) needs.
fixture=cli-query
. "${top_srcdir:-$(pwd)}/tests/cli_fixture.sh"
q() { sqlite3 "${DB:-kestrel.db}" "$1"; }
# the CSV header's names, one a line, and how many are not unique
header() { head -1 "$1" | tr ',' '\n'; }
dups() { header "$1" | sort | uniq -d | wc -l; }

# --- a clashing name too long for a fixed label buffer --------------------
# A metric named as a parameter is metric_NAME; a name of 80 bytes and more
# (an older history's, which took any length) was left bare: two columns of
# the same name, of which a reader keyed by name kept one.
cat > long.json <<'J'
{"name": "long", "objective": {"metric": "value"},
 "space": {"p": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random", "seed": 1}, "budget": {"max_trials": 1},
 "run": {"command": "echo '{{\"value\": {p}, \"m\": 2}}'"}}
J
L=$(printf 'n%.0s' $(seq 100))
$KESTREL run long.json --db long.db >/dev/null 2>&1; rc=$?
DB=long.db q "UPDATE trial_params SET name = '$L'; UPDATE trial_metrics SET name = '$L' WHERE name = 'm'"
$KESTREL trials long --db long.db --format csv >out.csv 2>err.txt; rc2=$?
check "kestrel trials --format csv: a metric of 100 bytes named as a parameter is metric_NAME" \
    "[ $rc -eq 0 ] && [ $rc2 -eq 0 ] && [ \$(dups out.csv) -eq 0 ] && header out.csv | grep -qx 'metric_$L' && header out.csv | grep -qx '$L'"

# --- enqueue --set with a name longer than any parameter's -----------------
# The name was cut to its first 63 bytes: a configuration for the parameter
# so named (a 63-byte one here) was queued, exit 0, of a name never given.
A=$(printf 'a%.0s' $(seq 63))
cat > en.json <<J
{"name": "en", "objective": {"metric": "value"},
 "space": {"$A": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random", "seed": 1}, "budget": {"max_trials": 1},
 "run": {"command": "echo '{{\\"value\\": 1}}'"}}
J
$KESTREL run en.json --db en.db >/dev/null 2>&1; rc=$?
$KESTREL enqueue en --db en.db --set "${A}bc=0.5" >out.txt 2>err.txt; rc2=$?
check "kestrel enqueue --set NAME=V with a NAME of 65 bytes: exit 2, the limit named, nothing queued" \
    "[ $rc -eq 0 ] && [ $rc2 -eq 2 ] && grep -q 'is 65 bytes long: no parameter.s name is longer than 63' err.txt && [ \$(DB=en.db q 'select count(*) from enqueued') -eq 0 ]"

# --- every metric and parameter a column, however many --------------------
# 71 final metrics (40 of trial 0's, 40 of trial 1's: a trial keeps 64) and
# 128 parameters (a space of 64, then another of 64 by run --force: the old
# trial keeps its values): the CSV kept 64 metrics and 64 parameters,
# silently.
python3 - <<'P'
import json
def spec(prefix, trials):
    return {"name": "wide", "objective": {"metric": "value"},
            "space": {"%s%d" % (prefix, i): {"type": "float", "low": 0, "high": 1} for i in range(64)},
            "strategy": {"name": "random", "seed": 1}, "budget": {"max_trials": trials},
            "run": {"command": ["python3", "metrics.py", "{trial}"]}}
json.dump(spec("p", 1), open("wide1.json", "w"))
json.dump(spec("q", 2), open("wide2.json", "w"))
open("metrics.py", "w").write(
    "import json, sys\n"
    "first = 31 * int(sys.argv[1])\n"
    "print(json.dumps(dict({'m%02d' % i: i for i in range(first, first + 40)}, value=1)))\n")
P
$KESTREL run wide1.json --db wide.db >/dev/null 2>&1 && $KESTREL run wide2.json --db wide.db --force >/dev/null 2>&1; rc=$?
$KESTREL trials wide --db wide.db --format csv >out.csv 2>err.txt; rc2=$?
$KESTREL trials wide --db wide.db >out.txt 2>&1; rc3=$?
check "kestrel trials --format csv: 71 metrics and 128 parameters (64 removed by --force) are 199 columns, values kept" \
    "[ $rc -eq 0 ] && [ $rc2 -eq 0 ] && [ \$(header out.csv | wc -l) -eq 212 ] && [ \$(header out.csv | grep -c '^m[0-9][0-9]\$') -eq 71 ] && [ \$(header out.csv | grep -c '^[pq][0-9]*\$') -eq 128 ] && python3 -c \"import csv; r = list(csv.DictReader(open('out.csv'))); assert r[0]['m00'] == '0' and not r[0]['m70'] and r[0]['p63'] and not r[0]['q63'] and r[1]['q63'] and r[1]['m70'] == '70', r[0]\""
check "kestrel trials (table): its header names every metric too" "[ $rc3 -eq 0 ] && head -1 out.txt | grep -q ' m70 ' && head -1 out.txt | grep -q ' q63 '"

# --- the study's JSON names the parameters a --force removed ---------------
# The export keeps their columns (wide's p0..p63 above), but GET
# /api/v1/studies/NAME listed the space's only: a client could not name them.
python3 - "$KESTREL" <<'P' >out.txt 2>&1; rc=$?
import json, subprocess, sys, urllib.request
p = subprocess.Popen([sys.argv[1], "serve", "--db", "wide.db", "--listen", "127.0.0.1:0"],
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
try:
    base = p.stdout.readline().split()[-1].rstrip("/")
    study = json.load(urllib.request.urlopen(base + "/api/v1/studies/wide"))
    header = urllib.request.urlopen(base + "/api/v1/studies/wide/export.csv").readline().decode().strip().split(",")
    assert study["params"] == ["q%d" % i for i in range(64)], study["params"]
    assert study["removed_params"] == sorted("p%d" % i for i in range(64)), study.get("removed_params")
    assert header[3:3 + 128] == study["params"] + study["removed_params"], header
finally:
    p.terminate()
    p.wait()
P
check "GET /api/v1/studies/NAME: removed_params names the parameters a --force removed, the export's columns after params" "[ $rc -eq 0 ]"

# --- int ranges a double cannot hold exactly ------------------------------
# A value is low + k*step: of -2^53..2^53 step 3, 11 of 20 random values
# were off their step (the sum rounded). Refused, naming the field; a range
# of 2^53 runs, every value on its step.
cat > big.json <<'J'
{"name": "big", "objective": {"metric": "value"},
 "space": {"n": {"type": "int", "low": -9007199254740992, "high": 9007199254740992, "step": 3}},
 "strategy": {"name": "random", "seed": 1}, "budget": {"max_trials": 20, "max_parallel": 4},
 "run": {"command": "echo '{{\"value\": 1}}'"}}
J
$KESTREL validate big.json >out.txt 2>err.txt; rc=$?
check "kestrel validate: an int range wider than 2^53 is refused (exit 2), the field named" \
    "[ $rc -eq 2 ] && grep -q 'space.n.high: high - low must be at most 2^53' err.txt"
sed 's/-9007199254740992/-4503599627370496/; s/"high": 9007199254740992/"high": 4503599627370496/' big.json > big2.json
$KESTREL run big2.json --db big.db >/dev/null 2>&1; rc=$?
$KESTREL trials big --db big.db --format json >out.json 2>err.txt
check "kestrel run: an int range of 2^53 with step 3 draws values on their step" \
    "[ $rc -eq 0 ] && python3 -c \"import json; t = json.load(open('out.json')); assert len(t) == 20 and all((x['n'] + 4503599627370496) % 3 == 0 for x in t), [x['n'] for x in t]\""

# --- integral numbers in plain digits ------------------------------------
# An int of 16 digits ending in 0 was written "7.83832677973169e+15" by the
# CSV and --format json (its shortest form), where the API's JSON and
# docs/openapi.yaml say integers: int() of the cell failed.
cat > digits.json <<'J'
{"name": "digits", "objective": {"metric": "value"},
 "space": {"n": {"type": "fixed", "value": 7838326779731690}, "x": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random", "seed": 1}, "budget": {"max_trials": 1},
 "run": {"command": "echo '{{\"value\": 0.1}}'"}}
J
$KESTREL run digits.json --db digits.db >/dev/null 2>&1; rc=$?
$KESTREL trials digits --db digits.db --format csv >out.csv
$KESTREL trials digits --db digits.db --format json >out.json
check "kestrel trials --format csv and json: an integral 7838326779731690 in plain digits, 0.1 as 0.1" \
    "[ $rc -eq 0 ] && python3 -c \"import csv, json; r = next(csv.DictReader(open('out.csv'))); j = json.load(open('out.json'))[0]; assert (r['n'], r['value'], j['n']) == ('7838326779731690', '0.1', 7838326779731690), (r, j)\""

# --- the pending configurations' reals in their shortest form --------------
# `kestrel enqueue STUDY` listed --set x=0.1 as 0.10000000000000001 (the API
# and every other listing write 0.1).
$KESTREL enqueue digits --db digits.db --set x=0.1 >/dev/null 2>&1; rc=$?
$KESTREL enqueue digits --db digits.db >out.json 2>err.txt; rc2=$?
check "kestrel enqueue STUDY: a pending 0.1 is listed as 0.1" \
    "[ $rc -eq 0 ] && [ $rc2 -eq 0 ] && grep -q '\"x\": 0.1\$' out.json && ! grep -q 0.10000 out.json && python3 -c \"import json; assert json.load(open('out.json'))[0]['params']['x'] == 0.1\""

# --- output that cannot be written is an error ----------------------------
# `kestrel trials S --format csv > out.csv` on a full disk left the file cut
# and exited 0, saying nothing (/dev/full: every write fails with ENOSPC).
if [ -w /dev/full ]; then
    for c in "trials wide --format csv" "trials wide" "best digits" "studies" "trial digits 0" "enqueue digits"; do
        $KESTREL $c --db $(case $c in *wide*) echo wide.db ;; *) echo digits.db ;; esac) >/dev/full 2>err.txt; rc=$?
        check "kestrel $c > /dev/full: exit 1, 'No space left on device' on stderr" \
            "[ $rc -eq 1 ] && grep -q 'cannot write the output: No space left on device' err.txt"
    done
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
