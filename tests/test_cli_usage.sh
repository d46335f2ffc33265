#!/bin/sh
# The command line as a new user meets it, on the real `kestrel` binary: what
# --db may name for a command that reads a history, the numbers options take,
# help and usage errors, and `kestrel run`'s progress on a terminal (through
# script(1)) and in a pipe. test_cli.sh covers the commands' work itself.
fixture=usage
. "${top_srcdir:-$(pwd)}/tests/cli_fixture.sh"

# --- a command that reads a history never makes one -----------------------
# a path with a colon in it (a date, a sqlite: location, docs/schema.md) is a
# file like any other: a mistyped one is not created empty
for db in sqlite:typo.db sqlite://typo2.db 'run:2026-01-01.db'; do
    $KESTREL studies --db "$db" >out.txt 2>err.txt; rc=$?
    check "kestrel studies --db $db (missing): exit 5, named, nothing created" \
        "[ $rc -eq 5 ] && grep -q 'no database at' err.txt && [ ! -s out.txt ] && [ -z \"\$(ls | grep -v -e out.txt -e err.txt)\" ]"
done
# nor turns an empty file into one (a `touch`ed name, a file `>` truncated):
# SQLite takes it for an empty database, and the schema made it 106 KB
: > empty.db
for a in "studies" "trials s" "note s"; do
    $KESTREL $a --db empty.db >out.txt 2>err.txt; rc=$?
    check "kestrel $a --db EMPTYFILE: exit 5, said to be empty, the file left empty" \
        "[ $rc -eq 5 ] && grep -q 'empty.db is an empty file, not a Kestrel history' err.txt && [ ! -s out.txt ] && [ ! -s empty.db ] && [ ! -e empty.db-wal ]"
done

# a folder given as --db (the trial folders' DB.trials, tab-completed) is
# said to be one, not SQLite's "unable to open database file"
mkdir -p adir.db.trials
for a in "studies" "run $top_srcdir/examples/branin-random.json"; do
    $KESTREL $a --db adir.db.trials >out.txt 2>err.txt; rc=$?
    check "kestrel $a --db FOLDER: exit 1, said to be a folder" "[ $rc -eq 1 ] && grep -q \"adir.db.trials' is a folder, not a history file\" err.txt"
done
# nor is a fifo or a device (a named pipe, --db /dev/stdin): SQLite said
# "disk I/O error" of them, which sends a user looking at the disk (and, run
# as root, made DEVICE-journal beside a device: not tried here)
# kestrel studies and kestrel run refuse --db $1 (what $2 says it is) with
# exit 1, saying $3 ($4 on stderr), and make nothing beside it
db_refused() {
    for a in "studies" "run $top_srcdir/examples/branin-random.json"; do
        $KESTREL $a --db "$1" >out.txt 2>err.txt; rc=$?
        check "kestrel $a --db $2: exit 1, $3, nothing made beside it" \
            "[ $rc -eq 1 ] && grep -qF \"$4\" err.txt && [ -z \"\$(ls $1?* 2>/dev/null)\" ]"
    done
}
mkfifo apipe.db
db_refused apipe.db FIFO "said to be a fifo" "'apipe.db' is a fifo, not a history file"
rm apipe.db
# nor a file with a second name (a hard link): SQLite keeps the write-ahead
# log beside the name it opens, so a run through each name had a log of its
# own, and a checkpoint through one wrote its pages over what the other had
# stored (a study's trials gone). A symbolic link is one file, one log.
cat > one.json <<'J'
{"name": "one", "objective": {"metric": "value"},
 "space": {"x1": {"type": "float", "low": -5, "high": 10}, "x2": {"type": "float", "low": 0, "high": 15}},
 "strategy": {"name": "random", "seed": 1}, "budget": {"max_trials": 2}, "run": {"function": "branin"}}
