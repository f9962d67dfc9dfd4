#!/usr/bin/env bash
# One binary for every x86-64-v3 CPU, checked under emulated CPUs (Debian's
# qemu-user: `-cpu Haswell` executes AVX2 and traps any AVX-512 instruction with
# SIGILL; `-cpu Nehalem` has no AVX at all):
#   1. as a Haswell, `gdqr info` chooses level v3, and GDQR_ISA=v4 is refused with
#      exit 1 and the missing features named (v3-vnni likewise: avxvnni);
#   2. as a Haswell, a W4A4 CNN trains a few steps, exports its integer model and
#      evaluates it on the integer engine, ending with parameters and a model file
#      bit-identical to the same run on this machine at level v3 (so no AVX-512
#      instruction ran, and emulation changed nothing);
#   2b. as a Haswell, a narrow W4A4 MobileNetV2's integer logits (depthwise kernel,
#      ReLU6, signed levels) equal the native v3 ones byte for byte;
#   2c. as a Haswell, two FP32 training steps of that MobileNetV2 (the float depthwise
#      kernels at strides 1 and 2) end with the native v3 parameters;
#   3. as a Nehalem, every binary exits 1 with a message naming the missing
#      features, never a SIGILL.
# Under qemu the code runs about 300x slower than natively, so the run is 2 steps
# per phase on 32 images; the whole script takes a few minutes.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
need_built "$gdqr" "$train"
command -v qemu-x86_64 > /dev/null || { echo "FAIL: qemu-x86_64 missing (Cluster/install-deps.sh installs qemu-user)"; exit 1; }
haswell=(qemu-x86_64 -cpu Haswell)

# 1. Level choice and refusal.
out=$("${haswell[@]}" "$gdqr" info 2>&1) || fail "gdqr info under Haswell exited $?: $out"
grep -q "^isa level: v3$" <<< "$out" || fail "Haswell did not choose v3: $out"
set +e; out=$(GDQR_ISA=v4 "${haswell[@]}" "$gdqr" info 2>&1); code=$?; set -e
[ "$code" = 1 ] && grep -q "GDQR_ISA: ISA level v4 needs CPU features this CPU lacks: avx512f" <<< "$out" \
    || fail "GDQR_ISA=v4 on Haswell: exit $code, '$out'"
set +e; out=$(GDQR_ISA=v3-vnni "${haswell[@]}" "$gdqr" info 2>&1); code=$?; set -e
[ "$code" = 1 ] && grep -q "GDQR_ISA: ISA level v3-vnni needs CPU features this CPU lacks: avxvnni" <<< "$out" \
    || fail "GDQR_ISA=v3-vnni on Haswell: exit $code, '$out'"

# 2. Train, export and evaluate as a Haswell; the same natively at v3.
args=(--config "$root/configs/fashion-mnist-cnn-fp32.yaml" --quiet --set quant.enabled=true
      --set quant.w_bits=4 --set quant.a_bits=4 --set data.train_limit=32 --set data.test_limit=16
      --set quant.fp32_phase_epochs=1 --set train.epochs=1 --set schedule.warmup_epochs=0
      --set train.batch_size=16 --set train.threads=1)
GDQR_ISA=v3 "$train" "${args[@]}" --out "$tmp/native" > "$tmp/native.log" 2>&1 \
    || { echo "FAIL: native run: $(tail -3 "$tmp/native.log")"; exit 1; }
start=$SECONDS
"${haswell[@]}" "$train" "${args[@]}" --out "$tmp/haswell" > "$tmp/haswell.log" 2>&1 \
    || { echo "FAIL: run under qemu -cpu Haswell: $(tail -3 "$tmp/haswell.log")"; exit 1; }
echo "trained under qemu -cpu Haswell in $((SECONDS - start)) s"
before=$status
for f in model-fp32.safetensors model-w4a4.safetensors; do
    cmp -s "$tmp/native/$f" "$tmp/haswell/$f" || fail "$f differs between the native and the emulated Haswell run"
done
# The model file records its run folder, so the export is compared on one run.
GDQR_ISA=v3 "$gdqr" export "$tmp/haswell" --quiet --out "$tmp/native.gdqr" > "$tmp/export.log" 2>&1 \
    || fail "native export: $(tail -3 "$tmp/export.log")"
"${haswell[@]}" "$gdqr" export "$tmp/haswell" --quiet --out "$tmp/emulated.gdqr" > "$tmp/export.log" 2>&1 \
    || fail "export under Haswell: $(tail -3 "$tmp/export.log")"
cmp -s "$tmp/native.gdqr" "$tmp/emulated.gdqr" || fail "the integer model exported under Haswell differs"
acc() { sed -n 's/.*"accuracy_integer":\([0-9.eE+-]*\).*/\1/p' <<< "$1"; }
eval_native=$(GDQR_ISA=v3 "$gdqr" eval "$tmp/native.gdqr" --limit 32 --threads 1 --json 2>&1) \
    || fail "native eval: $eval_native"
