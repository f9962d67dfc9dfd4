#!/usr/bin/env bash
# Test accuracy of the same GDQR W4A4 training on 1 rank and on N ranks, over
# several seeds, so the N-rank result can be judged against the 1-rank run's
# seed-to-seed spread. Each run: configs/fashion-mnist-resnet20-w4a4.yaml on the
# first TRAIN_LIMIT training images, FP32_EPOCHS of FP32 then QAT_EPOCHS of
# GDQR W4A4, evaluated on the whole test split. Runs go to runs/ranks-R-seed-S.
#
#   Cluster/accuracy-vs-ranks.sh [--hosts H] [N [SEEDS [TRAIN_LIMIT [FP32_EPOCHS [QAT_EPOCHS]]]]]
#   default: N=4, SEEDS="1 2 3", 12800 images, 4 + 2 epochs
# --hosts H: the N ranks run across H simulated hosts (N / H each, TCP between them) with
#   Cluster/run-hosts.sh, after `Cluster/sim-hosts.sh up H [--rate R]`; runs go to
#   runs/ranks-N-hosts-H-seed-S. Without it the N ranks share this machine (run-local.sh).
# Prints a Markdown table: one row per (ranks, seed), then mean and spread (max - min).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
hosts=""
if [ "${1:-}" = --hosts ]; then
    hosts=${2:?--hosts needs a number}
    shift 2
fi
n=${1:-4}
seeds=${2:-1 2 3}
limit=${3:-12800}
fp32=${4:-4}
qat=${5:-2}
train=${GDQR_TRAIN:-.build/release/gdqr-train}   # GDQR_TRAIN: another build of gdqr-train
[ -x "$train" ] || { echo "error: build first: swift build -c release" >&2; exit 1; }
bin="$(cd "$(dirname "$train")" && pwd)/gdqr-train"   # absolute: the ranks start elsewhere
tag=$n
if [ -n "$hosts" ]; then
    case "$hosts" in ''|*[!0-9]*|0) echo "error: --hosts must be a positive integer, got '$hosts'" >&2; exit 2 ;; esac
    [ $((n % hosts)) = 0 ] || { echo "error: $n ranks do not split evenly over $hosts hosts" >&2; exit 2; }
    tag=$n-hosts-$hosts
fi
args=(--config "$root/configs/fashion-mnist-resnet20-w4a4.yaml" --quiet --set "data.train_limit=$limit"
      --set "quant.fp32_phase_epochs=$fp32" --set "train.epochs=$qat")
for s in $seeds; do
    for r in 1 "$tag"; do
        out=runs/ranks-$r-seed-$s
        [ -f "$out/summary.json" ] && continue   # finished earlier: keep it (runs are deterministic)
        if [ "$r" = 1 ]; then
            "$train" "${args[@]}" --seed "$s" --out "$out" > "$out.log" 2>&1
        elif [ -n "$hosts" ]; then
            Cluster/run-hosts.sh --per-host $((n / hosts)) "$bin" "${args[@]}" --seed "$s" --out "$root/$out" > "$out.log" 2>&1
        else
            Cluster/run-local.sh "$r" "$bin" "${args[@]}" --seed "$s" --out "$out" > "$out.log" 2>&1
        fi || { echo "error: run $out failed:" >&2; tail -5 "$out.log" >&2; exit 1; }
    done
done
"$(Cluster/python-env.sh)" - "$tag" $seeds <<'PY'
import json, sys
n, seeds = sys.argv[1], sys.argv[2:]
label = n.replace("-hosts-", " ranks on ") + " hosts" if "-hosts-" in n else n + " ranks"   # "8 ranks on 4 hosts"
print("| ranks | seed | FP32 phase test acc | W4A4 test acc |")
print("|---|---|---|---|")
acc = {}
for r in ["1", n]:
    for s in seeds:
        d = json.load(open(f"runs/ranks-{r}-seed-{s}/summary.json"))
        acc.setdefault(r, []).append(d["test_accuracy"])
        print(f"| {label if r == n else r} | {s} | {100 * d['fp32_test_accuracy']:.2f}% | {100 * d['test_accuracy']:.2f}% |")
print()
for r, a in acc.items():
    print(f"{label if r == n else '1 rank'}: W4A4 mean {100 * sum(a) / len(a):.2f}%, spread (max - min) {100 * (max(a) - min(a)):.2f} pp over seeds {' '.join(seeds)}")
lo, hi = min(acc["1"]), max(acc["1"])
mean1 = sum(acc["1"]) / len(acc["1"])
spread = hi - lo
inside = [x for x in acc[n] if lo <= x <= hi]
print(f"{label}, runs inside the 1-rank range [{100 * lo:.2f}%, {100 * hi:.2f}%]: {len(inside)} of {len(acc[n])}")
dev = [abs(x - mean1) for x in acc[n]]
print(f"{label}, distance from the 1-rank mean: " + ", ".join(f"{100 * d:.2f}" for d in dev)
      + f" pp; largest {100 * max(dev):.2f} pp {'<=' if max(dev) <= spread else '>'} 1-rank spread {100 * spread:.2f} pp")
PY
