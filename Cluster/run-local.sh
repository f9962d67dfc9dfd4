#!/usr/bin/env bash
# Launch N ranks of COMMAND on this machine with the Open MPI settings that work here.
#
#   Cluster/run-local.sh N COMMAND [ARGS...]
#   e.g. Cluster/run-local.sh 16 .build/release/gdqr-train --config configs/x.yaml
#
# What it adds to `mpirun -n N` (Open MPI 4.1; see Cluster/README-mpi.md for the measurements):
#   --allow-run-as-root                     only when running as root (containers)
#   --oversubscribe --bind-to none          only when N > cores; binding 16 ranks to 2 cores
#                                           would stack them, and without --oversubscribe
#                                           mpirun refuses N > slots
#   --mca mpi_yield_when_idle 1             ranks waiting in MPI call sched_yield instead of
#                                           busy-polling, leaving the cores to ranks (and
#                                           their compute threads) that have work. Open MPI
#                                           turns it on by itself only when it knows it
#                                           oversubscribes; a spinning waiter on 16 ranks / 2
#                                           cores made 100 x 1 MB all-reduces take 188 s
#                                           instead of 2-6 s. GDQR_MPI_YIELD=0 disables it.
#   --mca btl self,vader                    shared-memory transport (single node). vader's
#                                           single-copy path uses CMA (process_vm_readv);
#                                           where ptrace is restricted (Yama ptrace_scope > 0)
#                                           it is switched off with
#                                           btl_vader_single_copy_mechanism none.
#                                           GDQR_MPI_SINGLE_COPY=cma|none forces a choice;
#                                           GDQR_MPI_BTL=self,tcp picks another transport.
# Extra mpirun options can be passed in GDQR_MPIRUN_ARGS (word-split).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 N COMMAND [ARGS...]" >&2
    exit 2
fi
n=$1
shift
case "$n" in
    ''|*[!0-9]*|0) echo "$0: N must be a positive integer, got '$n'" >&2; exit 2 ;;
esac

mpirun=${MPIRUN:-mpirun}
if ! command -v "$mpirun" >/dev/null 2>&1; then
    echo "$0: mpirun not found (install openmpi-bin: Cluster/install-deps.sh)" >&2
    exit 127
fi

cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
args=(-n "$n")
if [ "$(id -u)" = 0 ]; then
    args+=(--allow-run-as-root)
fi
if [ "$n" -gt "$cores" ]; then
    args+=(--oversubscribe --bind-to none)
fi
if [ "${GDQR_MPI_YIELD:-1}" != 0 ]; then
    args+=(--mca mpi_yield_when_idle 1)
fi
args+=(--mca btl "${GDQR_MPI_BTL:-self,vader}")

single_copy=${GDQR_MPI_SINGLE_COPY:-}
if [ -z "$single_copy" ]; then
    scope=0
    if [ -r /proc/sys/kernel/yama/ptrace_scope ]; then
        scope=$(cat /proc/sys/kernel/yama/ptrace_scope)
    fi
    if [ "$scope" != 0 ]; then single_copy=none; fi
fi
if [ -n "$single_copy" ]; then
    args+=(--mca btl_vader_single_copy_mechanism "$single_copy")
fi

# shellcheck disable=SC2206
extra=(${GDQR_MPIRUN_ARGS:-})
if [ -n "${GDQR_RUN_LOCAL_VERBOSE:-}" ]; then
    echo "+ $mpirun ${args[*]} ${extra[*]} $*" >&2
fi
exec "$mpirun" "${args[@]}" "${extra[@]}" "$@"
