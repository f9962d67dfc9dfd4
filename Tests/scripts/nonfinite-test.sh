#!/usr/bin/env bash
# checkpoint.nonfinite end to end, with a NaN injected into a gradient at step 3
# (GDQR_FAULT_NAN_AT_STEP): `stop` ends the run naming the tensor, and the last
# checkpoint is the one before the bad step and verifies; `skip` skips that step,
# counts it in summary.json and finishes. GDQR_BIN_DIR: another build's binaries.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
args=(--config "$root/configs/fashion-mnist-resnet20-fp32.yaml" --quiet --set train.epochs=1
      --set data.train_limit=640 --set data.test_limit=128 --set checkpoint.every_steps=1)

code=0
GDQR_FAULT_NAN_AT_STEP=3 "$train" "${args[@]}" --out "$tmp/stop" > "$tmp/stop.log" 2>&1 || code=$?
latest=$(cat "$tmp/stop/checkpoints/latest" 2>/dev/null || echo none)
if [ "$code" != 0 ] && grep -q "non-finite gradient nan in tensor '" "$tmp/stop.log" \
        && [ "$latest" = step-00000002.gdqrckpt ] && "$gdqr" inspect "$tmp/stop/checkpoints/$latest" > /dev/null; then
    echo "stop: exit $code, $(grep -o "non-finite gradient.*" "$tmp/stop.log" | head -1); latest $latest verifies"
else
    fail "stop: exit $code, latest $latest: $(tail -2 "$tmp/stop.log")"
fi

GDQR_FAULT_NAN_AT_STEP=3 "$train" "${args[@]}" --set checkpoint.nonfinite=skip --out "$tmp/skip" > "$tmp/skip.log" 2>&1 || status=1
skipped=$("$py" -c "import json; print(json.load(open('$tmp/skip/summary.json'))['skipped_steps'])" 2>/dev/null || echo none)
if [ "$skipped" = 1 ]; then
    echo "skip: finished with skipped_steps 1"
else
    fail "skip: skipped_steps $skipped: $(tail -2 "$tmp/skip.log")"
fi
exit $status
