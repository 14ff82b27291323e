#!/usr/bin/env bash
# Record the config search's samples on the GPU host's CPUs (16 quiet cores; the 2-core CPU host is
# too loaded to measure p99 to a few ms): a brute search of the batched_sleeper example, then a
# quick one on the same space, both CPU-only (NVML hidden: the model runs on KIND_CPU instances, so
# host memory is the memory that instances cost). Writes $OUT/brute and $OUT/quick (profiles, logs).
#
#   device tool, carry [".gpu-bundle"]:  bash benchmarks/config_search_device.sh
# Not yet run (no device was lent to the session that wrote it): check the first call's output.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
OUT=${OUT:-$root/config-search-out}
mkdir -p "$OUT"
# shellcheck source=benchmarks/install-bundle.sh
source benchmarks/install-bundle.sh .gpu-bundle /tmp/triton > /dev/null
mkdir -p /tmp/gpupack-nonvml
echo 'raise ImportError("hidden: a CPU-only recording")' > /tmp/gpupack-nonvml/pynvml.py
export PYTHONPATH=$root:/tmp/gpupack-nonvml${PYTHONPATH:+:$PYTHONPATH}
# shellcheck source=benchmarks/packaging-shim.sh
source benchmarks/packaging-shim.sh python3
space=(--model-repository "$root/profiler/examples" --models batched_sleeper --batch "${BATCH:-1,2}"
  --concurrency "${CONCURRENCY:-1,2,4,8,16}" --max-instances 3 --queue-delays-us "${DELAYS:-0,10000}"
  --window "${WINDOW:-0.8}" --warmup 0.4 --max-windows 6
  --triton-server "$TRITONSERVER" --backend-python "$TRITON_STUB_BIN/python3")
for mode in ${MODES:-brute quick}; do
  python3 benchmarks/config_search.py "${space[@]}" --mode "$mode" --output "$OUT/$mode" \
    ${P99_MS:+--p99-ms "$P99_MS"} 2> "$OUT/$mode.log" | tee "$OUT/$mode.result"
done
nproc > "$OUT/host.txt"; uptime >> "$OUT/host.txt"
