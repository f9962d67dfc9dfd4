#!/usr/bin/env bash
# An RGB image-folder model with per-channel normalisation, from training to
# `gdqr infer` on files:
#   - a folder of 640 RGB PNGs (Fashion-MNIST items coloured per class, so that the
#     three channels have different means: about 0.29, 0.17 and 0.71) trains a
#     W4A4 CNN (1 FP32 + 1 W4A4 epoch) with data.channel_mean set per channel;
#   - the run folds its integer model with the same per-channel means it trained
#     with: summary.json has no integer_model_error and its parity report gives a
#     top-1 agreement >= 0.99 between the integer engine and the fake-quant model
#     (measured 1.0 on the 128 val images; folded with one mean for all channels, as
#     the export did before, the same run's integer model agreed with this one on
#     0.40 of the images and its accuracy fell from 0.64 to 0.30);
#   - `gdqr infer MODEL --images FOLDER` prints one line per file (class, class name,
#     file), the names are the class folders, and its accuracy on the val folder
#     equals `gdqr eval --json`'s integer accuracy on the same folder (the same
#     decoding, so the same predictions), and is above chance (>= 0.3; measured 0.64
#     after this budget) so that the comparison cannot pass on garbage;
#   - that accuracy is within 0.02 of the run's own test accuracy (the fake-quant
#     model on the streamed val images; measured equal, 0.6406 both; the old fold's
#     0.30 fails it: the parity report alone compared both models on one wrongly
#     normalised input and could not see it);
#   - a single PNG file gives the line its folder run gave for it.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
need_built "$gdqr" "$train"
pil=$("$root/Cluster/python-env.sh" pillow numpy)

"$pil" - "$tmp/rgb" <<'PY'
import gzip, os, sys
import numpy as np
from PIL import Image
root = "/usr/share/datasets/fashion-mnist"
def idx(name):
    with gzip.open(os.path.join(root, name), "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)
images, labels = idx("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz")
out = sys.argv[1]
for split, lo, hi in (("train", 0, 512), ("val", 512, 640)):
    for i in range(lo, hi):
        g = images[i].astype(np.float32)
        c = int(labels[i])
        # red = the item, green = the item scaled by the class, blue = the inverted item.
        rgb = np.stack([g, g * (0.3 + 0.07 * c), 255 - g], axis=-1).round().astype(np.uint8)
        d = os.path.join(out, split, "%d-class%d" % (c, c))
        os.makedirs(d, exist_ok=True)
        Image.fromarray(rgb, "RGB").save(os.path.join(d, "%05d.png" % i))
PY

run=$tmp/run
"$train" --config "$root/configs/fashion-mnist-imagefolder-cnn-fp32.yaml" --quiet --out "$run" \
    --set data.root="$tmp/rgb" --set model.in_channels=3 --set "data.channel_mean=[0.29, 0.17, 0.71]" \
    --set data.normalize_std=0.35 --set quant.enabled=true --set quant.fp32_phase_epochs=1 --set train.epochs=1 \
    --set train.batch_size=32 --set checkpoint.every_epochs=0 > "$tmp/train.log" 2>&1 \
    || { echo "FAIL: training: $(tail -3 "$tmp/train.log")"; exit 1; }

read -r agreement err < <("$py" -c "import json, sys
s = json.load(open(sys.argv[1]))
print(s.get('parity_agreement', -1), repr(s.get('integer_model_error', '')))" "$run/summary.json")
[ "$err" = "''" ] || fail "summary.json: integer_model_error $err"
"$py" -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 0.99 else 1)" "$agreement" \
    || fail "integer vs fake-quant top-1 agreement $agreement, expected >= 0.99"
echo "parity: integer vs fake-quant top-1 agreement $agreement"

model=$run/model-w4a4.gdqr
"$gdqr" infer "$model" --images "$tmp/rgb/val" > "$tmp/pred.txt" 2> "$tmp/infer.err" \
    || { echo "FAIL: gdqr infer: $(cat "$tmp/infer.err")"; exit 1; }
"$gdqr" eval "$model" --json > "$tmp/eval.json" || { echo "FAIL: gdqr eval"; exit 1; }
"$py" - "$tmp/pred.txt" "$tmp/eval.json" "$tmp/rgb/val" "$run/summary.json" <<'PY' || status=1
import json, os, sys
lines = [l.split() for l in open(sys.argv[1])]
ev = json.load(open(sys.argv[2]))
files = sorted(os.path.relpath(os.path.join(d, f), sys.argv[3]) for d, _, fs in os.walk(sys.argv[3]) for f in fs)
ok = True
def fail(m):
    global ok
    print("FAIL:", m); ok = False
if len(lines) != len(files) or any(len(l) != 3 for l in lines):
    fail("gdqr infer printed %d lines (class, name, file expected), the folder has %d files" % (len(lines), len(files)))
else:
    names = {int(c): n for c, n, _ in lines}
    if any(n != "%d-class%d" % (c, c) for c, n in names.items()):
        fail("class names %s are not the class folders" % names)
    got = [os.path.relpath(f, sys.argv[3]) for _, _, f in lines]
    if got != files:
        fail("files in another order than the sorted folder: %s ... vs %s ..." % (got[:2], files[:2]))
    acc = sum(int(l[0]) == int(g.split("-")[0]) for l, g in zip(lines, got)) / len(lines)
    if acc != ev["accuracy_integer"] or ev["images"] != len(lines):
        fail("gdqr infer accuracy %.6f on %d files, gdqr eval %.6f on %d" % (acc, len(lines), ev["accuracy_integer"], ev["images"]))
    if not acc >= 0.3:
        fail("accuracy %.3f is at chance level" % acc)
    run_acc = json.load(open(sys.argv[4])).get("test_accuracy", float("nan"))
    if not abs(acc - run_acc) <= 0.02:
        fail("integer model accuracy %.4f, the run's test accuracy %.4f" % (acc, run_acc))
    print("gdqr infer: %d files, accuracy %.4f = gdqr eval's; data from %s" % (len(lines), acc, ev["data"]["origin"]))
sys.exit(0 if ok else 1)
PY
first=$(head -1 "$tmp/pred.txt")
one=$("$gdqr" infer "$model" --images "$(echo "$first" | cut -d' ' -f3)" 2> /dev/null)
[ "$one" = "$first" ] || fail "a single file gave '$one', the folder run '$first'"
exit $status
