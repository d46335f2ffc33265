#!/bin/sh
# train_bench.sh: builds bench/sgemm_rate.c against OpenBLAS and runs
# bench/train_bench.py (Kestrel's trainer vs PyTorch, see its docstring).
# Usage: bench/train_bench.sh [KESTREL_BINARY] [train_bench.py options...]
# Run by hand on an idle machine; results go to stdout.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
kestrel=${1:-./kestrel}
[ $# -gt 0 ] && shift
[ -x "$kestrel" ] || { echo "train_bench.sh: no kestrel binary at $kestrel (build first, or pass its path)" >&2; exit 2; }
work=$(mktemp -d /tmp/kestrel-train-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
gcc -std=gnu11 -O2 -pthread -Wall -Wextra -Werror $(pkg-config --cflags openblas) \
    "$here/sgemm_rate.c" "$here/../common/monotime.c" -o "$work/sgemm_rate" $(pkg-config --libs openblas)
# Debian's PyTorch lives in the system Python, not in a pyenv/venv one
py=/usr/bin/python3
"$py" -c 'import torch' 2>/dev/null || py=python3
"$py" "$here/train_bench.py" --kestrel "$kestrel" --sgemm "$work/sgemm_rate" "$@"