J
$KESTREL run one.json --db first.db >/dev/null 2>&1
ln first.db second.db
db_refused second.db HARD-LINK "said to have two names" "cannot open history 'second.db': it has 2 names (hard links)"
rm second.db
ln -s first.db third.db
$KESTREL studies --db third.db >out.txt 2>err.txt; rc=$?
check "kestrel studies --db SYMLINK reads the file it names" "[ $rc -eq 0 ] && grep -q '^one ' out.txt"
# a path longer than Kestrel or SQLite can take is refused before anything
# is made, naming the option: SQLite opens no path over 512 characters
# (made absolute; it said "unable to open database file", after an empty
# file was made), and trial folders below a --work-dir near PATH_MAX (4096)
# were made at the path cut to its buffer
long=$(printf '%0250d' 0 | tr 0 d)/$(printf '%0250d' 0 | tr 0 e)
mkdir -p "$long"
$KESTREL run one.json --db "$long/x.db" >out.txt 2>err.txt; rc=$?
check "kestrel run --db of 500 characters and more: exit 2, named, nothing made" \
    "[ $rc -eq 2 ] && grep -q -- '--db: the path is too long' err.txt && [ -z \"\$(ls '$long')\" ]"
KESTREL_DB="$long/x.db" $KESTREL studies >out.txt 2>err.txt; rc=$?
check "KESTREL_DB of 500 characters and more: exit 2, named" \
    "[ $rc -eq 2 ] && grep -q -- 'KESTREL_DB: the path is too long' err.txt && [ -z \"\$(ls '$long')\" ]"
work=$(printf "$long/%.0s" 1 2 3 4 5 6 7 8)x
for a in "run one.json --db w.db" "delete one --db first.db" "best one --db first.db --export-model m.bin" "worker --server http://127.0.0.1:1" "serve --db w.db --listen 127.0.0.1:0"; do
    timeout 60 $KESTREL $a --work-dir "$work" >out.txt 2>err.txt; rc=$?
    check "kestrel ${a%% *} --work-dir of 4000 characters and more: exit 2, named, nothing made" \
        "[ $rc -eq 2 ] && grep -q -- '--work-dir: the path is too long' err.txt && [ -z \"\$(ls '$long')\" ] && [ ! -e w.db ] && [ ! -e m.bin ]"
done
$KESTREL slurm submit --server http://h:1 --workers 1 --log-dir "$work" --dry-run >out.txt 2>err.txt; rc=$?
check "kestrel slurm submit --log-dir of 4000 characters and more: exit 2, named" \
    "[ $rc -eq 2 ] && grep -q -- '--log-dir: the path is too long' err.txt"
rm -r "${long%%/*}"
# docs/schema.md: PATH, sqlite:PATH and sqlite://PATH name the same file, for
# every command (the study's lock and trial folders too: DB.trials)
cat > tiny.json <<'J'
{"name": "tiny", "objective": {"metric": "value"},
 "space": {"x1": {"type": "float", "low": -5, "high": 10}, "x2": {"type": "float", "low": 0, "high": 15}},
 "strategy": {"name": "random", "seed": 1}, "budget": {"max_trials": 2}, "run": {"function": "branin"}}
J
$KESTREL run tiny.json --db sqlite:tiny.db >/dev/null 2>err.txt; rc=$?
check "kestrel run --db sqlite:PATH runs the study in PATH" \
    "[ $rc -eq 0 ] && [ \"\$(sqlite3 tiny.db \"select count(*) from trials where state = 'COMPLETE'\")\" = 2 ] && [ -d tiny.db.trials ] && [ ! -e sqlite:tiny.db.trials ]"
$KESTREL run tiny.json --db sqlite://tiny.db >out.txt 2>err.txt; rc=$?
check "kestrel run --db sqlite://PATH: the same study, complete" "[ $rc -eq 0 ] && grep -q 'nothing left to run' out.txt"
$KESTREL studies --db sqlite:tiny.db >out.txt 2>err.txt; rc=$?
check "kestrel studies --db sqlite:PATH reads it" "[ $rc -eq 0 ] && grep -q '^tiny .*COMPLETE' out.txt"
$KESTREL delete tiny --db sqlite:tiny.db >out.txt 2>err.txt; rc=$?
check "kestrel delete --db sqlite:PATH deletes it and its folders" "[ $rc -eq 0 ] && [ ! -e tiny.db.trials/tiny ]"
# docs/schema.md names every table, view and index a history has, and every
# column of its tables and views (it lacked 004's and 012's views and the
# indexes of 006 and 007)
missing=
for o in $(sqlite3 tiny.db "select name from sqlite_master where type in ('table', 'view', 'index') and name not like 'sqlite_%'"); do
    grep -q "\`$o\`\|\`$o \|\`$o\." "$top_srcdir/docs/schema.md" || missing="$missing $o"
    for c in $(sqlite3 tiny.db "select name from pragma_table_info('$o')"); do
        grep -Eq "(\`|\.)$c\`|\`$c \(" "$top_srcdir/docs/schema.md" || missing="$missing $o.$c"
    done
