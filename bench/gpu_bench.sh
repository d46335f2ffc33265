#!/bin/sh
# gpu_bench.sh: runs bench/gpu_bench.py (Kestrel's CUDA trainer vs PyTorch on
# CUDA, see its docstring) on a machine with an NVIDIA GPU.
# Usage: bench/gpu_bench.sh [KESTREL_BINARY] [gpu_bench.py options...]
# The binary must come from a CUDA build (configure found nvcc). Run by hand
# on an otherwise idle GPU; results go to stdout.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
kestrel=${1:-./kestrel}
[ $# -gt 0 ] && shift
[ -x "$kestrel" ] || { echo "gpu_bench.sh: no kestrel binary at $kestrel (build first, or pass its path)" >&2; exit 2; }
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
py=/usr/bin/python3
"$py" -c 'import torch' 2>/dev/null || py=python3
"$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' ||
    { echo "gpu_bench.sh: PyTorch cannot see a CUDA device" >&2; exit 2; }
exec "$py" "$here/gpu_bench.py" --kestrel "$kestrel" "$@"
