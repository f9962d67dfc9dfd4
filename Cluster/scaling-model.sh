#!/usr/bin/env bash
# The data-parallel scaling model, measured and checked on simulated hosts
# (docs/multi-host.md, "Scaling model"). Root only (network namespaces).
#
#   Cluster/scaling-model.sh [OUT_DIR] [RATES]     default runs/scaling-model, "100mbit 1gbit 10gbit"
#
# Measures, on 2 simulated hosts (Cluster/sim-hosts.sh, prefix gdqrscale):
#   1. the step on one node: gdqr-train with the P ranks of each checked run (2, 4) all on
#      host 1 (shared memory, no link), global batch 128, 1 thread per rank. It holds the
#      compute as the P ranks do it on this machine's 2 cores (4 ranks are 2x
#      oversubscribed, and waiting ranks poll) and the skew of synchronous ranks; only the
#      network is missing. Measured right before each real run, so machine drift between
#      runs cancels. One rank alone at batch 64 is logged for comparison;
#   2. the all-reduce: Cluster/mpi-allreduce-bench.c from 4 KB to 4 MB (x4) with the P
#      ranks on host 1 (shared memory) and across 2 hosts at each link rate;
#   3. the real thing: gdqr-train on 2 hosts x 1 rank and 2 hosts x 2 ranks, global batch
#      128, 1 thread per rank, at each rate;
#   4. for the extrapolation, every larger model the trainer has (VGG-small, ResNet-18,
#      ResNet-50, MobileNetV2 at 32x32): compute per image with 2 copies at once (every
#      core busy, as on a cluster node) and the gradient bytes (4 x parameters).
#      GDQR_SCALING_MODELS="" skips them.
# Then Cluster/scaling_model.py fits t(bytes) = alpha + beta * bytes per (ranks, rate),
# predicts each real run's step time as the one-node step with its shared-memory
# all-reduces replaced by the fitted network ones, prints prediction against
# measurement, and extrapolates (ranks 2-256, 1-100 Gbit/s, a latency parameter) into
# OUT_DIR/scaling.md, OUT_DIR/scaling.svg (ResNet-20) and OUT_DIR/scaling-models.svg.
# Step times are medians of the logged windows after the first (5 steps each). The check
# compares the predicted step time, and the predicted communication against the exposed
# communication the trainer measured.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/runs/scaling-model}
rates=${2:-100mbit 1gbit 10gbit}
train=${GDQR_TRAIN_BIN:-$root/.build/release/gdqr-train}
[ -x "$train" ] || { echo "scaling-model: $train not built" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "scaling-model: must run as root (network namespaces)" >&2; exit 2; }
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gdqr-scaling.XXXXXX")
export GDQR_SIM_PREFIX=gdqrscale GDQR_SIM_SUBNET=10.213.80 GDQR_SIM_DIR=$tmp/sim
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
trap '"$root/Cluster/sim-hosts.sh" down > /dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
"$root/Cluster/sim-hosts.sh" up 2 --rate 10gbit
mpicc -O2 -o "$tmp/allreduce" "$root/Cluster/mpi-allreduce-bench.c"

steps=25
args=(--config "$root/configs/fashion-mnist-resnet20-fp32.yaml" --quiet --set train.epochs=1
      --set data.test_limit=64 --set train.threads=1 --set train.log_every_steps=5
      --set checkpoint.every_steps=0)
# step_fields RUN_DIR BATCH: "step_seconds":S,"exposed_seconds":E -- medians over the train
# windows after the first of the step time and of the exposed communication per step
# (the trainer's comm_exposed_fraction x step time: time blocked in all-reduces).
step_fields() {
    "$py" - "$1/metrics.jsonl" "$2" <<'PY'
import json, statistics, sys
rows = [r for r in map(json.loads, open(sys.argv[1])) if r.get("split") == "train"][1:]
b = int(sys.argv[2])
step = statistics.median(b / r["images_per_second"] for r in rows)
exposed = statistics.median(b / r["images_per_second"] * r.get("comm_exposed_fraction", 0) for r in rows)
print('"step_seconds":%.6f,"exposed_seconds":%.6f' % (step, exposed))
PY
}
py=$("$root/Cluster/python-env.sh" numpy)
results=$out/measurements.jsonl
: > "$results"

