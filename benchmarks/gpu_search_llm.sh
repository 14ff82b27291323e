#!/usr/bin/env bash
# Issue #25 on one lent GPU, in two device calls with `gpupack plan` on the CPU host between them (the
# GPU host has no OR-Tools):
#
#   bash benchmarks/gpu_search_llm.sh profile            # device (carry [".gpu-bundle"])
#   # CPU host, on what came back: plans (benchmarks/gpu_search_llm.py plans, gpupack plan ...)
#   bash benchmarks/gpu_search_llm.sh validate DIR...    # device: validate each written plan
#   bash benchmarks/gpu_search_llm.sh profile --cpu-dry-run    # the same steps here, CPU models
#
# profile: makes the repository (gpu_search_llm.py repository) and, each step capped so that the call
#   ends inside the device tool's 10 minutes (SIGTERM keeps finished points):
#   1. search/  `gpupack profile --search quick` of the three *_light GPU examples (instances 1-2,
#               dynamic batcher off / on, batch 1, concurrency 1, 4, 16)        cap $SEARCH_S (250 s)
#   2. llm/     the streaming llm_decoder at concurrency 1, 2, 4, 8              cap $LLM_S (90 s)
#   3. fresh/   five classification architectures, batch 1, 4 x concurrency 1, 4 cap $FRESH_S (140 s)
#   and returns each profile as a .tar.gz, with nvidia-smi; prints the search table last.
#   STEPS="llm fresh" runs only those; RESUME=DIR goes on from DIR/<step> (a profile that came back).
# validate DIR...: `gpupack validate DIR` for each written plan (one planned GPU at a time), then the
#   share check: two llm_decoder copies with vLLM's default gpu_memory_utilization 0.9 on one server,
#   the second must fail to load (SHARE_CHECK=0 skips it). Returns DIR's validation.json + server logs per plan as .tar.gz.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
phase=${1:?usage: gpu_search_llm.sh profile|validate DIR... [--cpu-dry-run]}
shift
plan_dirs=()
while [[ $# -gt 0 && $1 != --cpu-dry-run ]]; do
  plan_dirs+=("$(cd "$1" && pwd)")
  shift
done
mode=gpu
if [[ "${1:-}" == "--cpu-dry-run" ]]; then mode=cpu; fi
OUT=${OUT:-$root/gpu-search-llm-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
work=/tmp/gpupack-gpu-run
mkdir -p "$work"
window=(--window "${WINDOW:-0.5}" --warmup "${WARMUP:-0.5}" --max-windows 5)

if [[ $mode == gpu ]]; then
  # The host's Python with torch first, so that the stub's environment (install-bundle.sh) sees torch.
  if [[ -x /opt/torch/.venv/bin/python3 ]]; then export PATH=/opt/torch/.venv/bin:$PATH; fi
  # shellcheck source=benchmarks/install-bundle.sh
  source benchmarks/install-bundle.sh .gpu-bundle /tmp/triton > /dev/null
  py=python3
  export TRITONSERVER GPUPACK_BACKEND_PYTHON=$TRITON_STUB_BIN/python3
  server=(--triton-server "$TRITONSERVER" --backend-python "$GPUPACK_BACKEND_PYTHON")
  nvidia-smi > "$OUT/nvidia-smi-$phase.txt" 2>&1 || echo "nvidia-smi failed" >> "$OUT/nvidia-smi-$phase.txt"
  search_models=classification_resnet50_light,classification_resnet18_light,segmentation_unet3d_light
  fresh_models=fresh_mobilenet_v3_large,fresh_efficientnet_b0,fresh_convnext_tiny,fresh_vit_b_16,fresh_regnet_y_800mf
  llm_models=llm_decoder
else
  py=${PYTHON:-$root/.venv/bin/python}
  # The dry run's stand-ins: CPU models of the same kinds (a batching model, plain ones, a streaming one).
  server=(${BACKEND_PYTHON:+--backend-python "$BACKEND_PYTHON"})
  export GPUPACK_BACKEND_PYTHON=${BACKEND_PYTHON:-}
  search_models=batched_sleeper
  fresh_models=sleepy,identity
  llm_models=llm_sleeper
fi
export PYTHONPATH=$root${PYTHONPATH:+:$PYTHONPATH}
# shellcheck source=benchmarks/packaging-shim.sh
source benchmarks/packaging-shim.sh "$py"
gpupack=("$py" -m cli)

# step NAME LIMIT_S COMMAND...: run a capped step, say how it ended, keep going.
step() {
  local name=$1 limit=$2 status=0
  shift 2
  local start=$SECONDS
  timeout --signal=TERM --kill-after=30 "$limit" "$@" > "$OUT/$name.log" 2>&1 || status=$?
  echo "== $name: status $status in $((SECONDS - start)) s" | tee -a "$OUT/steps.txt" >&2
}

if [[ $phase == profile ]]; then
  if [[ $mode == gpu ]]; then
    repo=$work/repository
    "$py" benchmarks/gpu_search_llm.py repository --out "$repo"
  else
    repo=$root/profiler/examples
  fi
  # $STEPS picks the steps; a step whose profile is in $RESUME/<step> goes on from it (--resume).
  for name in ${STEPS:-search llm fresh}; do
    resume=()
    if [[ -n ${RESUME:-} && -d $RESUME/$name ]]; then
      rm -rf "${work:?}/$name" && cp -r "$RESUME/$name" "$work/$name" && resume=(--resume)
    fi
    case $name in
      search) step search "${SEARCH_S:-250}" "${gpupack[@]}" profile --model-repository "$repo" \
        --models "$search_models" --search quick --max-instances 2 --queue-delays-us 500 --batch 1 \
        --concurrency 1,4,16 "${window[@]}" --output "$work/search" "${resume[@]}" "${server[@]}" ;;
      llm) step llm "${LLM_S:-90}" "${gpupack[@]}" profile --model-repository "$repo" --models "$llm_models" \
        --concurrency 1,2,4,8 --input-tokens 128 --output-tokens 64 --duration 6 --output "$work/llm" \
        "${server[@]}" ;;
      fresh) step fresh "${FRESH_S:-140}" "${gpupack[@]}" profile --model-repository "$repo" \
        --models "$fresh_models" --batch 1,4 --concurrency 1,4 "${window[@]}" --output "$work/fresh" \
        "${resume[@]}" "${server[@]}" ;;
    esac
  done
  for name in search llm fresh; do
    if [[ -d $work/$name ]]; then tar -czf "$OUT/$name.tar.gz" -C "$work" "$name"; fi
  done
  tar -czf "$OUT/logs.tar.gz" -C "$OUT" search.log llm.log fresh.log 2> /dev/null && rm -f "$OUT"/{search,llm,fresh}.log
  for name in search llm fresh; do
    echo "== $name"
    if [[ -f $work/$name/profile.csv ]]; then
      "$py" -c "import pandas as pd, sys; d = pd.read_csv(sys.argv[1]); cols = [c for c in ('model', 'variant', 'batch_size', 'concurrency', 'throughput_infer_per_sec', 'latency_p99_ms', 'ttft_p99_ms', 'itl_p99_ms', 'tokens_per_s', 'weights_mb', 'kv_mb_per_sequence', 'max_gpu_utilization_pct', 'max_sm_activity_pct', 'max_gpu_memory_mb', 'max_process_gpu_memory_mb', 'error') if c in d]; print(d[cols].to_string(max_colwidth=40))" "$work/$name/profile.csv"
    fi
  done
  cat "$OUT/steps.txt"
  exit 0
