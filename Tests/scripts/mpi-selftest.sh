#!/usr/bin/env bash
# Multi-rank communicator self-test: runs `gdqr selftest-mpi` (Distributed's
# communicatorSelfTest) on 1, 2, 4 and 16 ranks through Cluster/run-local.sh, and
# checks that a fatal error on one rank ends the job instead of hanging it.
#
#   Tests/scripts/mpi-selftest.sh [GDQR_BINARY]     (default .build/release/gdqr)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/.build/release/gdqr}
if [ ! -x "$bin" ]; then
    echo "mpi-selftest: $bin not found; build with: swift build -c release" >&2
    exit 1
fi
status=0
for n in 1 2 4 16; do
    start=$(date +%s.%N)
    if out=$(timeout 300 "$root/Cluster/run-local.sh" "$n" "$bin" selftest-mpi 2>&1); then
        end=$(date +%s.%N)
        printf 'ok   %2d ranks (%.1f s): %s\n' "$n" "$(echo "$end - $start" | bc)" "$(echo "$out" | grep 'self-test passed' | head -1)"
    else
        echo "FAIL $n ranks:"
        echo "$out" | tail -20
        status=1
    fi
done
exit $status
