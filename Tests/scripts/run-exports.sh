#!/usr/bin/env bash
# A quantized run writes its 4-bit model itself: after a tiny W4A4 run of the CNN
# (one FP32 epoch, one W4A4 epoch, 256 training images) the run folder must hold
# model-w4a4.gdqr and model-w4a4.onnx, byte for byte the files `gdqr export`
# writes from the run's config and safetensors (an independent path: it rebuilds
# the network from config.yaml and loads the weights from disk, where the run
# folds the network it trained in memory), summary.json must give their sizes,
# and the integer engine must classify the test images as the run evaluated them.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
need_built "$gdqr" "$train"

run=$tmp/run
"$train" --config "$root/configs/fashion-mnist-cnn-fp32.yaml" --quiet --out "$run" --set quant.enabled=true \
    --set data.train_limit=256 --set data.test_limit=64 --set quant.fp32_phase_epochs=1 \
    --set train.epochs=1 --set train.batch_size=32 --set checkpoint.every_epochs=0 \
    > "$tmp/train.log" 2>&1 || { echo "FAIL: training: $(tail -3 "$tmp/train.log")"; exit 1; }

for ext in gdqr onnx; do
    f=$run/model-w4a4.$ext
    if [ ! -s "$f" ]; then fail "the run wrote no $f: $(ls "$run" | tr '\n' ' ')"; continue; fi
    if [ "$ext" = gdqr ]; then
        "$gdqr" export "$run" --quiet --out "$tmp/ref.gdqr" || fail "gdqr export $run failed"
    else
        "$gdqr" export "$run" --quiet --format onnx --out "$tmp/ref.onnx" || fail "gdqr export --format onnx $run failed"
    fi
    if cmp -s "$f" "$tmp/ref.$ext"; then
        echo "$f: $(wc -c < "$f") bytes, identical to gdqr export's"
    else
        fail "$f ($(wc -c < "$f") bytes) differs from gdqr export's ($(wc -c < "$tmp/ref.$ext") bytes): $(cmp "$f" "$tmp/ref.$ext" | head -1)"
    fi
done

# summary.json names the sizes of what the run wrote.
read -r gdqr_bytes onnx_bytes err < <("$py" -c "import json, sys
s = json.load(open(sys.argv[1]))
print(s.get('integer_model_bytes', -1), s.get('onnx_bytes', -1), repr(s.get('integer_model_error', '')))" "$run/summary.json")
[ "$gdqr_bytes" = "$(wc -c < "$run/model-w4a4.gdqr")" ] \
    || fail "summary.json integer_model_bytes $gdqr_bytes, file $(wc -c < "$run/model-w4a4.gdqr") (error: $err)"
[ "$onnx_bytes" = "$(wc -c < "$run/model-w4a4.onnx")" ] \
    || fail "summary.json onnx_bytes $onnx_bytes, file $(wc -c < "$run/model-w4a4.onnx")"

# The integer engine reads the run's file and classifies the same 64 test images as
# the run's last (fake-quant) evaluation, up to one image: the two differ only by
# float rounding, which can move a level by one step (measured on this test's run:
# the same accuracy, 100% top-1 agreement, max |logit diff| 2.4e-7).
if "$gdqr" eval "$run/model-w4a4.gdqr" --limit 64 --json > "$tmp/eval.json" 2> "$tmp/eval.err"; then
    "$py" -c "import json, math, sys
e = json.load(open(sys.argv[1]))['accuracy_integer']
f = json.load(open(sys.argv[2]))['test_accuracy']
print(f'gdqr eval on the run\'s model: accuracy {e:.4f} over 64 images, the run\'s fake-quant test accuracy {f:.4f}')
sys.exit(0 if math.isfinite(e) and abs(e - f) <= 1 / 64 + 1e-9 else 1)" "$tmp/eval.json" "$run/summary.json" \
        || fail "the integer engine's accuracy is not the run's test accuracy within one image of 64"
else
    fail "gdqr eval $run/model-w4a4.gdqr: $(tail -3 "$tmp/eval.err")"
fi

exit $status
