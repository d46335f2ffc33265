#!/bin/sh
# End-to-end tests of `kestrel evaluate` and `kestrel predict` on the real
# binary: a model trained by `kestrel train` on a small labelled CSV (every
# class present), then measured and scored on it. Each real of evaluate's and
# train's lines is in its shortest round-trip form, as every other output
# does (format_json), not "%.17g" or 10 digits; predict's float32 outputs in
# the shortest form that reads back the same float32, not "%.9g".
fixture=predict
. "${top_srcdir:-$(pwd)}/tests/cli_fixture.sh"

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
# Rows still to label, in a file with the label column (a test.csv whose
# target is blank, or holds labels training never saw): predict read their
# labels and refused them ("c.csv:2: column 3 ('y'): missing label ''
# (not imputed: fill or drop the row)", exit 2), though it scores rows
# without using them; it now ignores the column as any other the model
# does not take. evaluate still needs the labels.
printf 'x0,x1,y\n0.5,0.5,\n-0.9,-0.9,maybe\n0.1,-0.2,NA\n' > tolabel.csv
cut -d, -f1,2 tolabel.csv > nolabel.csv
$KESTREL predict --model m.kck --data csv:tolabel.csv >tolabel.out 2>err.txt; rc=$?
$KESTREL predict --model m.kck --data csv:nolabel.csv >nolabel.out 2>&1
check "kestrel predict scores rows whose label cells are empty or unknown, as without the column" \
    "[ $rc -eq 0 ] && [ \$(wc -l <tolabel.out) -eq 4 ] && cmp -s tolabel.out nolabel.out"
$KESTREL evaluate --model m.kck --data csv:tolabel.csv >out.txt 2>err.txt; rc=$?
check "kestrel evaluate of such rows refuses the missing label, naming its line (exit 1)" \
    "[ $rc -eq 1 ] && [ ! -s out.txt ] && grep -q \"tolabel.csv:2: column 3 ('y'): missing label ''\" err.txt"
# Data that does not fit the model is a failure (exit 1), as kestrel train's
# is once it reads data; it was exit 2, the code of a wrong command line,
# which a source that is none still gets, before any file is read.
$KESTREL evaluate --model m.kck --data fashion-mnist >out.txt 2>err.txt; rc=$?
check "kestrel evaluate of rows of another width: exit 1, naming the widths" \
    "[ $rc -eq 1 ] && grep -q 'data: rows have 784 features, the model takes 2' err.txt"
cut -d, -f1,2 c.csv > nolabels.csv
$KESTREL evaluate --model m.kck --data csv:nolabels.csv >out.txt 2>err.txt; rc=$?
check "kestrel evaluate of rows without labels: exit 1" \
    "[ $rc -eq 1 ] && grep -q 'nolabels.csv has no label column' err.txt"
$KESTREL predict --model missing.kck --data c.csv >out.txt 2>err.txt; rc=$?
check "kestrel predict --data without a source's name: a usage error (exit 2), before the model is read" \
    "[ $rc -eq 2 ] && grep -q \"expected csv:PATH, fashion-mnist or mnist, not 'c.csv'\" err.txt"
# --data-dir is the IDX folder: with a CSV it was dropped without a word,
# the file read from its own path (exit 0), whichever folder was meant.
mkdir -p other && cp c.csv other/c.csv
for c in predict evaluate; do
    $KESTREL $c --model m.kck --data csv:c.csv --data-dir other >out.txt 2>err.txt; rc=$?
    check "kestrel $c --data csv:F --data-dir D: a usage error (exit 2) naming --data-dir" \
        "[ $rc -eq 2 ] && [ ! -s out.txt ] && grep -q 'kestrel $c: --data-dir: only fashion-mnist and mnist are read from a folder; csv:c.csv is read from its own path (the file in that folder: --data csv:other/c.csv)' err.txt"
done
# predict has --data-dir, not the trainer's data_dir, which the IDX
# sources' errors named ("data_dir: source 'mnist' needs the IDX directory",
# exit 1, after the model was read).
$KESTREL predict --model missing.kck --data mnist >out.txt 2>err.txt; rc=$?
check "kestrel predict --data mnist without --data-dir: a usage error (exit 2) naming --data-dir" \
    "[ $rc -eq 2 ] && grep -q '^kestrel predict: --data mnist needs --data-dir DIR, the folder of its IDX files' err.txt"
