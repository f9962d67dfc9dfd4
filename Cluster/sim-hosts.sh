#!/usr/bin/env bash
# Simulated hosts on one machine: network namespaces joined by veth pairs to a bridge,
# each link shaped with a tbf qdisc, and an Open MPI hostfile of their addresses.
#
#   Cluster/sim-hosts.sh up N [--rate RATE] [--slots K]   make hosts 1..N (idempotent)
#   Cluster/sim-hosts.sh down                              remove everything it made
#   Cluster/sim-hosts.sh rate I RATE                       reshape host I's link (a straggler)
#   Cluster/sim-hosts.sh link I down|up                    cut or restore host I's link
#   Cluster/sim-hosts.sh kill I                            SIGKILL every process of host I
#   Cluster/sim-hosts.sh status                            hosts, addresses, qdiscs
#   Cluster/sim-hosts.sh hostfile                          print the hostfile's path
#
# Layout (PREFIX = GDQR_SIM_PREFIX, default "gdqrsim"):
#   PREFIX-sw        a namespace holding only the bridge "br0" (no address), so the root
#                    namespace gets no interface, no address and no route from this script
#   PREFIX-hI        host I: interface eth0 = SUBNET.(10+I)/24, the other veth end
#                    ("hI" in PREFIX-sw) enslaved to br0. Both ends carry tbf at RATE, so
#                    each host's link is limited in both directions.
# SUBNET (GDQR_SIM_SUBNET, default 10.213.77) is a private /24 that exists only inside
# these namespaces. The hostfile (GDQR_SIM_DIR, default /run/gdqr-sim-hosts, file
# "hostfile") lists each address with slots=K (default 2).
#
# The namespaces share the machine's filesystem and UTS namespace; Cluster/run-hosts.sh
# gives each host its own hostname (unshare --uts) when it starts processes there.
# Processes started with `ip netns exec` stay in the namespace, so `kill I` (and `down`)
# find them with `ip netns pids`.
#
# Needs root (CAP_NET_ADMIN) and the iproute2 tools; refuses clearly otherwise.
# Callers that want a clean-up on failure set a trap: trap 'Cluster/sim-hosts.sh down' EXIT.
set -euo pipefail

prefix=${GDQR_SIM_PREFIX:-gdqrsim}
subnet=${GDQR_SIM_SUBNET:-10.213.77}
dir=${GDQR_SIM_DIR:-/run/gdqr-sim-hosts}
sw=$prefix-sw

die() { echo "sim-hosts: $*" >&2; exit 2; }

usage() {
    sed -n '4,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

need_root() {
    if [ "$(id -u)" != 0 ]; then
        die "must run as root (creating network namespaces needs CAP_NET_ADMIN); try: sudo $0 $*"
    fi
    command -v ip >/dev/null 2>&1 || die "the 'ip' command (iproute2) is missing"
    command -v tc >/dev/null 2>&1 || die "the 'tc' command (iproute2) is missing"
}

# The hosts that exist now, by index, in order.
hosts() {
    ip netns list 2>/dev/null | awk '{print $1}' | sed -n "s/^$prefix-h\([0-9][0-9]*\)\$/\1/p" | sort -n
}

check_rate() {
    case "$1" in
        *[0-9]bit|*[0-9][kmgt]bit|*[0-9]bps|*[0-9][kmgt]bps) ;;
        *) die "rate '$1' is not a tc rate (e.g. 100mbit, 1gbit, 10gbit)" ;;
    esac
}

# shape NS DEV RATE: a tbf on DEV's egress. The bucket holds 10 ms at the rate (at least
# 64 KB so TSO segments pass), and at most 50 ms of packets queue before drops.
shape() {
    local ns=$1 dev=$2 rate=$3 bits burst
    bits=$(tc_bits "$rate")
    burst=$((bits / 8 / 100))
    [ "$burst" -ge 65536 ] || burst=65536
    ip netns exec "$ns" tc qdisc replace dev "$dev" root tbf rate "$rate" burst "$burst" latency 50ms
}

# tc_bits RATE: bits per second of a tc rate string.
tc_bits() {
    local r=$1 n unit mult=1
    n=$(echo "$r" | sed -E 's/^([0-9.]+).*/\1/')
    unit=$(echo "$r" | sed -E 's/^[0-9.]+//')
    case "$unit" in
        bit) mult=1 ;; kbit) mult=1000 ;; mbit) mult=1000000 ;; gbit) mult=1000000000 ;; tbit) mult=1000000000000 ;;
        bps) mult=8 ;; kbps) mult=8000 ;; mbps) mult=8000000 ;; gbps) mult=8000000000 ;;
        *) die "rate '$r': unknown unit" ;;
    esac
    awk -v n="$n" -v m="$mult" 'BEGIN { printf "%.0f\n", n * m }'
}

host_ns() {
    case "$1" in ''|*[!0-9]*) die "host index '$1' is not a number" ;; esac
    ip netns list | awk '{print $1}' | grep -qx "$prefix-h$1" || die "no host $1 (run: $0 up N)"
    echo "$prefix-h$1"
}

