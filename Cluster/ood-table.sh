#!/usr/bin/env bash
# The out-of-distribution table of docs/ood.md: for each seed, the held-out-classes
# config (configs/fashion-mnist-cnn-heldout-w4a4.yaml: FP32 phase, then GDQR W4A4),
# then naive W4A4 (per-layer min-max, as the ablation's naive row) fine-tuned from the
# same FP32 weights for the same epochs; every model (FP32, GDQR fake-quant, GDQR
# integer, naive fake-quant, naive integer) scored by `gdqr eval --ood` against the
# held-out classes and four transforms of the test images. Prints a markdown table
# (mean over the seeds, and the half-range) and writes it to OUT/ood-table.md; each
# evaluation's JSON is OUT/seedS[-naive]/ood-KIND.json (shown by gdqr report).
#
#   Cluster/ood-table.sh [OUT] [SEEDS] [EXTRA gdqr-train OPTIONS...]
#     OUT    folder of the runs (default runs/ood)
#     SEEDS  comma-separated seeds (default 1,2)
# A finished run (its summary.json) or evaluation (its JSON) is kept, so an interrupted
# table can be completed by running the same command again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/runs/ood}
seeds=${2:-1,2}
shift $(( $# < 2 ? $# : 2 ))
extra=("$@")
bin=${GDQR_BIN_DIR:-$root/.build/release}
config=$root/configs/fashion-mnist-cnn-heldout-w4a4.yaml
# The Mahalanobis fit uses the first 12,000 training images (7,200 of the six classes).
sets=(--ood heldout --ood gaussian-noise --ood uniform-noise --ood inverted --ood blurred --fit-limit 12000)
py=$("$root/Cluster/python-env.sh" numpy)
mkdir -p "$out"

train_run() {  # train_run DIR OPTIONS...: trains unless DIR/summary.json exists
    local dir=$1; shift
    [ -f "$dir/summary.json" ] && { echo "kept: $dir" >&2; return; }
    echo "training $dir" >&2
    "$bin/gdqr-train" --config "$config" --quiet --out "$dir" "$@" "${extra[@]}" > "$dir.log" 2>&1 \
        || { echo "$0: training $dir failed (see $dir.log)" >&2; exit 1; }
}
evaluate() {  # evaluate MODEL JSON: scores MODEL unless JSON exists
    [ -f "$2" ] && return
    echo "evaluating $1" >&2
    "$bin/gdqr" eval "$1" "${sets[@]}" --json --save "$2" > /dev/null
}

IFS=, read -r -a seed_list <<< "$seeds"
for s in "${seed_list[@]}"; do
    a=$out/seed$s b=$out/seed$s-naive
    train_run "$a" --seed "$s"
    fp32_epochs=$(sed -n 's/^ *fp32_phase_epochs: *\([0-9]*\).*/\1/p' "$a/config.yaml")
    qat_epochs=$(sed -n '/^train:/,/^[a-z]/s/^ *epochs: *\([0-9]*\).*/\1/p' "$a/config.yaml")
    echo "seed $s: FP32 $fp32_epochs epochs, W4A4 $qat_epochs epochs" >&2
    train_run "$b" --seed "$s" --init-from "$a/model-fp32.safetensors" --set quant.fp32_phase_epochs=0 \
        --set quant.mode=naive --set train.epochs="$qat_epochs"
    evaluate "$a/model-fp32.safetensors" "$a/ood-fp32.json"
    evaluate "$a" "$a/ood-gdqr-fakequant.json"
    evaluate "$a/model-w4a4.gdqr" "$a/ood-gdqr-integer.json"
    evaluate "$b" "$b/ood-naive-fakequant.json"
    evaluate "$b/model-w4a4.gdqr" "$b/ood-naive-integer.json"
done

"$py" - "$out" "${seed_list[@]}" <<'EOF' | tee "$out/ood-table.md"
import json, sys
out, seeds = sys.argv[1], sys.argv[2:]
models = [("FP32", "", "fp32"), ("GDQR W4A4", "", "gdqr-fakequant"), ("GDQR W4A4 integer", "", "gdqr-integer"),
          ("naive W4A4", "-naive", "naive-fakequant"), ("naive W4A4 integer", "-naive", "naive-integer")]
scores = [("msp", "MSP"), ("max_logit", "max logit"), ("energy", "energy"), ("mahalanobis", "Mahalanobis")]
reports = {(m[0], s): json.load(open(f"{out}/seed{s}{m[1]}/ood-{m[2]}.json")) for m in models for s in seeds}
def cell(values, pct=True):
    mean = sum(values) / len(values)
    half = (max(values) - min(values)) / 2
    return f"{100 * mean:.1f} ± {100 * half:.1f}"
first = reports[(models[0][0], seeds[0])]
print(f"Seeds {', '.join(seeds)}: mean ± half-range, in %. Each cell: AUROC / FPR95.")
print()
print("| OOD set | model | ID accuracy | " + " | ".join(s[1] for s in scores) + " |")
print("|---|---|---|" + "---|" * len(scores))
for k, st in enumerate(first["ood"]):
    for m in models:
        rs = [reports[(m[0], s)] for s in seeds]
        acc = cell([r["in_distribution"]["accuracy"] for r in rs])
        cells = []
        for key, _ in scores:
            au = cell([r["ood"][k]["scores"][key]["auroc"] for r in rs])
            fp = cell([r["ood"][k]["scores"][key]["fpr95"] for r in rs])
            cells.append(f"{au} / {fp}")
        print(f"| {st['name']} | {m[0]} | {acc} | " + " | ".join(cells) + " |")
EOF
