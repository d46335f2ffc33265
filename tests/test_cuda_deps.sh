#!/bin/sh
# The CUDA objects' header dependencies (Makefile.am): an object must be
# rebuilt when a header it includes changes, directly or through another
# header, and not when a header it does not include does. Each check moves
# one header's mtime forward, asks make (-q: nothing is built) and puts the
# mtime back. Skipped in a build without CUDA.
set -u
S=${srcdir:-.}
MAKE=${MAKE:-make}
unset MAKEFLAGS MFLAGS MAKELEVEL
if ! grep -q '^NVCC = .' Makefile 2>/dev/null || [ ! -f cuda/train_cuda.o ]; then
    echo "SKIP: no CUDA build"
    exit 77
fi
T=$(mktemp -d /tmp/kestrel-cudadeps.XXXXXX)
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

for o in device train_cuda; do
    if up_to_date cuda/$o.o; then ok "cuda/$o.o starts up to date"; else no "cuda/$o.o starts up to date"; fi
done
if after_touch trainer/train_session.h cuda/train_cuda.o; then
    no "a header train_cuda.cu includes rebuilds it"
else
    ok "a header train_cuda.cu includes rebuilds it"
fi
if after_touch common/kerror.h cuda/device.o; then
    no "a header included through another (device.h -> kerror.h) rebuilds device.o"
else
    ok "a header included through another (device.h -> kerror.h) rebuilds device.o"
fi
if after_touch cuda/optim_cuda.h cuda/device.o; then
    ok "a header device.cu does not include leaves device.o alone"
else
    no "a header device.cu does not include leaves device.o alone"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
