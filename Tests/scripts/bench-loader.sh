#!/usr/bin/env bash
# `gdqr bench loader` (the image-folder loader's throughput, no model) on a tiny
# folder made of the committed image fixtures (grey and RGB, PNG and JPEG, odd sizes):
#   - both crops, 1 and 2 workers: a positive image count and rate, the channels
#     asked for (or the first image's), and images/s per worker = images/s / workers;
#   - bad requests stop with a message naming what is wrong: a missing folder, zero
#     workers, no time to measure, an unknown crop, 2 channels, one class folder, a
#     truncated image (named).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
need_built "$gdqr"
fx=$root/Tests/fixtures/images
f=$tmp/tiny
mkdir -p "$f/train/a" "$f/train/b" "$f/val/a" "$f/val/b"
cp "$fx/rgb-13x11-q90.jpg" "$fx/gray-5x9.png" "$fx/rgb-7x5.png" "$f/train/a/"
cp "$fx/gray-10x7.jpg" "$fx/rgb-32x24-q75-444.jpg" "$fx/palette-5x5.png" "$f/train/b/"
cp "$fx/gray-5x9.png" "$f/val/a/"
cp "$fx/rgb-7x5.png" "$f/val/b/"

# check JSON WORKERS CHANNELS CROP: the record of one run.
check() {
    "$py" - "$@" <<'PY' || fail "bench loader record: $1"
import json, sys
r = json.loads(sys.argv[1])
workers, channels, crop = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
assert r["images"] > 0 and r["seconds"] > 0 and r["images_per_s"] > 0, r
assert (r["workers"], r["channels"], r["crop"], r["size"], r["batch"]) == (workers, channels, crop, 8, 2), r
# The rates are printed with one decimal: per worker x workers matches to 0.05 x workers.
assert abs(r["images_per_s_per_worker"] * workers - r["images_per_s"]) <= 0.05 * workers + 1e-9, r
assert abs(r["images"] / r["seconds"] - r["images_per_s"]) <= 0.05 + 1e-3 * r["images_per_s"], r
print("PASSED: %d images at %.0f images/s, %d workers, %d channels, %s" % (r["images"], r["images_per_s"], workers, channels, crop))
PY
}
for w in 1 2; do
    for crop in pad-crop random-resized-crop; do
        out=$("$gdqr" bench loader --root "$f" --size 8 --channels 3 --batch 2 --workers "$w" --crop "$crop" \
              --seconds 0.3 --json) || fail "bench loader --workers $w --crop $crop exited non-zero"
        check "$out" "$w" 3 "$crop"
    done
done
# Without --channels: the first training image's (sorted by path: gray-10x7.jpg, grey).
out=$("$gdqr" bench loader --root "$f" --size 8 --batch 2 --seconds 0.2 --json) || fail "bench loader (channels from the data)"
check "$out" 2 1 random-resized-crop
"$gdqr" bench loader --root "$f" --size 8 --batch 2 --seconds 0.2 | grep -qE "^$f  1x8x8 random-resized-crop  workers 2  batch 2: [0-9.]+ images/s" \
    || fail "bench loader text line"

expect 1 "$tmp/none/train: missing folder \(expected the ImageFolder layout" \
    "$gdqr" bench loader --root "$tmp/none" --size 8
expect 2 "'data.workers' = 0 is out of range \(1 ... 256\)" \
    "$gdqr" bench loader --root "$f" --size 8 --workers 0
expect 2 "bench loader: --seconds 0.0, expected a positive number" \
    "$gdqr" bench loader --root "$f" --size 8 --seconds 0
expect 2 "'data.crop' = bogus is not one of: pad-crop, random-resized-crop" \
    "$gdqr" bench loader --root "$f" --size 8 --crop bogus
expect 2 "'model.in_channels' = 2 must be 1 \(grey\) or 3 \(RGB\) for data.dataset image-folder" \
    "$gdqr" bench loader --root "$f" --size 8 --channels 2
mkdir -p "$tmp/one/train/a" "$tmp/one/val/a"
cp "$fx/gray-5x9.png" "$tmp/one/train/a/"
expect 1 "$tmp/one/train: 1 class folder \(a\); training needs at least 2 \(model.num_classes\)" \
    "$gdqr" bench loader --root "$tmp/one" --size 8
head -c 100 "$fx/rgb-13x11-q90.jpg" > "$f/train/b/truncated.jpg"
expect 1 "$f/train/b/truncated.jpg: cannot decode JPEG" \
    "$gdqr" bench loader --root "$f" --size 8 --channels 3 --batch 7 --seconds 0.2
exit $status
