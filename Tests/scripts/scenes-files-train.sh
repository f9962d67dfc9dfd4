#!/usr/bin/env bash
# Detection and segmentation trained from COCO / VOC files against the built-in
# scene path. The scenes are written with `gdqr scenes write --format coco|voc`
# and read back by data.dataset coco / voc (Sources/Datasets/AnnotatedSource.swift).
# Budget: 32x32 scenes of 1-3 items at scale 1-2, ResNet-8 of width 8, 1500
# training / 200 test scenes, 10 epochs of batch 32 (470 steps), 1 thread, seed 1;
# about a minute per run on a 2-core AMD EPYC (Zen 3).
#  1. data.hflip false: the COCO and VOC runs train on the same floats, targets and
#     order as the built-in runs, so their final parameters are bit-identical and
#     their test metrics equal (measured: identical, difference 0);
#  2. a quality floor, so that the comparison cannot pass on garbage: detection
#     mAP@0.5 >= 0.15 (measured 0.255 on the built-in path; a 6-step run
#     scored 0.000), segmentation mIoU >= 0.15 (measured 0.324) and pixel accuracy
#     >= the share of background pixels + 0.05 (measured 0.686 against a share of
#     0.424: what predicting background everywhere scores);
#  3. data.hflip true (image, boxes and masks mirrored together) meets the same floors;
#  4. a W4A4 run from the COCO / VOC files writes model-w4a4.gdqr, and
#     `gdqr eval --compare RUN` scores it on the run's validation files: the
#     integer engine's metrics (and, for detection, the --coco-results file: every
#     box and score) equal those of the same model trained on the built-in scenes
#     and scored on the composed test scenes. This tiny W4A4 run (96 scenes, one
#     epoch per phase) checks the plumbing, not quality.
#  5. 2 ranks (SyncBN, flips on) x 8 samples end 2 FP32 steps from the files with the
#     parameters of 1 rank x 16 (32 scenes written apart): whole-vector relative
#     difference <= 2.9e-7 for detection (measured 2.924e-8) and <= 9.3e-7 for
#     segmentation (measured 9.398e-8), AMD EPYC Zen 3, 2026-12-07.
# GDQR_BIN_DIR: another build's binaries (default .build/release).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
need_built "$gdqr" "$train"

scenes=(--set data.scene_size=32 --set data.scene_min_scale=1.0 --set data.scene_max_items=3)
budget=(--quiet --set model.image_size=32 --set model.width=8 --set model.head_channels=16
        --set data.train_limit=1500 --set data.test_limit=200 --set train.batch_size=32 --set train.threads=1
        --set train.epochs=10 --set train.log_every_steps=20 --set train.eval_every_epochs=10)
scene_files 1500 200
coco=(--set "data.train_annotations=$tmp/coco/annotations/instances_train.json" --set "data.train_images=$tmp/coco/train"
      --set "data.val_annotations=$tmp/coco/annotations/instances_val.json" --set "data.val_images=$tmp/coco/val")
voc=(--set "data.root=$tmp/voc")

# metrics DIR: the summary's test metrics, one line.
metrics() {
    "$py" - "$1" <<'PY'
import json, os, sys
s = json.load(open(os.path.join(sys.argv[1], "summary.json")))
keys = [k for k in ["test_map50", "test_map", "test_miou", "test_pixel_accuracy"] if k in s]
print(" ".join(f"{k} {s[k]!r}" for k in keys))
PY
}

# floor DIR TASK: the quality floor of check 2.
floor() {
    "$py" - "$1" "$2" <<'PY'
import json, os, sys
run, task = sys.argv[1], sys.argv[2]
s = json.load(open(os.path.join(run, "summary.json")))
if task == "det":
    ok, what = s["test_map50"] >= 0.15, f"mAP@0.5 {s['test_map50']:.4f} (floor 0.15)"
else:
    m = s["test_confusion_matrix"]
    background = sum(m[0]) / sum(map(sum, m))
    ok = s["test_miou"] >= 0.15 and s["test_pixel_accuracy"] > background + 0.05
    what = (f"mIoU {s['test_miou']:.4f} (floor 0.15), pixel accuracy {s['test_pixel_accuracy']:.4f} "
            f"(floor: background share {background:.4f} + 0.05)")
print(what)
sys.exit(0 if ok else 1)
PY
}

