#!/usr/bin/env bash
# Run COMMAND with Open MPI across the simulated hosts of Cluster/sim-hosts.sh: TCP
# between hosts, shared memory (vader) between the ranks of one host.
#
#   Cluster/run-hosts.sh [--hosts 1,3] [--per-host K] COMMAND [ARGS...]
#   e.g. Cluster/sim-hosts.sh up 4 --rate 1gbit
#        Cluster/run-hosts.sh --per-host 2 /tmp/gdqr-stable/gdqr-train --config configs/x.yaml
#
# --hosts     which simulated hosts (indices, default all that are up); mpirun runs on
#             the first one, inside its namespace, as it would on a cluster's first node
# --per-host  ranks per host (default 2); ranks are numbered host by host, so host i of
#             the list holds ranks (i-1)*K .. i*K-1 (printed before the launch)
#
# The mpirun flags, each for a reason (the real-cluster equivalents: docs/multi-host.md):
#   --hostfile (made here)                 the chosen hosts' addresses, slots=K
#   --map-by ppr:K:node --bind-to none     K ranks per host, numbered host by host; no
#                                          binding (all simulated hosts share 2 cores)
#   --mca plm_rsh_agent DIR/agent          sim-hosts.sh's ssh replacement: `ip netns exec`
#   --mca plm_rsh_no_tree_spawn 1          mpirun starts every daemon itself, so a lost
#   --mca routed direct                    host cuts only its own daemon's route
#   --mca btl tcp,self,vader               TCP between hosts, shared memory within one
#   --mca oob_tcp_if_include eth0          the hosts' only network interface (not lo)
#   --mca btl_tcp_if_include eth0
#   --mca oob_tcp_keepalive_time 5         a host whose link is cut sends no reset: the
#   --mca oob_tcp_keepalive_intvl 2        daemon's idle connection to mpirun then fails
#   --mca oob_tcp_keepalive_probes 3       after ~5 + 3 x 2 s instead of 300 + 9 x 20 s
# Not odls_base_sigkill_timeout: a daemon sleeps that long per process it kills, so a
# longer grace after SIGTERM (measured: 30 s) makes every failed job hang for minutes.
# A preemption notice reaches the ranks through SIGUSR1 instead, which mpirun forwards
# (SIGTERM to mpirun kills the ranks 1 s later); see docs/multi-host.md.
#   --mca mpi_yield_when_idle 1            waiting ranks yield (see run-local.sh)
#   --allow-run-as-root                    only as root
#   --oversubscribe                        K ranks on a host with fewer cores
# Extra mpirun options: GDQR_MPIRUN_ARGS (word-split). mpirun's own output is copied to
# $GDQR_RUN_HOSTS_LOG when set. When the job fails, the last lines name the lost host and
# its ranks, from Open MPI's messages.
set -euo pipefail

dir=${GDQR_SIM_DIR:-/run/gdqr-sim-hosts}
hosts_list=""
per_host=2
while [ $# -gt 0 ]; do
    case "$1" in
        --hosts) hosts_list=${2:?--hosts needs a list}; shift 2 ;;
        --per-host) per_host=${2:?--per-host needs a number}; shift 2 ;;
        --) shift; break ;;
        -*) echo "run-hosts: unknown option '$1'" >&2; exit 2 ;;
        *) break ;;
    esac
done
if [ $# -lt 1 ]; then
    echo "usage: $0 [--hosts 1,3] [--per-host K] COMMAND [ARGS...]" >&2
    exit 2
fi
case "$per_host" in ''|*[!0-9]*|0) echo "run-hosts: --per-host must be a positive integer, got '$per_host'" >&2; exit 2 ;; esac
if [ "$(id -u)" != 0 ]; then
    echo "run-hosts: must run as root (it enters the network namespaces of Cluster/sim-hosts.sh)" >&2
    exit 2
fi
if [ ! -s "$dir/hosts" ] || [ ! -x "$dir/agent" ]; then
    echo "run-hosts: no simulated hosts (run: Cluster/sim-hosts.sh up N)" >&2
    exit 2
fi
command -v mpirun >/dev/null 2>&1 || { echo "run-hosts: mpirun not found (Cluster/install-deps.sh)" >&2; exit 127; }

# The chosen hosts: "NS ADDR" lines in the given order.
chosen=$(mktemp "${TMPDIR:-/tmp}/gdqr-run-hosts.XXXXXX")
hostfile=$chosen.hostfile
trap 'rm -f "$chosen" "$hostfile"' EXIT
if [ -z "$hosts_list" ]; then
    awk '{print $1, $2}' "$dir/hosts" > "$chosen"
else
    for i in ${hosts_list//,/ }; do
        line=$(awk -v ns="${GDQR_SIM_PREFIX:-gdqrsim}-h$i" '$1 == ns {print $1, $2}' "$dir/hosts")
        if [ -z "$line" ]; then echo "run-hosts: no simulated host $i" >&2; exit 2; fi
        echo "$line" >> "$chosen"
    done
fi
awk -v k="$per_host" '{print $2, "slots=" k}' "$chosen" > "$hostfile"
nhosts=$(wc -l < "$chosen")
n=$((nhosts * per_host))
first_ns=$(awk 'NR == 1 {print $1}' "$chosen")

awk -v k="$per_host" '{ printf "run-hosts: ranks %d-%d on %s (%s)\n", (NR-1)*k, NR*k-1, $1, $2 }' "$chosen" >&2

args=(-n "$n" --hostfile "$hostfile" --map-by "ppr:$per_host:node" --bind-to none
      --mca plm_rsh_agent "$dir/agent" --mca plm_rsh_no_tree_spawn 1 --mca routed direct
      --mca btl tcp,self,vader --mca oob_tcp_if_include eth0 --mca btl_tcp_if_include eth0
      --mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3
      --mca mpi_yield_when_idle 1 --oversubscribe)
[ "$(id -u)" = 0 ] && args+=(--allow-run-as-root)
# shellcheck disable=SC2206
extra=(${GDQR_MPIRUN_ARGS:-})

log=${GDQR_RUN_HOSTS_LOG:-$chosen.log}
[ -n "${GDQR_RUN_HOSTS_LOG:-}" ] || trap 'rm -f "$chosen" "$hostfile" "$log"' EXIT
# mpirun in the first host's namespace, under that host's name. Its output goes both to
# the terminal and to the log, which the failure summary below reads.
code=0
ip netns exec "$first_ns" unshare --uts /bin/sh -c 'hostname "$0" && exec "$@"' "$first_ns" \
    mpirun "${args[@]}" "${extra[@]}" "$@" 2> >(tee "$log" >&2) || code=$?
wait 2>/dev/null || true   # the tee

if [ "$code" != 0 ]; then
    # Open MPI names a lost daemon by its address and a dead rank by its node name.
    lost=""
    while read -r ns addr; do
        if grep -E "Remote daemon|noticed that process rank|exited on signal|connect\(\) to|unable to reach" "$log" \
                | grep -qE "(^|[^0-9.])($addr|$ns)([^0-9]|$)"; then
            lost="$lost $ns"
        fi
    done < "$chosen"
    i=0
    while read -r ns addr; do
        case " $lost " in
            *" $ns "*) echo "run-hosts: lost host $ns ($addr), ranks $((i * per_host))-$((i * per_host + per_host - 1)); job status $code" >&2 ;;
        esac
        i=$((i + 1))
    done < "$chosen"
    [ -n "$lost" ] || echo "run-hosts: job ended with status $code (no host reported lost)" >&2
fi
exit "$code"
