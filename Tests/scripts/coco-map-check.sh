#!/usr/bin/env bash
# Our COCO box mAP against the reference (pycocotools COCOeval) on the same files:
# Fashion-MNIST scenes written as COCO JSON, and deterministic perturbed
# detections (jittered boxes, duplicates, wrong classes, misses, false positives)
# for several seeds. Fails when |ours - reference| > 0.005 for mAP, mAP@0.5 or mAP@0.75.
# GDQR_BIN overrides the binary (default .build/release/gdqr).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
need_built "$gdqr"
PY=$("$root/Cluster/python-env.sh" pycocotools numpy)
"$gdqr" scenes write --out "$tmp/scenes" --split test --count 300 --seed 5
for seed in 1 2 3; do
    "$gdqr" scenes fake-detections --truth "$tmp/scenes/instances.json" --out "$tmp/dets-$seed.json" --seed "$seed"
    ours=$("$gdqr" scenes map --truth "$tmp/scenes/instances.json" --results "$tmp/dets-$seed.json")
    ref=$("$PY" "$root/Tests/scripts/python/coco_map.py" "$tmp/scenes/instances.json" "$tmp/dets-$seed.json")
    "$PY" - "$ours" "$ref" "$seed" <<'PYEOF' || status=1
import json, sys
ours, ref, seed = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
bad = []
for k in ("map", "map50", "map75"):
    d = abs(ours[k] - ref[k])
    print(f"seed {seed} {k:6s} ours {ours[k]:.6f} pycocotools {ref[k]:.6f} |diff| {d:.2e}")
    if not d <= 0.005:
        bad.append(k)
if bad:
    print(f"FAIL seed {seed}: {', '.join(bad)} differ by more than 0.005")
    sys.exit(1)
PYEOF
done
[ $status = 0 ] && echo "coco-map-check: ours matches pycocotools within 0.005" || echo "FAIL coco-map-check"
exit $status
