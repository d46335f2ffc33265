#!/bin/sh
# End-to-end tests of `kestrel evaluate` on the real binary: a model trained
# by `kestrel train` on a small labelled CSV (every class present), then
# measured on it. Its JSON line holds each real in its shortest round-trip
# form, as every other output does (format_json), not "%.17g".
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
# Every real of the line as Python's repr (the shortest text that reads back
# the same double) writes it, compared by significant digits; the accuracy,
# right/300, is one of them and needs 16 or fewer.
check "kestrel evaluate prints each real in its shortest form" "python3 - eval.txt <<'P'
import json, re, sys
text = open(sys.argv[1]).read()
def digits(s):
    return re.sub(r'[eE].*', '', s).lstrip('-').replace('.', '').strip('0')
reals = re.findall(r'-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?', text)
reals = [s for s in reals if re.search(r'[.eE]', s)]
line = json.loads(text)
ok = len(reals) >= 5 and isinstance(line['accuracy'], float)
for s in reals:
    if float(s) != float(repr(float(s))) or digits(s) != digits(repr(float(s))):
        print('not shortest:', s, 'vs', repr(float(s)))
        ok = False
sys.exit(not ok)
P"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
