#!/usr/bin/env bash
# Image-folder loader throughput, gdqr against PIL in PyTorch's DataLoader, in one run:
#
#   Cluster/bench-loader-vs-pil.sh [--reps R] [--seconds S] [--workers "1 2"] [--out FILE.jsonl]
#
# Three folders are written (deterministic) under a temporary directory, removed at
# the end:
#   png28    28x28 grey PNG: the first 4,000 Fashion-MNIST training images
#            (Tests/scripts/python/fashion_mnist_folders.py), pad-crop (padding 2) + flip
#   jpeg64   64x64 RGB JPEG, quality 90, 4,000 images (Cluster/loader_bench_folders.py),
#            random-resized-crop to 64 + flip
#   jpeg224  224x224 RGB JPEG, quality 90, 1,000 images, random-resized-crop to 224 + flip
# Both sides normalise to float CHW batches of 128. gdqr: `gdqr bench loader`
# (data.workers decoding threads; binary $GDQR_BIN, default .build/release/gdqr, not
# built here). Python: Cluster/bench_loader_pil.py (PIL + numpy doing torchvision's
# transforms, DataLoader num_workers worker processes). For each folder and worker
# count the two run alternately R times (default 3) for S seconds (default 3) each;
# the table gives the medians of images/s per worker with min-max and the ratio of
# the medians, gdqr / PIL (> 1: gdqr is faster), and the cores the gdqr process got
# (its CPU seconds / wall seconds: below the worker count on a busy machine). Every
# record, with the 1-minute load average taken before it, goes to --out (default
# runs/bench-loader-vs-pil-TIME.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=3 SECS=3 WORKERS="1 2" OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS="$2"; shift 2 ;;
    --seconds) SECS="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "bench-loader-vs-pil: unknown argument $1" >&2; exit 2 ;;
  esac
done
GDQR="${GDQR_BIN:-.build/release/gdqr}"
[ -x "$GDQR" ] || { echo "bench-loader-vs-pil: $GDQR missing: build first (swift build -c release)" >&2; exit 1; }
if [ -z "$OUT" ]; then mkdir -p runs; OUT="runs/bench-loader-vs-pil-$(date +%Y%m%d-%H%M%S).jsonl"; fi
: > "$OUT"
PY=$(Cluster/python-env.sh torch pillow numpy)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "writing the folders under $tmp" >&2
"$PY" Tests/scripts/python/fashion_mnist_folders.py "$tmp/png28" --limit 4000 --val-limit 100 >&2
"$PY" Cluster/loader_bench_folders.py "$tmp/jpeg64" --size 64 --count 4000 --quality 90
"$PY" Cluster/loader_bench_folders.py "$tmp/jpeg224" --size 224 --count 1000 --quality 90

# name size channels crop
SETS="png28 28 1 pad-crop
jpeg64 64 3 random-resized-crop
jpeg224 224 3 random-resized-crop"

tag() { # adds set and load average to the JSON object on stdin
  "$PY" -c 'import json, sys; r = json.loads(sys.stdin.read().strip().splitlines()[-1]); r["set"] = sys.argv[1]; r["loadavg_1m"] = float(sys.argv[2]); print(json.dumps(r))' "$1" "$2"
}
while read -r name size ch crop; do
  for w in $WORKERS; do
    for rep in $(seq "$REPS"); do
      load=$(cut -d' ' -f1 /proc/loadavg)
      "$GDQR" bench loader --root "$tmp/$name" --size "$size" --channels "$ch" --crop "$crop" \
          --workers "$w" --seconds "$SECS" --json | tag "$name" "$load" >> "$OUT"
      load=$(cut -d' ' -f1 /proc/loadavg)
      "$PY" Cluster/bench_loader_pil.py --root "$tmp/$name" --size "$size" --channels "$ch" --crop "$crop" \
          --workers "$w" --seconds "$SECS" | tag "$name" "$load" >> "$OUT"
      echo "$name workers $w repetition $rep done" >&2
    done
  done
done <<< "$SETS"

"$PY" - "$OUT" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
groups = {}
for r in rows:
    groups.setdefault((r["set"], r["workers"]), {}).setdefault(r["framework"], []).append(r)
print("%-8s %7s  %-26s  %-26s  %6s  %10s  %s" % ("set", "workers", "gdqr img/s/worker (min-max)",
                                                "PIL img/s/worker (min-max)", "ratio", "gdqr cores", "load 1m"))
for (s, w), by in groups.items():
    cell = {}
    for fw in ("gdqr", "pil"):
        v = sorted(r["images_per_s_per_worker"] for r in by.get(fw, []))
        cell[fw] = (statistics.median(v), v[0], v[-1]) if v else None
    def fmt(c):
        return "%8.0f (%.0f-%.0f)" % c if c else "n/a"
    ratio = "%.2f" % (cell["gdqr"][0] / cell["pil"][0]) if cell["gdqr"] and cell["pil"] else "n/a"
    loads = [r["loadavg_1m"] for fw in by.values() for r in fw]
    # CPU seconds / wall seconds of the gdqr process: the cores the machine gave it.
    cores = [r["cpu_seconds"] / r["seconds"] for r in by.get("gdqr", [])]
    print("%-8s %7d  %-26s  %-26s  %6s  %10s  %.2f-%.2f" % (s, w, fmt(cell["gdqr"]), fmt(cell["pil"]), ratio,
                                                              "%.2f" % statistics.median(cores) if cores else "n/a",
                                                              min(loads), max(loads)))
PYEOF
echo "records: $OUT"
