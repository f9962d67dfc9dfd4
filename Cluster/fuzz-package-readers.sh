#!/usr/bin/env bash
# Long libFuzzer + AddressSanitizer runs of the readers that need the package's
# modules (Tests/fuzz/ReaderFuzz: the .gdqr model file, the YAML config, COCO
# JSON, PNG/JPEG), outside the test command:
#   Cluster/fuzz-package-readers.sh                    10^6 executions per target
#   FUZZ_RUNS=100000 FUZZ_TARGETS="model config" Cluster/fuzz-package-readers.sh
#   FUZZ_SECONDS=300 ...       a time per target instead
#   FUZZ_UPDATE_CORPUS=1 ...   merge what the run found into Tests/fuzz/corpus/TARGET
# Builds gdqr-fuzz with -sanitize=fuzzer,address -DFUZZING into .build-fuzz-pkg
# (every module instrumented; about 10 minutes on 2 idle cores), writes seeds from
# valid files (the configs, the image fixtures, a COCO file from `gdqr scenes
# write`, a model from a short W4A4 run), runs each target, prints executions,
# executions/s and coverage, and exits non-zero on any finding (the reproducer is
# left in the work folder). The test command replays the committed corpora
# through the release build instead (Tests/scripts/fuzz-corpora.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source Tests/scripts/lib/fuzz.sh
if [ -n "${FUZZ_SECONDS:-}" ]; then budget=(-max_total_time="$FUZZ_SECONDS"); else budget=(-runs="${FUZZ_RUNS:-1000000}"); fi
TARGETS=${FUZZ_TARGETS:-"model config coco image"}
WORK=${FUZZ_WORK:-.build-fuzz-pkg/work}
mkdir -p "$WORK"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# Every Swift module is instrumented (-Xswiftc reaches them all; with SwiftPM's own
# --sanitize=fuzzer the binary had 4,013 counters and no seed added coverage: the
# readers were not instrumented). libFuzzer comes without its main, which SwiftPM's entry
# point would clash with; main calls LLVMFuzzerRunDriver instead.
nomain=$(ls "$(dirname "$(dirname "$(readlink -f "$(command -v swiftc)")")")"/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a | head -1)
swift build -c release --product gdqr-fuzz --scratch-path .build-fuzz-pkg -Xswiftc -sanitize=address \
    -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp -Xswiftc -DFUZZING \
    -Xlinker "$nomain" -Xlinker -lstdc++ > "$WORK/build.log" 2>&1 \
    || { grep -E "error|warning: unre" "$WORK/build.log" | head -20; exit 2; }
BIN=.build-fuzz-pkg/release/gdqr-fuzz
# The seeds come from valid files, made with the normal release build.
replay=.build/release/gdqr-fuzz
for b in "$replay" .build/release/gdqr .build/release/gdqr-train; do
    [ -x "$b" ] || { echo "build first: swift build -c release ($b is missing)"; exit 2; }
done
if [ ! -s "$WORK/model/model-w4a4.gdqr" ]; then
    # The small CNN at width 8 keeps the file (about 10 KB) under -max_len.
    .build/release/gdqr-train --config configs/fashion-mnist-cnn-fp32.yaml --quiet --set quant.enabled=true \
        --set quant.mode=gdqr --set quant.w_bits=4 --set quant.a_bits=4 --set model.width=8 --set train.epochs=1 \
        --set data.train_limit=256 --set data.test_limit=64 --out "$WORK/model" > "$WORK/model.log" 2>&1
fi
[ -s "$WORK/scenes/instances.json" ] || .build/release/gdqr scenes write --out "$WORK/scenes" --count 3 > /dev/null

status=0
for t in $TARGETS; do
    case $t in
        model) files=("$WORK/model/model-w4a4.gdqr") ;;
        config) files=(configs/*.yaml) ;;
        coco) files=("$WORK/scenes/instances.json") ;;
        image) files=(Tests/fixtures/images/*.png Tests/fixtures/images/*.jpg) ;;
        *) echo "unknown target $t"; exit 2 ;;
    esac
    seeds="$WORK/seeds-$t"
    rm -rf "$seeds"
    "$replay" "$t" --seeds "$seeds" "${files[@]}"
    fuzz_target "$t" "$BIN" "$WORK" "$seeds" 65536 "${budget[@]}" || status=1
done
exit $status
