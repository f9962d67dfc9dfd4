# Shared by Tests/scripts/multihost-*.sh (sourced after lib/common.sh): simulated hosts
# from Cluster/sim-hosts.sh under a prefix, subnet and folder of the calling test's own,
# removed when the script exits (also when a check fails or the script is interrupted).
#
#   sim_up N [--rate R]      hosts 1..N; skips the whole test (exit 0, one SKIP line)
#                            only where network namespaces cannot be made
#   sim CMD ARGS...          Cluster/sim-hosts.sh with this test's settings
#   on_hosts ARGS...         Cluster/run-hosts.sh with this test's settings
#   host_ranks I             the pids of the gdqr-train processes in host I's namespace
#   wait_gone PID SECONDS    waits until PID has exited (at most SECONDS); prints the
#                            seconds it took, or "timeout"

# $1: a short name of the calling test (namespace names stay under 15 characters).
sim_setup() {
    export GDQR_SIM_PREFIX=gdqrt-$1
    export GDQR_SIM_SUBNET=${2:-10.213.78}
    export GDQR_SIM_DIR=$tmp/sim
    trap '"$root/Cluster/sim-hosts.sh" down > /dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
    trap 'exit 130' INT TERM
}

sim() { "$root/Cluster/sim-hosts.sh" "$@"; }
on_hosts() { "$root/Cluster/run-hosts.sh" "$@"; }

sim_up() {
    local why=""
    if [ "$(id -u)" != 0 ]; then
        why="not root"
    elif ! command -v ip > /dev/null 2>&1 || ! command -v tc > /dev/null 2>&1; then
        why="iproute2 (ip, tc) missing"
    elif ! ip netns add "$GDQR_SIM_PREFIX-probe" 2> "$tmp/probe.err"; then
        why="ip netns add failed: $(head -1 "$tmp/probe.err")"
    elif ! ip -n "$GDQR_SIM_PREFIX-probe" link add eth0 type veth peer name p0 2> "$tmp/probe.err"; then
        why="veth pairs cannot be made: $(head -1 "$tmp/probe.err")"
    fi
    ip netns del "$GDQR_SIM_PREFIX-probe" 2> /dev/null || true
    if [ -n "$why" ]; then
        echo "SKIP: network namespaces cannot be made here ($why)"
        exit 0
    fi
    sim up "$@" 2>&1 | sed 's/^/   /'
}

host_ranks() {
    local p
    for p in $(ip netns pids "$GDQR_SIM_PREFIX-h$1" 2> /dev/null); do
        if [ "$(cat "/proc/$p/comm" 2> /dev/null)" = gdqr-train ]; then echo "$p"; fi
    done
}

wait_gone() {
    local pid=$1 limit=$2 start
    start=$(date +%s.%N)
    while kill -0 "$pid" 2> /dev/null; do
        if [ "$(echo "$(date +%s.%N) - $start > $limit" | bc)" = 1 ]; then echo timeout; return; fi
        sleep 0.1
    done
    printf '%.1f\n' "$(echo "$(date +%s.%N) - $start" | bc)"
}