$KESTREL evaluate --model m.kck --data fashion-mnist --data-dir nosuch >out.txt 2>err.txt; rc=$?
check "kestrel evaluate of an IDX folder without the files names --data-dir (exit 1)" \
    "[ $rc -eq 1 ] && grep -q '^kestrel evaluate: --data-dir: nosuch: neither train-images-idx3-ubyte nor' err.txt"
$KESTREL evaluate --model missing.kck --data csv: >out.txt 2>err.txt; rc=$?
check "kestrel evaluate --data csv: (no path): a usage error (exit 2), before the model is read" \
    "[ $rc -eq 2 ] && grep -q \"expected csv:PATH, fashion-mnist or mnist, not 'csv:'\" err.txt"
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
# A model file names the training file's columns and classes. Columns are
# matched by name: swapped ones, or the features among other columns, score
# as in training order, and a renamed one is refused naming the column the
# model needs (all were scored by position before). A label training never
# saw is refused naming its line (it was scored as the class at its sorted
# position). --labels prints the training file's labels.
python3 - > d.csv <<'P'
import random
r = random.Random(1)
print("a,b,color,label")
for _ in range(300):
    a, b = r.random(), r.random()
    print("%.6f,%.6f,%s,%s" % (a, b, r.choice(["red", "green", "blue"]), "yes" if a + b > 1 else "no"))
P
$KESTREL train --set data=csv:d.csv --set categorical=color --set epochs=2 --set checkpoint=d.kck \
    --set threads=1 --set cache_dir= >train-d.txt 2>&1
check "kestrel train on a CSV with a categorical column" "[ $? -eq 0 ] && [ -s d.kck ]"
printf 'a,b,color\n0.9,0.2,red\n0.1,0.7,blue\n0.5,0.4,green\n' > ab.csv
printf 'b,a,color\n0.2,0.9,red\n0.7,0.1,blue\n0.4,0.5,green\n' > ba.csv
printf 'color,id,b,a\nred,1,0.2,0.9\nblue,2,0.7,0.1\ngreen,3,0.4,0.5\n' > more.csv
printf 'x,y,color\n0.9,0.2,red\n' > xy.csv
$KESTREL predict --model d.kck --data csv:ab.csv >ab.out 2>&1
$KESTREL predict --model d.kck --data csv:ba.csv >ba.out 2>&1
check "kestrel predict matches swapped columns by name" "[ -s ab.out ] && cmp -s ab.out ba.out"
$KESTREL predict --model d.kck --data csv:more.csv >more.out 2>&1
check "kestrel predict ignores columns the model does not take" "cmp -s ab.out more.out"
$KESTREL predict --model d.kck --data csv:xy.csv >xy.out 2>&1
check "kestrel predict refuses a renamed column, naming it (exit 1)" \
    "[ $? -eq 1 ] && grep -q \"xy.csv: no column 'a'\" xy.out"
printf 'a,b,color,label\n0.5,0.5,red,maybe\n0.1,0.1,red,yes\n' > e2.csv
$KESTREL evaluate --model d.kck --data csv:e2.csv >e2.out 2>&1
check "kestrel evaluate refuses a label training never saw, naming its line (exit 1)" \
    "[ $? -eq 1 ] && grep -q \"e2.csv:2: column 4 ('label'): label 'maybe' was not in the training data\" e2.out"
printf 'a,b,color,label\n0.9,0.9,red,yes\n0.8,0.9,blue,yes\n' > yes.csv
$KESTREL evaluate --model d.kck --data csv:yes.csv >yes.out 2>&1
check "kestrel evaluate takes a file holding one of the classes" "[ $? -eq 0 ] && grep -q '\"rows\":2' yes.out"
$KESTREL predict --model d.kck --data csv:ab.csv --labels >labels.csv 2>&1
check "kestrel predict --labels writes the training labels (CSV)" \
    "[ \$(cut -d, -f2 labels.csv | sed 1d | grep -cxE 'yes|no') -eq 3 ] && [ \"\$(cut -d, -f1,3- labels.csv)\" = \"\$(cut -d, -f1,3- ab.out)\" ]"
$KESTREL predict --model d.kck --data csv:ab.csv --labels --format jsonl >labels.jsonl 2>&1
check "kestrel predict --labels writes the training labels (JSON lines)" \
    "python3 -c 'import json, sys; sys.exit(not all(json.loads(l)[\"prediction\"] in (\"yes\", \"no\") for l in open(\"labels.jsonl\")))'"
