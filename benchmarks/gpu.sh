#!/usr/bin/env bash
# Training images/s of resnet50 at 224 px from JPEG files on one CUDA GPU: visionfit against a
# plain PyTorch loop, bf16 + channels-last, and whether the loader is the limit (with GPU JPEG
# decoding by torchvision, and DALI where installed). Stages and options: benchmarks/gpu_bench.py.
#
#   bash benchmarks/gpu.sh                 # about two minutes on an H100; exits 2 without CUDA
#   bash benchmarks/gpu.sh --cpu-smoke     # the same stages on the CPU at tiny sizes
#   bash benchmarks/gpu.sh --data-dir /tmp/vf-gpu-jpegs   # keep the JPEGs for the next run
#
# Needs no network: it uses the repository's .venv if there is one, else $PYTHON, else python3,
# with this checkout's src/ first on the path.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -n "${PYTHON:-}" ]]; then
    py="$PYTHON"
elif [[ -x "$root/.venv/bin/python" ]]; then
    py="$root/.venv/bin/python"
else
    py=python3
fi
need='import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in sys.argv[1:]))'
if ! "$py" -c "$need" torch torchvision timm lightning 2>/dev/null; then
    echo "gpu.sh: $py cannot import torch, torchvision, timm and lightning: install the project" \
        "(pip install -e .) or set PYTHON to an interpreter that has them" >&2
    exit 2
fi
export PYTHONPATH="$root/src:$root/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
exec "$py" "$root/benchmarks/gpu_bench.py" "$@"
