#!/usr/bin/env bash
# GDQR ablation on ResNet-20 / Fashion-MNIST: every row starts from the same FP32
# weights and gets the same fine-tuning budget; prints a markdown table (test
# accuracy, drop vs FP32, wall time) and writes it to OUT/ablation.md.
#
#   Cluster/ablation.sh FP32_RUN_DIR [EPOCHS] [TRAIN_LIMIT] [OUT]
#     FP32_RUN_DIR  a run folder with model-fp32.safetensors and summary.json
#                   (e.g. runs/fashion-mnist-resnet20-w4a4 after the quick start)
#     EPOCHS        fine-tuning epochs per row (default 1)
#     TRAIN_LIMIT   training images used for fine-tuning (default 0 = all 60000)
#     OUT           folder for the rows' runs (default runs/ablation)
# ABLATION_ROWS=all|core (core: the comparison rows without the k/G sweeps).
# ABLATION_JOBS=N runs N rows at a time, each on (cores / N) threads (default 1 job
# on all cores); on 2 cores, 2 one-thread jobs finish a table sooner than 1 two-thread
# job because a step's single-threaded parts then overlap.
# Rerunning with the same OUT keeps the rows that finished (OUT/rowNN.line) and runs
# the rest, so a table can be completed after an interruption.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=${1:?usage: $0 FP32_RUN_DIR [EPOCHS] [TRAIN_LIMIT] [OUT]}
epochs=${2:-1}
limit=${3:-0}
out=${4:-$root/runs/ablation}
bin=${GDQR_TRAIN:-$root/.build/release/gdqr-train}
[ -f "$src/model-fp32.safetensors" ] || { echo "$0: $src/model-fp32.safetensors not found" >&2; exit 2; }
mkdir -p "$out"

base=(--config "$root/configs/fashion-mnist-resnet20-w4a4.yaml" --init-from "$src/model-fp32.safetensors"
      --quiet --set quant.fp32_phase_epochs=0 --set train.epochs="$epochs" --set data.train_limit="$limit")

rows=(
  "naive W4A4 (per-layer min-max, no clip)|--set quant.mode=naive"
  "naive W4A4, seed 2|--set quant.mode=naive --seed 2"
  "GDQR W4A4|"
  "GDQR W4A4, seed 2|--seed 2"
  "GDQR W3A3|--set quant.w_bits=3 --set quant.a_bits=3"
  "GDQR W2A4|--set quant.w_bits=2"
  "Scale-Clip only (G=1)|--set quant.groups=1"
  "groups only (per-group min-max, G=4)|--set quant.mode=minmax-groups"
  "PSG (lambda 0.5) then W4 min-max|--set quant.mode=psg --set quant.psg_lambda=0.5 --set optim.lr=0.01"
  "PTQ W8A8 min-max|--set quant.mode=ptq-minmax --set quant.w_bits=8 --set quant.a_bits=8"
  "PTQ W8A8 scale search (EasyQuant)|--set quant.mode=ptq-easyquant --set quant.w_bits=8 --set quant.a_bits=8"
  "PTQ W4A4 min-max|--set quant.mode=ptq-minmax"
  "PTQ W4A4 scale search (EasyQuant)|--set quant.mode=ptq-easyquant"
)
if [ "${ABLATION_ROWS:-all}" = all ]; then
  rows+=(
    "GDQR W4A4 k_w=1.5|--set quant.k_w=1.5"
    "GDQR W4A4 k_w=3|--set quant.k_w=3.0"
    "GDQR W4A4 k_a=5|--set quant.k_a=5.0"
    "GDQR W4A4 k_a=12|--set quant.k_a=12.0"
    "GDQR W4A4 G=2|--set quant.groups=2"
    "GDQR W4A4 G=8|--set quant.groups=8"
    "GDQR W4A4 k_a=3 (the paper's default)|--set quant.k_a=3.0"
    "GDQR W4A4 G=16 (per-channel in stage 1)|--set quant.groups=16"
  )
fi

jobs=${ABLATION_JOBS:-1}
cores=$(nproc)
threads=$(( cores / jobs > 0 ? cores / jobs : 1 ))
run_row() {  # run_row INDEX: trains row INDEX and writes its table line to rowNN.line
  local i=$1 row=${rows[$1]}
  local label=${row%%|*} dir
  # shellcheck disable=SC2206
  local extra=(${row#*|})
  dir="$out/row$(printf %02d $((i + 1)))"
  if [ -f "$dir.line" ] && ! grep -q '|failed|' "$dir.line"; then echo "kept: $label" >&2; return; fi
  local start; start=$(date +%s.%N)
  if "$bin" "${base[@]}" --set train.threads="$threads" "${extra[@]}" --out "$dir" > "$dir.log" 2>&1; then
    echo "$label|$(python3 -c "print(round($(date +%s.%N) - $start, 1))")|$dir" > "$dir.line"
    echo "done: $label" >&2
  else
    echo "$label|failed|$dir" > "$dir.line"
    echo "FAILED: $label (see $dir.log)" >&2
  fi
}
for i in "${!rows[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_row "$i" &
done
wait
for i in "${!rows[@]}"; do
  line="$out/row$(printf %02d $((i + 1))).line"
  if [ -f "$line" ]; then cat "$line"; else echo "${rows[$i]%%|*}|not run|"; fi
done > "$out/rows.txt"

python3 - "$src" "$out" "$epochs" "$limit" "$jobs" "$threads" <<'PY' | tee "$out/ablation.md"
import json, sys
src, out, epochs, limit, jobs, threads = sys.argv[1:]
s = json.load(open(f"{src}/summary.json"))
fp32 = s.get("fp32_test_accuracy", s.get("test_accuracy"))
print(f"Fine-tuning budget per row: {epochs} epoch(s) on {'all' if limit == '0' else limit} training images, "
      f"from {src}/model-fp32.safetensors (FP32 test accuracy {fp32 * 100:.2f}%).\n")
print(f"Rows run {jobs} at a time, {threads} thread(s) each.\n")
print("| row | test accuracy | drop vs FP32 (pp) | wall s |")
print("|---|---|---|---|")
print(f"| FP32 | {fp32 * 100:.2f}% | 0.00 | - |")
for line in open(f"{out}/rows.txt"):
    label, wall, d = line.rstrip("\n").split("|")
    if wall in ("failed", "not run"):
        print(f"| {label} | {wall} | - | - |")
        continue
    acc = json.load(open(f"{d}/summary.json"))["test_accuracy"]
    print(f"| {label} | {acc * 100:.2f}% | {(fp32 - acc) * 100:.2f} | {wall} |")
PY