# A model trained before CSV data took decimal numbers only (06f0e2c) on a
# hexadecimal label ('0x10', read then as 16) stores it as spelled: loading
# it with labelled rows said "the model's class labels are out of order
# (corrupt file)" (0x10 sorted by its value among decimal labels), or
# refused the training file's own '0x10' as a hexadecimal label. It is said
# for what it is, naming the model file and the label. The older file is
# this one with its stored class label rewritten (the columns JSON, last
# before the CRC-32; columns_len is the header's uint64 at byte 240).
sed 's/,lo$/,5/; s/,mid$/,16/; s/,hi$/,20/' c.csv > n.csv   # c.csv's rows, decimal labels
$KESTREL train --set data=csv:n.csv --set checkpoint=n.kck --set hidden=8 --set epochs=2 \
    --set threads=1 --set cache_dir= >/dev/null 2>&1
relabel() {
    python3 - "$@" <<'P'
import json, struct, sys, zlib
src, dst, old, new = sys.argv[1:]
b = bytearray(open(src, 'rb').read())
n = struct.unpack_from('<Q', b, 240)[0]
cols = json.loads(bytes(b[len(b) - 4 - n:len(b) - 4]))
cols['classes'] = [new if c == old else c for c in cols['classes']]
text = json.dumps(cols, separators=(',', ':')).encode()
b = b[:len(b) - 4 - n] + text
struct.pack_into('<Q', b, 240, len(text))
b += struct.pack('<I', zlib.crc32(bytes(b)) & 0xffffffff)
open(dst, 'wb').write(b)
P
}
relabel n.kck hex.kck 16 0x10 && relabel hex.kck hex2.kck 5 0x5 && relabel hex2.kck hex2.kck 20 0x14
sed 's/,16$/,0x10/' n.csv > nhex.csv
cut -d, -f1,2 n.csv > nplain.csv
for m in hex hex2; do
    for d in n nhex; do
        $KESTREL evaluate --model $m.kck --data csv:$d.csv >out.txt 2>err.txt; rc=$?
        check "kestrel evaluate of a model with a hexadecimal class label ($m.kck, $d.csv): refused, naming the file and label" \
            "[ $rc -eq 1 ] && [ ! -s out.txt ] && grep -q \"model '$m.kck': class label '0x[15]0*' is a hexadecimal number, which Kestrel read as [0-9]* before it took decimal numbers only: train the model again\" err.txt"
    done
done
$KESTREL predict --model hex.kck --data csv:nplain.csv --labels >hex.out 2>err.txt; rc=$?
$KESTREL predict --model n.kck --data csv:nplain.csv --labels >n.out 2>&1
check "kestrel predict of such a model on rows without labels still scores them, printing its labels" \
    "[ $rc -eq 0 ] && [ \"\$(sed 's/^\\([0-9]*\\),0x10,/\\1,16,/' hex.out)\" = \"\$(cat n.out)\" ] && grep -q ',0x10,' hex.out"
for d in n nhex; do
    $KESTREL predict --model hex.kck --data csv:$d.csv --labels >out.txt 2>err.txt; rc=$?
    check "kestrel predict of such a model on labelled rows ($d.csv) scores them too: it reads no labels" \
        "[ $rc -eq 0 ] && cmp -s out.txt hex.out"
done
# a regression model of as many targets as the CSV has classes: evaluate
# passed the shape check and crashed on the missing targets (SIGSEGV)
# (Fashion-MNIST: 784 features, 10 classes; a CSV's targets would not parse)
$KESTREL train --set data=synthetic-regression --set synthetic_features=784 --set synthetic_targets=10 \
    --set synthetic_samples=200 --set epochs=1 --set hidden=4 --set threads=1 --set cache_dir= \
    --set checkpoint=r10.kck >/dev/null 2>&1
$KESTREL evaluate --model r10.kck --data fashion-mnist >/dev/null 2>err.txt; rc=$?
check "kestrel evaluate: a regression model on classification rows is refused (exit 1), not a crash" \
    "[ $rc -eq 1 ] && grep -q 'the model is a regression model, the rows are labelled for classification' err.txt"
mkdir -p adir
$KESTREL evaluate --model adir --data csv:c.csv >/dev/null 2>err.txt; rc=$?
check "kestrel evaluate: a folder as the model says so" "[ $rc -ne 0 ] && grep -q 'adir: cannot read: Is a directory' err.txt"
$KESTREL train --set data=synthetic-regression --set loss=bce --set synthetic_samples=200 --set epochs=1 \
    --set hidden=4 --set threads=1 --set cache_dir= >/dev/null 2>err.txt; rc=$?
