#!/usr/bin/env bash
# symnet's backends on an NVIDIA GPU, in one command and under 5 minutes, from the repository
# root of an uninstalled checkout (nothing is installed or downloaded):
#
#     bash benchmarks/gpu_check.sh            # needs CuPy, PyTorch (CUDA) and JAX (GPU)
#     bash benchmarks/gpu_check.sh --cpu-ok   # tests this script without a GPU
#
# Checks every backend against NumPy in float64 (loss and gradients ≤ 1e-12 relative, the
# training step, sn.check's finite differences), then times the training step of each backend
# against PyTorch eager autograd and jax.grad (benchmarks/gpu_check.py says what exactly). The
# report is printed, and written to $OUT/gpu_results.md when OUT is set. Exit status: 0 all
# checks passed, 1 a check failed, 2 a backend is missing, 124 out of time.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# XLA takes most of the GPU's memory up front by default; leave room for PyTorch and CuPy.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT"; fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
timeout 295 python3 benchmarks/gpu_check.py --budget 270 "$@"
status=$?
if [ "$status" = 124 ]; then echo "gpu_check: out of time (5 minutes)"; fi
exit "$status"
