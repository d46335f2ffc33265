#!/bin/sh
# The command line as a new user meets it, on the real `kestrel` binary: what
# --db may name for a command that reads a history, the numbers options take,
# help and usage errors, and `kestrel run`'s progress on a terminal (through
# script(1)) and in a pipe. test_cli.sh covers the commands' work itself.
set -u
KESTREL=${KESTREL:-$(pwd)/kestrel}
top_srcdir=${top_srcdir:-$(pwd)}
T=$(mktemp -d /tmp/kestrel-usage.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
no() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() { if eval "$2"; then ok "$1"; else no "$1"; fi; }

# --- a command that reads a history never makes one -----------------------
# a path with a colon in it (a date, a sqlite: location, docs/schema.md) is a
# file like any other: a mistyped one is not created empty
for db in sqlite:typo.db sqlite://typo2.db 'run:2026-01-01.db'; do
    $KESTREL studies --db "$db" >out.txt 2>err.txt; rc=$?
    check "kestrel studies --db $db (missing): exit 5, named, nothing created" \
        "[ $rc -eq 5 ] && grep -q 'no database at' err.txt && [ ! -s out.txt ] && [ -z \"\$(ls | grep -v -e out.txt -e err.txt)\" ]"
done

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
