#!/usr/bin/env bash
# Checkpoints on a file system that fills up, and an --out that cannot be written.
#   1. The checkpoint folder is a tmpfs with room for two and a half checkpoints.
#      With checkpoint.on_write_error=stop the run stops with a message naming the
#      folder and the bytes needed and free; no temporary file is left; `latest`
#      still names the last complete checkpoint, which verifies; after the tmpfs
#      is enlarged, --resume auto continues from it and ends bit-identical to a run
#      that never ran out of space.
#   2. With on_write_error=continue the run warns, trains to the end and counts
#      the failed writes in summary.json.
#   3. A read-only --out is refused before any training step.
# Needs root (mount); CI runs as root. GDQR_BIN_DIR: another build's binaries.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
need_built "$train" "$gdqr"
[ "$(id -u)" = 0 ] || { echo "FAIL: disk-full.sh mounts tmpfs file systems and must run as root"; exit 1; }
mounts=()
cleanup() {
    local m
    for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
# tmpfs_at DIR SIZE [OPTIONS]: a fresh tmpfs of SIZE bytes on DIR.
tmpfs_at() {
    mkdir -p "$1"
    mount -t tmpfs -o "size=$2${3:+,$3}" tmpfs "$1"
    mounts+=("$1")
}

# 5 steps of ResNet-20 (batch 128) on 640 images, a checkpoint after every step.
args=(--config "$root/configs/fashion-mnist-resnet20-fp32.yaml" --set train.epochs=1
      --set data.train_limit=640 --set data.test_limit=128 --set checkpoint.every_steps=1
      --set checkpoint.keep_last=3 --set checkpoint.keep_best=false)

"$train" "${args[@]}" --out "$tmp/ref" > "$tmp/ref.log" 2>&1 || { fail "reference run: $(tail -3 "$tmp/ref.log")"; exit 1; }
# tmpfs counts whole 4 KiB pages: room for two of the largest checkpoints, the
# `latest` pointer and its temporary copy, and half a checkpoint more.
largest=$(stat -c %s "$tmp"/ref/checkpoints/step-*.gdqrckpt | sort -n | tail -1)
pages=$(( (largest + 4095) / 4096 ))
size=$(( (2 * pages + 2 + pages / 2) * 4096 ))
echo "checkpoints are up to $largest bytes; the tmpfs holds $size bytes"

echo "-- 1. on_write_error=stop"
mkdir -p "$tmp/stop"
tmpfs_at "$tmp/stop/checkpoints" "$size"
code=0
"$train" "${args[@]}" --out "$tmp/stop" > "$tmp/stop.log" 2>&1 || code=$?
latest=$(cat "$tmp/stop/checkpoints/latest" 2>/dev/null || echo none)
leftovers=$(ls -A "$tmp/stop/checkpoints" | grep -c '\.tmp-' || true)
message=$(grep -o "No space left on device.*" "$tmp/stop.log" | head -1 || true)
if [ "$code" = 0 ]; then
    fail "stop: the run finished although checkpoint 3 cannot fit: $(tail -2 "$tmp/stop.log")"
elif ! grep -qE "No space left on device in $tmp/stop/checkpoints: the checkpoint needs [0-9]+ bytes, [0-9]+ were written before the device filled, [0-9]+ bytes are free; the partial file was removed and the previous checkpoint is kept" "$tmp/stop.log"; then
    fail "stop: exit $code without the expected message: $(tail -3 "$tmp/stop.log")"
elif [ "$leftovers" != 0 ]; then
    fail "stop: $leftovers temporary files left in the checkpoint folder: $(ls -A "$tmp/stop/checkpoints")"
elif [ "$latest" != step-00000002.gdqrckpt ] || ! "$gdqr" inspect "$tmp/stop/checkpoints/$latest" > /dev/null; then
    fail "stop: latest is '$latest' (expected step-00000002.gdqrckpt, verifying)"
else
    echo "stop: exit $code, '$message'; no temporary file; latest $latest verifies"
fi
# Room again: the resumed run must continue from step 2 as if nothing happened.
mount -o remount,size=64m "$tmp/stop/checkpoints"
if "$train" "${args[@]}" --out "$tmp/stop" --resume auto > "$tmp/resume.log" 2>&1; then
    grep -q "resume: .*step-00000002.gdqrckpt" "$tmp/resume.log" \
        || fail "resume did not start from step-00000002: $(grep resume "$tmp/resume.log" | head -2)"
    compare_params 0 "$tmp/ref/model-fp32.safetensors" "$tmp/stop/model-fp32.safetensors" \
        "resumed after the disk filled" "resumed after the disk filled"
else
    fail "resume after enlarging the tmpfs: $(tail -3 "$tmp/resume.log")"
fi

echo "-- 2. on_write_error=continue"
mkdir -p "$tmp/cont"
tmpfs_at "$tmp/cont/checkpoints" "$size"
code=0
"$train" "${args[@]}" --set checkpoint.on_write_error=continue --out "$tmp/cont" > "$tmp/cont.log" 2>&1 || code=$?
failures=$("$py" -c "import json; print(json.load(open('$tmp/cont/summary.json')).get('checkpoint_write_failures'))" 2>/dev/null || echo none)
warnings=$(grep -c "checkpoint not written" "$tmp/cont.log" || true)
leftovers=$(ls -A "$tmp/cont/checkpoints" | grep -c '\.tmp-' || true)
# Steps 1 and 2 fit; every later write (steps 3-5) finds the device full.
if [ "$code" = 0 ] && [ "$failures" = 3 ] && [ "$warnings" = 3 ] && [ "$leftovers" = 0 ]; then
    echo "continue: finished, 3 failed writes warned about and in summary.json, no temporary file"
else
    fail "continue: exit $code, checkpoint_write_failures $failures, $warnings warnings, $leftovers temporary files: $(tail -2 "$tmp/cont.log")"
fi
compare_params 0 "$tmp/ref/model-fp32.safetensors" "$tmp/cont/model-fp32.safetensors" \
    "continue: the model equals the reference run's" "continue: model"

echo "-- 3. a read-only --out"
tmpfs_at "$tmp/ro" 1m ro
expect 1 "cannot create run folder $tmp/ro/run: .*read only" "$train" "${args[@]}" --out "$tmp/ro/run"
exit $status