done
check "docs/schema.md names every table, view, index and column${missing:+ (missing:$missing)}" "[ -z '$missing' ]"

# a sqlite: prefix with no path names no file: a usage error naming --db (or
# $KESTREL_DB), where run and serve said "cannot lock the study in sqlite::"
# (exit 1) and the queries "no database at sqlite:" (exit 5)
mkdir sq && cp tiny.json sq/ && cd sq   # out.txt and err.txt go to the folder above
ls -a >../before.txt
for a in "run tiny.json" "serve --listen 127.0.0.1:0" "studies" "trials tiny" "trial tiny 0" \
         "delete tiny" "enqueue tiny --set x1=1 --set x2=1" "note tiny hi"; do
    for db in sqlite: sqlite://; do
        timeout 20 $KESTREL $a --db $db >../out.txt 2>../err.txt </dev/null; rc=$?
        check "kestrel $a --db $db: exit 2, --db named, nothing made" \
            "[ $rc -eq 2 ] && grep -q -- \"^kestrel [a-z]*: --db: '$db' names no file\" ../err.txt && ls -a | cmp -s - ../before.txt"
    done
    KESTREL_DB=sqlite: timeout 20 $KESTREL $a >../out.txt 2>../err.txt </dev/null; rc=$?
    check "KESTREL_DB=sqlite: kestrel $a: exit 2, KESTREL_DB named" \
        "[ $rc -eq 2 ] && grep -q -- \"^kestrel [a-z]*: KESTREL_DB: 'sqlite:' names no file\" ../err.txt"
done
cd ..

# --- numbers: what does not fit is refused, naming the option ---------------
# 2^32 + k once wrapped to k in an int: --max-parallel 4294967296 made a pure
# coordinator (0), --slots 4294967297 one slot
for a in "serve --listen 127.0.0.1:0 --max-parallel 4294967296" "serve --listen 127.0.0.1:0 --slurm-workers 4294967297" \
         "serve --listen 127.0.0.1:0 --max-connections 4294967304" "serve --max-parallel 99999999999999999999" \
         "worker --server http://127.0.0.1:1 --slots 4294967297" \
         "worker --server http://127.0.0.1:1 --trials 4294967297" \
         "trials x --limit 4294967297" "slurm submit --server http://h:1 --workers 4294967297"; do
    o=$(echo "$a" | grep -oE -- '--[a-z-]+ [0-9]+$' | cut -d' ' -f1)
    rm -f never.db
    KESTREL_DB=never.db timeout 20 $KESTREL $a >out.txt 2>err.txt </dev/null; rc=$?
    check "kestrel $a: exit 2, $o named" "[ $rc -eq 2 ] && grep -q -- \"^kestrel [a-z]*: $o: expected\" err.txt && [ ! -e never.db ]"
done

# a leading blank, which strtol and strtod skip, is refused as cli_int_option
# refuses it (' 5' for --max-parallel): --listen 'h: 80' listened on 80, and
# every option of seconds took ' 5' for 5
blank_refused() {   # OPTION VALUE COMMAND...
    o=$1 v=$2
    shift 2
    rm -f never.db
    KESTREL_DB=never.db timeout 10 $KESTREL "$@" "$o" "$v" >out.txt 2>err.txt </dev/null; rc=$?
    check "kestrel $* $o '$v': exit 2, $o named" \
        "[ $rc -eq 2 ] && grep -q -- \"^kestrel [a-z]*: $o: expected\" err.txt && [ ! -e never.db ]"
}
blank_refused --listen '127.0.0.1: 8080' serve
blank_refused --listen '127.0.0.1:+8080' serve
for o in --lease-timeout --stall-after --slurm-idle-exit --storage-retry; do
    blank_refused $o ' 5' serve --listen 127.0.0.1:0
done
blank_refused --storage-retry ' 5' run tiny.json
for o in --idle-exit --poll; do
    blank_refused $o ' 5' worker --server http://127.0.0.1:1 --idle-exit 1