up() {
    local n=$1; shift
    local rate=10gbit slots=2
    while [ $# -gt 0 ]; do
        case "$1" in
            --rate) rate=${2:?--rate needs a value}; shift 2 ;;
            --slots) slots=${2:?--slots needs a value}; shift 2 ;;
            *) die "unknown option '$1'" ;;
        esac
    done
    case "$n" in ''|*[!0-9]*|0) die "N must be a positive integer, got '$n'" ;; esac
    [ "$n" -le 200 ] || die "at most 200 hosts (addresses .11-.210 of $subnet.0/24)"
    case "$slots" in ''|*[!0-9]*|0) die "--slots must be a positive integer, got '$slots'" ;; esac
    check_rate "$rate"
    # Hosts beyond N from an earlier, larger `up` go, so the set is exactly 1..N.
    local i
    for i in $(hosts); do
        if [ "$i" -gt "$n" ]; then remove_host "$i"; fi
    done
    if ! ip netns list | awk '{print $1}' | grep -qx "$sw"; then
        ip netns add "$sw"
    fi
    ip -n "$sw" link set lo up
    if ! ip -n "$sw" link show br0 >/dev/null 2>&1; then
        ip -n "$sw" link add br0 type bridge
    fi
    ip -n "$sw" link set br0 up
    mkdir -p "$dir"
    : > "$dir/hostfile.tmp"; : > "$dir/hosts.tmp"
    for i in $(seq 1 "$n"); do
        local ns=$prefix-h$i addr=$subnet.$((10 + i))
        if ! ip netns list | awk '{print $1}' | grep -qx "$ns"; then
            ip netns add "$ns"
        fi
        if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
            # Created inside the host namespace, so no interface ever appears in the root one.
            ip -n "$ns" link add eth0 type veth peer name "h$i" netns "$sw"
        fi
        ip -n "$ns" addr flush dev eth0
        ip -n "$ns" addr add "$addr/24" dev eth0
        ip -n "$ns" link set lo up
        ip -n "$ns" link set eth0 up
        ip -n "$sw" link set "h$i" master br0
        ip -n "$sw" link set "h$i" up
        shape "$ns" eth0 "$rate"
        shape "$sw" "h$i" "$rate"
        echo "$addr slots=$slots" >> "$dir/hostfile.tmp"
        echo "$ns $addr $rate" >> "$dir/hosts.tmp"
    done
    mv "$dir/hostfile.tmp" "$dir/hostfile"
    mv "$dir/hosts.tmp" "$dir/hosts"
    write_agent
    echo "sim-hosts: $n hosts up at $rate, hostfile $dir/hostfile" >&2
}

# $dir/agent: Open MPI's plm_rsh_agent in place of ssh. mpirun (and nothing else) calls
# it as `agent ADDRESS COMMAND...`; it runs COMMAND in ADDRESS's namespace with its own
# hostname, which Open MPI reports as the node name (MPI_Get_processor_name).
write_agent() {
    {
        echo '#!/bin/sh'
        echo '# Written by Cluster/sim-hosts.sh up: ssh replacement for the simulated hosts.'
        echo 'addr=$1; shift'
        echo 'case "$addr" in'
        awk '{ printf "    %s|%s) ns=%s ;;\n", $2, $1, $1 }' "$dir/hosts"
        echo '    *) echo "sim-hosts agent: no simulated host $addr" >&2; exit 255 ;;'
        echo 'esac'
        echo 'exec ip netns exec "$ns" unshare --uts /bin/sh -c "hostname $ns && $*"'
    } > "$dir/agent.tmp"
    chmod +x "$dir/agent.tmp"
    mv "$dir/agent.tmp" "$dir/agent"
}

remove_host() {
    local ns=$prefix-h$1
    local pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    if [ -n "$pids" ]; then kill -9 $pids 2>/dev/null || true; fi
    ip -n "$sw" link del "h$1" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
}

down() {
    local i
    for i in $(hosts); do remove_host "$i"; done
    if ip netns list | awk '{print $1}' | grep -qx "$sw"; then
        ip netns del "$sw"
    fi
    rm -f "$dir/hostfile" "$dir/hosts" "$dir/agent"
    rmdir "$dir" 2>/dev/null || true
    echo "sim-hosts: down" >&2
}

status() {
    local i
    for i in $(hosts); do
        local ns=$prefix-h$i
        printf '%s  %s  eth0 %s  %s  (%s processes)\n' "$ns" \
            "$(ip -n "$ns" -4 -o addr show dev eth0 | awk '{print $4}')" \
            "$(ip -n "$ns" -o link show eth0 | grep -o 'state [A-Z]*')" \
            "$(ip netns exec "$ns" tc qdisc show dev eth0 | grep -o 'tbf.*rate [^ ]*' | sed 's/ root.*rate/ rate/')" \
            "$(ip netns pids "$ns" | wc -l)"
    done
}

[ $# -ge 1 ] || usage
cmd=$1; shift
case "$cmd" in
    up)       need_root "$cmd" "$@"; [ $# -ge 1 ] || usage; up "$@" ;;
    down)     need_root "$cmd" "$@"; down ;;
    rate)     need_root "$cmd" "$@"; [ $# = 2 ] || usage; check_rate "$2"; ns=$(host_ns "$1")
              shape "$ns" eth0 "$2"; shape "$sw" "h$1" "$2"
              echo "sim-hosts: host $1 at $2" >&2 ;;
    link)     need_root "$cmd" "$@"; [ $# = 2 ] || usage; ns=$(host_ns "$1")
              case "$2" in up|down) ;; *) die "link state must be up or down, got '$2'" ;; esac
              # The switch side too: a cut cable, not an interface the host itself disabled.
              ip -n "$ns" link set eth0 "$2"; ip -n "$sw" link set "h$1" "$2"
              echo "sim-hosts: host $1 link $2" >&2 ;;
    kill)     need_root "$cmd" "$@"; [ $# = 1 ] || usage; ns=$(host_ns "$1")
              pids=$(ip netns pids "$ns" || true)
              if [ -n "$pids" ]; then kill -9 $pids 2>/dev/null || true; fi
              echo "sim-hosts: killed $(echo $pids | wc -w) processes on host $1" >&2 ;;
    status)   need_root "$cmd" "$@"; status ;;
    hostfile) echo "$dir/hostfile" ;;
    *)        usage ;;
esac
