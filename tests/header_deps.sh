# Sourced by the header-dependency tests (test_cuda_deps.sh,
# test_fuzz_deps.sh), after their skip checks: a tally and probes that move
# one header's mtime forward, ask make (-q: nothing is built) whether an
# object is up to date, and put the mtime back. Needs S (the source folder)
# and MAKE; the caller ends with deps_done.
unset MAKEFLAGS MFLAGS MAKELEVEL
T=$(mktemp -d /tmp/kestrel-deps.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
no() { fail=$((fail + 1)); echo "FAIL - $1"; }

# up_to_date OBJECT: 0 when make has nothing to do for it.
up_to_date() { $MAKE -q "$1" >/dev/null 2>&1; }

# after_touch HEADER OBJECT: whether OBJECT is up to date once HEADER is
# newer than everything; HEADER's mtime is restored.
after_touch() {
    touch -r "$S/$1" "$T/ref"
    touch -d '+1 minute' "$S/$1"
    up_to_date "$2"; rc=$?
    touch -r "$T/ref" "$S/$1"
    return $rc
}

# rebuilds HEADER OBJECT WHAT: WHAT holds when a newer HEADER rebuilds OBJECT.
rebuilds() { if after_touch "$1" "$2"; then no "$3"; else ok "$3"; fi; }
# leaves HEADER OBJECT WHAT: WHAT holds when a newer HEADER leaves OBJECT alone.
leaves() { if after_touch "$1" "$2"; then ok "$3"; else no "$3"; fi; }

deps_done() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
