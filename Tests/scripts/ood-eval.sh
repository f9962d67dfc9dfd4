#!/usr/bin/env bash
# gdqr eval --ood end to end, and eval following the data a model was trained on.
#  1. A tiny held-out-classes run (configs/fashion-mnist-cnn-heldout-w4a4.yaml: six
#     classes trained, four held out; 1 FP32 + 1 W4A4 epoch on 600 images) is scored by
#     the integer model, the fake-quant network and the FP32 network against the held-out
#     classes and the inverted test images. The integer engine's per-image scores must
#     equal the fake-quant network's within the tolerances below, their AUROCs too.
#  2. The report of the run shows the saved ood-*.json with its ROC curves.
#  3. Bad --ood inputs are refused with a message naming them.
#  4. A model trained on another IDX data set (data.dataset idx, 300 training and 97
#     test images) is evaluated on that set's test images without --data (issue: eval
#     scored 10,000 Fashion-MNIST images instead), and says where the data came from.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
need_built "$gdqr" "$train"
fm=/usr/share/datasets/fashion-mnist

run=$tmp/heldout
"$train" --config "$root/configs/fashion-mnist-cnn-heldout-w4a4.yaml" --quiet --out "$run" \
    --set data.train_limit=600 --set data.test_limit=300 --set quant.fp32_phase_epochs=1 \
    --set train.epochs=1 --set train.batch_size=32 --set checkpoint.every_epochs=0 \
    > "$tmp/train.log" 2>&1 || { echo "FAIL: training: $(tail -3 "$tmp/train.log")"; exit 1; }

sets=(--ood heldout --ood inverted)
"$gdqr" eval "$run/model-w4a4.gdqr" "${sets[@]}" --per-image --json --save "$run/ood-integer.json" > "$tmp/int.json" \
    || fail "eval --ood of the integer model"
"$gdqr" eval "$run" "${sets[@]}" --per-image --json > "$tmp/fq.json" || fail "eval --ood of the fake-quant run"
"$gdqr" eval "$run/model-fp32.safetensors" "${sets[@]}" --json > "$tmp/fp32.json" || fail "eval --ood of the FP32 weights"

# Integer vs fake-quant: the two compute the same levels up to float rounding, which can
# move an activation level by one step in a few images. Measured on this run
# (2026-12-07, Zen 3): max |score difference| / the score's spread 9.1e-3 (MSP), 7.0e-3
# (max logit), 4.8e-3 (energy), 2.2e-2 (Mahalanobis); max |AUROC difference| 5.9e-5.
# The tolerances are 5-9x those.
"$py" - "$tmp/int.json" "$tmp/fq.json" "$tmp/fp32.json" <<'EOF' || status=1
import json, math, sys
i, f, p = (json.load(open(a)) for a in sys.argv[1:4])
bad = []
def check(cond, what):
    if not cond: bad.append(what)
check(i["model_kind"] == "integer" and f["model_kind"] == "fake-quant" and p["model_kind"] == "fp32",
      f"model kinds {i['model_kind']}, {f['model_kind']}, {p['model_kind']}")
for r in (i, f, p):
    check(r["in_distribution"]["images"] > 100, f"{r['model_kind']}: {r['in_distribution']['images']} in-distribution images")
    names = [s["name"] for s in r["ood"]]
    check(names == ["heldout", "inverted"], f"{r['model_kind']}: sets {names}")
    check(r["ood"][0]["images"] > 50, f"{r['model_kind']}: {r['ood'][0]['images']} held-out images")
    check(r["ood"][1]["images"] == r["in_distribution"]["images"], "inverted set has the test set's size")
    for s in r["ood"]:
        for name, m in s["scores"].items():
            for k in ("auroc", "aupr_in", "aupr_out", "fpr95"):
                check(0 <= m[k] <= 1 and not math.isnan(m[k]), f"{r['model_kind']} {s['name']} {name} {k} = {m[k]}")
# Tolerances: max |score difference| per image relative to the score's spread, and
# |AUROC difference|.
TOL_SCORE = {"msp": 5e-2, "max_logit": 5e-2, "energy": 4e-2, "mahalanobis": 2e-1}
TOL_AUROC = 5e-4
worst = {}
for key in ["per_image_in_distribution"] + [n for n in range(len(i["ood"]))]:
    a = i[key] if isinstance(key, str) else i["ood"][key]["per_image"]
    b = f[key] if isinstance(key, str) else f["ood"][key]["per_image"]
    for name in TOL_SCORE:
        xs, ys = a[name], b[name]
        spread = max(ys) - min(ys) or 1.0
        d = max(abs(x - y) for x, y in zip(xs, ys)) / spread
        check(len(xs) == len(ys) and all(map(math.isfinite, xs)), f"{key} {name}: lengths or NaN")
        worst[name] = max(worst.get(name, 0), d)
        check(d <= TOL_SCORE[name], f"{key} {name}: max |integer - fake-quant| / spread {d:.3g} > {TOL_SCORE[name]}")