check "kestrel train: bce on regression targets outside [0, 1] is refused, naming loss" \
    "[ $rc -ne 0 ] && grep -q 'loss: bce needs targets in \[0, 1\]' err.txt"
# a row far beyond what the model was trained on (2e38 where training saw
# -2e38 and 0, scaled by minmax past float's range): its outputs are nan, and
# evaluate printed nothing and exited 0 (JSON cannot hold a nan loss; before
# a68be91's fix it hung in the AUC), predict printed nan and exited 0
{ echo a,b,label; i=0; while [ $i -lt 60 ]; do echo "$([ $((i % 3)) -eq 0 ] && echo -2e38 || echo 0),0.$i,$((i % 2))"; i=$((i + 1)); done; } >far_tr.csv
printf 'a,b,label\n0,0.2,0\n2e38,0.5,1\n' >far_ev.csv
$KESTREL train --set data=csv:far_tr.csv --set scaling=minmax --set epochs=2 --set hidden=4 --set threads=1 \
    --set cache_dir= --set checkpoint=far.kck >/dev/null 2>&1
for c in evaluate predict; do
    timeout 120 $KESTREL $c --model far.kck --data csv:far_ev.csv >out.txt 2>err.txt; rc=$?
    check "kestrel $c: a row whose outputs are not finite is refused, naming it (exit 1)" \
        "[ $rc -eq 1 ] && grep -q \"kestrel $c: data: row 2: the model's output is not finite\" err.txt && ! grep -q nan out.txt"
done
# --output F was opened for writing before scoring: a row refused midway
# left F holding the header alone, its old contents lost (exit 1). F is now
# written beside itself and renamed over it once every row is scored.
printf 'x0,x1,y\n0.1,0.2,lo\n3e38,-3e38,q\n' > bad.csv
printf 'old contents\n' > keep.csv && chmod 640 keep.csv
$KESTREL predict --model m.kck --data csv:bad.csv --output keep.csv >out.txt 2>err.txt; rc=$?
check "kestrel predict --output F whose scoring fails leaves F as it was, and nothing beside it (exit 1)" \
    "[ $rc -eq 1 ] && [ -s err.txt ] && [ \"\$(cat keep.csv)\" = 'old contents' ] && [ \$(ls keep.csv* | wc -l) -eq 1 ]"
$KESTREL predict --model m.kck --data csv:bad.csv --output new.csv >out.txt 2>err.txt; rc=$?
check "... and a new F is not created" "[ $rc -eq 1 ] && [ ! -e new.csv ] && [ -z \"\$(ls | grep '^new.csv')\" ]"
$KESTREL predict --model m.kck --data csv:c.csv --output keep.csv >out.txt 2>err.txt; rc=$?
check "kestrel predict --output F that succeeds replaces F, keeping its mode" \
    "[ $rc -eq 0 ] && cmp -s keep.csv pred.csv && [ \$(stat -c %a keep.csv) = 640 ] && [ \$(ls keep.csv* | wc -l) -eq 1 ]"
ln -s keep.csv link.csv && printf 'x\n' > keep.csv
$KESTREL predict --model m.kck --data csv:c.csv --output link.csv >out.txt 2>err.txt; rc=$?
check "kestrel predict --output LINK writes the link's file, the link kept" \
    "[ $rc -eq 0 ] && [ -L link.csv ] && cmp -s keep.csv pred.csv"
{ $KESTREL predict --model m.kck --data csv:c.csv --output /dev/stdout 2>err.txt; echo "rc $?"; } | cat >piped.txt
$KESTREL predict --model m.kck --data csv:c.csv --output /dev/stdout >redirected.txt 2>err.txt; rc=$?
check "kestrel predict --output /dev/stdout is written directly, to a pipe or a file" \
    "[ $rc -eq 0 ] && [ \"\$(cat pred.csv; echo 'rc 0')\" = \"\$(cat piped.txt)\" ] && cmp -s redirected.txt pred.csv"
# evaluate's one line lost on a full disk was exit 0, nothing said
if [ -w /dev/full ]; then
    $KESTREL evaluate --model m.kck --data csv:c.csv >/dev/full 2>err.txt; rc=$?
    check "kestrel evaluate >/dev/full: exit 1, saying the write failed" \
        "[ $rc -eq 1 ] && grep -q '^kestrel evaluate: output: write failed: No space left on device' err.txt"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
