#!/bin/sh
# End-to-end tests of `kestrel evaluate` and `kestrel predict` on the real
# binary: a model trained by `kestrel train` on a small labelled CSV (every
# class present), then measured and scored on it. Each real of evaluate's and
# train's lines is in its shortest round-trip form, as every other output
# does (format_json), not "%.17g" or 10 digits; predict's float32 outputs in
# the shortest form that reads back the same float32, not "%.9g".
set -u
KESTREL=${KESTREL:-$(pwd)/kestrel}
T=$(mktemp -d /tmp/kestrel-predict.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
no() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() { if eval "$2"; then ok "$1"; else no "$1"; fi; }

# 300 rows, three classes by x0 + x1.
python3 - > c.csv <<'P'
import random
r = random.Random(3)
print("x0,x1,y")
for _ in range(300):
    a, b = r.uniform(-1, 1), r.uniform(-1, 1)
    print("%.6f,%.6f,%s" % (a, b, "lo" if a + b < -0.5 else "mid" if a + b < 0.5 else "hi"))
P
$KESTREL train --set data=csv:c.csv --set checkpoint=m.kck --set hidden=8 --set epochs=3 \
    --set threads=1 --set cache_dir= >train.txt 2>&1
check "kestrel train on a CSV" "[ $? -eq 0 ] && [ -s m.kck ]"
$KESTREL evaluate --model m.kck --data csv:c.csv >eval.txt 2>err.txt
check "kestrel evaluate on the labelled CSV" "[ $? -eq 0 ] && [ \$(wc -l <eval.txt) -eq 1 ]"
# Every real of FILE written as the shortest text that reads back the same
# double (Python's repr), or with f32, the same float32 (the shortest of
# %.{1..9}g that does), compared by significant digits; at least MIN reals.
shortest() {
    python3 - "$@" <<'P'
import re, struct, sys
path, least, f32 = sys.argv[1], int(sys.argv[2]), len(sys.argv) > 3
text = open(path).read()
def digits(s):
    return re.sub(r'[eE].*', '', s).lstrip('-').replace('.', '').strip('0')
def single(x):
    return struct.unpack('f', struct.pack('f', x))[0]
def best(s):
    if not f32:
        return repr(float(s))
    v = single(float(s))
    return next(t for t in ('%.*g' % (p, v) for p in range(1, 10)) if single(float(t)) == v)
reals = re.findall(r'-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?', text)
reals = [s for s in reals if re.search(r'[.eE]', s)]
ok = len(reals) >= least
for s in reals:
    if digits(s) != digits(best(s)):
        print('not shortest:', s, 'vs', best(s))
        ok = False
sys.exit(not ok)
P
}
# evaluate's accuracy, right/300, is one of its reals and needs 16 digits
# or fewer.
check "kestrel evaluate prints each real in its shortest form" \
    "shortest eval.txt 5 && python3 -c 'import json, sys; sys.exit(not isinstance(json.load(open(\"eval.txt\"))[\"accuracy\"], float))'"
# ... and with every digit a double needs: a mean loss needs 15 to 17 (10
# digits cut them)
check "kestrel train's report lines hold each real in its shortest form" \
    "shortest train.txt 20 && python3 -c 'import re, sys; sys.exit(not re.search(r\"\\d\\.\\d{14}\", open(\"train.txt\").read()))'"
$KESTREL predict --model m.kck --data csv:c.csv >pred.csv 2>err.txt
check "kestrel predict writes each float32 in its shortest form (CSV)" "shortest pred.csv 900 f32"
$KESTREL predict --model m.kck --data csv:c.csv --format jsonl >pred.jsonl 2>err.txt
check "kestrel predict writes each float32 in its shortest form (JSON lines)" "shortest pred.jsonl 900 f32"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
