#!/bin/sh
# The CUDA objects' header dependencies (Makefile.am): an object must be
# rebuilt when a header it includes changes, directly or through another
# header, and not when a header it does not include does (probes in
# header_deps.sh). Skipped in a build without CUDA.
set -u
S=${srcdir:-.}
MAKE=${MAKE:-make}
if ! grep -q '^NVCC = .' Makefile 2>/dev/null || [ ! -f cuda/train_cuda.o ]; then
    echo "SKIP: no CUDA build"
    exit 77
fi
. "$S/tests/header_deps.sh"

for o in device train_cuda; do
    if up_to_date cuda/$o.o; then ok "cuda/$o.o starts up to date"; else no "cuda/$o.o starts up to date"; fi
done
rebuilds trainer/train_session.h cuda/train_cuda.o "a header train_cuda.cu includes rebuilds it"
rebuilds common/kerror.h cuda/device.o \
    "a header included through another (device.h -> kerror.h) rebuilds device.o"
leaves cuda/optim_cuda.h cuda/device.o "a header device.cu does not include leaves device.o alone"
deps_done
