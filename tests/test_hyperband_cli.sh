#!/bin/sh
# End-to-end tests of the multi-fidelity strategies and the pruners through
# the real `kestrel` binary: a Hyperband study of the built-in trainer on
# synthetic data (promotions continue from the checkpoint of the promoted
# trial), an ASHA study whose promotions go on after the fresh budget is
# spent, and a median-pruner study of a command that reports every step.
fixture=hb
. "${top_srcdir:-$(pwd)}/tests/cli_fixture.sh"
q() { sqlite3 kestrel.db "$1"; }

# --- Hyperband on the built-in trainer: R = 9, eta = 3 --------------------
# Brackets: 9 configurations @1 -> 3 @3 -> 1 @9; 5 @3 -> 1 @9; 3 @9.
cat > hb.json <<'J'
{"name": "hb", "objective": {"metric": "val_loss"},
 "space": {"lr": {"type": "float", "low": 0.0005, "high": 0.2, "log": true}},
 "strategy": {"name": "hyperband", "seed": 3, "options": {"max_resource": 9, "eta": 3}},
 "budget": {"max_trials": 17, "max_parallel": 4, "trial_timeout": 60},
 "run": {"trainer": {"data": "synthetic-classification", "synthetic_samples": 400,
                     "hidden": [16], "epochs": 9}}}
J
$KESTREL run hb.json >hb.txt 2>&1; rc=$?
check "hyperband study completes (exit 0)" "[ $rc -eq 0 ]"
check "17 configurations and 5 promotions" \
    "[ \$(q 'select count(*) from trials where resumed_from is null') -eq 17 ] && [ \$(q 'select count(*) from trials where resumed_from is not null') -eq 5 ]"
check "every trial COMPLETE" "[ \$(q \"select count(*) from trials where state != 'COMPLETE'\") -eq 0 ]"
check "fresh budgets follow the brackets" \
    "[ \"\$(q 'select group_concat(budget) from (select budget from trials where resumed_from is null order by number)')\" = '1,1,1,1,1,1,1,1,1,3,3,3,3,3,9,9,9' ]"
check "a promotion goes one rung up" \
    "[ \$(q 'select count(*) from trials t join trials p on p.study_id = t.study_id and p.number = t.resumed_from where not ((p.budget = 1 and t.budget = 3) or (p.budget = 3 and t.budget = 9))') -eq 0 ]"
check "promoted trials keep their parameters" \
    "[ \$(q 'select count(*) from trial_overview t join trial_overview p on p.study = t.study join trials tt on tt.id = t.trial_id where p.number = tt.resumed_from and p.params != t.params') -eq 0 ]"
check "the best 3 of the first rung were promoted" \
    "[ \$(q 'select count(*) from (select number from trials where budget = 1 order by value, number limit 3) where number not in (select resumed_from from trials where resumed_from is not null)') -eq 0 ]"
check "a promoted trial continues from its checkpoint (first step = parent budget + 1)" \
    "[ \$(q 'select count(*) from trials t join trials p on p.study_id = t.study_id and p.number = t.resumed_from where (select min(step) from trial_values v where v.trial_id = t.id) != p.budget + 1') -eq 0 ]"
check "a promoted trial reports up to its budget" \
    "[ \$(q 'select count(*) from trials where resumed_from is not null and last_step != budget') -eq 0 ]"
# Promotions read their parents' checkpoints while the study runs; once it
# completes only the best trial's is kept (the model a user asks for).
best=$($KESTREL best hb --format csv | awk -F, 'NR == 2 {print $1}')
check "a completed study keeps only the best trial's checkpoint" \
    "[ \$(ls kestrel.db.trials/hb/*/checkpoint.kck | wc -l) -eq 1 ] && [ -s kestrel.db.trials/hb/$best/checkpoint.kck ]"
# The best trial's model, exported, scores rows of its 16 features.
$KESTREL best hb --export-model best.kck >/dev/null 2>&1; rc=$?
check "best --export-model copies the best trial's model file" \
    "[ $rc -eq 0 ] && cmp -s best.kck kestrel.db.trials/hb/$best/checkpoint.kck"
awk 'BEGIN { for (j = 0; j < 16; j++) printf "%sf%d", j ? "," : "", j; print "";
             for (i = 0; i < 5; i++) { for (j = 0; j < 16; j++) printf "%s%g", j ? "," : "", (i * 7 + j) % 5 - 2; print "" } }' > rows.csv
$KESTREL predict --model best.kck --data csv:rows.csv > pred.csv 2>pred.err; rc=$?
check "predict writes a header and one line per row" \
    "[ $rc -eq 0 ] && [ \$(wc -l < pred.csv) -eq 6 ] && head -1 pred.csv | grep -q '^row,prediction,p_0,'"
$KESTREL predict --model best.kck --data csv:rows.csv --format jsonl > pred.jsonl 2>&1
check "predict --format jsonl: one object per row" \
    "[ \$(grep -c '^{\"row\":[0-9]*,\"prediction\":[0-9]*,\"probabilities\":\\[' pred.jsonl) -eq 5 ]"
