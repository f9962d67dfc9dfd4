#!/usr/bin/env bash
# The project's test command (README "Quick start"): builds in release mode and
# runs every test: the Swift unit tests, then the script tests under Tests/scripts
# (multi-rank MPI runs, Python interop checks). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
swift build -c release -Xswiftc -enable-testing
swift test -c release -Xswiftc -enable-testing 2>&1 | tee /tmp/gdqr-swift-test.log

passed=0; failed=0
for script in Tests/scripts/*.sh; do
  [ -e "$script" ] || continue
  echo "== $script"
  if bash "$script"; then passed=$((passed + 1)); echo "PASS $script"
  else failed=$((failed + 1)); echo "FAIL $script"; fi
done
echo "scripts: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
