#!/usr/bin/env bash
# One binary for every x86-64-v3 CPU, checked under emulated CPUs (Debian's
# qemu-user: `-cpu Haswell` executes AVX2 and traps any AVX-512 instruction with
# SIGILL; `-cpu Nehalem` has no AVX at all):
#   1. as a Haswell, `gdqr info` chooses level v3, and GDQR_ISA=v4 is refused with
#      exit 1 and the missing features named;
#   2. as a Haswell, a W4A4 CNN trains a few steps, exports its integer model and
#      evaluates it on the integer engine, ending with parameters and a model file
#      bit-identical to the same run on this machine at level v3 (so no AVX-512
#      instruction ran, and emulation changed nothing);
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

# 3. Below x86-64-v3: a clear exit 1 from both binaries.
for b in "$gdqr" "$train"; do
    set +e; out=$(qemu-x86_64 -cpu Nehalem "$b" --help 2>&1); code=$?; set -e
    [ "$code" = 1 ] && grep -q "this CPU cannot run gdqr: it needs x86-64-v3 .* lacks: avx avx2 fma f16c" <<< "$out" \
        || fail "$(basename "$b") on Nehalem: exit $code, '$out'"
done
echo "Nehalem: both binaries exit 1 naming the missing features"
exit $status
