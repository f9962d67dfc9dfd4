#!/usr/bin/env bash
# Export a quantized run to ONNX (opset 21 QDQ, int4 weights) and check it against
# onnxruntime: onnx.checker, then onnxruntime over the test split against the
# integer engine (`gdqr eval --json` accuracy, `gdqr infer` per-image predictions),
# and both throughputs at batch 128, 2 threads, from the same run of this script.
#
#   Cluster/check-onnx.sh RUN_DIR [LIMIT]      # LIMIT: first N test images (default all)
#
# Writes RUN_DIR/model-w*a*.onnx (named after the quantized safetensors) and
# RUN_DIR/onnx-check.json (the integer model it is compared with is exported to a
# temporary folder); exits non-zero when the accuracies differ by more
# than 0.05 pp or fewer than 99.9% of the top-1 predictions agree.
# Environment: GDQR_BIN (default .build/release/gdqr), GDQR_DATA (the MNIST-layout
# directory, default /usr/share/datasets/fashion-mnist), ONNX_CHECK_THREADS (2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
gdqr=${GDQR_BIN:-$root/.build/release/gdqr}
data=${GDQR_DATA:-/usr/share/datasets/fashion-mnist}
threads=${ONNX_CHECK_THREADS:-2}
run=${1:?usage: Cluster/check-onnx.sh RUN_DIR [LIMIT]}
limit=${2:-0}
[ -x "$gdqr" ] || { echo "check-onnx: $gdqr is not built (swift build -c release)"; exit 1; }
st=$(ls "$run"/model-w*a*.safetensors 2>/dev/null | head -1 || true)
[ -n "$st" ] || { echo "check-onnx: $run has no quantized model (model-w*a*.safetensors)"; exit 1; }
base=${st%.safetensors}
images=$data/t10k-images-idx3-ubyte
[ -e "$images" ] || images=$images.gz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

PY=$("$root/Cluster/python-env.sh" onnx onnxruntime numpy)
"$gdqr" export "$run" --format gdqr --out "$tmp/model.gdqr" > /dev/null
"$gdqr" export "$run" --format onnx --out "$base.onnx"
"$gdqr" eval "$tmp/model.gdqr" --data "$data" --limit "$limit" --threads "$threads" --batch 128 --json > "$tmp/eval.json"
if [ "$limit" -gt 0 ]; then   # gdqr infer takes a whole IDX file: give it the first LIMIT images
    "$PY" -c 'import gzip, sys
src, n, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3]
b = (gzip.open if src.endswith(".gz") else open)(src, "rb").read()
rows, cols = int.from_bytes(b[8:12], "big"), int.from_bytes(b[12:16], "big")
n = min(n, int.from_bytes(b[4:8], "big"))
open(dst, "wb").write(b[:4] + n.to_bytes(4, "big") + b[8:16] + b[16:16 + n * rows * cols])' "$images" "$limit" "$tmp/images.idx"
    images=$tmp/images.idx
fi
"$gdqr" infer "$tmp/model.gdqr" --images "$images" --threads "$threads" > "$tmp/pred.txt"
"$PY" "$root/Tests/scripts/python/onnx_check.py" "$base.onnx" --data "$data" --limit "$limit" \
    --threads "$threads" --batch 128 --gdqr-json "$tmp/eval.json" --gdqr-predictions "$tmp/pred.txt" \
    --json "$run/onnx-check.json"
