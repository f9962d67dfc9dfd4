#!/usr/bin/env bash
# TensorBoard event files and quantization.json of a short W4A4 run (1 FP32
# epoch, 1 GDQR epoch on 512 training / 256 test images: 4 steps each), read
# back with the `tensorboard` package's EventAccumulator and checked against
# metrics.jsonl and an independent recomputation from the final weights
# (Tests/scripts/python/check_tensorboard.py); then the same run resumed from
# its step-6 checkpoint (inside the GDQR epoch) adds a second event file, and
# TensorBoard must show the first run's records before step 6 and the resumed
# run's after. GDQR_TRAIN_BIN overrides the binary (default .build/release/gdqr-train).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
PY=$("$root/Cluster/python-env.sh" tensorboard safetensors numpy)
out=$tmp/run
start=$(date +%s)
args=(--config "$root/configs/fashion-mnist-resnet20-w4a4.yaml" --quiet --out "$out"
      --set quant.fp32_phase_epochs=1 --set train.epochs=1 --set data.train_limit=512
      --set data.test_limit=256 --set train.log_every_steps=2 --set checkpoint.every_steps=2)
if ! "$train" "${args[@]}" > "$tmp/train.log" 2>&1; then
    echo "FAIL: training run failed: $(tail -3 "$tmp/train.log")"
    exit 1
fi
echo "trained in $(( $(date +%s) - start )) s: $(ls "$out" | tr '\n' ' ')"
check=$root/Tests/scripts/python/check_tensorboard.py
k_a=$(awk '$1 == "k_a:" {print $2}' "$out/config.yaml")
"$PY" "$check" "$out" "$out/model-w4a4.safetensors" "$k_a"

cp "$out/metrics.jsonl" "$tmp/metrics-first.jsonl"
if ! "$train" "${args[@]}" --resume "$out/checkpoints/step-00000006.gdqrckpt" > "$tmp/resume.log" 2>&1; then
    echo "FAIL: resumed run failed: $(tail -3 "$tmp/resume.log")"
    exit 1
fi
"$PY" "$check" "$out" "$out/model-w4a4.safetensors" "$k_a" 6 "$tmp/metrics-first.jsonl"
