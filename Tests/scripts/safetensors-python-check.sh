#!/usr/bin/env bash
# Our safetensors writer read by the reference `safetensors` package: runs the unit
# test SafetensorsTests.testWriteFileForPythonCheck from the built test bundle with
# GDQR_SAFETENSORS_OUT set (it writes the file and the names, shapes, dtypes and sums
# it expects), then Tests/scripts/python/check_safetensors.py --exact from the project
# venv. The unit test skips itself when run without the variable (plain `swift test`).
# GDQR_BIN_DIR: another build's folder (default .build/release).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
bundle=$bin_dir/gdqrPackageTests.xctest
need_built "$bundle"
PY=$("$root/Cluster/python-env.sh" safetensors numpy)
out=$tmp/written.safetensors
GDQR_SAFETENSORS_OUT=$out "$bundle" CheckpointTests.SafetensorsTests/testWriteFileForPythonCheck > "$tmp/xctest.log" 2>&1 \
    || { cat "$tmp/xctest.log"; fail "the writer test failed"; exit 1; }
grep -q "Executed 1 test, with 0 failures" "$tmp/xctest.log" || { cat "$tmp/xctest.log"; fail "the writer test did not run"; exit 1; }
[ -s "$out" ] && [ -s "$out.expected.json" ] || { fail "the writer test wrote no $out"; exit 1; }
if msg=$("$PY" "$root/Tests/scripts/python/check_safetensors.py" --exact "$out" "$out.expected.json" 2>&1); then
    echo "safetensors package reads our file: $msg"
else
    fail "check_safetensors.py: $msg"
fi
exit $status
