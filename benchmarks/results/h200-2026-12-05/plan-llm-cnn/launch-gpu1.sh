#!/usr/bin/env bash
# gpupack plan, GPU 1: llm_decoder, classification_resnet18_light
# Serves gpu1/ in the foreground with one Triton server that sees only this GPU, through
# `gpupack serve` (it finds tritonserver, puts the Python backend stub in place and a numpy<2 python3
# first on the server's PATH). Ctrl-C, SIGTERM or SIGHUP stop the server (exit 130, 143, 129).
# Environment: GPUPACK (the gpupack executable), GPUPACK_GPU (the physical GPU, NVML index),
# TRITONSERVER (the tritonserver binary), GPUPACK_BACKEND_PYTHON (the python3 the models run in).
# Extra arguments go to `gpupack serve` (e.g. --model-control-mode poll); after --, to tritonserver.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
gpupack=/work/main/.venv/bin/gpupack
exec "${GPUPACK:-$gpupack}" serve "$here/gpu1" \
    --http-port 8003 --grpc-port 8004 --metrics-port 8005 --gpu "${GPUPACK_GPU:-1}" "$@"