done
blank_refused --idle-exit ' 5' slurm submit --server http://h:1 --dry-run

# --- kestrel run's progress: a line on a terminal, plain lines elsewhere ------
# script(1) gives the run a terminal; 'stty cols' its width
cat > prog.json <<'J'
{"name": "prog", "objective": {"metric": "value"},
 "space": {"x1": {"type": "float", "low": -5, "high": 10}, "x2": {"type": "float", "low": 0, "high": 15}},
 "strategy": {"name": "random", "seed": 1}, "budget": {"max_trials": 12, "max_parallel": 3},
 "run": {"function": "branin"}}
J
# a line wider than the terminal wraps, and '\r' goes back to the start of
# its last row only: each update left a row behind, a scrolling wall of them
script -qec "stty cols 60; $KESTREL run --db tty.db prog.json" /dev/null >tty.txt 2>&1; rc=$?
tr '\r' '\n' <tty.txt | sed 's/\x1b\[K//g' | grep -a '^\[' >progress.txt
check "on a 60-column terminal every progress line fits in 59 columns" \
    "[ $rc -eq 0 ] && [ -s progress.txt ] && [ \$(awk '{ if (length(\$0) > n) n = length(\$0) } END { print n + 0 }' progress.txt) -le 59 ]"
check "and still shows the count, the best and the time" \
    "tail -1 progress.txt | grep -Eq '^\[12/12\] trials 12.*best [0-9.]+.*[0-9]+:[0-9]{2}'"
script -qec "stty cols 200; $KESTREL run --db tty200.db prog.json" /dev/null >tty.txt 2>&1
tr '\r' '\n' <tty.txt | sed 's/\x1b\[K//g' | grep -a '^\[' | tail -1 >wide.txt
check "on a wide terminal the line has every count" \
    "grep -q 'running 0, failed 0, interrupted 0, pruned 0 | best' wide.txt"
# stdout a pipe from a terminal ('| tee run.log'): the pipe gets what
# README.md promises a pipe, a timestamped line per finished trial, and
# the terminal no progress line mixed into them
script -qec "$KESTREL run --db pipe.db prog.json | cat >piped.txt" /dev/null >tty.txt 2>&1; rc=$?
check "stdout a pipe, stderr a terminal: one timestamped line per trial in the pipe" \
    "[ $rc -eq 0 ] && [ \$(grep -Ec '^[0-9-]{10}T[0-9:]{8}Z trial [0-9]+ COMPLETE value=' piped.txt) -eq 12 ] && grep -q 'Z study prog: complete, 12 trials' piped.txt"
check "and no progress line on the terminal" "! grep -q 'trials .*running' tty.txt"

# --- help wherever it is asked for -------------------------------------------
# every other command answers --help after its arguments too: validate and
# fn said "unknown option '--help'. Try 'kestrel validate --help'."
for a in "validate spec.json" "fn branin" "fn branin --set x1=1" "run spec.json" "trials s" "note s"; do
    for h in --help -h; do
        $KESTREL $a $h >out.txt 2>err.txt; rc=$?
        check "kestrel $a $h: exit 0, usage on stdout only" "[ $rc -eq 0 ] && grep -q '^Usage: kestrel ' out.txt && [ ! -s err.txt ]"
    done
done

# kestrel help CMD is CMD's help (it printed the list of commands, exit 0,
# whatever CMD was); --version, accepted, is documented
for c in run slurm fn validate; do
    $KESTREL help $c >out.txt 2>err.txt; rc=$?
    $KESTREL $c --help >want.txt
    check "kestrel help $c: exit 0, the same as kestrel $c --help" "[ $rc -eq 0 ] && cmp -s out.txt want.txt && [ ! -s err.txt ]"
