#!/usr/bin/env bash
# Raw MPI_Allreduce bandwidth reference: compiles Cluster/mpi-allreduce-bench.c with
# mpicc into a temporary directory and runs it on N ranks through Cluster/run-local.sh.
# Prints one JSON line per message size:
#   {"bench":"mpi_allreduce","bytes":B,"ranks":N,"iterations":I,"seconds":S,"gbytes_per_s":G}
#
#   Cluster/bench-mpi-allreduce.sh [N [MIN_BYTES [MAX_BYTES [ITERS]]]]   (default 2 4096 16777216)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-2}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gdqr-mpibench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mpicc -O2 -o "$tmp/mpi-allreduce-bench" "$here/mpi-allreduce-bench.c"
"$here/run-local.sh" "$n" "$tmp/mpi-allreduce-bench" "${2:-4096}" "${3:-16777216}" ${4:+"$4"}