fi

[[ $phase == validate ]] || { echo "unknown phase $phase" >&2; exit 2; }
for plan_dir in "${plan_dirs[@]}"; do
  name=$(basename "$plan_dir")
  step "validate-$name" "${VALIDATE_S:-200}" "${gpupack[@]}" validate "$plan_dir" "${window[@]}"
  tar -czf "$OUT/$name.tar.gz" -C "$plan_dir" $(cd "$plan_dir" && ls validation.json validation*.csv validation-gpu*.log 2> /dev/null) \
    -C "$OUT" "validate-$name.log" 2> /dev/null || true
  cp "$OUT/validate-$name.log" "$work/validate-$name.log" && rm -f "$OUT/validate-$name.log"
done
if [[ $mode == gpu && ${SHARE_CHECK:-1} == 1 ]]; then
  # Two LLMs at vLLM's default share on one GPU: the second must refuse to load.
  share=$work/share-check
  rm -rf "$share" && mkdir -p "$share"
  for copy in a b; do
    cp -r profiler/examples/llm_decoder "$share/llm_$copy"
    sed -i "1i name: \"llm_$copy\"" "$share/llm_$copy/config.pbtxt"
    printf '{"gpu_memory_utilization": 0.9}\n' > "$share/llm_$copy/1/model.json"
  done
  (PATH=$TRITON_STUB_BIN:$PATH timeout 120 "$TRITONSERVER" --model-repository "$share" \
    --backend-directory "$TRITON_BACKEND_DIR" --model-control-mode explicit --load-model llm_a --http-port 18000 \
    --grpc-port 18001 --metrics-port 18002 > "$OUT/share-check.log" 2>&1 &)
  "$py" - >> "$OUT/share-check.log" 2>&1 << 'EOF'
import time, urllib.request, urllib.error
base = "http://localhost:18000/v2"
for _ in range(90):  # llm_a loads with the server
    try:
        urllib.request.urlopen(f"{base}/health/ready", timeout=2)
        break
    except (urllib.error.URLError, OSError):
        time.sleep(1)
try:
    urllib.request.urlopen(urllib.request.Request(f"{base}/repository/models/llm_b/load", method="POST"), timeout=100)
    print("llm_b loaded")
except urllib.error.HTTPError as exc:
    print("llm_b load refused:", exc.read().decode()[:400])
index = urllib.request.urlopen(urllib.request.Request(f"{base}/repository/index", method="POST", data=b"{}"))
print("index:", index.read().decode())
EOF
  nvidia-smi --query-gpu=memory.used,memory.total --format=csv >> "$OUT/share-check.log" 2>&1
  pkill -f "tritonserver --model-repository $share" || true
  echo "== share check (llm_a then llm_b, both at 0.9):"
  grep -E "KV slots|free memory|llm_b|index:" "$OUT/share-check.log" | cut -c1-300 | tail -8
fi
for plan_dir in "${plan_dirs[@]}"; do
  echo "== $(basename "$plan_dir")"
  tail -40 "$work/validate-$(basename "$plan_dir").log"
done
cat "$OUT/steps.txt"
