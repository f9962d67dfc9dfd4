#!/usr/bin/env bash
# A rank that dies (SIGKILL, OOM killer) or calls MPI_Abort must end the whole job, not
# leave the other ranks blocked in a collective. Compiles a small C program with mpicc,
# runs it on N ranks (default 4) through Cluster/run-local.sh in two modes, and times
# how long the job takes to end after the failure (limit 60 s):
#   kill:  every rank loops in MPI_Allreduce; the last rank SIGKILLs itself after 1 s
#   abort: the last rank calls MPI_Abort after 1 s while the others wait in MPI_Barrier
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-4}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gdqr-mpikill.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/kill.c" <<'C'
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int abortMode = argc > 1 && strcmp(argv[1], "abort") == 0;
    float buf[1024];
    double t0 = MPI_Wtime();
    for (;;) {
        if (rank == size - 1 && MPI_Wtime() - t0 > 1.0) {
            if (abortMode) {
                fprintf(stderr, "[rank %d] error: deliberate failure\n", rank);
                MPI_Abort(MPI_COMM_WORLD, 3);
            }
            kill(getpid(), SIGKILL);
        }
        if (abortMode && rank != size - 1) { MPI_Barrier(MPI_COMM_WORLD); continue; }
        if (abortMode) { usleep(1000); continue; }
        for (int i = 0; i < 1024; i++) buf[i] = 1;
        MPI_Allreduce(MPI_IN_PLACE, buf, 1024, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
}
C
mpicc -O2 -o "$tmp/kill" "$tmp/kill.c"
status=0
for mode in kill abort; do
    start=$(date +%s.%N)
    set +e
    timeout 60 "$root/Cluster/run-local.sh" "$n" "$tmp/kill" "$mode" > "$tmp/out" 2>&1
    rc=$?
    set -e
    end=$(date +%s.%N)
    secs=$(echo "$end - $start" | bc)
    if [ $rc = 124 ]; then
        echo "FAIL $mode: job still running after 60 s (ranks hang)"
        status=1
    elif [ $rc = 0 ]; then
        echo "FAIL $mode: job exited 0"
        status=1
    elif [ $mode = kill ] && ! grep -qiE "signal 9|killed" "$tmp/out"; then
        echo "FAIL kill: the job ended (status $rc) but mpirun reports no rank killed by signal 9: $(tail -3 "$tmp/out")"
        status=1
    elif [ $mode = abort ] && ! grep -q "deliberate failure" "$tmp/out"; then
        echo "FAIL abort: the job ended (status $rc) without the aborting rank's message: $(tail -3 "$tmp/out")"
        status=1
    else
        printf 'ok   %s on rank %d of %d: job ended with status %d after %.2f s (failure at ~1 s)\n' \
            "$mode" $((n - 1)) "$n" "$rc" "$secs"
    fi
done
exit $status