done
$KESTREL help nosuch >out.txt 2>err.txt; rc=$?
check "kestrel help nosuch: exit 2, the command named" "[ $rc -eq 2 ] && grep -q \"unknown command 'nosuch'\" err.txt && [ ! -s out.txt ]"
$KESTREL help >out.txt 2>err.txt; rc=$?
check "kestrel help: the list of commands" "[ $rc -eq 0 ] && grep -q '^Commands:' out.txt"
check "kestrel --help names --version and kestrel help COMMAND" "grep -q -- '--version' out.txt && grep -q 'kestrel help COMMAND' out.txt"
check "the man page names --version and kestrel help" "grep -q 'version' '$top_srcdir/docs/kestrel.1' && grep -q '^.B kestrel help' '$top_srcdir/docs/kestrel.1'"
check "kestrel --version: one line, exit 0" "[ \"\$($KESTREL --version | wc -l)\" = 1 ] && $KESTREL --version | grep -Eq '^kestrel [0-9]+\.[0-9]+'"
# --- the token file ---------------------------------------------------------
# why a token file cannot be read is said (it was "cannot read a token from")
: > empty.tok
for a in "serve --token-file nosuch.tok" "worker --server http://127.0.0.1:1 --token-file nosuch.tok"; do
    $KESTREL $a >out.txt 2>err.txt; rc=$?
    check "kestrel $a: exit 2, says the file is missing" \
        "[ $rc -eq 2 ] && grep -q \"token-file: cannot read 'nosuch.tok': No such file or directory\" err.txt"
done
$KESTREL serve --token-file empty.tok >out.txt 2>err.txt; rc=$?
check "kestrel serve --token-file EMPTY: exit 2, said to be empty" \
    "[ $rc -eq 2 ] && grep -q \"token-file: 'empty.tok' is empty (the token is its first line)\" err.txt"
# a token any user of the machine can read lets each of them run commands as
# this server's user (a spec's run.command): said at the start, as ssh does
echo secret > open.tok && chmod 644 open.tok
echo secret > closed.tok && chmod 600 closed.tok
echo secret > group.tok && chmod 640 group.tok
for f in open closed group; do
    $KESTREL serve --db tok.db --listen 127.0.0.1:0 --token-file $f.tok >$f.out 2>$f.err &
    pid=$!
    i=0; while [ $i -lt 600 ] && ! grep -q '^listening on' $f.out; do sleep 0.1; i=$((i + 1)); done
    kill $pid; wait $pid
done
check "kestrel serve warns of a token file others can read, naming it, its mode and the fix" \
    "grep -q '^listening on' open.out && grep -q \"warning: --token-file 'open.tok' can be read by other users (mode 0644): chmod 600 open.tok\" open.err"
check "kestrel serve warns of a token file its group can read, as of a history" \
    "grep -q '^listening on' group.out && grep -q \"warning: --token-file 'group.tok' can be read by other users (mode 0640): chmod 600 group.tok\" group.err"
check "kestrel serve does not warn of a token file only its owner reads" \
    "grep -q '^listening on' closed.out && ! grep -q warning closed.err"
$KESTREL worker --server http://127.0.0.1:1 --token-file open.tok --slots 0 >out.txt 2>err.txt
check "kestrel worker warns of a token file others can read" \
    "grep -q \"kestrel worker: warning: --token-file 'open.tok' can be read by other users\" err.txt"
# the history holds every study's specs and logs and the workers' key
# hashes: one its group or other users can read is warned of at the start,
# in one line naming it, its mode and the fix; a new one is made 0600
for m in 644 640 600 new; do
    rm -f hist$m.db; [ $m = new ] || { : >hist$m.db && chmod $m hist$m.db; }
    $KESTREL serve --db hist$m.db --listen 127.0.0.1:0 >hist$m.out 2>hist$m.err &
    pid=$!
    i=0; while [ $i -lt 600 ] && ! grep -q '^listening on' hist$m.out; do sleep 0.1; i=$((i + 1)); done
    kill $pid; wait $pid
done
check "kestrel serve warns of a history others can read, in one line naming it, its mode and the fix (its -wal and -shm, made with its mode, too)" \
    "grep -q '^listening on' hist644.out && [ \$(grep -c warning hist644.err) -eq 1 ] && grep -q \"^kestrel serve: warning: history 'hist644.db' can be read by other users (mode 0644): chmod 600 hist644.db hist644.db-wal hist644.db-shm\\$\" hist644.err"
check "kestrel serve warns of a history its group can read" \
    "grep -q \"warning: history 'hist640.db' can be read by other users (mode 0640): chmod 600 hist640.db\" hist640.err"
check "kestrel serve does not warn of a history only its owner reads, or a new one" \
    "grep -q '^listening on' hist600.out && grep -q '^listening on' histnew.out && ! grep -q warning hist600.err histnew.err"
