#!/bin/sh
# The fuzz objects' header dependencies (Makefile.am, tests/fuzz/obj): an
# object must be rebuilt when a header it includes changes, directly or
# through another header, and not when a header it does not include does
# (probes in header_deps.sh); an object without its dependency list
# rebuilds. Builds one object (about a second). Skipped without a compiler
# that takes -fsanitize=fuzzer-no-link (./bootstrap --fuzz installs clang).
set -u
S=${srcdir:-.}
MAKE=${MAKE:-make}
CC=$(sed -n 's/^FUZZ_CC = //p' Makefile 2>/dev/null)
if [ -z "$CC" ] || ! echo 'int x;' | "$CC" -fsanitize=fuzzer-no-link -x c -c - -o /dev/null 2>/dev/null; then
    echo "SKIP: no ${CC:-FUZZ_CC} with -fsanitize=fuzzer-no-link"
    exit 77
fi
. "$S/tests/header_deps.sh"

O=tests/fuzz/obj/src/lock.o
if $MAKE "$O" >"$T/build.txt" 2>&1 && up_to_date "$O"; then
    ok "$O builds and is then up to date"
else
    no "$O builds and is then up to date"
    cat "$T/build.txt"
fi
rebuilds src/lock.h "$O" "a header lock.c includes rebuilds it"
rebuilds common/kerror.h "$O" "a header included through another (lock.h -> kerror.h) rebuilds it"
leaves src/subproc.h "$O" "a header lock.c does not include leaves it alone"
mv "${O%.o}.d" "$T/lock.d"
if up_to_date "$O"; then
    no "an object without its dependency list rebuilds"
else
    ok "an object without its dependency list rebuilds"
fi
mv "$T/lock.d" "${O%.o}.d"
deps_done
