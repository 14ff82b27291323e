#!/usr/bin/env bash
# Profile gpupack's GPU example models on the GPU host, with the built-in load generator and with
# perf_analyzer, over batch {1,2,4} x concurrency {1,2,4}; write both profiles and their comparison
# under $OUT and print the comparison last.
#
#   bash benchmarks/gpu_profile.sh                # GPU host (device tool, carry [".gpu-bundle"])
#   bash benchmarks/gpu_profile.sh --cpu-dry-run  # CPU host: CPU example models, the venv's server
#
# $OUT (default ./gpu-profile-out) receives:
#   builtin/        profile.csv, server-only.csv, metadata.json, tritonserver.log
#   perf_analyzer/  the same, measured by perf_analyzer
#   comparison.csv  model, batch_size, concurrency, builtin and perf_analyzer infer/s, ratio
#   nvidia-smi.txt  (GPU host) the GPU, driver and processes before the run
# Budget: about 8 minutes on an H100. Each phase is capped at $PHASE_LIMIT_S seconds (SIGTERM keeps
# the points it finished; running the script again resumes them), so the comparison always runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=gpu
if [[ "${1:-}" == "--cpu-dry-run" ]]; then mode=cpu; fi
OUT=${OUT:-$root/gpu-profile-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
phase_limit_s=${PHASE_LIMIT_S:-240}
grid=(--batch 1,2,4 --concurrency 1,2,4 --window 1 --warmup 1 --max-windows 6)
repository=$root/profiler/examples

if [[ $mode == gpu ]]; then
  # The host's Python with torch first, so that the stub's environment (install-bundle.sh) sees torch.
  if [[ -x /opt/torch/.venv/bin/python3 ]]; then export PATH=/opt/torch/.venv/bin:$PATH; fi
  # shellcheck source=benchmarks/install-bundle.sh
  source benchmarks/install-bundle.sh .gpu-bundle /tmp/triton
  py=python3
  models=classification_resnet50,classification_resnet18,segmentation_unet3d
  server=(--triton-server "$TRITONSERVER" --backend-python "$TRITON_STUB_BIN/python3")
  perf_analyzer=$PERF_ANALYZER
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed" >> "$OUT/nvidia-smi.txt"
else
  py=$root/.venv/bin/python
  models=identity,sleepy
  server=()
  # perf_analyzer from the bundle (else PATH); gpupack links the libraries it needs from nvidia-pytriton.
  pa=/tmp/gpupack-dry-run/client-site/bin/perf_analyzer
  if [[ ! -x $pa && -f .gpu-bundle/triton-bundle.tar.xz ]]; then
    mkdir -p /tmp/gpupack-dry-run
    tar -xJf .gpu-bundle/triton-bundle.tar.xz -C /tmp/gpupack-dry-run ./client-site/bin/perf_analyzer
  fi
  if [[ -x $pa ]]; then perf_analyzer=$pa; else perf_analyzer=$(command -v perf_analyzer || true); fi
fi
generators=(builtin)
if [[ -n $perf_analyzer ]]; then generators+=(perf_analyzer); else echo "no perf_analyzer: built-in only" >&2; fi
export PYTHONPATH=$root${PYTHONPATH:+:$PYTHONPATH}

# shellcheck source=benchmarks/packaging-shim.sh
source benchmarks/packaging-shim.sh "$py"
"$py" - << 'EOF'
import sys
import numpy, tritonclient.grpc.aio, profiler.measure.run  # noqa: F401  the profiler imports, without ortools
try:
    import pynvml
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    print("NVML:", pynvml.nvmlDeviceGetName(handle), pynvml.nvmlSystemGetDriverVersion())
except Exception as exc:
    print("NVML unavailable:", exc)
print("client Python", sys.version.split()[0], "numpy", numpy.__version__, "ortools imported:", "ortools" in sys.modules)
EOF

for generator in "${generators[@]}"; do
  echo "== $generator: $models" >&2
  status=0
  timeout --signal=TERM --kill-after=60 "$phase_limit_s" \
    "$py" benchmarks/gpu_profile.py run --generator "$generator" --out "$OUT" \
    --model-repository "$repository" --models "$models" "${grid[@]}" "${server[@]}" \
    ${perf_analyzer:+--perf-analyzer "$perf_analyzer"} || status=$?
  if [[ $status != 0 ]]; then echo "== $generator phase ended with status $status" >&2; fi
done
"$py" benchmarks/gpu_profile.py compare --out "$OUT"