dauroc = max(abs(si["scores"][n]["auroc"] - sf["scores"][n]["auroc"])
             for si, sf in zip(i["ood"], f["ood"]) for n in TOL_SCORE)
check(dauroc <= TOL_AUROC, f"AUROC integer vs fake-quant differs by {dauroc:.3g} > {TOL_AUROC}")
check("the model file" in i["data"]["origin"], f"integer model's data from {i['data']['origin']}")
print("integer vs fake-quant: max |score diff| / spread " + ", ".join(f"{k} {v:.2e}" for k, v in worst.items())
      + f"; max |AUROC diff| {dauroc:.2e}")
for b in bad: print("FAIL:", b)
sys.exit(1 if bad else 0)
EOF

"$gdqr" report "$run" > /dev/null || fail "gdqr report $run"
grep -q 'id="ood-roc-0-0"' "$run/report.html" && grep -q 'ood-integer.json' "$run/report.html" \
    && echo "report.html shows ood-integer.json with its ROC curves" \
    || fail "report.html has no ROC curve of ood-integer.json"

expect 2 "--ood nonsense: not heldout, gaussian-noise, uniform-noise, inverted, blurred, nor an existing IDX file or folder" \
    "$gdqr" eval "$run/model-w4a4.gdqr" --ood nonsense
{ printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x20\x00\x00\x00\x20'; head -c 2048 /dev/zero; } > "$tmp/size32-idx3-ubyte"
expect 1 "size32-idx3-ubyte: images 1x32x32, the model takes 1x28x28" \
    "$gdqr" eval "$run/model-w4a4.gdqr" --ood "$tmp/size32-idx3-ubyte"
expect 2 "--temperature 0.0: expected a positive number" "$gdqr" eval "$run/model-w4a4.gdqr" --ood inverted --temperature 0

# 4. Another IDX data set: the first 300 training and 97 test images of Fashion-MNIST
#    with labels mod 3, written as plain IDX files.
idx=$tmp/idx-set
mkdir -p "$idx"
"$py" - "$fm" "$idx" <<'EOF'
import gzip, sys
src, dst = sys.argv[1:3]
for split, n in (("train", 300), ("t10k", 97)):
    img = gzip.open(f"{src}/{split}-images-idx3-ubyte.gz").read()
    lab = gzip.open(f"{src}/{split}-labels-idx1-ubyte.gz").read()
    open(f"{dst}/{split}-images-idx3-ubyte", "wb").write(
        b"\x00\x00\x08\x03" + n.to_bytes(4, "big") + img[8:16] + img[16:16 + n * 784])
    open(f"{dst}/{split}-labels-idx1-ubyte", "wb").write(
        b"\x00\x00\x08\x01" + n.to_bytes(4, "big") + bytes(b % 3 for b in lab[8:8 + n]))
EOF
other=$tmp/idx-run
"$train" --config "$root/configs/fashion-mnist-cnn-fp32.yaml" --quiet --out "$other" --set data.dataset=idx \
    --set data.root="$idx" --set model.num_classes=3 --set quant.enabled=true --set quant.fp32_phase_epochs=1 \
    --set train.epochs=1 --set train.batch_size=32 --set checkpoint.every_epochs=0 \
    > "$tmp/train-idx.log" 2>&1 || { echo "FAIL: training on $idx: $(tail -3 "$tmp/train-idx.log")"; exit 1; }
cp "$other/model-w4a4.gdqr" "$tmp/moved.gdqr"   # away from the run folder: only the file says where its data is
if out=$("$gdqr" eval "$tmp/moved.gdqr" --json); then
    "$py" -c "import json, sys
e = json.loads(sys.argv[1]); d = e['data']
ok = e['images'] == 97 and sys.argv[2] in d['source'] and 'the model file' in d['origin']
print(('' if ok else 'FAIL: ') + f\"eval of a model trained on {sys.argv[2]}: {e['images']} images of {d['source']} (data from {d['origin']})\")
sys.exit(0 if ok else 1)" "$out" "$idx" || status=1
else
    fail "gdqr eval $tmp/moved.gdqr"
fi
exit $status
