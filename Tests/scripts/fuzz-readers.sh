#!/usr/bin/env bash
# Fuzzes the checkpoint, safetensors, IDX (raw and gzip) and PGM readers with
# libFuzzer + AddressSanitizer.
#   Tests/scripts/fuzz-readers.sh                 30 s per reader (the test command)
#   FUZZ_SECONDS=300 FUZZ_TARGETS=checkpoint Tests/scripts/fuzz-readers.sh
#   FUZZ_RUNS=1000000 Tests/scripts/fuzz-readers.sh      a number of executions instead
#   FUZZ_UPDATE_CORPUS=1 ...   merge what the run found into Tests/fuzz/corpus/TARGET
# Builds Tests/fuzz/FuzzCheckpointReader.swift with the format sources only (no
# Layers), writes a seed corpus (valid small files and truncated variants), runs
# each reader for FUZZ_SECONDS, prints executions and executions/s, and exits
# non-zero if libFuzzer reports a crash (the reproducer is left in the work dir).
set -euo pipefail
cd "$(dirname "$0")/../.."
source Tests/scripts/lib/fuzz.sh
SECONDS_PER_TARGET=${FUZZ_SECONDS:-30}
if [ -n "${FUZZ_RUNS:-}" ]; then budget=(-runs="$FUZZ_RUNS"); else budget=(-max_total_time="$SECONDS_PER_TARGET"); fi
TARGETS=${FUZZ_TARGETS:-"checkpoint safetensors idx pgm"}
WORK=${FUZZ_WORK:-.build-fuzz}
mkdir -p "$WORK"
BIN="$WORK/fuzz-readers"

SOURCES=(Sources/JSONFormat/JSONText.swift Sources/JSONFormat/JSONParser.swift
         Sources/Checkpoint/Safetensors.swift Sources/Checkpoint/Crc32c.swift Sources/Checkpoint/Zstd.swift
         Sources/Checkpoint/ByteShuffle.swift Sources/Checkpoint/CheckpointHeader.swift
         Sources/Checkpoint/CheckpointFile.swift Tests/fuzz/FuzzCheckpointReader.swift)
# shellcheck disable=SC2046
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name FuzzReaders \
    -I Sources/CZstd -Xcc -fmodule-map-file=Sources/CZstd/module.modulemap \
    $(pkg-config --cflags-only-I libzstd | sed 's/-I/-Xcc -I/g') $(pkg-config --libs-only-L libzstd) -lzstd \
    "${SOURCES[@]}" -o "$BIN" >"$WORK/build.log" 2>&1 || { grep -v 'Cannot export local symbol' "$WORK/build.log"; exit 2; }
# The dataset readers (IDX raw and gzip, PGM): a second binary, zlib instead of zstd.
DATA_BIN="$WORK/fuzz-data-readers"
DATA_SOURCES=(Sources/Datasets/DataError.swift Sources/Datasets/Gzip.swift Sources/Datasets/IDX.swift
              Sources/Datasets/ScenesPGM.swift Tests/fuzz/FuzzDataReaders.swift)
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name FuzzDataReaders \
    -I Sources/CZlib -Xcc -fmodule-map-file=Sources/CZlib/module.modulemap -lz \
    "${DATA_SOURCES[@]}" -o "$DATA_BIN" >"$WORK/build-data.log" 2>&1 \
    || { grep -v 'Cannot export local symbol' "$WORK/build-data.log"; exit 2; }
echo "built $BIN and $DATA_BIN"

status=0
for t in $TARGETS; do
    case $t in idx|pgm) bin=$DATA_BIN ;; *) bin=$BIN ;; esac
    seeds="$WORK/seeds-$t"
    rm -rf "$seeds"
    FUZZ_TARGET=$t GDQR_FUZZ_WRITE_SEEDS="$seeds" "$bin"
    fuzz_target "$t" "$bin" "$WORK" "$seeds" 16384 "${budget[@]}" || status=1
done
exit $status
