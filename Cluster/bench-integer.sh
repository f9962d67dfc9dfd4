#!/usr/bin/env bash
# Integer engine throughput against its reference points, all in one time window
# (the network of MODEL.gdqr, named by --model as `gdqr bench infer` names it:
# resnet = ResNet-20 width 16 at 1x28x28 by default; vgg-small, resnet18,
# resnet50, mobilenetv2 at 1x32x32; batch B, N threads), as a table of images/s
# and the integer engine's ratio to each:
#   gdqr FP32 inference and the integer engine on MODEL.gdqr (one process:
#     `gdqr bench infer --integer-model`), random inputs
#   onnxruntime FP32 and its own static int8 quantization, QDQ and QOperator, of
#     the same FP32 network (Cluster/bench-pytorch.py modes ort, ort-int8)
#   onnxruntime running our exported int4 model (MODEL.onnx, `gdqr export --format
#     onnx`), if given
#
#   Cluster/bench-integer.sh MODEL.gdqr [MODEL.onnx] [--model M] [--threads N] [--batch B]
#                            [--seconds S]
#
# Binary: $GDQR_BIN (default .build/release/gdqr; not built here). On a shared
# machine only the ratios mean much: every record carries loadavg or CPU time.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: Cluster/bench-integer.sh MODEL.gdqr [MODEL.onnx] [--model M] [--threads N] [--batch B] [--seconds S]}
shift
onnx=""
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then onnx=$1; shift; fi
THREADS=2 BATCH=128 SECS=5 NET=resnet
while [ $# -gt 0 ]; do
  case "$1" in
    --model) NET="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --batch) BATCH="$2"; shift 2 ;;
    --seconds) SECS="$2"; shift 2 ;;
    *) echo "bench-integer: unknown argument $1" >&2; exit 2 ;;
  esac
done
GDQR="${GDQR_BIN:-.build/release/gdqr}"
[ -x "$GDQR" ] || { echo "bench-integer: $GDQR is not built (swift build -c release)" >&2; exit 1; }
PY=$(Cluster/python-env.sh torch onnx onnxruntime onnxscript numpy)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

"$GDQR" bench infer --model "$NET" --threads "$THREADS" --batch "$BATCH" --seconds "$SECS" \
  --integer-model "$model" --json >> "$out"
"$PY" Cluster/bench-pytorch.py --model "$NET" --threads "$THREADS" --batch "$BATCH" \
  --seconds "$SECS" --modes ort,ort-int8 >> "$out"
if [ -n "$onnx" ]; then
  "$PY" - "$onnx" "$THREADS" "$BATCH" "$SECS" "$NET" >> "$out" <<'EOF'
import json, os, sys, time
import numpy as np
import onnxruntime as ort
path, threads, batch, seconds, net = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
so = ort.SessionOptions()
so.intra_op_num_threads = threads
so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
inp = sess.get_inputs()[0]
shape = [batch] + [d if isinstance(d, int) else 1 for d in inp.shape[1:]]
x = np.random.default_rng(3).integers(0, 256, size=shape).astype(np.float32)   # pixels, as gdqr infer feeds
for _ in range(3):
    sess.run(None, {inp.name: x})
t0, c0, n = time.perf_counter(), time.process_time(), 0
while time.perf_counter() - t0 < seconds or n < 3:
    sess.run(None, {inp.name: x})
    n += 1
dt, cpu = (time.perf_counter() - t0) / n, (time.process_time() - c0) / n
print(json.dumps({"framework": "onnxruntime-gdqr-int4", "model": net, "mode": "infer", "threads": threads,
                  "batch": batch, "images_per_s": round(batch / dt, 1), "ms_per_batch": round(dt * 1000, 3),
                  "cpu_ms_per_batch": round(cpu * 1000, 3), "loadavg_1m": os.getloadavg()[0], "onnx": path}))
EOF
fi

"$PY" - "$out" <<'EOF'
import json, sys
rows = []
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if isinstance(r, dict) and "images_per_s" in r:
        rows.append(r)
def name(r):
    return r.get("framework", "?") + " " + r.get("mode", "?")
integer = [r for r in rows if r.get("framework") == "gdqr" and r.get("mode", "").startswith("infer-int")]
if not integer:
    sys.exit("bench-integer: no integer engine record")
ips = integer[0]["images_per_s"]
print(f"{'':36s} {'images/s':>10s} {'CPU ms/batch':>13s} {'integer / this':>15s}")
for r in rows:
    print(f"{name(r):36s} {r['images_per_s']:10.1f} {r.get('cpu_ms_per_batch', float('nan')):13.1f} {ips / r['images_per_s']:15.2f}")
EOF
