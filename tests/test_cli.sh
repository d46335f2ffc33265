#!/bin/sh
# End-to-end tests of the real `kestrel` binary: real SQLite files, real child
# processes, real signals. Covers the headless run, queries, the report
# protocol through commands, failing trials of every kind, resume after
# kill -9, the overlap lock, a clean stop by SIGTERM and delete; every
# command's --help and refusal of an unknown option, and that the README and
# the man page name every option a command's --help lists.
fixture=cli
. "${top_srcdir:-$(pwd)}/tests/cli_fixture.sh"
q() { sqlite3 "${DB:-kestrel.db}" "$1"; }

# --- help and usage -----------------------------------------------------
check "kestrel --help" "$KESTREL --help | grep -q 'Usage: kestrel COMMAND'"
check "kestrel --help says how to read the man page in the build tree" "$KESTREL --help | grep -q 'man -l docs/kestrel.1'"
# every command `kestrel --help` lists (and slurm's submit) answers --help
# and -h on stdout with exit 0, and refuses an unknown option with exit 2,
# naming it on stderr
cmds=$($KESTREL --help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 && $1 != "Commands:" {print $1}')
check "kestrel --help lists 16 commands" "[ $(echo $cmds | wc -w) -eq 16 ]"
for c in $cmds "slurm submit"; do
    for h in --help -h; do
        $KESTREL $c $h >out.txt 2>err.txt; rc=$?
        check "kestrel $c $h: exit 0, usage on stdout only" "[ $rc -eq 0 ] && grep -qi usage out.txt && [ ! -s err.txt ]"
    done
    $KESTREL $c --no-such-option </dev/null >out.txt 2>err.txt; rc=$?
    check "kestrel $c --no-such-option: exit 2, named" "[ $rc -eq 2 ] && grep -q -- '--no-such-option' err.txt && grep -qi unknown err.txt && [ ! -s out.txt ]"
done
$KESTREL slurm launch >/dev/null 2>err.txt; rc=$?
check "kestrel slurm: an unknown subcommand is named (exit 2)" "[ $rc -eq 2 ] && grep -q \"unknown subcommand 'launch'\" err.txt"
# an argument before -- is refused, not handed to sbatch as its script
$KESTREL slurm submit --server http://h:1 --workers 1 extra --dry-run >out.txt 2>err.txt; rc=$?
check "kestrel slurm submit: an argument before -- is refused (exit 2), named" "[ $rc -eq 2 ] && grep -q \"unexpected argument 'extra'\" err.txt && [ ! -s out.txt ]"
$KESTREL slurm submit --server http://h:1 --workers 1 --dry-run -- --account=x >out.txt 2>err.txt; rc=$?
check "kestrel slurm submit: arguments after -- are sbatch's" "[ $rc -eq 0 ] && grep -q '^exec ' out.txt"
# a --server that kestrel worker refuses (exit 2 in every task) is refused at once
$KESTREL slurm submit --server localhost:8080 --workers 1 --dry-run >out.txt 2>err.txt; rc=$?
check "kestrel slurm submit --server without http://: exit 2, named" "[ $rc -eq 2 ] && grep -q -- \"--server: expected an http:// or https:// URL, not 'localhost:8080'\" err.txt && [ ! -s out.txt ]"
# a relative --token-file is the submit folder's: a task started elsewhere
# (sbatch's --chdir) could not read it and exited 2
echo tok > token.txt
$KESTREL slurm submit --server http://h:1 --workers 1 --token-file token.txt --dry-run >out.txt 2>err.txt
check "kestrel slurm submit names a relative --token-file by its absolute path" "grep -qF -- \"--token-file '$T/token.txt'\" out.txt"
# a relative --log-dir too: sbatch opens a relative --output in the job's
# folder, so with -- --chdir=D the tasks' logs went to D/LOGS (no log at all
# when D has no such folder), not to LOGS here beside the script
mkdir -p logs
$KESTREL slurm submit --server http://h:1 --workers 1 --log-dir logs --dry-run -- --chdir=/tmp >out.txt 2>err.txt
check "kestrel slurm submit names a relative --log-dir by its absolute path" "grep -qxF -- '#SBATCH --output=$T/logs/kestrel-worker-%A_%a.log' out.txt"
$KESTREL slurm submit --server http://h:1 --workers 1 --dry-run >out.txt 2>err.txt
check "kestrel slurm submit's default --log-dir is the submit folder, named absolute" "grep -qxF -- '#SBATCH --output=$T/kestrel-worker-%A_%a.log' out.txt"
# a submit folder no #SBATCH line can name (a space) keeps the default
# relative, as it was, rather than refusing it
mkdir -p 'a b' && (cd 'a b' && $KESTREL slurm submit --server http://h:1 --workers 1 --dry-run >out.txt 2>err.txt; echo $? >rc.txt)
check "kestrel slurm submit in a folder with a space: the default --log-dir stays relative" "[ \"\$(cat 'a b/rc.txt')\" = 0 ] && grep -qxF -- '#SBATCH --output=./kestrel-worker-%A_%a.log' 'a b/out.txt'"
# a value no #SBATCH line can hold is refused naming the option that gave
# it, not the #SBATCH name ("output: ..." for --log-dir)
$KESTREL slurm submit --server http://h:1 --workers 1 --log-dir 'my logs' --dry-run >out.txt 2>err.txt; rc=$?
check "kestrel slurm submit --log-dir with a space: exit 2, naming --log-dir" "[ $rc -eq 2 ] && grep -q -- \"^kestrel slurm: --log-dir: '$T/my logs/kestrel-worker-%A_%a.log': no spaces, quotes or '#' in an #SBATCH value\" err.txt && [ ! -s out.txt ]"
$KESTREL slurm submit --server http://h:1 --workers 1 --partition 'a b' --dry-run >out.txt 2>err.txt; rc=$?
check "kestrel slurm submit --partition with a space: exit 2, naming --partition" "[ $rc -eq 2 ] && grep -q -- \"^kestrel slurm: --partition: 'a b': no spaces\" err.txt"
# a --token-file each task's worker could not read (or an empty one) made
# every task exit 2 after the job id was printed: refused at the submit
$KESTREL slurm submit --server http://h:1 --workers 1 --token-file no-such-token --dry-run >out.txt 2>err.txt; rc=$?
check "kestrel slurm submit: a --token-file it cannot read is refused (exit 2), named" "[ $rc -eq 2 ] && grep -q -- \"--token-file: cannot read 'no-such-token'\" err.txt && [ ! -s out.txt ]"
: > empty-token.txt
$KESTREL slurm submit --server http://h:1 --workers 1 --token-file empty-token.txt --dry-run >out.txt 2>err.txt; rc=$?
check "kestrel slurm submit: an empty --token-file is refused (exit 2)" "[ $rc -eq 2 ] && grep -q \"'empty-token.txt' is empty\" err.txt && [ ! -s out.txt ]"
# docs/cluster.md shows the script its example writes (--dry-run): the same
# lines, binary and token file aside (it lacked the script's comments)
$KESTREL slurm submit --server http://coordinator:8080 --token-file token.txt --workers 8 --partition gpu \
    --gres gpu:4 --time 12:00:00 --cpus-per-task 16 --work-dir /scratch/me/kestrel --dry-run -- --account=myproject |
    sed "s|^exec '[^']*' worker|exec '/usr/bin/kestrel' worker|; s|'$T/token.txt'|'/home/me/.kestrel-token'|; s|^#SBATCH --output=$T/|#SBATCH --output=/home/me/|" >out.txt
awk '/^The generated script/ {s = 1; next} s && /^```sh/ {p = 1; next} p && /^```/ {exit} p' "$top_srcdir/docs/cluster.md" >doc.txt
check "docs/cluster.md's script is what kestrel slurm submit --dry-run writes" "[ -s doc.txt ] && cmp -s out.txt doc.txt"
# a worker's --idle-exit past what kestrel worker takes: every task it ran
# would exit 2 at once (and serve would submit them again every 2 s)
$KESTREL slurm submit --server http://h:1 --workers 1 --idle-exit 2e6 --dry-run >out.txt 2>err.txt; rc=$?
check "kestrel slurm submit --idle-exit over kestrel worker's bound: exit 2, named" "[ $rc -eq 2 ] && grep -q -- '--idle-exit: expected seconds > 0 (at most 1000000)' err.txt && [ ! -s out.txt ]"
$KESTREL slurm submit --server http://h:1 --workers 1 --idle-exit 1e6 --dry-run >out.txt 2>err.txt
idle=$(sed -n 's/.* --idle-exit \([^ ]*\) .*/\1/p' out.txt)
$KESTREL worker --server http://127.0.0.1:99999 --idle-exit "$idle" >/dev/null 2>err.txt
check "kestrel worker takes the largest --idle-exit kestrel slurm submit writes" "[ -n '$idle' ] && ! grep -q -- '--idle-exit' err.txt"
timeout 60 $KESTREL serve --db never.db --listen 127.0.0.1:0 --slurm-workers 1 --slurm-idle-exit inf >/dev/null 2>err.txt; rc=$?
check "kestrel serve --slurm-idle-exit over kestrel worker's bound: exit 2, named" "[ $rc -eq 2 ] && grep -q -- '--slurm-idle-exit: expected seconds > 0 (at most 1000000)' err.txt && [ ! -e never.db ]"
# the README's CLI reference (the command's row) and the man page's synopsis
# of the command name every option the command's --help lists (--db and
# --help are said once for all; an option followed by '=' in a help is an
# example of sbatch's). The synopsis, not anywhere in the page: best's
# --work-dir was missing there, found in run's.
sed 's/\\-/-/g; s/\\f[BIRP]//g' "$top_srcdir/docs/kestrel.1" |
    awk '/^\.SH SYNOPSIS/ {s = 1; next} /^\.SH/ {s = 0} s' | tr '\n' ' ' | sed 's/\.br/\n/g' > synopsis.txt
for c in $cmds "slurm submit"; do
    grep -F "| \`kestrel $c " "$top_srcdir/README.md" | head -1 > row.txt
    grep -E "^ *\.B kestrel $c( |\$)" synopsis.txt > man.txt
    missing=
    for o in $($KESTREL $c --help | grep -oE -- '--[a-z][a-z0-9-]*([^a-z0-9=-]|$)' | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
        case $o in --help|--db) continue ;; esac
        grep -q -- "$o\\b" row.txt || missing="$missing README:$o"
        grep -q -- "$o\\b" man.txt || missing="$missing man:$o"
    done
    check "kestrel $c: the README and the man page name its options${missing:+ (missing:$missing)}" "[ -z '$missing' ]"
done
$KESTREL nosuch >/dev/null 2>&1; check "unknown command exits 2" "[ $? -eq 2 ]"

# --- queries never create a database --------------------------------------
$KESTREL best nosuch --db missing.db >/dev/null 2>err.txt; rc=$?
check "query on a missing database exits 5" "[ $rc -eq 5 ] && grep -q 'no database at missing.db' err.txt"
check "query on a missing database creates no file" "[ ! -e missing.db ]"
$KESTREL best x --limit 3 2>err.txt; rc=$?
check "an option of trials given to best is refused (exit 2)" "[ $rc -eq 2 ] && grep -q 'kestrel trials. only' err.txt"
# an unset variable in a cron line: not the default database, not folders at /
$KESTREL run "$top_srcdir/examples/branin-random.json" --db empty.db --work-dir "" >/dev/null 2>err.txt; rc=$?
check "an empty --work-dir is refused (exit 2), nothing run" "[ $rc -eq 2 ] && grep -q \"option '--work-dir' needs a value that is not empty\" err.txt && [ ! -e empty.db ] && [ ! -e /branin-random ]"
$KESTREL studies --db= >/dev/null 2>err.txt; rc=$?
check "an empty --db= is refused (exit 2)" "[ $rc -eq 2 ] && grep -q \"option '--db' needs a value that is not empty\" err.txt"

# --- validation names the JSON path --------------------------------------
cat > bad.json <<'J'
{"name": "bad", "objective": {"metric": "value"},
 "space": {"lr": {"type": "float", "low": 0, "high": 1, "log": true}},
 "strategy": {"name": "random"}, "budget": {"max_trials": 3}, "run": {"function": "branin"}}
J
$KESTREL validate bad.json 2>err.txt; rc=$?
check "invalid spec exits 2" "[ $rc -eq 2 ]"
check "invalid spec names the path" "grep -q 'space.lr.low' err.txt"
mkdir -p adir
$KESTREL validate adir 2>err.txt; rc=$?
check "a folder given as the spec: cannot be read (exit 1), not invalid JSON" "[ $rc -eq 1 ] && grep -q 'adir: Is a directory' err.txt"
for f in "$top_srcdir"/examples/*.json; do
    grep -q '"objective"' "$f" || continue     # trainer configs are not studies
    check "example $(basename "$f") validates" "$KESTREL validate '$f' >/dev/null"
done
# a trainer run: its options and its space's parameters (each passed as
# --set NAME=VALUE) go through the trainer's parser at validation, not at
# every trial
cat > trainer-bad.json <<'J'
{"name": "tr", "objective": {"metric": "val_loss"},
 "space": {"lr": {"type": "float", "low": 0.001, "high": 0.01, "log": true}},
 "strategy": {"name": "random"}, "budget": {"max_trials": 2},
 "run": {"trainer": {"epochz": 1, "data": "synthetic-classification"}}}
J
$KESTREL validate trainer-bad.json 2>err.txt; rc=$?
check "validate: an unknown trainer option exits 2, named with its path" "[ $rc -eq 2 ] && grep -q \"run.trainer.epochz: unknown option (did you mean 'epochs'?)\" err.txt"
$KESTREL run trainer-bad.json --db trainer-bad.db 2>err.txt; rc=$?
check "run: an unknown trainer option is refused before any trial (exit 2)" "[ $rc -eq 2 ] && grep -q 'run.trainer.epochz' err.txt"
sed 's/"epochz": 1/"epochs": -1/' trainer-bad.json > trainer-range.json
$KESTREL validate trainer-range.json 2>err.txt; rc=$?
check "validate: a trainer option out of its range exits 2, named" "[ $rc -eq 2 ] && grep -q 'run.trainer.epochs: must be in \[1, 1000000\], got -1' err.txt"
sed 's/"epochz": 1/"epochs": 2/; s/"space": {/"space": {"foo": {"type": "int", "low": 1, "high": 3}, /' trainer-bad.json > trainer-space.json
$KESTREL validate trainer-space.json 2>err.txt; rc=$?
check "validate: a space parameter the trainer does not know exits 2, named" "[ $rc -eq 2 ] && grep -q \"space.foo: the trainer has no option 'foo'\" err.txt"
# a warm-up longer than the run (2 epochs of 3 optimizer steps) is the
# trial's to refuse, once it knows the steps: that point fails, naming the
# field; the other completes (it was taken, and trained the run below lr)
cat > warmup.json <<'J'
{"name": "wu", "objective": {"metric": "val_loss"},
 "space": {"warmup_steps": {"type": "categorical", "choices": [4, 100000]}},
 "strategy": {"name": "grid"}, "budget": {"max_trials": 2},
 "run": {"trainer": {"data": "synthetic-classification", "synthetic_samples": 200, "epochs": 2}}}
J
$KESTREL run warmup.json --db warmup.db >/dev/null 2>&1; rc=$?
check "a trainer trial whose warm-up outlasts its run fails, naming warmup_steps" "[ $rc -eq 0 ] && [ \"\$(DB=warmup.db q \"select group_concat(state || ': ' || coalesce(failure, ''), ' | ') from trials\")\" = \"COMPLETE:  | FAILED: exit code 1: kestrel train: warmup_steps: 100000 exceeds the run's 6 optimizer steps (2 epochs of 3): the rate would never reach lr\" ]"
$KESTREL run bad.json 2>/dev/null; check "run refuses an invalid spec" "[ $? -eq 2 ] && [ ! -s kestrel.db ] || [ \$(q 'select count(*) from trials' 2>/dev/null || echo 0) -eq 0 ]"

# --- headless Branin study, 4 in parallel --------------------------------
sed 's/"max_trials": 40/"max_trials": 16/' "$top_srcdir/examples/branin-random.json" > branin.json
$KESTREL run branin.json >run.txt 2>&1; rc=$?
check "branin study completes (exit 0)" "[ $rc -eq 0 ]"
check "16 trials recorded" "[ \$(q 'select count(*) from trials') -eq 16 ]"
check "all complete" "[ \$(q \"select count(*) from trials where state='COMPLETE'\") -eq 16 ]"
check "4 trials ran in parallel" "[ \$(q \"select count(*) from trials a join trials b on a.study_id=b.study_id and a.id<b.id and b.started_at<a.finished_at\") -ge 3 ]"
best=$(q "select value from best_trials where study='branin-random'")
minv=$(q "select min(value) from trials")
check "best_trials view gives the minimum" "[ '$best' = '$minv' ]"
check "best trial params in one select" "q \"select params from best_trials where study='branin-random'\" | grep -q '\"x1\"'"
check "kestrel best --format json" "$KESTREL best branin-random --format json | grep -q '\"x2\"'"
# a model that cannot be exported is an error alone, as no complete trial
# is: the best row came first, and its JSON was left without its ']'
$KESTREL best branin-random --format json --export-model m.kck >out.txt 2>err.txt; rc=$?
check "kestrel best --export-model of a study with no model: exit 5, no row, no unclosed JSON" "[ $rc -eq 5 ] && [ ! -s out.txt ] && grep -q 'trial [0-9]* has no model file' err.txt && [ ! -e m.kck ]"
check "kestrel trials --format csv has 17 lines" "[ \$($KESTREL trials branin-random --format csv | wc -l) -eq 17 ]"
check "kestrel studies lists it" "$KESTREL studies | grep -q 'branin-random *COMPLETE'"
check "plain progress lines in a pipe, timestamped" "grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z trial [0-9]+ COMPLETE value=' run.txt"
$KESTREL run branin.json >again.txt 2>&1; rc=$?
check "rerun of a complete study adds nothing" "[ $rc -eq 0 ] && [ \$(q 'select count(*) from trials') -eq 16 ]"
check "rerun of a complete study says so in one line" "[ \$(wc -l < again.txt) -eq 1 ] && grep -q 'study branin-random: complete, 16 trials .*; nothing left to run' again.txt"
$KESTREL run branin.json --quiet >quiet.txt 2>&1; rc=$?
check "rerun of a complete study with --quiet prints nothing (cron mails nothing)" "[ $rc -eq 0 ] && [ ! -s quiet.txt ]"
sed 's/"seed": 1/"seed": 2/' branin.json > changed.json
$KESTREL run changed.json >/dev/null 2>err.txt; rc=$?
check "changed spec is refused, naming the field" "[ $rc -ne 0 ] && grep -q -- '--force' err.txt && grep -q 'strategy.seed: 1 -> 2' err.txt"
sed 's/"max_trials": 16/"max_trials": 20/' branin.json > more.json
$KESTREL run more.json >/dev/null 2>&1; rc=$?
check "a larger budget continues the study, no --force needed" "[ $rc -eq 0 ] && [ \$(q 'select count(*) from trials') -eq 20 ] && q 'select spec from studies' | grep -q '\"max_trials\":20'"
sed 's/"max_trials": 16/"max_trials": 24/; s/"seed": 1/"seed": 2/' branin.json > both.json
$KESTREL run both.json >/dev/null 2>err.txt; rc=$?
check "a refused change names the field that blocks it, not the budget that would pass" "[ $rc -eq 1 ] && grep -q 'strategy.seed: 1 -> 2' err.txt && ! grep -q 'budget' err.txt"
sed 's/"minimize"/"maximize"/; s/"max_trials": 16/"max_trials": 20/' branin.json > max.json
$KESTREL run max.json --force >/dev/null 2>&1; rc=$?
top=$(q "select number from trials order by value desc limit 1")
check "--force to the other direction: the studies row, best_trials and kestrel best follow it" "[ $rc -eq 0 ] && [ \"\$(q 'select direction from studies')\" = maximize ] && [ \"\$(q 'select number from best_trials')\" = '$top' ] && $KESTREL best branin-random --format json | grep -q '\"number\": $top,'"
# (a command that reports 'other': a function reports 'value' alone, and
# its spec would be refused before the study is looked at)
sed 's/"metric": "value"/"metric": "other"/; s/"run": {"function": "branin"}/"run": {"command": ["echo", "{{\\"other\\": 1}}"]}/' max.json > metric.json
$KESTREL run metric.json --force >/dev/null 2>err.txt; rc=$?
check "--force cannot change the metric of a study with trials (exit 1, named, nothing changed)" "[ $rc -eq 1 ] && grep -q \"objective.metric: 'value' -> 'other'\" err.txt && [ \"\$(q 'select metric from studies')\" = value ] && [ \$(q 'select count(*) from trials') -eq 20 ]"

# a --force that changed the space keeps the old trials: their parameters
# the space no longer has stay columns of the listing and the export (c
# was dropped from the CSV and the JSON, while `kestrel trial` showed it)
cat > space1.json <<'EOF'
{"name": "respace", "objective": {"metric": "value", "direction": "minimize"},
 "space": {"x1": {"type": "float", "low": 0, "high": 1}, "c": {"type": "categorical", "choices": ["a", "b"]}},
 "strategy": {"name": "random", "seed": 1}, "budget": {"max_trials": 2, "max_parallel": 1},
 "run": {"command": ["echo", "{{\"value\": {x1}}}"]}}
EOF
sed 's/"c": {"type": "categorical", "choices": \["a", "b"\]}/"d": {"type": "int", "low": 1, "high": 3}/; s/"max_trials": 2/"max_trials": 3/' space1.json > space2.json
$KESTREL run space1.json --db respace.db >/dev/null 2>&1 && $KESTREL run space2.json --db respace.db --force >/dev/null 2>&1; rc=$?
$KESTREL trials respace --db respace.db --format csv >out.txt 2>err.txt
c0=$(DB=respace.db q "select p.value_text from trial_params p join trials t on t.id = p.trial_id where t.number = 0 and p.name = 'c'")
check "kestrel trials --format csv after a --force that removed a parameter keeps its column and values" \
    "[ $rc -eq 0 ] && [ -n '$c0' ] && head -1 out.txt | grep -q '^number,state,value,x1,d,c,' && grep -q '^0,COMPLETE,[^,]*,[^,]*,,$c0,' out.txt && grep -q '^2,COMPLETE,[^,]*,[^,]*,[123],,' out.txt"
$KESTREL trials respace --db respace.db --format json >out.txt 2>err.txt
check "kestrel trials --format json keeps it too" "grep -q '\"c\": \"$c0\"' out.txt"
# a configuration enqueued before a --force changed the space so that it no
# longer fits it does not run: it was listed and counted pending forever,
# unsaid; it is left out of the pending ones, with a warning
sed 's/"name": "respace"/"name": "requeue"/; s/"max_trials": 2/"max_trials": 1/' space1.json > requeue1.json
sed 's/"name": "respace"/"name": "requeue"/; s/"max_trials": 3/"max_trials": 1/' space2.json > requeue2.json
$KESTREL run requeue1.json --db requeue.db >/dev/null 2>&1
$KESTREL enqueue requeue --db requeue.db --set x1=0.5 --set c='"a"' >/dev/null 2>&1 &&
    $KESTREL enqueue requeue --db requeue.db --set x1=0.25 --set c='"b"' >/dev/null 2>&1 &&
    $KESTREL run requeue2.json --db requeue.db --force >/dev/null 2>&1; rc=$?
$KESTREL enqueue requeue --db requeue.db >out.txt 2>err.txt; rc2=$?
check "kestrel enqueue STUDY after a --force its configurations no longer fit: none pending, a warning says so" \
    "[ $rc -eq 0 ] && [ $rc2 -eq 0 ] && [ \"\$(tr -d ' \n' < out.txt)\" = '[]' ] && grep -q \"warning: 2 configurations enqueued into study 'requeue' no longer fit its space (changed by kestrel run --force)\" err.txt"
$KESTREL enqueue requeue --db requeue.db --set x1=0.5 --set d=2 >out.txt 2>err.txt; rc=$?
check "a configuration of the new space is counted alone" "[ $rc -eq 0 ] && grep -q '(1 pending)' out.txt && grep -q 'warning: 2 configurations' err.txt"

# --- a history in a folder kestrel cannot write ------------------------------
# SQLite makes DB-wal and DB-shm beside a history, to read it too: the error
# names the folder (SQLite alone said "attempt to write a readonly database"
# of a file anyone may write). A user who cannot write the folder: nobody
# when root (the test's folder opened to it), else the folder made read-only.
mkdir ro && cp kestrel.db ro/h.db && chmod 666 ro/h.db
if [ "$(id -u)" = 0 ]; then
    chmod 755 "$T" ro
    as="runuser -u nobody --"
    $as test -x "$KESTREL" 2>/dev/null || as=skip
else
    chmod 555 ro
    as=
fi
if [ "$as" != skip ]; then
    for c in studies "trials branin-random"; do
        $as "$KESTREL" $c --db "$T/ro/h.db" >/dev/null 2>err.txt; rc=$?
        check "kestrel $c in a folder it cannot write: exit 1, the folder named" \
            "[ $rc -eq 1 ] && grep -q \"the folder '$T/ro' is not writable\" err.txt && grep -q 'h.db-wal' err.txt"
    done
    # through a link in a folder it can write: SQLite resolves the link and
    # makes them beside the file, and the folder of the file is named, not
    # the link's (the check looked there, found it writable: SQLite's words
    # alone)
    mkdir rw && chmod 777 rw && ln -s ../ro/h.db rw/l.db
    $as "$KESTREL" studies --db "$T/rw/l.db" >/dev/null 2>err.txt; rc=$?
    check "kestrel studies through a link to a history in a folder it cannot write: the file's folder named" \
        "[ $rc -eq 1 ] && grep -q \"the folder '$T/ro' is not writable\" err.txt && grep -q \"'$T/ro/h.db-wal'\" err.txt"
fi
chmod 755 ro

# --- objective.goal: the study ends once a trial reaches it ---------------
cat > goal.json <<'J'
{"name": "goal", "objective": {"metric": "value", "direction": "minimize", "goal": 5},
 "space": {"x1": {"type": "float", "low": -5, "high": 10}, "x2": {"type": "float", "low": 0, "high": 15}},
 "strategy": {"name": "random", "seed": 3}, "budget": {"max_trials": 500, "max_parallel": 1},
 "run": {"function": "branin"}}
J
DB=goal.db; export DB
$KESTREL run goal.json --db goal.db >goal.txt 2>&1; rc=$?
n=$(q 'select count(*) from trials')
check "objective.goal: the study is COMPLETE (exit 0) before its budget" "[ $rc -eq 0 ] && [ $n -lt 500 ] && [ \"\$(q 'select state from studies')\" = COMPLETE ]"
check "objective.goal: the last trial is the first to reach it" "[ \$(q 'select count(*) from trials where value <= 5') -eq 1 ] && [ \$(q 'select number from trials where value <= 5') -eq $((n - 1)) ]"
check "objective.goal: the summary says so" "grep -q 'objective.goal reached' goal.txt"
$KESTREL run goal.json --db goal.db >/dev/null 2>&1; rc=$?
check "objective.goal: a rerun starts nothing" "[ $rc -eq 0 ] && [ \$(q 'select count(*) from trials') -eq $n ]"
unset DB
sed 's/"goal": 5/"goal": "5"/' goal.json > badgoal.json
$KESTREL validate badgoal.json 2>err.txt; rc=$?
check "objective.goal must be a number, the error names it" "[ $rc -eq 2 ] && grep -q 'objective.goal' err.txt"

# --- failing trials of every kind ----------------------------------------
cat > trial.sh <<'S'
#!/bin/sh
case "$1" in
ok) echo '{"step": 1, "loss": 2.5}' >&3; echo '{"loss": 1.5}' >&3 ;;
stdout) echo "some log text"; echo '{"loss": 0.5}' ;;
crash) echo "about to crash" >&2; kill -SEGV $$ ;;
exit3) printf 'warming up\000\n' >&2; echo "bad things happened" >&2; exit 3 ;;
nan) echo '{"step": 1, "loss": NaN}' >&3; sleep 5 ;;
hang) sleep 30 ;;
nometric) echo '{"other": 1}' >&3 ;;
huge) echo '{"loss": 1e999}' >&3 ;;
badstep) echo '{"step": 2147483648, "loss": 1}' >&3 ;;
maxstep) echo '{"step": 2147483647, "loss": 0.7}' >&3 ;;
esac
S
chmod +x trial.sh
cat > fail.json <<'J'
{"name": "failures", "objective": {"metric": "loss"},
 "space": {"mode": {"type": "categorical",
                    "choices": ["ok", "stdout", "crash", "exit3", "nan", "hang", "nometric",
                                "huge", "badstep", "maxstep"]}},
 "strategy": {"name": "grid"}, "budget": {"max_trials": 10, "max_parallel": 3, "trial_timeout": 2},
 "run": {"command": ["./trial.sh", "{mode}"], "kill_grace": 1}}
J
DB=fail.db; export DB
$KESTREL run fail.json --db fail.db >/dev/null 2>&1; rc=$?
check "study with failing trials still completes" "[ $rc -eq 0 ]"
st() { q "select state || '|' || coalesce(failure,'') from trials t join trial_params p on p.trial_id=t.id where p.value_text='$1'"; }
check "fd-3 report: COMPLETE with final value" "[ \"\$(q \"select value from trials t join trial_params p on p.trial_id=t.id where p.value_text='ok'\")\" = 1.5 ]"
check "stdout report: COMPLETE" "st stdout | grep -q '^COMPLETE'"
check "intermediate step recorded" "[ \$(q 'select count(*) from trial_values where step=1') -ge 1 ]"
check "crash: FAILED by signal" "st crash | grep -q 'FAILED|killed by signal 11'"
check "crash: stderr tail kept" "q 'select stderr_tail from trial_logs' | grep -q 'about to crash'"
check "exit code: FAILED with stderr" "st exit3 | grep -q 'FAILED|exit code 3: bad things happened'"
check "a NUL byte in stderr: the tail keeps what follows, the NUL stored as U+FFFD" "[ \"\$(q \"select hex(stderr_tail) from trial_logs l join trial_params p on p.trial_id=l.trial_id where p.value_text='exit3'\")\" = \"\$(printf 'warming up\\357\\277\\275\\nbad things happened\\n' | od -An -tx1 | tr -d ' \\n' | tr a-f A-F)\" ]"
check "NaN: FAILED with reason" "st nan | grep -q 'FAILED|metric .loss. is NaN'"
check "1e999: FAILED as infinite" "st huge | grep -q 'FAILED|metric .loss. is infinite'"
check "hang: FAILED by timeout" "st hang | grep -q 'FAILED|timeout'"
check "missing metric: FAILED" "st nometric | grep -q \"FAILED|missing metric 'loss'\""
check "missing metric: the reason lists the metrics it did report" "st nometric | grep -q '(it reported: other)'"
check "a step above INT_MAX: the reason says the line was malformed and why" "st badstep | grep -q \"FAILED|missing metric 'loss'.*1 report line ignored as malformed, the first: step: must be an integer from 0 to 2147483647, not 2147483648\""
check "a step above INT_MAX: the stored stderr tail says it too" "q \"select stderr_tail from trial_logs l join trial_params p on p.trial_id=l.trial_id where p.value_text='badstep'\" | grep -q '^kestrel: 1 report line ignored as malformed, the first: step: must be'"
check "a step of INT_MAX: a report like any other" "st maxstep | grep -q '^COMPLETE' && [ \$(q \"select last_step from trials t join trial_params p on p.trial_id=t.id where p.value_text='maxstep'\") = 2147483647 ]"
{ printf '{"loss": 1, "pad": "'; head -c 70000 /dev/zero | tr '\0' x; printf '"}\n'; } > long.txt
echo 'cat long.txt >&3' > long.sh
cat > long.json <<'J'
{"name": "long", "objective": {"metric": "loss"}, "space": {"x": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random"}, "budget": {"max_trials": 1},
 "run": {"command": ["sh", "long.sh"]}}
J
$KESTREL run long.json --db long.db >/dev/null 2>&1
check "a report line over 64 KiB: the failure says it was cut, not only that no metric came" "[ \"\$(DB=long.db q 'select failure from trials')\" = \"missing metric 'loss' in the trial's reports; it reported no metric; 1 report line ignored as malformed, the first: longer than 65536 bytes, cut there\" ]"
# 40 final metrics, then 31 more with the objective: 71 names over two lines
{ printf '{'; for i in $(seq 0 39); do printf '"m%02d": %d, ' $i $i; done; printf '"last": 0}\n'
  printf '{'; for i in $(seq 40 69); do printf '"m%02d": %d, ' $i $i; done; printf '"loss": 1}\n'; } > finals.txt
echo 'cat finals.txt >&3' > finals.sh
sed 's/"long"/"finals"/; s/long.sh/finals.sh/' long.json > finals.json
$KESTREL run finals.json --db finals.db >/dev/null 2>&1
check "final metrics past 64 over two lines: the failure says the line was refused, not only that the objective is missing" "DB=finals.db q 'select failure from trials' | grep -q \"^missing metric 'loss'.*1 report line ignored as malformed, the first: more than 64 final metrics over the trial's lines\""
$KESTREL fn branin --set x1=1 --set x2=2 --set x1=3 >/dev/null 2>err.txt; rc=$?
check "kestrel fn: a variable given twice is refused (exit 2)" "[ $rc -eq 2 ] && grep -q 'x1: given twice' err.txt"
check "kestrel fn: an overflowing value is written as the protocol's Infinity" "[ \"\$($KESTREL fn branin --set x1=1e200 --set x2=1)\" = '{\"value\": Infinity}' ]"
num() { q "select number from trials t join trial_params p on p.trial_id=t.id where p.value_text='$1'"; }
$KESTREL trial failures "$(num crash)" --db fail.db >crash.json; rc=$?
check "kestrel trial: the crash with its reason and stderr tail" "[ $rc -eq 0 ] && python3 -c 'import json,sys; t=json.load(open(\"crash.json\")); sys.exit(not (t[\"state\"] == \"FAILED\" and \"signal 11\" in t[\"failure\"] and \"about to crash\" in t[\"stderr_tail\"] and t[\"params\"] == {\"mode\": \"crash\"}))'"
$KESTREL trial failures "$(num ok)" --db fail.db >ok.json
check "kestrel trial: reports by step and final metrics" "python3 -c 'import json,sys; t=json.load(open(\"ok.json\")); sys.exit(not (t[\"values\"] == [{\"step\": 1, \"metrics\": {\"loss\": 2.5}}] and t[\"metrics\"][\"loss\"] == 1.5))'"
$KESTREL trial failures 99 --db fail.db >/dev/null 2>err.txt; rc=$?
check "kestrel trial: no such trial exits 5" "[ $rc -eq 5 ] && grep -q 'has no trial 99' err.txt"
$KESTREL trial failures one --db fail.db >/dev/null 2>&1; rc=$?
check "kestrel trial: a bad number exits 2" "[ $rc -eq 2 ]"
unset DB

# --- whatever validate accepts runs: 64 categoricals of 1024 bytes -------
python3 - > wide.json <<'P'
import json
v = "v" * 1024
space = {"c%d" % i: {"type": "categorical", "choices": [v]} for i in range(64)}
print(json.dumps({"name": "wide", "objective": {"metric": "value"}, "space": space,
                  "strategy": {"name": "random"}, "budget": {"max_trials": 1},
                  "run": {"command": "echo {c63} >/dev/null; echo '{{\"value\": 1}}'"}}))
P
$KESTREL validate wide.json >/dev/null 2>&1; rc=$?
check "validate accepts 64 categoricals of 1024 bytes" "[ $rc -eq 0 ]"
$KESTREL run wide.json --db wide.db >/dev/null 2>err.txt; rc=$?
check "and such a study runs" "[ $rc -eq 0 ] && [ \$(DB=wide.db q \"select count(*) from trials where state='COMPLETE'\") -eq 1 ]"
# CSV keeps a text whole, as JSON does: the 1024-byte choice and a long note
# came out cut to 1023 bytes (the writer's cell buffer)
$KESTREL note wide --db wide.db "$(printf '%02000d' 0)end"
$KESTREL trials wide --db wide.db --format csv >out.csv
$KESTREL studies --db wide.db --format csv >studies.csv
lens=$(python3 -c "import csv; t = next(csv.DictReader(open('out.csv'))); s = next(csv.DictReader(open('studies.csv'))); print(len(t['c63']), t['c63'] == 'v' * 1024, len(s['note']), s['note'].endswith('end'))")
check "kestrel trials and studies --format csv keep a 1024-byte choice and a 2003-byte note whole" "[ '$lens' = '1024 True 2003 True' ]"
# a trial names its metrics, which become columns: a table's header shows
# each on one line, as its cells (a newline broke the header in two, an
# ESC reached the terminal); CSV and JSON keep the names whole
cat > oddnames.py <<'P'
import json
print(json.dumps({"value": 1, "odd\nname": 2, "esc\u001b[8m": 3}))
P
cat > oddnames.json <<'J'
{"name": "oddnames", "objective": {"metric": "value"},
 "space": {"x": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random"}, "budget": {"max_trials": 1},
 "run": {"command": ["python3", "oddnames.py"]}}
J
$KESTREL run oddnames.json --db wide.db >/dev/null 2>&1
$KESTREL trials oddnames --db wide.db >out.txt
$KESTREL trials oddnames --db wide.db --format json >out.json
check "kestrel trials: a metric's newline and ESC do not reach the table's header; JSON keeps them" "[ \$(wc -l < out.txt) -eq 2 ] && ! LC_ALL=C grep -q '[[:cntrl:]]' out.txt && grep -q 'odd \.\.\. ' out.txt && python3 -c \"import json; t = json.load(open('out.json'))[0]; assert t['odd\\\\nname'] == 2 and t['esc\\\\x1b[8m'] == 3\""
# a parameter named as a fixed column is 'param_NAME', and one already
# named so is not given the same column: two 'param_value' columns, of
# which JSON (and any reader keyed by name) kept one
cat > pv.json <<'J'
{"name": "pv", "objective": {"metric": "loss"},
 "space": {"param_value": {"type": "fixed", "value": 1}, "value": {"type": "fixed", "value": 2}},
 "strategy": {"name": "random"}, "budget": {"max_trials": 1},
 "run": {"command": "echo '{{\"loss\": 3, \"param_value\": 4}}'"}}
J
$KESTREL run pv.json --db wide.db >/dev/null 2>&1
$KESTREL trials pv --db wide.db --format json >out.json
check "kestrel trials: a parameter param_value beside one named value, and a metric of that name, get columns of their own" "python3 -c \"import json; t = json.load(open('out.json'))[0]; assert (t['value'], t['param_value'], t['param_param_value'], t['metric_param_value']) == (3, 1, 2, 4), t\" && [ \"\$($KESTREL trials pv --db wide.db --format csv | head -1 | cut -d, -f1-6)\" = 'number,state,value,param_value,param_param_value,metric_param_value' ]"

# --- kill -9 of the runner, then resume ----------------------------------
# Trials wait for the file GATE, so a study cannot finish before the checks
# that need it running: they wait for its state, never for time.
cat > slow.json <<'J'
{"name": "slow", "objective": {"metric": "value"},
 "space": {"x": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random", "seed": 3}, "budget": {"max_trials": 6, "max_parallel": 3},
 "run": {"command": "while [ ! -e GATE ]; do sleep 0.05; done; echo '{{\"value\": {x}}}'"}}
J
sed -i "s#GATE#$T/gate#" slow.json
# waits (up to 10 minutes, a hang guard) until $1 trials of $DB are RUNNING
wait_running() {
    i=0
    while [ "$(q "select count(*) from trials where state='RUNNING'" 2>/dev/null)" != "$1" ] && [ $i -lt 6000 ]; do
        sleep 0.1; i=$((i+1))
    done
}
DB=slow.db; export DB
$KESTREL run slow.json --db slow.db >/dev/null 2>&1 &
pid=$!
wait_running 3
check "three trials RUNNING before the kill" "[ \"\$(q \"select count(*) from trials where state='RUNNING'\")\" = 3 ]"
$KESTREL run slow.json --db slow.db >/dev/null 2>err.txt; rc=$?
check "overlapping run refused with exit 3" "[ $rc -eq 3 ] && grep -q 'another kestrel process' err.txt"
ln -s slow.db alias.db
$KESTREL run slow.json --db alias.db >/dev/null 2>err.txt; rc=$?
check "overlapping run through a link to the database refused with exit 3" "[ $rc -eq 3 ] && grep -q 'another kestrel process' err.txt"
n=$(q 'select count(*) from trials')
$KESTREL delete slow --db slow.db >/dev/null 2>err.txt; rc=$?
check "delete of a study running elsewhere refused with exit 3" "[ $rc -eq 3 ] && grep -q 'stop it first' err.txt"
check "refused delete removes nothing" "[ \$(q 'select count(*) from trials') -ge $n ] && [ -d slow.db.trials/slow ]"
kill -9 $pid; wait $pid 2>/dev/null
check "database intact after kill -9" "[ \"\$(q 'pragma integrity_check')\" = ok ]"
touch gate
$KESTREL run slow.json --db slow.db >resume.txt 2>&1; rc=$?
check "resume after kill -9 completes" "[ $rc -eq 0 ]"
check "the resumed run says it resumes, and what it reclaimed" "grep -q 'Z study slow: 3 trials left RUNNING by a dead run were marked FAILED' resume.txt && grep -q 'Z resuming study slow: ' resume.txt"
check "dead trials marked FAILED with reason" "[ \$(q \"select count(*) from trials where state='FAILED' and failure like 'interrupted: the kestrel process running it died'\") -eq 3 ]"
check "dead trials retried" "[ \$(q 'select count(*) from trials where retry_of is not null and retry_of >= 0') -eq 3 ]"
check "budget of 6 fresh trials complete" "[ \$(q \"select count(*) from trials where state='COMPLETE'\") -eq 6 ]"
check "no trial left RUNNING" "[ \$(q \"select count(*) from trials where state='RUNNING'\") -eq 0 ]"
# delete: rows and trial folders go; a link inside a folder is removed, not followed
mkdir -p outside && echo keep > outside/file && ln -s "$PWD/outside" slow.db.trials/slow/0/link
$KESTREL delete slow --db slow.db >del.txt 2>&1; rc=$?
check "kestrel delete: exit 0 and a summary" "[ $rc -eq 0 ] && grep -q 'deleted study slow (9 trials)' del.txt"
check "kestrel delete: no row of the study left" "[ \$(q 'select (select count(*) from studies) + (select count(*) from trials) + (select count(*) from trial_values)') -eq 0 ]"
check "kestrel delete: trial folders removed, linked folder kept" "[ ! -e slow.db.trials/slow ] && [ -f outside/file ]"
# only what Kestrel made goes: a file of the user's in the study folder stays
$KESTREL run slow.json --db slow.db >/dev/null 2>&1
echo mine > slow.db.trials/slow/notes.txt
$KESTREL delete slow --db slow.db >/dev/null 2>&1; rc=$?
check "kestrel delete: a foreign file in the study folder is kept" "[ $rc -eq 0 ] && [ \"\$(ls slow.db.trials/slow)\" = notes.txt ]"
$KESTREL delete slow --db slow.db >/dev/null 2>err.txt; rc=$?
check "delete of an unknown study exits 5" "[ $rc -eq 5 ] && grep -q \"no study named 'slow'\" err.txt"
# a study folder that is a link (to another study's folder, or moved by
# hand): the link goes, what it points to is not the study's to remove
$KESTREL run slow.json --db slow.db >/dev/null 2>&1
mv slow.db.trials/slow other && ln -s ../other slow.db.trials/slow
n=$(ls other | wc -l)
$KESTREL delete slow --db slow.db >/dev/null 2>err.txt; rc=$?
check "kestrel delete: a study folder that is a link is removed, not followed" \
    "[ $rc -eq 0 ] && [ ! -e slow.db.trials/slow ] && [ ! -L slow.db.trials/slow ] && [ -f other/0/.kestrel-trial ] && [ $n -gt 0 ] && [ \$(ls other | wc -l) -eq $n ]"
unset DB

# a study deleted while kestrel trials lists it: the listing reads 256
# trials a page with nothing held between pages, and the pages after a
# DELETE came back empty: 256 of 1500 lines and exit 0, a list a script
# could not tell from a whole one. Rows of 1 kB: the listing waits on the
# pipe long before its last page, whatever the timing.
sed 's/"branin-random"/"big"/; s/"max_trials": 40/"max_trials": 1/' "$top_srcdir/examples/branin-random.json" > big.json
for fmt in csv json; do
    $KESTREL run big.json --db big.db >/dev/null 2>&1
    DB=big.db q "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1499)
      INSERT INTO trials (study_id, number, state, value, started_at, finished_at)
      SELECT (SELECT id FROM studies WHERE name = 'big'), i, 'COMPLETE', i, 1, 2 FROM n;
      INSERT INTO trial_params (trial_id, name, pos, value_text)
      SELECT id, 'x1', 0, hex(zeroblob(500)) FROM trials WHERE number > 0"
    { $KESTREL trials big --db big.db --format $fmt 2>err.txt; echo $? >rc.txt; } |
        { head -c 1000 >/dev/null; $KESTREL delete big --db big.db >/dev/null 2>&1; cat >out.txt; }
    check "kestrel trials --format $fmt of a study deleted while it lists: exit 5, said, the list cut and unclosed" \
        "[ \$(cat rc.txt) -eq 5 ] && grep -q \"study 'big' was deleted while its trials were listed\" err.txt && [ \$(wc -l <out.txt) -lt 1500 ] && ! tail -1 out.txt | grep -q '^]' && [ \$(DB=big.db q 'select count(*) from studies') -eq 0 ]"
done
$KESTREL run big.json --db big.db >/dev/null 2>&1
$KESTREL trials big --db big.db --format json >out.txt 2>err.txt; rc=$?
check "kestrel trials of a study left alone: exit 0, whole" "[ $rc -eq 0 ] && [ ! -s err.txt ] && tail -1 out.txt | grep -q '^]'"

# a history whose trial numbers have a gap (a trial removed by hand): the
# study's history loaded up to the gap as if whole (load_one's refusal was
# a stop to storage_trial_each), and the run stored a trial numbered past
# the gap before it failed, left RUNNING
sed 's/"branin-random"/"gap"/; s/"max_trials": 40/"max_trials": 3/' "$top_srcdir/examples/branin-random.json" > gap.json
$KESTREL run gap.json --db gap.db >/dev/null 2>&1
DB=gap.db q "PRAGMA foreign_keys = ON; DELETE FROM trials WHERE number = 1"
sed 's/"max_trials": 3/"max_trials": 6/' gap.json > gap6.json
$KESTREL run gap6.json --db gap.db >out.txt 2>err.txt; rc=$?
check "kestrel run of a history with a gap in its trial numbers: refused, said, nothing stored" \
    "[ $rc -ne 0 ] && grep -q 'trial 2 where 1 was expected' err.txt && [ \"\$(DB=gap.db q 'select group_concat(number) from trials')\" = 0,2 ]"

# --- a trial's processes die with it, even those that left its group -----
# Trial 0 starts a sleep in a session of its own (setsid) and ends; trial 1
# starts one too, and one in its group, and waits: then a kill of Kestrel's
# whole process group (timeout -s KILL kestrel run ..., kill -9 -PGID) must
# take them all (the watchdogs outlive it). Trial 1 waits until its setsid
# sleep is past its exec: one caught in an exec reads as having no environment.
cat > orphan.json <<'J'
{"name": "orphan", "objective": {"metric": "value"},
 "space": {"x": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random"}, "budget": {"max_trials": 2, "max_parallel": 1},
 "run": {"command": "setsid sleep 600 & s=$!; echo $s >> PIDFILE.s; if [ ! -e PIDFILE.0 ]; then touch PIDFILE.0; echo '{{\"value\": 1}}' >&3; exit; fi; until [ \"$(cat /proc/$s/comm)\" = sleep ] && grep -qz KESTREL_TRIAL_TOKEN /proc/$s/environ; do sleep 0.01; done; sleep 600 & echo $! > PIDFILE; wait"}}
J
sed -i "s#PIDFILE#$T/grandchild#g" orphan.json
setsid $KESTREL run orphan.json --db orphan.db >/dev/null 2>&1 &
pgid=$!
i=0; while [ ! -s grandchild ] && [ $i -lt 6000 ]; do sleep 0.1; i=$((i+1)); done
gc=$(cat grandchild) g0=$(sed -n 1p grandchild.s) g1=$(sed -n 2p grandchild.s)
# alive: exists and is not a zombie waiting for a parent to reap it
alive() { [ -e /proc/$1 ] && ! grep -q '^[0-9]* ([^)]*) Z' /proc/$1/stat 2>/dev/null; }
# waits (up to a minute, a hang guard) until none of the pids is alive
all_die() {
    i=0
    while [ $i -lt 600 ]; do
        left=0
        for p in "$@"; do alive "$p" && left=1; done
        [ $left = 0 ] && return
        sleep 0.1; i=$((i+1))
    done
}
all_die $g0
check "a trial's child in a session of its own (setsid) ends with the trial" "[ -n \"$g0\" ] && ! alive $g0"
kill -s KILL -- -$pgid   # dash (the shebang's sh) takes no -- after -9
all_die $gc $g1
check "kill -9 of Kestrel's process group: the trial's child dies too" "[ -n \"$gc\" ] && ! alive $gc"
check "... and its child in a session of its own" "[ -n \"$g1\" ] && ! alive $g1"
# seen once under a loaded make check (2026-12-03), not reproduced since: say
# what the survivor was and whether a watchdog was left, for the next time
if [ -n "$g1" ] && alive $g1; then
    echo "# survivor $g1: $(cat /proc/$g1/stat 2>/dev/null)"
    echo "# its token: $(tr '\0' '\n' < /proc/$g1/environ 2>/dev/null | grep KESTREL_TRIAL_TOKEN)"
    echo "# watchdogs: $(ps -eo pid,pgid,stat,args 2>/dev/null | grep '[k]estrel-watchdog' | cut -c1-60)"
    kill -s KILL $g1
fi
kill -9 $g0 $gc $g1 2>/dev/null

# --- SIGTERM stops cleanly; the next run resumes -------------------------
# runs the study $1 (slow.json renamed) in $1.db until 3 trials are RUNNING,
# sends it signal $2 and waits for it: rc is its exit status
stop_by() {
    sed "s/\"slow\"/\"$1\"/" slow.json > $1.json
    rm -f gate
    $KESTREL run $1.json --db $1.db >/dev/null 2>&1 &
    pid=$!
    wait_running 3
    kill -s $2 $pid; wait $pid; rc=$?
}
DB=term.db; export DB
stop_by term TERM
check "SIGTERM: exit 4" "[ $rc -eq 4 ]"
check "SIGTERM: study STOPPED" "[ \"\$(q 'select state from studies')\" = STOPPED ]"
check "SIGTERM: no trial left RUNNING" "[ \$(q \"select count(*) from trials where state='RUNNING'\") -eq 0 ]"
check "SIGTERM: the stopped trials count as interrupted, not failed" "$KESTREL studies --db term.db --format csv | grep -q '^term,STOPPED,minimize,value,3,0,0,0,0,3,'"
touch gate
$KESTREL run term.json --db term.db >/dev/null 2>&1; rc=$?
check "after their retries, still no failed trial" "$KESTREL studies --db term.db --format csv | grep -q '^term,COMPLETE,minimize,value,9,0,6,0,0,3,'"
check "resume after SIGTERM completes" "[ $rc -eq 0 ] && [ \$(q \"select count(*) from trials where state='COMPLETE'\") -eq 6 ]"
unset DB

# --- SIGHUP (the terminal closed) stops cleanly too, unless nohup ---------
# It killed Kestrel on the spot: the study and its trials stayed RUNNING
# with nothing running them, and the trials lost their kill_grace.
DB=hup.db; export DB
stop_by hup HUP
check "SIGHUP: exit 4" "[ $rc -eq 4 ]"
check "SIGHUP: study STOPPED, no trial left RUNNING" "[ \"\$(q 'select state from studies')\" = STOPPED ] && [ \$(q \"select count(*) from trials where state='RUNNING'\") -eq 0 ]"
check "SIGHUP: the trials are interrupted, naming it" "[ \$(q \"select count(*) from trials where failure='interrupted: stopped by SIGHUP'\") -eq 3 ]"
# under nohup (SIGHUP ignored when Kestrel starts) it stays ignored
sh -c "trap '' HUP; exec $KESTREL run hup.json --db hup.db" >/dev/null 2>&1 &
pid=$!
wait_running 3
sigign=$(awk '/^SigIgn:/ {print $2}' /proc/$pid/status)
check "nohup: SIGHUP stays ignored" "[ \$(( 0x$sigign & 1 )) -eq 1 ]"
kill -HUP $pid
touch gate
wait $pid; rc=$?
check "nohup: a SIGHUP does not stop the run" "[ $rc -eq 0 ] && [ \"\$(q 'select state from studies')\" = COMPLETE ]"
unset DB

# --- an external command through placeholders (examples/) ----------------
sed 's#python3 objective.py#python3 '"$top_srcdir"'/examples/objective.py#; s/"max_trials": 12/"max_trials": 4/' \
    "$top_srcdir/examples/command-objective.json" > cmd.json
# leftovers of an earlier history whose database was removed by hand
mkdir -p cmd.db.trials/objective-script/0 && echo old > cmd.db.trials/objective-script/0/checkpoint
touch cmd.db.trials/objective-script/0/.kestrel-trial
$KESTREL run cmd.json --db cmd.db >/dev/null 2>&1; rc=$?
check "a trial's folder starts empty, whatever was there" "[ -d cmd.db.trials/objective-script/0 ] && [ ! -e cmd.db.trials/objective-script/0/checkpoint ]"
check "example command study completes" "[ $rc -eq 0 ] && [ \$(DB=cmd.db q \"select count(*) from trials where state='COMPLETE'\") -eq 4 ]"
check "example command reports per-epoch values" "[ \$(DB=cmd.db q 'select count(distinct step) from trial_values') -ge 2 ]"

# --- fail fast: a command that cannot work stops the study, which is FAILED ---
cat > broken.json <<'J'
{"name": "broken", "objective": {"metric": "value"},
 "space": {"x": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random", "seed": 3}, "budget": {"max_trials": 40, "max_parallel": 1},
 "run": {"command": ["sh", "no-such-script.sh", "{x}"]}}
J
DB=broken.db; export DB
$KESTREL run broken.json --db broken.db >out.txt 2>err.txt; rc=$?
check "fail fast: exit 1 after budget.max_failures (10) failures in a row" "[ $rc -eq 1 ] && [ \$(q 'select count(*) from trials') -eq 10 ]"
check "fail fast: the study is FAILED, not COMPLETE, and says why" "[ \"\$(q 'select state from studies')\" = FAILED ] && q 'select state_reason from studies' | grep -q '10 trials in a row failed (budget.max_failures = 10); the last: exit code 2: sh: 0: cannot open no-such-script.sh'"
check "fail fast: run prints the reason" "grep -q 'study broken: failed' out.txt && grep -q \"study 'broken' failed: 10 trials in a row\" err.txt"
# the listing the failed run points to runs as printed (--state takes the
# states in capitals)
hint=$(sed -n "s/.*see '\(kestrel trials [^']*\)'.*/\1/p" err.txt)
$KESTREL ${hint#kestrel } --db broken.db >out.txt 2>&1; rc=$?
check "fail fast: the trials listing the run points to works (exit 0, the FAILED trials)" "[ -n '$hint' ] && [ $rc -eq 0 ] && [ \$(grep -c FAILED out.txt) -eq 10 ]"
$KESTREL best broken --db broken.db >out.txt 2>err.txt; rc=$?
check "kestrel best with no complete trial: exit 5, the error alone, no header" "[ $rc -eq 5 ] && [ ! -s out.txt ] && grep -q 'no COMPLETE trial' err.txt"
check "fail fast: kestrel studies shows FAILED" "$KESTREL studies --db broken.db | grep -q 'broken *FAILED'"
# kestrel enqueue --set to a study that is not complete says one line:
# every pending configuration's JSON came after it, on stdout, as when it
# is called without --set to list them
$KESTREL enqueue broken --db broken.db --set x=0.5 >out.txt 2>err.txt; rc=$?
check "kestrel enqueue --set to a FAILED study: its one line, no JSON after it" "[ $rc -eq 0 ] && [ \"\$(cat out.txt)\" = \"enqueued 1 configuration for study 'broken' (1 pending)\" ] && [ ! -s err.txt ]"
$KESTREL enqueue broken --db broken.db >out.txt; rc=$?
check "kestrel enqueue without --set still lists the pending ones as JSON" "[ $rc -eq 0 ] && python3 -c \"import json; assert json.load(open('out.txt'))[0]['params'] == {'x': 0.5}\""
sed 's/"max_parallel": 1}/"max_parallel": 1, "max_failures": 0}, "name": "few"/; s/"name": "broken", //; s/"max_trials": 40/"max_trials": 3/' broken.json > few.json
$KESTREL run few.json --db broken.db >/dev/null 2>&1; rc=$?
check "a budget spent with no trial complete: FAILED, not COMPLETE" "[ $rc -eq 1 ] && q \"select state || '|' || state_reason from studies where name='few'\" | grep -q '^FAILED|no trial completed; the last failure: exit code 2'"
# run again (a cron line), it starts nothing and fails as before: the
# stored reason and the run's line keep the last trial's failure (both said
# "(before this run)", the reason stored before written over)
$KESTREL run few.json --db broken.db >/dev/null 2>err.txt; rc=$?
check "a FAILED study run again keeps naming its last failure" "[ $rc -eq 1 ] && q \"select state_reason from studies where name='few'\" | grep -q '^no trial completed; the last failure: exit code 2: sh: 0: cannot open no-such-script.sh' && grep -q 'the last failure: exit code 2: sh: 0: cannot open' err.txt && ! grep -q 'before this run' err.txt"
# the study's failure quotes the last trial's stderr (a progress bar's \r,
# colours): the run's line on stderr says it escaped, one line a terminal
# does not write over and a cron log keeps plain
cat > ansi.json <<'J'
{"name": "ansi", "objective": {"metric": "value"},
 "space": {"x": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random"}, "budget": {"max_trials": 3, "max_failures": 1},
 "run": {"command": "printf '50%%|##|\\r\\033[31mboom\\033[0m\\n' >&2; exit 1"}}
J
$KESTREL run ansi.json --db broken.db >/dev/null 2>err.txt; rc=$?
check "a failed study's line on stderr: the trial's control characters escaped" "[ $rc -eq 1 ] && [ \$(wc -l < err.txt) -eq 1 ] && ! LC_ALL=C grep -q '[[:cntrl:]]' err.txt && grep -qF 'the last: exit code 1: 50%|##|\\x0d\\x1b[31mboom\\x1b[0m; see ' err.txt"
unset DB

# --- a GP study's trials do not depend on OpenBLAS's thread count ------------
# Threaded BLAS sums in another order, so a GP run with two threads drifted
# from one run with one after about 36 trials of this study.
sets=""
for i in 1 2 3 4 5 6; do sets="$sets, \"--set\", \"x$i={x$i}\""; done
cat > h6.json <<J
{"name": "h6", "objective": {"metric": "value", "direction": "minimize"},
 "space": {$(for i in 1 2 3 4 5 6; do printf '"x%d": {"type": "float", "low": 0, "high": 1}, ' $i; done | sed 's/, $//')},
 "strategy": {"name": "gp", "seed": 3}, "budget": {"max_trials": 60},
 "run": {"command": ["$KESTREL", "fn", "hartmann6"$sets]}}
J
for n in 1 2; do OPENBLAS_NUM_THREADS=$n $KESTREL run h6.json --db h6-$n.db >/dev/null 2>&1 || no "the 6-D GP study with $n BLAS threads"; done
points() { DB=$1 q "select group_concat(v, ' ') from (select printf('%.17g', p.value_num) v from trials t join trial_params p on p.trial_id = t.id order by t.number, p.pos)"; }
check "a GP study suggests the same trials whatever OPENBLAS_NUM_THREADS says" "[ \$(DB=h6-1.db q \"select count(*) from trials where state='COMPLETE'\") -eq 60 ] && [ \"\$(points h6-1.db)\" = \"\$(points h6-2.db)\" ]"

# --- a trial's share of the cores is of the CPUs the process may use ---------
# (its affinity mask: taskset, Slurm's binding, a container's cpuset), not of
# the machine's online CPUs
printf '#!/bin/sh\necho "{\\"value\\": $KESTREL_THREADS}"\n' > threads.sh
cat > threads.json <<'J'
{"name": "threads", "objective": {"metric": "value"},
 "space": {"x": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random", "seed": 1}, "budget": {"max_trials": 1, "max_parallel": 1},
 "run": {"command": ["sh", "threads.sh"]}}
J
cpu=$(awk '/^Cpus_allowed_list/ {split($2, a, /[-,]/); print a[1]}' /proc/self/status)
taskset -c "$cpu" $KESTREL run threads.json --db threads.db >/dev/null 2>&1; rc=$?
check "a study bound to one CPU (of $(nproc)) gives its trial 1 thread" \
    "[ $rc -eq 0 ] && [ \"\$(DB=threads.db q 'select value from trials')\" = 1.0 ]"
# a server divides them among the trials of all its studies: two studies of
# one trial each on N CPUs give each trial N/2 threads, not N
sed 's/"name": "threads"/"name": "threads2"/' threads.json > threads2.json
$KESTREL serve --db threads-serve.db --listen 127.0.0.1:0 --run threads.json --run threads2.json \
    >serve.out 2>&1 &
spid=$!
n=0   # a hang guard, not a deadline
while [ "$(DB=threads-serve.db q "select count(*) from trials where state = 'COMPLETE'" 2>/dev/null)" != 2 ] &&
    kill -0 $spid 2>/dev/null && [ $n -lt 1200 ]; do
    sleep 0.1; n=$((n + 1))
done
kill $spid 2>/dev/null; wait $spid
half=$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))
check "kestrel serve with two studies gives each trial half the CPUs ($half)" \
    "[ \"\$(DB=threads-serve.db q 'select group_concat(cast(value as int)) from trials')\" = $half,$half ]"

# --- a spec file's command runs in the spec file's folder ---------------------
mkdir -p specs/sub elsewhere
sed 's/"max_trials": 60/"max_trials": 3/; s/"n_initial": 8/"n_initial": 3/' "$top_srcdir/examples/branin-gp.json" > specs/gp.json
cp "$top_srcdir/examples/branin-steps.sh" specs/
(cd elsewhere && $KESTREL run ../specs/gp.json --db gp.db >/dev/null 2>&1); rc=$?
check "the example GP study runs from another folder" "[ $rc -eq 0 ] && [ \$(DB=elsewhere/gp.db q \"select count(*) from trials where state='COMPLETE'\") -eq 3 ]"
check "the study records its spec's folder" "[ \"\$(DB=elsewhere/gp.db q 'select spec_dir from studies')\" = \"\$(cd specs && pwd -P)\" ]"
cat > specs/rel.json <<'J'
{"name": "rel", "objective": {"metric": "value"},
 "space": {"x": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random", "seed": 3}, "budget": {"max_trials": 1},
 "run": {"command": "pwd > where.txt; echo '{{\"value\": {x}}}'", "cwd": "sub"}}
J
(cd elsewhere && $KESTREL run ../specs/rel.json --db rel.db >/dev/null 2>&1); rc=$?
check "a relative run.cwd is taken from the spec's folder" "[ $rc -eq 0 ] && [ \"\$(cat specs/sub/where.txt)\" = \"\$(cd specs/sub && pwd -P)\" ]"
# so is a trainer run: its relative data=csv:PATH is the file beside the
# spec, not one where kestrel run started (each trial failed 'rows.csv:
# cannot open' from any other folder)
python3 -c "
import random
r = random.Random(1)
print('a,b,label')
for i in range(120):
    a, b = r.random(), r.random(); print('%r,%r,%d' % (a, b, a + b > 1))" > specs/rows.csv
cat > specs/tcsv.json <<'J'
{"name": "tcsv", "objective": {"metric": "val_loss"},
 "space": {"lr": {"type": "float", "low": 0.001, "high": 0.1, "log": true}},
 "strategy": {"name": "random", "seed": 3}, "budget": {"max_trials": 1},
 "run": {"trainer": {"data": "csv:rows.csv", "epochs": 1, "hidden": "4"}}}
J
(cd elsewhere && $KESTREL run ../specs/tcsv.json --db tcsv.db >/dev/null 2>&1); rc=$?
check "a trainer run's relative data=csv:PATH is taken from the spec's folder" "[ $rc -eq 0 ] && [ \"\$(DB=elsewhere/tcsv.db q 'select state from trials')\" = COMPLETE ]"
# a parameter's text value reaches the trainer whole: a trial's --set
# NAME=VALUE was formatted into 256 bytes, where the spec takes 1,024
long=$T/$(printf 'd%.0s' $(seq 200))/$(printf 'e%.0s' $(seq 100))
mkdir -p "$long" && cp specs/rows.csv "$long/rows.csv"
cat > longdata.json <<J
{"name": "longdata", "objective": {"metric": "val_loss"},
 "space": {"data": {"type": "fixed", "value": "csv:$long/rows.csv"}},
 "strategy": {"name": "random", "seed": 3}, "budget": {"max_trials": 1},
 "run": {"trainer": {"epochs": 1, "hidden": "4"}}}
J
$KESTREL run longdata.json --db longdata.db >/dev/null 2>&1; rc=$?
check "a text parameter of more than 255 bytes (a csv: path) reaches the trainer whole" "[ $rc -eq 0 ] && [ \"\$(DB=longdata.db q 'select state from trials')\" = COMPLETE ]"
# the folders a trial is given are its own from its spec's folder, not the
# ones relative to where kestrel run started (a relative --db)
cat > specs/dirs.json <<'J'
{"name": "dirs", "objective": {"metric": "value"},
 "space": {"x": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random", "seed": 3}, "budget": {"max_trials": 1},
 "run": {"command": "[ -f \"$KESTREL_CHECKPOINT_DIR/.kestrel-trial\" ] && pwd > \"$KESTREL_CACHE_DIR.txt\" && echo '{{\"value\": {x}}}'"}}
J
(cd elsewhere && $KESTREL run ../specs/dirs.json --db dirs.db >/dev/null 2>&1); rc=$?
check "a command trial in its spec's folder finds KESTREL_CHECKPOINT_DIR and KESTREL_CACHE_DIR of a relative --db" \
    "[ $rc -eq 0 ] && [ -s elsewhere/.kestrel-cache.txt ]"
# docs/protocol.md: KESTREL_BUDGET and KESTREL_RESUME_FROM are set only for a
# trial with a budget or a parent; Kestrel's own (a shell that tried kestrel
# train by hand, a study run from another study's trial) are not a fresh
# trial's: it resumed from a checkpoint not its own, or stopped at that budget
cat > fresh.json <<'J'
{"name": "fresh", "objective": {"metric": "value"},
 "space": {"x": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random", "seed": 3}, "budget": {"max_trials": 1},
 "run": {"command": "env | grep '^KESTREL_[A-Z_]*=' | cut -d= -f1 | sort | tr '\\n' ' ' > fresh.env; echo '{{\"value\": {x}}}'"}}
J
KESTREL_BUDGET=3 KESTREL_RESUME_FROM="$T/elsewhere" KESTREL_MINE=1 \
    $KESTREL run fresh.json --db fresh.db >/dev/null 2>&1; rc=$?
check "a fresh trial gets no KESTREL_BUDGET or KESTREL_RESUME_FROM of Kestrel's environment, and keeps the user's own" \
    "[ $rc -eq 0 ] && [ \"\$(cat fresh.env)\" = 'KESTREL_CACHE_DIR KESTREL_CHECKPOINT_DIR KESTREL_MINE KESTREL_PARAMS KESTREL_REPORT_FD KESTREL_STUDY KESTREL_THREADS KESTREL_TRIAL KESTREL_TRIAL_TOKEN ' ]"

# --- a work folder that already holds a user's STUDY/N folder ---------------
cat > mine.json <<'J'
{"name": "mine", "objective": {"metric": "value"},
 "space": {"x": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random", "seed": 3}, "budget": {"max_trials": 3, "max_parallel": 1},
 "run": {"command": "echo '{{\"value\": {x}}}'"}}
J
mkdir -p mine.db.trials/mine/1 && echo precious > mine.db.trials/mine/1/data
DB=mine.db; export DB
$KESTREL run mine.json --db mine.db >/dev/null 2>&1; rc=$?
check "a folder Kestrel did not make is kept" "[ \"\$(cat mine.db.trials/mine/1/data)\" = precious ]"
check "its trial fails naming it; the others complete" "[ $rc -eq 0 ] && q \"select failure from trials where number=1 and state='FAILED'\" | grep -q 'mine/1 exists and Kestrel did not make it' && [ \$(q \"select count(*) from trials where state='COMPLETE'\") -eq 2 ]"
$KESTREL delete mine --db mine.db >/dev/null 2>&1; rc=$?
check "kestrel delete keeps it too" "[ $rc -eq 0 ] && [ -f mine.db.trials/mine/1/data ] && [ ! -e mine.db.trials/mine/0 ] && [ ! -e mine.db.trials/mine/2 ]"
# a study folder that is a link (planted, or left pointing at another
# study's folder): trials neither clear what it points to nor write there
mkdir -p theirs/0 && touch theirs/0/.kestrel-trial && echo precious > theirs/0/data
rm -rf mine.db.trials/mine && ln -s ../theirs mine.db.trials/mine
$KESTREL run mine.json --db mine.db >/dev/null 2>&1; rc=$?
check "a study folder that is a link: what it points to is left as it was" "[ \"\$(cat theirs/0/data)\" = precious ] && [ \"\$(ls theirs)\" = 0 ]"
check "a study folder that is a link: each trial fails, naming it (exit 1)" "[ $rc -eq 1 ] && [ \$(q \"select count(*) from trials where state='FAILED' and failure like '%mine.db.trials/mine is a symbolic link%'\") -eq 3 ]"
unset DB

# --- enqueued configurations, notes, "did you mean" -----------------------
DB=enq.db
cat > enq.json <<'J'
{"name": "enq", "objective": {"metric": "value"},
 "space": {"x1": {"type": "float", "low": -5, "high": 10}, "x2": {"type": "float", "low": 0, "high": 15},
           "opt": {"type": "categorical", "choices": ["adam", "sgd"]}},
 "strategy": {"name": "random", "seed": 3}, "budget": {"max_trials": 4},
 "enqueue": [{"x1": 1, "x2": 2, "opt": "sgd"}, {"x1": 3.5, "x2": 0, "opt": "adam"}],
 "run": {"function": "branin"}}
J
sed 's/"x2": 2, "opt"/"x3": 2, "opt"/' enq.json > enq-bad.json
$KESTREL validate enq-bad.json 2>err.txt; rc=$?
check "a spec's enqueued configuration is checked against the space, naming the field" "[ $rc -eq 2 ] && grep -q \"enqueue\[0\].x3: not a parameter of the space (did you mean 'x1'?)\" err.txt"
$KESTREL run enq.json --db enq.db >/dev/null 2>&1; rc=$?
check "the spec's enqueued configurations run first, in order, marked enqueued" "[ $rc -eq 0 ] && [ \"\$(q \"select group_concat(t.number || ':' || e.params, ' ') from trials t join enqueued e on e.id = t.enqueued_id\")\" = '0:{\"x1\":1.0,\"x2\":2.0,\"opt\":\"sgd\"} 1:{\"x1\":3.5,\"x2\":0.0,\"opt\":\"adam\"}' ]"
check "enqueued trials count in max_trials" "[ \$(q 'select count(*) from trials') -eq 4 ]"
$KESTREL enqueue enq --db enq.db --set x1=2.5 --set x2=30 --set opt=sgd 2>err.txt; rc=$?
check "kestrel enqueue refuses a value out of range, naming it" "[ $rc -eq 2 ] && grep -q 'x2: 30 is outside' err.txt && [ \$(q 'select count(*) from enqueued') -eq 2 ]"
$KESTREL enqueue enq --db enq.db --set x1=2.5 --set x2=3 --set opt=sgd >out.txt 2>warn.txt; rc=$?
check "kestrel enqueue --set stores one pending configuration" "[ $rc -eq 0 ] && grep -q '1 pending' out.txt"
check "kestrel enqueue to a complete study says they wait for a larger budget" "grep -q \"study 'enq' is complete: they run once its budget.max_trials is raised\" warn.txt"
$KESTREL enqueue enq --db enq.db --set x1=2.5 --set x2=3 --set x1=4 --set opt=sgd 2>err.txt; rc=$?
check "kestrel enqueue: a parameter set twice is refused, not the last taken" "[ $rc -eq 2 ] && grep -q \"'x1' given twice\" err.txt && [ \$(q 'select count(*) from enqueued') -eq 3 ]"
echo '{"x1": 1, "x2": 1, "x1": 2, "opt": "sgd"}' | $KESTREL enqueue enq --db enq.db --file - 2>err.txt; rc=$?
check "kestrel enqueue --file: a parameter given twice is refused, as with --set" "[ $rc -eq 2 ] && grep -q 'duplicate object key' err.txt && [ \$(q 'select count(*) from enqueued') -eq 3 ]"
# a value of the wrong JSON type is refused, not converted (docs/spec.md)
echo '{"x1": true, "x2": 1, "opt": "sgd"}' | $KESTREL enqueue enq --db enq.db --file - 2>err.txt; rc=$?
check "kestrel enqueue refuses true for a float, naming it" "[ $rc -eq 2 ] && grep -q 'x1: must be a number, not a boolean' err.txt && [ \$(q 'select count(*) from enqueued') -eq 3 ]"
$KESTREL enqueue enq --db enq.db --set 'x1="2"' --set x2=3 --set opt=sgd 2>err.txt; rc=$?
check "kestrel enqueue refuses a string for a float" "[ $rc -eq 2 ] && grep -q 'x1: must be a number, not a string' err.txt"
sed 's/"x1": 1, "x2": 2/"x1": "1", "x2": 2/' enq.json > enq-str.json
$KESTREL validate enq-str.json 2>err.txt; rc=$?
check "a spec's enqueued configuration must use the parameter's JSON type" "[ $rc -eq 2 ] && grep -q 'enqueue\[0\].x1: must be a number, not a string' err.txt"
# a --file that cannot be read is an I/O error (exit 1, as kestrel run's spec), not a JSON one
$KESTREL enqueue enq --db enq.db --file no-such.json 2>err.txt; rc=$?
check "kestrel enqueue --file: a missing file is named, exit 1" "[ $rc -eq 1 ] && grep -q 'cannot read no-such.json: No such file or directory' err.txt && ! grep -q 'line -1' err.txt"
$KESTREL enqueue enq --db enq.db --file . 2>err.txt; rc=$?
check "kestrel enqueue --file: a folder is not read as empty JSON" "[ $rc -eq 1 ] && grep -q 'cannot read .: Is a directory' err.txt"
echo '[{"x1": 1,' > broken.json
$KESTREL enqueue enq --db enq.db --file broken.json 2>err.txt; rc=$?
check "kestrel enqueue --file: broken JSON names line and column, exit 2" "[ $rc -eq 2 ] && grep -q 'broken.json: invalid JSON at line 2, column' err.txt"
echo '[{"x1": -1, "x2": 1, "opt": "adam"}]' > more.json
$KESTREL enqueue enq --db enq.db --file more.json >/dev/null && $KESTREL enqueue enq --db enq.db >out.txt
check "kestrel enqueue without configurations lists the pending ones" "grep -q '\"origin\": \"cli\"' out.txt && [ \$(grep -c '\"x1\"' out.txt) -eq 2 ]"
sed 's/"max_trials": 4/"max_trials": 7/' enq.json > enq7.json
$KESTREL run enq7.json --db enq.db >/dev/null 2>&1; rc=$?
check "a larger budget runs the CLI's configurations first, the spec's not again" "[ $rc -eq 0 ] && [ \"\$(q \"select group_concat(number, ',') from trials where enqueued_id is not null\")\" = '0,1,4,5' ] && [ \$(q 'select count(*) from trials') -eq 7 ] && [ \$(q 'select count(*) from enqueued') -eq 4 ]"
$KESTREL run enq7.json --db enq.db >/dev/null 2>&1
check "a resume adds nothing and runs nothing twice" "[ \$(q 'select count(*) from enqueued') -eq 4 ] && [ \$(q 'select count(*) from trials') -eq 7 ]"
# a grid that ran every point with max_trials to spare is complete, yet runs
# what is enqueued after it: the next run, without a larger budget
cat > enqg.json <<'J'
{"name": "enqg", "objective": {"metric": "value"},
 "space": {"x1": {"type": "int", "low": 1, "high": 2}, "x2": {"type": "float", "low": 0, "high": 15, "grid": [3]}},
 "strategy": {"name": "grid"}, "budget": {"max_trials": 10}, "run": {"function": "branin"}}
J
# runs study $1 (spec $1.json, history $1.db) to its end, enqueues x1=$2
# x2=$3 (exit status erc, the note in warn.txt) and runs it again (rc)
enqueue_after_the_end() {
    $KESTREL run $1.json --db $1.db >/dev/null 2>&1
    $KESTREL enqueue $1 --db $1.db --set x1=$2 --set x2=$3 >/dev/null 2>warn.txt; erc=$?
    $KESTREL run $1.json --db $1.db >/dev/null 2>&1; rc=$?
}
DB=enqg.db
enqueue_after_the_end enqg 2 1
check "kestrel enqueue to a complete grid with budget to spare says they run next time" "[ $erc -eq 0 ] && grep -q \"study 'enqg' is complete: they run the next time it runs\" warn.txt"
check "the next run of the complete grid runs the enqueued configuration" "[ $rc -eq 0 ] && [ \"\$(q \"select group_concat(number || ':' || (enqueued_id is not null), ' ') from trials\")\" = '0:0 1:0 2:1' ]"
sed 's/"max_trials": 10}/"max_trials": 10}, "objective": {"metric": "value", "goal": 1e9}/; s/"objective": {"metric": "value"},//; s/enqg/enqgoal/' enqg.json > enqgoal.json
$KESTREL run enqgoal.json --db enqg.db >/dev/null 2>&1
$KESTREL enqueue enqgoal --db enqg.db --set x1=2 --set x2=1 >/dev/null 2>warn.txt; rc=$?
check "kestrel enqueue to a study that reached its goal says no trial starts" "[ $rc -eq 0 ] && [ \$(q \"select count(*) from trials t join studies s on s.id = t.study_id where s.name = 'enqgoal'\") -eq 1 ] && grep -q \"study 'enqgoal' is complete: its objective.goal is reached, so no trial starts\" warn.txt"
# Hyperband after its last bracket, max_trials to spare: what is enqueued
# runs the next time, once, at the full budget (it stayed pending for good)
cat > enqhb.json <<'J'
{"name": "enqhb", "objective": {"metric": "value"},
 "space": {"x1": {"type": "float", "low": -5, "high": 10}, "x2": {"type": "float", "low": 0, "high": 15}},
 "strategy": {"name": "hyperband", "seed": 1, "options": {"max_resource": 3, "eta": 3}},
 "budget": {"max_trials": 10}, "run": {"function": "branin"}}
J
DB=enqhb.db
enqueue_after_the_end enqhb 3 2
check "kestrel enqueue to a Hyperband past its last bracket says it runs next time at the full budget" "[ $erc -eq 0 ] && grep -q \"study 'enqhb' is complete: they run the next time it runs, at its full budget (max_resource)\" warn.txt"
check "the next run of a Hyperband past its last bracket runs the enqueued configuration at R" "[ $rc -eq 0 ] && [ \"\$(q \"select number || ':' || budget from trials where enqueued_id is not null\")\" = '6:3' ] && [ \$(q 'select count(*) from trials') -eq 7 ] && [ \"\$(q 'select state from studies')\" = COMPLETE ]"
DB=enq.db
cols=$($KESTREL trials enq --db enq.db --format csv | cut -d, -f1,14 | tr '\n' ' ')
check "kestrel trials shows the enqueued column" "[ \"\$cols\" = 'number,enqueued 0,1 1,1 2,0 3,0 4,1 5,1 6,0 ' ]"
$KESTREL note enq "first sweep; x2 > 10 is hopeless" --db enq.db; rc=$?
check "kestrel note sets and shows a note" "[ $rc -eq 0 ] && [ \"\$($KESTREL note enq --db enq.db)\" = 'first sweep; x2 > 10 is hopeless' ]"
check "kestrel studies shows the note" "$KESTREL studies --db enq.db | grep -q 'first sweep; x2 > 10 is hopeless'"
$KESTREL note enq "$(printf 'two lines:\nthe second\tone')" --db enq.db
table=$($KESTREL studies --db enq.db)
check "a note of several lines: the table shows its first line, one row per study" \
    '[ $(echo "$table" | wc -l) -eq 2 ] && echo "$table" | grep -q "two lines: \.\.\.$"'
want=$(printf 'the second\tone"')
got=$($KESTREL studies --db enq.db --format csv | tail -1)
check "a note of several lines: CSV keeps it whole" '[ "$got" = "$want" ]'
$KESTREL note enq --clear --db enq.db
check "kestrel note --clear removes it" "[ -z \"\$($KESTREL note enq --db enq.db)\" ] && [ \"\$(q 'select quote(note) from studies')\" = NULL ]"
$KESTREL trials enq --dbb enq.db 2>err.txt; rc=$?
check "an unknown option: exit 2, did you mean" "[ $rc -eq 2 ] && grep -q \"unknown option '--dbb' (did you mean '--db'?)\" err.txt"
$KESTREL trials enq --db 2>err.txt; rc=$?
check "an option without its value says so" "[ $rc -eq 2 ] && grep -q \"option '--db' needs a value\" err.txt"
$KESTREL fn bran --set x1=0 2>err.txt; rc=$?
check "an unknown function: exit 2, did you mean" "[ $rc -eq 2 ] && grep -q \"unknown function 'bran' (did you mean 'branin'?)\" err.txt"
$KESTREL train --sett lr=0.1 2>err.txt; rc=$?
check "kestrel train: an unknown argument, did you mean" "[ $rc -eq 2 ] && grep -q \"kestrel train: unknown option '--sett' (did you mean '--set'?)\" err.txt && grep -q \"Try 'kestrel train --help'\" err.txt"
$KESTREL fn >out.txt 2>err.txt; rc=$?
check "kestrel fn without a function: exit 2, said on stderr" "[ $rc -eq 2 ] && [ ! -s out.txt ] && grep -q \"expected a function's name\" err.txt"
$KESTREL train --set lrr=0.1 2>err.txt; rc=$?
check "kestrel train: an unknown option, did you mean" "[ $rc -eq 2 ] && grep -q \"kestrel train: lrr: unknown option (did you mean 'lr'?)\" err.txt"
# the last argument without its value was 'unknown option' (a word every
# other command says differently)
for opt in --set --config; do
    $KESTREL train --set epochs=1 $opt 2>err.txt; rc=$?
    check "kestrel train: $opt without its value says so" "[ $rc -eq 2 ] && grep -q \"kestrel train: option '$opt' needs a value\" err.txt"
done
$KESTREL trails 2>err.txt; rc=$?
check "an unknown command: exit 2, did you mean" "[ $rc -eq 2 ] && grep -q \"unknown command 'trails' (did you mean 'trials'?)\" err.txt"
sed 's/"max_trials"/"max_trails"/' enq.json > enq-typo.json
$KESTREL validate enq-typo.json 2>err.txt
check "an unknown spec field: did you mean" "grep -q \"budget.max_trails: unknown field (did you mean 'max_trials'?)\" err.txt"
unset DB

# --- the binary rebuilt while a study runs --------------------------------
# A link writes a new file where the binary was, not executable until done:
# built-in trials run the binary Kestrel runs, so none fails. The spec is a
# fifo, so the file is replaced once Kestrel runs (it opened the fifo) and
# before any trial starts (it has read no spec yet).
mkdir rebuild && cp "$KESTREL" rebuild/kestrel && mkfifo rebuild/spec.json
rebuild/kestrel run --quiet --db rebuild.db rebuild/spec.json >/dev/null 2>rebuild/err.txt &
kpid=$!
exec 5>rebuild/spec.json
rm rebuild/kestrel && echo 'not a program yet' > rebuild/kestrel
cat >&5 <<'J'
{"name": "rebuilt", "objective": {"metric": "value"},
 "space": {"x1": {"type": "float", "low": -5, "high": 10}, "x2": {"type": "float", "low": 0, "high": 15}},
 "strategy": {"name": "random", "seed": 2}, "budget": {"max_trials": 3, "max_parallel": 3},
 "run": {"function": "branin"}}
J
exec 5>&-
wait $kpid; rc=$?
check "built-in trials run the binary Kestrel runs while its file is rebuilt" \
    "[ $rc -eq 0 ] && [ \"\$(DB=rebuild.db q \"select count(*) from trials where state = 'COMPLETE'\")\" = 3 ]"

# libcurl is loaded by kestrel worker alone (src/wclient.c), libmicrohttpd
# by a server alone (src/http.c): linked, libcurl and its 19 libraries cost
# every function trial and CLI read about 10 ms, libmicrohttpd and GnuTLS's
# 9 about a third of the rest
LD_DEBUG=files "$KESTREL" fn branin --set x1=1 --set x2=2 >/dev/null 2>ld.txt
check "a function trial loads its libraries but not libcurl" \
    "grep -q 'file=libjansson' ld.txt && ! grep -q 'file=libcurl' ld.txt"
check "a function trial loads neither libmicrohttpd nor GnuTLS" \
    "! grep -q 'file=libmicrohttpd' ld.txt && ! grep -q 'file=libgnutls' ld.txt"
# the background job truncates serve.out only once it runs: an earlier
# server's 'listening on' in it would end the wait below at once
rm -f serve.out
LD_DEBUG=files "$KESTREL" serve --db ld.db --listen 127.0.0.1:0 >serve.out 2>ld.txt &
spid=$!
n=0   # a hang guard, not a deadline: a server that starts is seen at once
while ! grep -q '^listening on' serve.out && kill -0 $spid 2>/dev/null && [ $n -lt 1200 ]; do
    sleep 0.1; n=$((n + 1))
done
kill $spid 2>/dev/null; wait $spid
check "kestrel serve loads libmicrohttpd when it starts, and listens" \
    "grep -q '^listening on' serve.out && grep -q 'file=libmicrohttpd' ld.txt"

# OpenBLAS starts a thread per core when it loads, each spinning 0.1 s of
# CPU; kestrel ends them at its start (src/main.c): a server started as
# usual has no more threads than one whose OpenBLAS was told one thread
# serve_up PATTERN DB [ENV...]: a background kestrel serve on DB (more of its
# options in $SERVE_ARGS), its output in serve.out, waited for until a line
# matches PATTERN or it dies; $spid is its pid
serve_up() {
    pat=$1; db=$2; shift 2
    rm -f serve.out   # as above
    # shellcheck disable=SC2086
    env "$@" "$KESTREL" serve --db "$db" --listen 127.0.0.1:0 ${SERVE_ARGS:-} >serve.out 2>&1 &
    spid=$!
    n=0   # a hang guard, as above
    while ! grep -q "$pat" serve.out && kill -0 $spid 2>/dev/null && [ $n -lt 1200 ]; do
        sleep 0.1; n=$((n + 1))
    done
}
serve_tasks() {   # serve_tasks DB [ENV...]: the server's thread count once it listens
    serve_up '^listening on' "$@"
    ls /proc/$spid/task | wc -l
    kill $spid 2>/dev/null; wait $spid
}
one=$(serve_tasks blas1.db OPENBLAS_NUM_THREADS=1)
dflt=$(serve_tasks blas.db -u OPENBLAS_NUM_THREADS -u GOTO_NUM_THREADS -u OMP_NUM_THREADS)
check "kestrel serve keeps none of OpenBLAS's threads ($dflt threads; $one with OPENBLAS_NUM_THREADS=1)" \
    "[ $one -gt 0 ] && [ $dflt -eq $one ]"

# a pure coordinator says where its studies' trials are to come from (a
# study RUNNING with nothing running was left unexplained)
serve_tasks coord.db >/dev/null
grep -q '^trials: none run here' serve.out && before=yes || before=no
SERVE_ARGS="--max-parallel 0"
serve_up '^trials: ' coord.db
SERVE_ARGS=
kill $spid 2>/dev/null; wait $spid
check "kestrel serve --max-parallel 0 says its trials wait for workers (and only then)" \
    "[ $before = no ] && grep -q '^trials: none run here (--max-parallel 0); they wait for workers: kestrel worker --server http://127.0.0.1:[0-9]*/' serve.out"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
