#!/usr/bin/env bash
# ISA levels on one machine (needs AVX-512; on a CPU without it the script says so
# and checks only that v3 is what runs):
#   1. a W4A4 ResNet-20 (one FP32 epoch, one W4A4 epoch, 240 images) trained at
#      each level the CPU has, 1 rank x 2 threads, ends with the same parameter
#      bits and the same exported integer model bytes at every level;
#   2. a 3-rank job whose ranks run different levels (GDQR_ISA set per rank:
#      v3, v4, and v4-vnni where the CPU has VNNI), comparing parameter checksums
#      across ranks every step, trains to the end and ends with the parameters of
#      the 3-rank job at level v3;
#   3. the integer engine's logits of a W4A4 MobileNetV2 (depthwise, ReLU6, signed
#      levels, 1x1 convs) are the same bytes on every integer path the CPU has
#      (AVX2 pair products, AVX-VNNI, AVX512-VNNI).
# Why the bits agree across levels: docs/cpu-levels.md#numerics-across-levels.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
need_built "$gdqr" "$train"

features=$("$gdqr" info | sed -n 's/^cpu features: //p')
has() { grep -qw "$1" <<< "$features"; }
levels=(v3)
has avx512f && levels+=(v4)
has avxvnni && levels+=(v3-vnni)
has avx512vnni && levels+=(v4-vnni)
echo "cpu features: $features; levels: ${levels[*]}"
if [ ${#levels[@]} = 1 ]; then
    out=$("$gdqr" info)
    grep -q "^isa level: v3$" <<< "$out" || fail "an AVX2 CPU did not choose v3: $out"
    echo "only level v3 on this CPU: the cross-level checks need AVX-512 or AVX-VNNI"
    exit $status
fi

args=(--config "$root/configs/fashion-mnist-resnet20-w4a4.yaml" --quiet
      --set train.epochs=2 --set quant.fp32_phase_epochs=1 --set data.train_limit=240
      --set data.test_limit=128 --set train.batch_size=48 --set distributed.checksum_every=1)

# 1. Each level alone. Every run writes to the same folder, moved aside afterwards:
# the integer model's header names the checkpoint it came from.
for l in "${levels[@]}"; do
    GDQR_ISA=$l "$train" "${args[@]}" --set train.threads=2 --out "$tmp/run" > "$tmp/$l.log" 2>&1 \
        || { fail "training at $l: $(tail -3 "$tmp/$l.log")"; continue; }
    mv "$tmp/run" "$tmp/$l"
    grep -q "kernel" "$tmp/$l/summary.json" || fail "summary.json of $l names no kernels"
    "$py" -c "import json,sys; s=json.load(open('$tmp/$l/summary.json')); sys.exit(0 if s['isa_level']=='$l' else 1)" \
        || fail "summary.json of the run at $l names another level"
done
for l in "${levels[@]:1}"; do
    compare_params 0 "$tmp/v3/model-w4a4.safetensors" "$tmp/$l/model-w4a4.safetensors" \
        "   $l vs v3, parameters" "$l vs v3 parameters"
    cmp -s "$tmp/v3/model-w4a4.gdqr" "$tmp/$l/model-w4a4.gdqr" && echo "   $l vs v3, integer model: same bytes" \
        || fail "$l vs v3: integer models differ"
done

# 2. Ranks at different levels: rank r runs mixed[r]; the job compares checksums each step.
mixed=(v3 v4 "${levels[-1]}")
"$run" 3 "$train" "${args[@]}" --set train.threads=1 --out "$tmp/ranks-v3" > "$tmp/ranks-v3.log" 2>&1 \
    || fail "3 ranks at v3: $(tail -3 "$tmp/ranks-v3.log")"
# Each rank prints the level its process runs (gdqr info under the same environment).
if MIXED="${mixed[*]}" GDQR="$gdqr" "$run" 3 bash -c 'l=($MIXED); r=${OMPI_COMM_WORLD_RANK:-0}
        export GDQR_ISA=${l[$r]}; echo "rank $r $("$GDQR" info | grep "^isa level")"; exec "$@"' _ \
        "$train" "${args[@]}" --set train.threads=1 --out "$tmp/ranks-mixed" > "$tmp/ranks-mixed.log" 2>&1 \
        < /dev/null; then
    ran=$(grep -o "^rank [0-9] isa level: [a-z0-9-]*" "$tmp/ranks-mixed.log" | sort | awk '{print $5}' | xargs)
    [ "$ran" = "${mixed[*]}" ] || fail "the ranks ran levels '$ran', not '${mixed[*]}'"
    echo "   3 ranks at $ran: trained to the end, checksums compared every step"
    compare_params 0 "$tmp/ranks-v3/model-w4a4.safetensors" "$tmp/ranks-mixed/model-w4a4.safetensors" \
        "   3 ranks at ${mixed[*]} vs 3 ranks at v3" "mixed-level job vs v3 job"
else
    fail "3 ranks at ${mixed[*]}: $(grep -m2 -E 'error|differ' "$tmp/ranks-mixed.log")"
fi

# 3. The integer paths on a MobileNetV2 (narrow, so the script stays short).
mb=(--config "$root/configs/fashion-mnist-mobilenetv2-w4a4.yaml" --quiet --set model.width_mult=0.25
    --set train.epochs=1 --set quant.fp32_phase_epochs=0 --set data.train_limit=64 --set data.test_limit=64
    --set train.batch_size=32 --set train.threads=2)
"$train" "${mb[@]}" --out "$tmp/mbv2" > "$tmp/mbv2.log" 2>&1 || fail "MobileNetV2: $(tail -3 "$tmp/mbv2.log")"
for l in "${levels[@]}"; do
    GDQR_ISA=$l "$gdqr" eval "$tmp/mbv2/model-w4a4.gdqr" --limit 64 --threads 2 --save-outputs "$tmp/mb-$l.bin" \
        > "$tmp/mb-$l.log" 2>&1 || fail "integer eval at $l: $(tail -3 "$tmp/mb-$l.log")"
done
# Not vacuous: 64 x 10 finite logits, not all equal.
"$py" -c "import numpy as np,sys; v=np.fromfile('$tmp/mb-v3.bin','<f4'); sys.exit(0 if v.size==640 and np.isfinite(v).all() and np.unique(v).size>1 else 1)" \
    || fail "MobileNetV2 integer logits at v3 are not 640 distinct finite values"
for l in "${levels[@]:1}"; do
    cmp -s "$tmp/mb-v3.bin" "$tmp/mb-$l.bin" && echo "   MobileNetV2 integer logits at $l: the same bytes as v3" \
        || fail "MobileNetV2 integer logits at $l differ from v3"
done
exit $status
