#!/usr/bin/env bash
# ONNX export checked against onnxruntime (Cluster/check-onnx.sh) on two tiny runs:
# ResNet-20 W4A4 (8-bit stem and classifier: INT4 and INT8 weights, UINT4 and UINT8
# activations, residual adds) and the CNN at W4A3 (max pooling, and 3-bit
# activations, which need a Min before QuantizeLinear). Each trains one short
# epoch per phase on 1920 images (batch 32, no warm-up: enough steps that the
# models are well past chance and do not predict one class for everything); the
# comparison runs over the first 2000 test images. GDQR_TRAIN_BIN overrides the
# trainer (default .build/release/gdqr-train).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
common=(--quiet --set data.train_limit=1920 --set data.test_limit=128 --set quant.fp32_phase_epochs=1
        --set train.epochs=1 --set schedule.warmup_epochs=0 --set train.batch_size=32)

"$train" --config "$root/configs/fashion-mnist-resnet20-w4a4.yaml" "${common[@]}" --out "$tmp/resnet" > "$tmp/resnet.log" 2>&1 \
    || { echo "FAIL: training the ResNet-20 W4A4 run: $(tail -3 "$tmp/resnet.log")"; exit 1; }
"$train" --config "$root/configs/fashion-mnist-cnn-fp32.yaml" "${common[@]}" --set quant.enabled=true \
    --set quant.w_bits=4 --set quant.a_bits=3 --out "$tmp/cnn" > "$tmp/cnn.log" 2>&1 \
    || { echo "FAIL: training the CNN W4A3 run: $(tail -3 "$tmp/cnn.log")"; exit 1; }

for r in resnet cnn; do
    if "$root/Cluster/check-onnx.sh" "$tmp/$r" 2000 > "$tmp/$r.check" 2>&1; then
        # A model near chance could agree by predicting one class: require 3x chance.
        acc=$("$py" -c "import json; print(json.load(open('$tmp/$r/onnx-check.json'))['accuracy_gdqr_integer'])")
        line="$r: $("$py" -c "import json; d = json.load(open('$tmp/$r/onnx-check.json'))
print(', '.join(f'{k} {d[k]}' for k in ['accuracy_gdqr_integer', 'accuracy_onnxruntime', 'accuracy_diff_pp', 'agreement']))")"
        if "$py" -c "import sys; sys.exit(0 if $acc >= 0.3 else 1)"; then
            echo "$line"
        else
            fail "$r: the tiny model is too weak to test with (accuracy $acc < 0.3): $line"
        fi
    else
        fail "$r: $(tail -5 "$tmp/$r.check")"
    fi
done
exit $status
