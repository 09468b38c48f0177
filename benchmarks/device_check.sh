#!/usr/bin/env bash
# One-shot check for a GPU window (docs/gpu.md, "The device check"): device facts, the CUDA tests, the step benchmark in every
# speed mode, the paper search in the fastest correct mode (to 100 epochs if the projection fits), short retrains
# of its picks; everything under $OUT (when set)
# or runs/device-check-<time>/.  Needs only python3 with torch, numpy and pytest: no venv, no network.
#
#   benchmarks/device_check.sh                 on the GPU machine (CIFAR-10 JPEG copy at data/cifar10-jpeg.tar.gz)
#   benchmarks/device_check.sh --cpu-dry-run   here: the same steps at smoke size on the CPU (~1-3 min)
set -euo pipefail
cd "$(dirname "$0")/.."
# $PYTHON if set; else the project's .venv where one exists (this machine); else python3 (the GPU machine)
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON; elif [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" benchmarks/device_check.py "$@"
