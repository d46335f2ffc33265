#!/bin/sh
# gpu_pack.sh: packs into .gpu/ (git ignores it) what bench/gpu_checks.sh
# needs on the GPU machine the device tool lends, which has CUDA, PyTorch
# and compute-sanitizer but none of Kestrel's Debian libraries and no
# network: this CUDA build's kestrel and tests/test_cuda, the shared
# libraries they load beyond glibc, libstdc++ and zlib (xz-compressed), and
# Fashion-MNIST. Run it from the root of a CUDA build (configure found
# nvcc), then carry .gpu (docs/cuda.md, "Running the GPU checks").
set -eu
die() { echo "gpu_pack.sh: $*" >&2; exit 2; }
[ -f tests/test_cuda.c ] && [ -f Makefile ] || die "run it from the root of a configured checkout"
make -s kestrel tests/test_cuda
ldd kestrel | grep -q libcudart || die "kestrel is not a CUDA build (configure found no nvcc)"
data=/usr/share/datasets/fashion-mnist
[ -r "$data/train-images-idx3-ubyte.gz" ] || die "no Fashion-MNIST in $data (./bootstrap installs it)"

rm -rf .gpu
mkdir -p .gpu/bin .gpu/data .gpu/lib
cp kestrel tests/test_cuda .gpu/bin/
cp "$data"/*-ubyte.gz .gpu/data/
# The machine has its own C and C++ runtimes; carrying them would break it.
ldd kestrel tests/test_cuda | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
    grep -Ev '/(libc|libm|libdl|libpthread|librt|libresolv|libutil|libstdc\+\+|libgcc_s|libz)\.so' |
    while read -r lib; do cp -L "$lib" .gpu/lib/; done
tar cJf .gpu/lib.tar.xz -C .gpu lib
rm -rf .gpu/lib
git rev-parse --short HEAD > .gpu/commit 2>/dev/null || true
du -sh .gpu | sed 's/\t.*/ in .gpu (the device tool carries at most 64 MiB with the tree)/'