$KESTREL evaluate --model best.kck --data csv:rows.csv > eval.txt 2>&1; rc=$?
check "evaluate refuses rows without labels (exit 1)" "[ $rc -eq 1 ] && grep -q 'no label column' eval.txt"
# The copy is written beside FILE and renamed over it: a FILE.tmp of the
# user's (their file, or a link planted in a shared folder) is not its to
# write through, truncate or remove.
echo mine > victim.txt
ln -s victim.txt model.kck.tmp
echo theirs > model2.kck.tmp
$KESTREL best hb --export-model model.kck >/dev/null 2>&1 &&
    $KESTREL best hb --export-model model2.kck >/dev/null 2>&1; rc=$?
check "best --export-model writes through no link, and leaves FILE.tmp as it was" \
    "[ $rc -eq 0 ] && cmp -s model.kck best.kck && cmp -s model2.kck best.kck && [ -L model.kck.tmp ] &&
     [ \"\$(cat victim.txt)\" = mine ] && [ \"\$(cat model2.kck.tmp)\" = theirs ] &&
     [ \"\$(ls model*)\" = \"\$(printf 'model.kck\\nmodel.kck.tmp\\nmodel2.kck\\nmodel2.kck.tmp')\" ]"
mkdir adir
$KESTREL best hb --export-model adir >out.txt 2>&1; rc=$?
check "best --export-model of a folder: exit 1, says why, leaves nothing beside it" \
    "[ $rc -eq 1 ] && grep -q 'adir: cannot rename into place: Is a directory' out.txt &&
     [ \"\$(ls -d adir*)\" = adir ]"
$KESTREL best hb --export-model best.kck --work-dir "$T/nowhere" >/dev/null 2>&1; rc=$?
check "best --export-model without the trial's model file: exit 5" "[ $rc -eq 5 ]"
$KESTREL best hb --work-dir "$T/nowhere" >out.txt 2>&1; rc=$?
check "best --work-dir without --export-model is refused, not ignored" \
    "[ $rc -eq 2 ] && grep -q 'give both' out.txt"
# A study's trials skip the test pass (the objective is val_loss here) ...
check "trials of a val_loss study report no test metrics" \
    "[ \$(q \"select count(*) from trial_metrics where name like 'test_%'\") -eq 0 ] && [ \$(q \"select count(*) from trial_metrics where name = 'val_accuracy'\") -eq 22 ]"
# ... unless the objective is a test metric or the spec asks for it.
sed -e 's/"hb"/"hbtest"/' -e 's/"val_loss"/"test_accuracy", "direction": "maximize"/' \
    -e 's/"max_trials": 17/"max_trials": 3/' hb.json > hbtest.json
sed -e 's/"hb"/"hbask"/' -e 's/"max_trials": 17/"max_trials": 3/' \
    -e 's/"epochs": 9/"epochs": 9, "evaluate_test": true/' hb.json > hbask.json
$KESTREL run --db test.db hbtest.json >hbtest.txt 2>&1 && $KESTREL run --db test.db hbask.json >>hbtest.txt 2>&1; rc=$?
# Random search never promotes: a trial's checkpoint goes when it ends, unless
# it is the best so far; keep_checkpoints "all" keeps every one.
sed -e 's/"hb"/"rs"/' -e 's/"hyperband", "seed": 3, "options": {"max_resource": 9, "eta": 3}/"random", "seed": 3/' \
    -e 's/"max_trials": 17, "max_parallel": 4/"max_trials": 6, "max_parallel": 2/' -e 's/"epochs": 9/"epochs": 2/' \
    hb.json > rs.json
sed -e 's/"rs"/"rsall"/' -e 's/"run": {/"run": {"keep_checkpoints": "all", /' rs.json > rsall.json
$KESTREL run --db ck.db rs.json >rs.txt 2>&1 && $KESTREL run --db ck.db rsall.json >>rs.txt 2>&1; rc=$?
best=$($KESTREL best rs --db ck.db --format csv | awk -F, 'NR == 2 {print $1}')
check "random search keeps the best trial's checkpoint only; keep_checkpoints all keeps 6" \
    "[ $rc -eq 0 ] && [ \$(ls ck.db.trials/rs/*/checkpoint.kck | wc -l) -eq 1 ] && [ -s ck.db.trials/rs/$best/checkpoint.kck ] && [ \$(ls ck.db.trials/rsall/*/checkpoint.kck | wc -l) -eq 6 ]"
check "a test_accuracy objective, or evaluate_test in the spec, brings the test pass back" \
    "[ $rc -eq 0 ] && [ \$(sqlite3 test.db \"select count(distinct trial_id) from trial_metrics where name = 'test_accuracy'\") -eq 6 ]"
$KESTREL run hb.json >again.txt 2>&1; rc=$?
# On a terminal the progress line counts configurations against max_trials
# (promotions are extra trials): script(1) gives the run a pseudo-terminal.
script -qec "$KESTREL run --db tty.db hb.json" /dev/null >tty.txt 2>&1
tr '\r' '\n' <tty.txt | grep -ao '\[[0-9]*/17\] trials [0-9]*' >progress.txt
check "tty progress counts configurations up to max_trials, then promotions as trials" \
    "[ \"\$(tail -1 progress.txt)\" = '[17/17] trials 22' ] && [ \$(cut -d/ -f1 progress.txt | tr -d '[' | sort -n | tail -1) -eq 17 ]"
check "rerun of the finished study adds nothing" \
    "[ $rc -eq 0 ] && [ \$(q 'select count(*) from trials') -eq 22 ]"

# --- ASHA: promotions continue after max_trials fresh configurations -------
sed -e 's/"hb"/"asha"/' -e 's/"hyperband"/"asha"/' -e 's/"max_trials": 17, "max_parallel": 4/"max_trials": 9, "max_parallel": 3/' \
    hb.json > asha.json
$KESTREL run asha.json >asha.txt 2>&1; rc=$?
S="(select id from studies where name = 'asha')"
check "asha study completes (exit 0)" "[ $rc -eq 0 ]"
check "asha starts max_trials configurations at budget 1" \
    "[ \"\$(q \"select count(*), min(budget), max(budget) from trials where study_id = $S and resumed_from is null\")\" = '9|1|1' ]"
check "asha promotes at least the best third of rung 1 and reaches the top rung" \
    "[ \$(q \"select count(*) from trials where study_id = $S and budget = 3\") -ge 3 ] && [ \$(q \"select count(*) from trials where study_id = $S and budget = 9\") -ge 1 ]"
# Whatever order trials finish in, the scheduler asks again after each one
# ends, so by the end the best third of rung 1 has all been promoted.
check "asha promoted the best third of rung 1 by the end" \
    "[ \$(q \"select count(*) from (select number from trials where study_id = $S and budget = 1 order by value, number limit 3) where number not in (select resumed_from from trials where study_id = $S and resumed_from is not null)\") -eq 0 ]"

# --- median pruner ---------------------------------------------------------
cat > curve.sh <<'S'
#!/bin/sh
# loss = x + 1/step over 20 steps, reported on fd 3. A bad curve (x >= 7)
# waits before its last step until it is pruned, so whether the pruner acts
# before the trial ends does not depend on how fast either runs.
s=1
while [ $s -le 20 ]; do
    [ $s -eq 20 ] && awk -v x="$1" 'BEGIN { exit !(x >= 7) }' && exec sleep 60
    awk -v x="$1" -v s="$s" 'BEGIN { printf "{\"step\": %d, \"loss\": %.6f}\n", s, x + 1 / s }' >&3
    s=$((s + 1))
done
awk -v x="$1" 'BEGIN { printf "{\"loss\": %.6f}\n", x + 0.05 }' >&3
S
chmod +x curve.sh
cat > med.json <<'J'
{"name": "med", "objective": {"metric": "loss"},
 "space": {"x": {"type": "float", "low": 0, "high": 10, "grid": [1, 2, 3, 9, 8, 0.5, 7]}},
 "strategy": {"name": "grid"},
 "pruner": {"name": "median", "options": {"warmup_steps": 2, "min_trials": 3}},
 "budget": {"max_trials": 7, "max_parallel": 1, "trial_timeout": 30},
 "run": {"command": ["./curve.sh", "{x}"], "kill_grace": 1}}
J
$KESTREL validate med.json >/dev/null 2>&1; check "a spec with a pruner validates" "[ $? -eq 0 ]"
$KESTREL run med.json >med.txt 2>&1; rc=$?
S="(select id from studies where name = 'med')"
check "median study completes (exit 0)" "[ $rc -eq 0 ]"
check "the bad curves are PRUNED" \
    "[ \"\$(q \"select group_concat(x) from (select p.value_num as x from trials t join trial_params p on p.trial_id = t.id where t.study_id = $S and t.state = 'PRUNED' order by t.number)\")\" = '9.0,8.0,7.0' ]"
check "the good curves COMPLETE all 20 steps" \
    "[ \$(q \"select count(*) from trials where study_id = $S and state = 'COMPLETE' and last_step = 20\") -eq 4 ]"
check "a pruned trial records the step it reached" \
    "[ \$(q \"select count(*) from trials where study_id = $S and state = 'PRUNED' and failure = 'pruned at step ' || last_step and last_step between 3 and 19\") -eq 3 ]"
check "a pruned trial keeps its last value" \
    "[ \$(q \"select count(*) from trials where study_id = $S and state = 'PRUNED' and value is not null\") -eq 3 ]"
cat > badpruner.json <<'J'
{"name": "bp", "objective": {"metric": "loss"},
 "space": {"x": {"type": "float", "low": 0, "high": 1}},
 "strategy": {"name": "random"}, "pruner": {"name": "mediun"},
 "budget": {"max_trials": 1}, "run": {"command": "true"}}
J
$KESTREL validate badpruner.json 2>err.txt; rc=$?
check "an unknown pruner is rejected with the known ones" \
    "[ $rc -eq 2 ] && grep -q \"pruner.name: unknown pruner 'mediun' (known: median, asha)\" err.txt"

echo "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]
