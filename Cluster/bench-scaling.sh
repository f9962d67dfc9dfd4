#!/usr/bin/env bash
# Data-parallel scaling on one node, the figures of README "Distributed":
#   1. training images/s of 1 rank x 2 threads against 2 ranks x 1 thread (same
#      global batch 128, same data), interleaved ROUNDS times because the machine
#      is shared; per run the median of its logged windows after the first, and
#      the exposed-communication share of the 2-rank runs (time blocked in the
#      gradient all-reduce / step time, as the trainer logs it);
#   2. the trainer's gradient averaging bandwidth (`gdqr bench allreduce`: the
#      real ResNet-20 gradient arena through GradientSync) against the raw C
#      MPI_Allreduce (Cluster/mpi-allreduce-bench.c) of the same bytes, same ranks.
#
#   Cluster/bench-scaling.sh [CONFIG [TRAIN_LIMIT [ROUNDS]]]
#   default: configs/fashion-mnist-resnet20-fp32.yaml, 12800 images (100 steps), 2 rounds
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cfg=${1:-configs/fashion-mnist-resnet20-fp32.yaml}
limit=${2:-12800}
rounds=${3:-2}
train=.build/release/gdqr-train
gdqr=.build/release/gdqr
[ -x "$train" ] && [ -x "$gdqr" ] || { echo "error: build first: swift build -c release" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gdqr-scaling.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
common=(--config "$cfg" --quiet --set train.epochs=1 --set "data.train_limit=$limit" --set data.test_limit=128
        --set train.log_every_steps=10 --set checkpoint.every_steps=0)
# A two-phase config (FP32 then QAT) is measured on its quantized phase alone.
if grep -q 'fp32_phase_epochs' "$cfg"; then common+=(--set quant.fp32_phase_epochs=0); fi

# window_stats RUN_DIR -> "median_images_per_s mean_exposed_fraction" over train windows after the first.
window_stats() {
    python3 - "$1/metrics.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
train = [r for r in rows if r.get("split") == "train"][1:]
if not train:
    sys.exit("no training windows logged in " + sys.argv[1])
ips = statistics.median(r["images_per_second"] for r in train)
exposed = statistics.mean(r.get("comm_exposed_fraction", 0.0) for r in train)
print(f"{ips:.1f} {exposed:.4f}")
PY
}

echo "| round | 1 rank x 2 threads img/s | 2 ranks x 1 thread img/s | ratio 2x1 / 1x2 | exposed comm (2 ranks) |"
echo "|---|---|---|---|---|"
ratios=()
for r in $(seq 1 "$rounds"); do
    "$train" "${common[@]}" --set train.threads=2 --out "$tmp/one-$r" > "$tmp/one-$r.log" 2>&1 \
        || { tail -5 "$tmp/one-$r.log"; exit 1; }
    Cluster/run-local.sh 2 "$root/$train" "${common[@]}" --set train.threads=1 --out "$tmp/two-$r" \
        > "$tmp/two-$r.log" 2>&1 || { tail -5 "$tmp/two-$r.log"; exit 1; }
    read -r one _ <<< "$(window_stats "$tmp/one-$r")"
    read -r two exposed <<< "$(window_stats "$tmp/two-$r")"
    ratio=$(python3 -c "print(f'{$two / $one:.3f}')")
    ratios+=("$ratio")
    echo "| $r | $one | $two | $ratio | $(python3 -c "print(f'{100 * $exposed:.2f}%')") |"
done
echo
echo "median ratio 2 ranks x 1 thread / 1 rank x 2 threads: $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')"
echo

# Bandwidth: the trainer's gradient averaging vs raw MPI_Allreduce of the same bytes.
Cluster/run-local.sh 2 "$root/$gdqr" bench allreduce --json --iterations 200 > "$tmp/ours.jsonl" 2> "$tmp/ours.err" \
    || { cat "$tmp/ours.err"; exit 1; }
bytes=$(python3 -c "import json; print(json.loads(open('$tmp/ours.jsonl').readline())['bytes'])")
Cluster/bench-mpi-allreduce.sh 2 "$bytes" "$bytes" 200 > "$tmp/raw.jsonl" 2> "$tmp/raw.err" || { cat "$tmp/raw.err"; exit 1; }
python3 - "$tmp/ours.jsonl" "$tmp/raw.jsonl" <<'PY'
import json, sys
ours = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
raw = [json.loads(l) for l in open(sys.argv[2]) if l.strip()][-1]
sync = next(r for r in ours if r["bench"] == "trainer_gradient_sync")
plain = next(r for r in ours if r["bench"] == "swift_allreduce")
print(f"| all-reduce of {sync['bytes']} bytes, 2 ranks | GB/s | / raw MPI_Allreduce |")
print("|---|---|---|")
print(f"| raw MPI_Allreduce (C) | {raw['gbytes_per_s']:.3f} | 1.00 |")
print(f"| gdqr plain all-reduce | {plain['gbytes_per_s']:.3f} | {plain['gbytes_per_s'] / raw['gbytes_per_s']:.2f} |")
print(f"| gdqr trainer gradient sync ({sync['buckets']} buckets) | {sync['gbytes_per_s']:.3f} | {sync['gbytes_per_s'] / raw['gbytes_per_s']:.2f} |")
PY