eval_haswell=$("${haswell[@]}" "$gdqr" eval "$tmp/emulated.gdqr" --limit 32 --threads 1 --json 2>/dev/null) \
    || fail "eval under Haswell: $eval_haswell"
a_native=$(acc "$eval_native"); a_haswell=$(acc "$eval_haswell")
[ -n "$a_native" ] && [ "$a_native" = "$a_haswell" ] \
    || fail "integer accuracy: native '$a_native', Haswell '$a_haswell'"
[ "$status" = "$before" ] && echo "Haswell: parameters and integer model bit-identical to native v3;" \
    "integer accuracy $a_haswell on 32 images"

# 2b. The zoo's integer ops as a Haswell: a narrow W4A4 MobileNetV2 (depthwise 3x3
# kernel, 1x1 convs, ReLU6, residual adds without ReLU, signed levels) trained natively
# at v3; its integer engine's logits on 8 test images, natively and emulated, must be
# the same bytes (and not all equal, so that the comparison cannot pass on nothing).
mb=(--config "$root/configs/fashion-mnist-mobilenetv2-w4a4.yaml" --quiet --set model.width_mult=0.25
    --set data.train_limit=32 --set data.test_limit=8 --set quant.fp32_phase_epochs=1 --set train.epochs=1
    --set schedule.warmup_epochs=0 --set train.batch_size=16 --set train.threads=1)
if GDQR_ISA=v3 "$train" "${mb[@]}" --out "$tmp/mbv2" > "$tmp/mbv2.log" 2>&1; then
    start=$SECONDS
    GDQR_ISA=v3 "$gdqr" eval "$tmp/mbv2/model-w4a4.gdqr" --limit 8 --threads 1 --save-outputs "$tmp/mb-native.bin" \
        > "$tmp/mb-eval.log" 2>&1 || fail "MobileNetV2 native eval: $(tail -3 "$tmp/mb-eval.log")"
    "${haswell[@]}" "$gdqr" eval "$tmp/mbv2/model-w4a4.gdqr" --limit 8 --threads 1 --save-outputs "$tmp/mb-haswell.bin" \
        > "$tmp/mb-eval.log" 2>&1 || fail "MobileNetV2 eval under Haswell: $(tail -3 "$tmp/mb-eval.log")"
    if cmp -s "$tmp/mb-native.bin" "$tmp/mb-haswell.bin" && "$py" - "$tmp/mb-native.bin" <<'PY'
import sys
import numpy as np
v = np.fromfile(sys.argv[1], dtype="<f4")
sys.exit(0 if v.size == 80 and np.isfinite(v).all() and np.unique(v).size > 1 else 1)
PY
    then
        echo "Haswell: MobileNetV2 integer logits bit-identical to native v3 ($((SECONDS - start)) s)"
    else
        fail "MobileNetV2 integer logits differ between native v3 and the emulated Haswell (or are degenerate)"
    fi
else
    fail "MobileNetV2 native run: $(tail -3 "$tmp/mbv2.log")"
fi

# 2c. The float depthwise kernels (stride 1 and 2, forward and both backward passes) as a
# Haswell: two FP32 steps of a narrow MobileNetV2 end bit-identical to native v3 (4 s).
mf=(--config "$root/configs/fashion-mnist-mobilenetv2-fp32.yaml" --quiet --set model.width_mult=0.25
    --set data.train_limit=16 --set data.test_limit=8 --set train.epochs=1 --set schedule.warmup_epochs=0
    --set train.batch_size=8 --set train.threads=1)
GDQR_ISA=v3 "$train" "${mf[@]}" --out "$tmp/mf" > "$tmp/mf.log" 2>&1 && mv "$tmp/mf" "$tmp/mf-native" \
    || fail "MobileNetV2 FP32 native run: $(tail -3 "$tmp/mf.log")"
"${haswell[@]}" "$train" "${mf[@]}" --out "$tmp/mf" > "$tmp/mf.log" 2>&1 && mv "$tmp/mf" "$tmp/mf-haswell" \
    || fail "MobileNetV2 FP32 run under Haswell: $(tail -3 "$tmp/mf.log")"
[ -e "$tmp/mf-haswell/model-fp32.safetensors" ] && compare_params 0 "$tmp/mf-native/model-fp32.safetensors" \
    "$tmp/mf-haswell/model-fp32.safetensors" "Haswell: MobileNetV2 FP32 training vs native v3" \
    "MobileNetV2 FP32 training under Haswell"

# 3. Below x86-64-v3: a clear exit 1 from both binaries.
for b in "$gdqr" "$train"; do
    set +e; out=$(qemu-x86_64 -cpu Nehalem "$b" --help 2>&1); code=$?; set -e
    [ "$code" = 1 ] && grep -q "this CPU cannot run gdqr: it needs x86-64-v3 .* lacks: avx avx2 fma f16c" <<< "$out" \
        || fail "$(basename "$b") on Nehalem: exit $code, '$out'"
done
echo "Nehalem: both binaries exit 1 naming the missing features"
exit $status