# compute COPIES BATCH [CONFIG STEPS EVERY]: COPIES 1-rank 1-thread trainings at once;
# prints "step_seconds":S,"parameters":N (S: the median over the copies of each one's
# median step).
compute() {
    local copies=$1 b=$2 config=${3:-fashion-mnist-resnet20-fp32} n=${4:-$steps} every=${5:-5} i
    local cargs=("${args[@]}")
    cargs[1]=$root/configs/$config.yaml
    for i in $(seq "$copies"); do
        rm -rf "$tmp/c$i"
        "$train" "${cargs[@]}" --set train.log_every_steps="$every" --set train.batch_size="$b" \
            --set data.train_limit=$((n * b)) --out "$tmp/c$i" &
    done
    wait
    for i in $(seq "$copies"); do step_fields "$tmp/c$i" "$b"; done | "$py" -c '
import json, statistics, sys
rows = [json.loads("{" + l + "}") for l in sys.stdin]
print("\"step_seconds\":%.6f,\"parameters\":%d" % (statistics.median(r["step_seconds"] for r in rows),
                                                   json.load(open(sys.argv[1]))["parameters"]))' "$tmp/c1/summary.json"
}

echo "{\"kind\":\"compute\",\"copies\":1,\"batch\":64,$(compute 1 64 | tr -d '\n')}" | tee -a "$results"
for p in 2 4; do
    "$root/Cluster/run-hosts.sh" --hosts 1 --per-host $p "$tmp/allreduce" 4096 4194304 30 2> /dev/null \
        | sed "s/^{/{\"kind\":\"allreduce\",\"rate\":\"local\",/" | tee -a "$results"
done
for rate in $rates; do
    "$root/Cluster/sim-hosts.sh" rate 1 "$rate"
    "$root/Cluster/sim-hosts.sh" rate 2 "$rate"
    for k in 1 2; do
        p=$((2 * k))
        "$root/Cluster/run-hosts.sh" --hosts 1 --per-host $p "$train" "${args[@]}" --set train.batch_size=128 \
            --set data.train_limit=$((steps * 128)) --out "$tmp/l$p-$rate" 2> /dev/null
        echo "{\"kind\":\"local\",\"rate\":\"$rate\",\"ranks\":$p,\"batch\":128,$(step_fields "$tmp/l$p-$rate" 128)}" \
            | tee -a "$results"
        "$root/Cluster/run-hosts.sh" --per-host $k "$tmp/allreduce" 4096 4194304 30 2> /dev/null \
            | sed "s/^{/{\"kind\":\"allreduce\",\"rate\":\"$rate\",/" | tee -a "$results"
        "$root/Cluster/run-hosts.sh" --per-host $k "$train" "${args[@]}" --set train.batch_size=128 \
            --set data.train_limit=$((steps * 128)) --out "$tmp/t$k-$rate" 2> /dev/null
        echo "{\"kind\":\"train\",\"rate\":\"$rate\",\"ranks\":$p,\"batch\":128,$(step_fields "$tmp/t$k-$rate" 128)}" \
            | tee -a "$results"
    done
done
for m in ${GDQR_SCALING_MODELS-vgg-small resnet18 resnet50 mobilenetv2}; do
    echo "{\"kind\":\"model\",\"model\":\"$m\",\"copies\":2,\"batch\":32,$(compute 2 32 "fashion-mnist-$m-fp32" 6 2 | tr -d '\n')}" \
        | tee -a "$results"
done
"$py" "$root/Cluster/scaling_model.py" "$results" "$out"
