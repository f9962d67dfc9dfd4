#!/usr/bin/env bash
# ONNX export checked against onnxruntime (Cluster/check-onnx.sh) on tiny runs:
# ResNet-20 W4A4 (8-bit stem and classifier: INT4 and INT8 weights, UINT4 and UINT8
# activations, residual adds), the CNN at W4A3 (max pooling, and 3-bit
# activations, which need a Min before QuantizeLinear), and narrow versions of the
# zoo configs: VGG-small with a two-layer classifier (hidden linear layers on a
# flattened spatial input), ResNet-18 with the 7x7 stride-2 stem and max pool,
# ResNet-50 (bottlenecks, projection shortcuts) and MobileNetV2 (depthwise convs,
# ReLU6, signed INT4 activations, adds without ReLU). The zoo runs keep
# Fashion-MNIST's 28x28 (no resize), as the check feeds the IDX test images as
# they are. Each trains one short epoch per phase on 1920 images (batch 32, no
# warm-up: enough steps that the models are well past chance and do not predict
# one class for everything); the comparison runs over the first 2000 test images.
# ResNet-20 and MobileNetV2 train two FP32 epochs: after one (trained with the engine
# of 729a840) onnxruntime disagreed with the integer engine on 9 and 3 of the 2000
# images (99.55%, and 99.85% in its folded session), while its own two sessions
# disagreed with each other too: its float convolutions over dequantized levels round,
# the integer engine's sums are exact, and a barely trained model has many activations
# within that rounding of a level boundary. After two epochs: 2000 of 2000 agree, both.
# ONNX_CHECK_NETS picks a subset (default: all of them). GDQR_TRAIN_BIN overrides
# the trainer (default .build/release/gdqr-train).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
common=(--quiet --set data.train_limit=1920 --set data.test_limit=128 --set quant.fp32_phase_epochs=1
        --set train.epochs=1 --set schedule.warmup_epochs=0 --set train.batch_size=32)
zoo=(--set data.resize=false --set model.image_size=28)
nets=${ONNX_CHECK_NETS:-resnet cnn vgg resnet18 resnet50 mobilenetv2}

for r in $nets; do
    case $r in
        resnet) args=(--config "$root/configs/fashion-mnist-resnet20-w4a4.yaml" --set quant.fp32_phase_epochs=2) ;;
        cnn) args=(--config "$root/configs/fashion-mnist-cnn-fp32.yaml" --set quant.enabled=true
                   --set quant.w_bits=4 --set quant.a_bits=3) ;;
        vgg) args=(--config "$root/configs/fashion-mnist-vgg-small-w4a4.yaml" "${zoo[@]}" --set model.width_mult=0.125
                   --set "model.classifier=[64, 32]") ;;
        resnet18) args=(--config "$root/configs/fashion-mnist-resnet18-w4a4.yaml" "${zoo[@]}" --set model.width=8
                        --set model.stem=imagenet) ;;
        resnet50) args=(--config "$root/configs/fashion-mnist-resnet50-w4a4.yaml" "${zoo[@]}" --set model.width=4) ;;
        mobilenetv2) args=(--config "$root/configs/fashion-mnist-mobilenetv2-w4a4.yaml" "${zoo[@]}"
                           --set model.width_mult=0.25 --set quant.fp32_phase_epochs=2) ;;
        *) echo "FAIL: unknown network $r (ONNX_CHECK_NETS)"; exit 1 ;;
    esac
    "$train" "${common[@]}" "${args[@]}" --out "$tmp/$r" > "$tmp/$r.log" 2>&1 \
        || { echo "FAIL: training the $r run: $(tail -3 "$tmp/$r.log")"; exit 1; }
    if grep -q integer_model_error "$tmp/$r/summary.json"; then
        fail "$r: $(grep integer_model_error "$tmp/$r/summary.json")"
    fi
done

for r in $nets; do
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
