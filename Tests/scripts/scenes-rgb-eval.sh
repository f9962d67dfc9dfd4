#!/usr/bin/env bash
# Scene models on RGB files, trained and scored: COCO (CenterNet) and VOC (FCN) sets
# written by `gdqr scenes write`, their images turned into RGB (red = the scene,
# green = 0.6 x the scene, blue = its inverse, so the channels differ and their
# means are about 0.1, 0.06 and 0.9), a W4A4 run of each (4 FP32 + 1 W4A4 epochs of
# 480 images, per-channel means), then `gdqr eval MODEL --compare RUN`:
#   1. the run ends without integer_model_error (its integer model was folded and
#      checked on the RGB validation images);
#   2. `gdqr eval` scores the run's 32 validation files and its fake-quant metrics
#      equal the test metrics the trainer wrote in summary.json (the same rendered
#      images, the same network: measured equal to the last digit); before this
#      change it refused every RGB scene model ("scored on grey images");
#   3. the integer engine's metrics are within 0.05 of the fake-quant ones (measured
#      difference 0 for both tasks at this budget, AMD EPYC Zen 3, 2026-12-07);
#   4. the RGB model on grey scene files is refused, naming both shapes.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
need_built "$gdqr" "$train"
pil=$("$root/Cluster/python-env.sh" pillow numpy)

scene_files 480 32
"$gdqr" scenes write --split test --count 8 --seed 0 --size 32 --out "$tmp/grey" > /dev/null

# Every scene image (PNG, as written) becomes an RGB PNG in place.
"$pil" - "$tmp/coco/train" "$tmp/coco/val" "$tmp/voc/JPEGImages" <<'PY'
import os, sys
import numpy as np
from PIL import Image
count = 0
for d in sys.argv[1:]:
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        g = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
        rgb = np.stack([g, 0.6 * g, 255 - g], axis=-1).round().astype(np.uint8)
        Image.fromarray(rgb, "RGB").save(path)
        count += 1
print(f"{count} scene images made RGB")
PY

rgb=(--quiet --set model.in_channels=3 --set "data.channel_mean=[0.1, 0.06, 0.9]" --set data.normalize_std=0.3
     --set model.image_size=32 --set model.width=8 --set model.head_channels=16 --set train.threads=1
     --set quant.enabled=true --set quant.fp32_phase_epochs=4 --set train.epochs=1 --set train.batch_size=16
     --set schedule.warmup_epochs=0 --set data.hflip=false)
coco=(--config "$root/configs/coco-scenes-det-fp32.yaml"
      --set "data.train_annotations=$tmp/coco/annotations/instances_train.json" --set "data.train_images=$tmp/coco/train"
      --set "data.val_annotations=$tmp/coco/annotations/instances_val.json" --set "data.val_images=$tmp/coco/val")
voc=(--config "$root/configs/voc-scenes-seg-fp32.yaml" --set "data.root=$tmp/voc")
coco+=(--set optim.lr=0.02)

for task in det seg; do
    if [ $task = det ]; then files=("${coco[@]}"); else files=("${voc[@]}"); fi
    echo "-- $task: RGB W4A4 run"
    "$train" "${files[@]}" "${rgb[@]}" --out "$tmp/$task" > "$tmp/$task.log" 2>&1 \
        || { fail "$task: training: $(tail -3 "$tmp/$task.log")"; continue; }
    if ! "$gdqr" eval "$tmp/$task/model-w4a4.gdqr" --compare "$tmp/$task" --json > "$tmp/$task-eval.json" 2> "$tmp/$task-eval.err"; then
        fail "$task: gdqr eval --compare: $(cat "$tmp/$task-eval.err")"; continue
    fi
    "$py" - "$tmp/$task" "$tmp/$task-eval.json" $task <<'PY' || fail "$task: RGB scene evaluation"
import json, os, sys
run, ev, task = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
s = json.load(open(os.path.join(run, "summary.json")))
assert "integer_model_error" not in s, s["integer_model_error"]
assert ev["scenes"] == 32 and "images of" in ev["source"], (ev["scenes"], ev["source"])
pairs = [("test_map50", "map50"), ("test_map", "map")] if task == "det" else [("test_miou", "miou_without_background"), ("test_pixel_accuracy", "pixel_accuracy")]
for run_key, eval_key in pairs:
    a, b = s[run_key], ev["fakequant"][eval_key]
    assert a == b, f"{run_key} {a!r} in summary.json, fake-quant {eval_key} {b!r} in gdqr eval"
d = ev["max_metric_difference"]
assert d == d and d <= 0.05, f"integer vs fake-quant metrics differ by {d}"
print(f"{task}: {ev['source']}: fake-quant {[ev['fakequant'][k] for _, k in pairs]} = summary.json; "
      f"integer within {d:.4f}")
PY
done

expect 1 "scenes are 1x32x32, the model takes 3x32x32" "$gdqr" eval "$tmp/det/model-w4a4.gdqr" --scenes "$tmp/grey"
exit $status
