#!/usr/bin/env bash
# Evidence that plans hold on a real GPU, in two device calls with `gpupack plan` on the CPU host between
# them (the GPU host has no OR-Tools):
#
#   bash benchmarks/gpu_validate.sh profile            # GPU host (device tool, carry [".gpu-bundle"])
#   # CPU host, on the files that came back (OUT = the device call's $OUT):
#   gpupack plan --profiles OUT/profile --objective throughput \
#       --model-repository OUT/repository --write-repositories benchmarks/results/PLAN
#   bash benchmarks/gpu_validate.sh validate benchmarks/results/PLAN [PLAN2...]   # GPU host again
#
#   bash benchmarks/gpu_validate.sh profile --cpu-dry-run          # the same here, on the CPU models
#   bash benchmarks/gpu_validate.sh validate DIR [DIR...] --cpu-dry-run
#
# profile: copies the three GPU example models twice each into $OUT/repository (6 models, <model>_a and
#   <model>_b, config `name` set), profiles the _a copies at batch {1,4,8} x concurrency {1,4} with short
#   windows into $OUT/profile (the _b copies get the same rows: identical models), with $LIGHT's
#   <model>_light copies (fewer views; profiled too), and prints each model
#   alone at its largest point (GPU utilization: does it load the GPU?) last. Budget: $PHASE_LIMIT_S
#   (420 s, each batch size from a fresh load of its model; SIGTERM keeps the finished points and a rerun resumes them).
#   Plan both ways to see the validator do its job: --objective throughput (each GPU's utilizations sum
#   to at most 100 %: should hold) and --objective min-gpus (memory only: models that each keep a GPU
#   busy share one, and should fall short).
# validate DIR...: `gpupack validate DIR` for each DIR in turn (one planned GPU at a time on GPU 0 unless
#   the host has them all), writes DIR/validation.json and .csv, copies them and the server logs to
#   $OUT/<DIR's name>/, and prints the promised-vs-measured tables last. Exit 1 when a GPU of any plan
#   falls short. Budget: $PHASE_LIMIT_S for all (480 s; SIGTERM keeps the GPUs finished in
#   validation.json). At most 8 files come back from a device call: three per plan.
# $OUT defaults to ./gpu-validate-out; nvidia-smi.txt (GPU host) records the GPU before each phase.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
phase=${1:?usage: gpu_validate.sh profile|validate DIR [--cpu-dry-run]}
shift
plan_dirs=()
if [[ $phase == validate ]]; then
  : "${1:?usage: gpu_validate.sh validate DIR [DIR...] [--cpu-dry-run]}"
  while [[ $# -gt 0 && $1 != --cpu-dry-run ]]; do
    plan_dirs+=("$(cd "$1" && pwd)")
    shift
  done
elif [[ $phase != profile ]]; then
  echo "unknown phase $phase (profile or validate DIR)" >&2
  exit 2
fi
mode=gpu
if [[ "${1:-}" == "--cpu-dry-run" ]]; then mode=cpu; fi
OUT=${OUT:-$root/gpu-validate-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# Each phase stops within the device tool's 10 minutes, bundle install included.
if [[ $phase == profile ]]; then phase_limit_s=${PHASE_LIMIT_S:-420}; else phase_limit_s=${PHASE_LIMIT_S:-480}; fi
window=(--window 1 --warmup 1 --max-windows 6)

if [[ $mode == gpu ]]; then
  # The host's Python with torch first, so that the stub's environment (install-bundle.sh) sees torch.
  if [[ -x /opt/torch/.venv/bin/python3 ]]; then export PATH=/opt/torch/.venv/bin:$PATH; fi
  # shellcheck source=benchmarks/install-bundle.sh
  source benchmarks/install-bundle.sh .gpu-bundle /tmp/triton
  py=python3
  models=classification_resnet50,classification_resnet18,segmentation_unet3d
  # Light copies (fewer views: less GPU work per request) that can share a GPU with the heavy ones.
  light=${LIGHT-classification_resnet50=4,classification_resnet18=8,segmentation_unet3d=1}
  # `gpupack serve`/`validate` read these two; `profile` takes them as flags.
  export TRITONSERVER GPUPACK_BACKEND_PYTHON=$TRITON_STUB_BIN/python3
  server=(--triton-server "$TRITONSERVER" --backend-python "$GPUPACK_BACKEND_PYTHON")
  nvidia-smi > "$OUT/nvidia-smi-$phase.txt" 2>&1 || echo "nvidia-smi failed" >> "$OUT/nvidia-smi-$phase.txt"
else
  py=${PYTHON:-$root/.venv/bin/python}
  models=identity,sleepy
  light=
  server=()
fi
export PYTHONPATH=$root${PYTHONPATH:+:$PYTHONPATH}
# shellcheck source=benchmarks/packaging-shim.sh
source benchmarks/packaging-shim.sh "$py"
gpupack=("$py" -m cli)

if [[ $phase == profile ]]; then
  "$py" benchmarks/gpu_validate.py repository --source profiler/examples --models "$models" --copies 2 \
    --light "$light" --out "$OUT/repository"
  measured=$(echo "$models" | sed 's/,/_a,/g; s/$/_a/')
  if [[ -n $light ]]; then measured=$measured,$(echo "$light" | sed 's/=[0-9]*/_light/g'); fi
  status=0
  timeout --signal=TERM --kill-after=60 "$phase_limit_s" \
    "${gpupack[@]}" profile --model-repository "$OUT/repository" --models "$measured" \
    --batch 1,4,8 --concurrency 1,4 "${window[@]}" --output "$OUT/profile" --resume "${server[@]}" \
    || status=$?
  if [[ $status != 0 ]]; then echo "== profile ended with status $status" >&2; fi
  "$py" benchmarks/gpu_validate.py clone --profile "$OUT/profile" --repository "$OUT/repository"
  "$py" benchmarks/gpu_validate.py alone --profile "$OUT/profile"
  exit "$status"
fi

status=0
deadline=$((SECONDS + phase_limit_s))
for plan_dir in "${plan_dirs[@]}"; do
  name=$(basename "$plan_dir")
  left=$((deadline - SECONDS))
  if ((left <= 10)); then echo "== no time left for $name" >&2; status=1; continue; fi
  plan_status=0
  timeout --signal=TERM --kill-after=60 "$left" \
    "${gpupack[@]}" validate "$plan_dir" "${window[@]}" > "$OUT/$name-report.txt" || plan_status=$?
  mkdir -p "$OUT/$name"
  # At most 8 files come back from a device call: the results first, the server logs as one archive.
  cp "$plan_dir"/validation.json "$OUT/$name/" 2> /dev/null || true
  tar -czf "$OUT/$name/server-logs.tar.gz" -C "$plan_dir" $(cd "$plan_dir" && ls validation-gpu*.log 2> /dev/null) \
    2> /dev/null || true
  echo "== validate $name ended with status $plan_status (0: the plan holds, 1: a GPU falls short)" >&2
  if ((plan_status > status)); then status=$plan_status; fi
done
for plan_dir in "${plan_dirs[@]}"; do
  echo "== $(basename "$plan_dir")"
  cat "$OUT/$(basename "$plan_dir")-report.txt"
done
exit "$status"
