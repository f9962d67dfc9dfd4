#!/usr/bin/env bash
# Scene models exported to the integer engine and evaluated by `gdqr eval`, on
# small W4A4 runs of the committed configs (32x32 scenes, ResNet-8, 2048 training
# scenes, 6 FP32 epochs then 1 GDQR epoch; about a minute on 2 cores; with 4, the
# engine of 729a840 gave a detection model at mAP@0.5 0.0126, under the floor below):
#  1. detection: `gdqr export` folds the run; `gdqr eval --compare RUN` on test
#     scenes written as files (`gdqr scenes write`) reports mAP / mAP@0.5 of the
#     integer engine and of the fake-quant model, equal within 0.005; the COCO
#     results JSON it writes (--coco-results) scored by pycocotools against the
#     same instances.json gives our integer mAP / mAP@0.5 within 0.005; the scenes
#     composed by eval itself give the same metrics as the written files;
#  2. segmentation: mIoU (with and without background) and pixel accuracy of the
#     integer engine and of the fake-quant model equal within 0.005;
#     quality floors (mAP@0.5 >= 0.025, mIoU without background >= 0.10, pixel
#     accuracy >= 0.50; measured 0.051, 0.193, 0.601), so garbage cannot pass;
#  3. both exported to ONNX (`gdqr export --format onnx`): onnxruntime's output
#     maps on the scene files against the integer engine's (eval --save-outputs),
#     Tests/scripts/python/onnx_scene_check.py;
#  4. misuse is refused with its message: detections asked of a segmentation
#     model, scenes of another size than the model's, `gdqr infer` on a scene model.
# GDQR_BIN overrides the binary (default .build/release/gdqr).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
need_built "$gdqr"
PY=$("$root/Cluster/python-env.sh" pycocotools onnx onnxruntime numpy)

tiny=(--quiet --set data.scene_size=32 --set model.image_size=32 --set model.head_channels=16
      --set data.train_scenes=2048 --set data.test_scenes=200 --set quant.fp32_phase_epochs=6 --set train.epochs=1
      --set schedule.warmup_epochs=0)
scenes=200

"$gdqr" train --config "$root/configs/fashion-scenes-det-w4a4.yaml" --out "$tmp/det" "${tiny[@]}"
"$gdqr" train --config "$root/configs/fashion-scenes-seg-w4a4.yaml" --out "$tmp/seg" "${tiny[@]}"
"$gdqr" export "$tmp/det" --quiet
"$gdqr" export "$tmp/seg" --quiet
"$gdqr" scenes write --out "$tmp/scenes" --split test --count $scenes --seed 0 --size 32 >/dev/null

"$gdqr" eval "$tmp/det/model-w4a4.gdqr" --compare "$tmp/det" --scenes "$tmp/scenes" \
    --coco-results "$tmp/det-results.json" --json > "$tmp/det-eval.json"
"$gdqr" eval "$tmp/det/model-w4a4.gdqr" --limit $scenes --json > "$tmp/det-composed.json"
"$gdqr" eval "$tmp/seg/model-w4a4.gdqr" --compare "$tmp/seg" --scenes "$tmp/scenes" --json > "$tmp/seg-eval.json"
ref=$("$PY" "$root/Tests/scripts/python/coco_map.py" "$tmp/scenes/instances.json" "$tmp/det-results.json")
for k in det seg; do
    "$gdqr" export "$tmp/$k" --format onnx --quiet
    "$gdqr" eval "$tmp/$k/model-w4a4.gdqr" --scenes "$tmp/scenes" --save-outputs "$tmp/$k.f32" > /dev/null
    printf "%s" "onnxruntime vs integer engine, $k: "
    "$PY" "$root/Tests/scripts/python/onnx_scene_check.py" "$tmp/$k/model-w4a4.onnx" "$tmp/scenes" "$tmp/$k.f32" || status=1
done

"$PY" - "$tmp" "$ref" <<'PYEOF' || status=1
import json, sys
tmp, ref = sys.argv[1], json.loads(sys.argv[2])
det = json.load(open(f"{tmp}/det-eval.json"))
composed = json.load(open(f"{tmp}/det-composed.json"))
seg = json.load(open(f"{tmp}/seg-eval.json"))
bad = []
def check(what, a, b, tol=0.005):
    d = abs(a - b)
    print(f"{what:58s} {a:.6f} vs {b:.6f} |diff| {d:.2e}")
    if not d <= tol:
        bad.append(what)
for k in ("map50", "map"):
    check(f"detection {k}: integer engine vs fake-quant", det["integer"][k], det["fakequant"][k])
    check(f"detection {k}: ours vs pycocotools on --coco-results", det["integer"][k], ref[k])
    check(f"detection {k}: scene files vs composed scenes", det["integer"][k], composed["integer"][k], 0)
for k in ("miou_with_background", "miou_without_background", "pixel_accuracy"):
    check(f"segmentation {k}: integer engine vs fake-quant", seg["integer"][k], seg["fakequant"][k])
if det["integer"]["detections"] != len(json.load(open(f"{tmp}/det-results.json"))):
    bad.append("detections count")
# Quality floors, so that two equal pieces of garbage cannot pass the comparisons above.
# Measured with these settings (AMD EPYC Zen 3, AVX2 + FMA): detection mAP@0.5 0.0514;
# segmentation mIoU without background 0.193, pixel accuracy 0.601. Garbage: no useful
# detection gives mAP 0; predicting background everywhere gives mIoU without background
# 0 and pixel accuracy 0.428 (the background fraction of these 200 test scenes).
def floor(what, value, least):
    print(f"{what:58s} {value:.6f} >= {least}")
    if not value >= least:
        bad.append(f"{what} {value:.4f} below the floor {least}")
floor("detection map50 (integer engine)", det["integer"]["map50"], 0.025)
floor("segmentation miou_without_background (integer engine)", seg["integer"]["miou_without_background"], 0.10)
floor("segmentation pixel_accuracy (integer engine)", seg["integer"]["pixel_accuracy"], 0.50)
if bad:
    print("FAIL:", ", ".join(bad))
    sys.exit(1)
PYEOF
expect 2 "is a segmentation model, it makes no detections" \
    "$gdqr" eval "$tmp/seg/model-w4a4.gdqr" --scenes "$tmp/scenes" --coco-results "$tmp/x.json"
"$gdqr" scenes write --out "$tmp/scenes-48" --split test --count 2 --size 48 > /dev/null
expect 1 "scenes are 1x48x48, the model takes 1x32x32" "$gdqr" eval "$tmp/det/model-w4a4.gdqr" --scenes "$tmp/scenes-48"
expect 1 "a centernet model; infer prints the classes of a classifier" \
    "$gdqr" infer "$tmp/det/model-w4a4.gdqr" --images /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz

[ $status = 0 ] && echo "scenes-eval-check: integer engine = fake-quant within 0.005, mAP = pycocotools within 0.005, onnxruntime = integer engine, quality above the floors" \
    || echo "FAIL scenes-eval-check"
exit $status