# SQLite keeps a -wal or -shm that exists (one another process holds
# open, or a crash's -shm) with the mode it was made with: a chmod 600 of the
# history alone leaves them readable, and they hold its latest pages
rm -f histwal.db*
$KESTREL serve --db histwal.db --listen 127.0.0.1:0 >histwal.out 2>histwal.err &
pid=$!
i=0; while [ $i -lt 600 ] && ! grep -qs '^listening on' histwal.out; do sleep 0.1; i=$((i + 1)); done
kill $pid; wait $pid
mkfifo hold.fifo
sqlite3 histwal.db <hold.fifo >hold.out &   # holds the history open: its -wal, written, is kept
exec 3>hold.fifo
echo "create table held(x); select count(*) > 0 from sqlite_master;" >&3
i=0; while [ $i -lt 600 ] && ! grep -q 1 hold.out; do sleep 0.1; i=$((i + 1)); done
chmod 600 histwal.db && chmod 644 histwal.db-wal && chmod 640 histwal.db-shm
# the background job truncates histwal.out only once it runs: the first
# serve's 'listening on' left in it had the wait below end at once, and the
# kill stop the second before it looked at the -wal (2 runs in 30 failed)
rm -f histwal.out histwal.err
$KESTREL serve --db histwal.db --listen 127.0.0.1:0 >histwal.out 2>histwal.err &
pid=$!
i=0; while [ $i -lt 600 ] && ! grep -qs '^listening on' histwal.out; do sleep 0.1; i=$((i + 1)); done
kill $pid; wait $pid
# through a symbolic link SQLite keeps them beside the file it points at:
# the warning looked for histlink.db-wal, which is not there, and said nothing
ln -s histwal.db histlink.db
$KESTREL serve --db histlink.db --listen 127.0.0.1:0 >histlink.out 2>histlink.err &
pid=$!
i=0; while [ $i -lt 600 ] && ! grep -qs '^listening on' histlink.out; do sleep 0.1; i=$((i + 1)); done
kill $pid; wait $pid
exec 3>&-
check "kestrel serve warns of a history's -wal and -shm others can read, in one line, though the history is 0600" \
    "grep -q '^listening on' histwal.out && [ \$(grep -c warning histwal.err) -eq 1 ] && grep -q \"^kestrel serve: warning: history 'histwal.db-wal' can be read by other users (mode 0644): chmod 600 histwal.db-wal histwal.db-shm\\$\" histwal.err || { ls -l histwal.db*; cat histwal.err; false; }"
P=$(pwd -P)
check "kestrel serve through a link to the history warns of the -wal and -shm beside the file it points at" \
    "grep -q '^listening on' histlink.out && [ \$(grep -c warning histlink.err) -eq 1 ] && grep -q \"^kestrel serve: warning: history '$P/histwal.db-wal' can be read by other users (mode 0644): chmod 600 $P/histwal.db-wal $P/histwal.db-shm\\$\" histlink.err || { cat histlink.err; false; }"

$KESTREL -V >out.txt 2>err.txt; rc=$?
check "kestrel -V: an unknown option, not a command (exit 2)" "[ $rc -eq 2 ] && grep -q \"kestrel: unknown option '-V'\" err.txt"
# an option before the command, as git and sqlite3 take them, is said to go
# after it, naming the command given: the whole usage came with the bare
# "unknown option '--db'", which left the user to guess why
$KESTREL --db h.db studies --format csv >out.txt 2>err.txt; rc=$?
check "kestrel --db F studies: exit 2, the option's place said with the command" "[ $rc -eq 2 ] && [ \"\$(cat err.txt)\" = \"kestrel: unknown option '--db': options go after the command ('kestrel studies --db ...')\" ] && [ ! -s out.txt ] && [ ! -e h.db ]"
# '--json', as jq and many tools spell it, where the listing commands take
# --format: the option meant is named (it was a bare "unknown option")
for c in studies "trials s" "best s"; do
    $KESTREL $c --json >out.txt 2>err.txt; rc=$?
    check "kestrel $c --json: exit 2, '--format json' named" "[ $rc -eq 2 ] && grep -qF \"unknown option '--json' (did you mean '--format json'?)\" err.txt && [ ! -s out.txt ]"
done

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