for task in det seg; do
    if [ $task = det ]; then files=(--config "$root/configs/coco-scenes-det-fp32.yaml" "${coco[@]}" --set optim.lr=0.02)
    else files=(--config "$root/configs/voc-scenes-seg-fp32.yaml" "${voc[@]}"); fi
    builtin=(--config "$root/configs/fashion-scenes-$task-fp32.yaml" "${scenes[@]}")
    [ $task = det ] && builtin+=(--set optim.lr=0.02)

    echo "-- $task: built-in scenes vs files, no flips"
    "$train" "${builtin[@]}" "${budget[@]}" --out "$tmp/$task-scenes"
    "$train" "${files[@]}" "${budget[@]}" --set data.hflip=false --out "$tmp/$task-files"
    a=$(metrics "$tmp/$task-scenes"); b=$(metrics "$tmp/$task-files")
    echo "built-in: $a"; echo "files:    $b"
    [ "$a" = "$b" ] || fail "$task: the file run's test metrics differ from the built-in run's"
    compare_params 0 "$tmp/$task-scenes/model-fp32.safetensors" "$tmp/$task-files/model-fp32.safetensors" \
        "$task: files vs built-in parameters" "$task: files and built-in runs differ"
    floor "$tmp/$task-files" $task || fail "$task: below the quality floor"

    echo "-- $task: files with flips"
    "$train" "${files[@]}" "${budget[@]}" --set data.hflip=true --out "$tmp/$task-flip"
    echo "flips:    $(metrics "$tmp/$task-flip")"
    floor "$tmp/$task-flip" $task || fail "$task with flips: below the quality floor"

    echo "-- $task: W4A4 from files, gdqr eval --compare"
    w4=(--set quant.enabled=true --set quant.fp32_phase_epochs=1 --set train.epochs=1 --set data.train_limit=96
        --set data.test_limit=32 --set train.batch_size=16 --set schedule.warmup_epochs=0)
    "$train" "${files[@]}" "${budget[@]}" --set data.hflip=false "${w4[@]}" --out "$tmp/$task-w4"
    "$train" "${builtin[@]}" "${budget[@]}" "${w4[@]}" --out "$tmp/$task-w4-scenes"
    dets=(); dets2=()
    [ $task = det ] && dets=(--coco-results "$tmp/dets-files.json") && dets2=(--coco-results "$tmp/dets-scenes.json")
    "$gdqr" eval "$tmp/$task-w4/model-w4a4.gdqr" --compare "$tmp/$task-w4" --json "${dets[@]}" > "$tmp/$task-eval.json"
    "$gdqr" eval "$tmp/$task-w4-scenes/model-w4a4.gdqr" --compare "$tmp/$task-w4-scenes" --json "${dets2[@]}" \
        > "$tmp/$task-eval-scenes.json"
    if [ $task = det ]; then
        cmp -s "$tmp/dets-files.json" "$tmp/dets-scenes.json" || fail "det: the file run's detections differ from the built-in run's"
        echo "det: the $(grep -o score "$tmp/dets-files.json" | wc -l) detections of both evaluations are the same bytes"
    fi
    "$py" - "$tmp/$task-eval.json" "$tmp/$task-eval-scenes.json" <<'PY' || fail "$task: gdqr eval of the file run"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["scenes"] == b["scenes"] == 32, (a["scenes"], b["scenes"])
assert "images of" in a["source"] and ("instances_val.json" in a["source"] or "val.txt" in a["source"]), a["source"]
assert a["integer"] == b["integer"], (a["integer"], b["integer"])
print(f"eval: {a['source']}: integer {a['integer']} (= the built-in run's on composed scenes)")
PY

    echo "-- $task: 2 ranks vs 1 rank from the files"
    eq=(--quiet --set model.image_size=32 --set model.width=8 --set model.head_channels=16 --set data.train_limit=32
        --set data.test_limit=32 --set train.batch_size=16 --set train.threads=1 --set train.epochs=1
        --set schedule.kind=constant --set schedule.warmup_epochs=0 --set distributed.sync_bn=true --set data.hflip=true)
    "$train" "${files[@]}" "${eq[@]}" --out "$tmp/$task-eq1"
    "$run" 2 "$train" "${files[@]}" "${eq[@]}" --out "$tmp/$task-eq2"
    tol=$([ $task = det ] && echo 2.9e-7 || echo 9.3e-7)
    compare_params "$tol" "$tmp/$task-eq1/model-fp32.safetensors" "$tmp/$task-eq2/model-fp32.safetensors" \
        "$task: 2 ranks (SyncBN) vs 1 rank after 2 steps" "$task: 2 ranks differ from 1 rank"
done
exit $status
