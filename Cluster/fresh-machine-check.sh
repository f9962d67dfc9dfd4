#!/usr/bin/env bash
# The README's quick start on a truly fresh Debian 12: no package the project's
# own scripts do not install, no Python package outside the project venv.
#
#   Cluster/fresh-machine-check.sh [DIR]      (default /var/tmp/gdqr-fresh; root only)
#
# 1. `debootstrap --variant=minbase bookworm DIR` (the mirror is the one this
#    machine's apt uses), then the Swift toolchain's own prerequisites (the README
#    assumes "Swift 6.x" is installed: these are the packages its Linux install
#    guide lists, not the project's).
# 2. The toolchain is bind-mounted read-only from /opt/swift (SWIFT_DIR) and
#    SwiftPM's repository cache copied from ~/.cache/org.swift.swiftpm (the
#    machines reach no package host; their image holds both), /proc, /sys and
#    /dev are mounted, and a clean clone of this repository's HEAD (not the work
#    tree: uncommitted files must not help) is put in DIR/root/gdqr.
# 3. Inside the chroot, as the README says:
#      bash Cluster/quickstart.sh CONFIG --set ... (reduced budget: FRESH_SET)
#      bash Cluster/test.sh                         (skipped with FRESH_TESTS=0)
# Any missing install step fails one of them; the script exits with that status.
# Mounts are undone on exit; DIR is kept for a second run (debootstrap is then
# skipped; FRESH_CLEAN=1 starts from nothing).
#
# Needs a few GB of disk and network access to the Debian archive and PyPI. The
# debootstrap and package installs take minutes; test.sh inside takes as long as
# on the host (about 25 minutes on 2 cores). Not part of CI.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-/var/tmp/gdqr-fresh}
swift_dir=${SWIFT_DIR:-/opt/swift}
set_args=${FRESH_SET:-"--set quant.fp32_phase_epochs=1 --set train.epochs=1 --set data.train_limit=2048 --set data.test_limit=1024"}
log() { echo "fresh-machine-check: $*"; }

[ "$(id -u)" = 0 ] || { log "must run as root (debootstrap, chroot, mounts)"; exit 2; }
[ -x "$swift_dir/usr/bin/swift" ] || { log "no Swift toolchain at $swift_dir (set SWIFT_DIR)"; exit 2; }
if ! command -v debootstrap > /dev/null; then
    log "installing debootstrap on this machine"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap > /dev/null
fi

# The Debian mirror this machine's apt already uses (deb822 or one-line format).
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1 || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { log "cannot find this machine's Debian mirror in /etc/apt"; exit 2; }

mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
mnt() { mkdir -p "${@: -1}"; mount "$@"; mounted+=("${@: -1}"); }

[ "${FRESH_CLEAN:-0}" = 1 ] && rm -rf "$dir"
if [ ! -x "$dir/usr/bin/apt-get" ]; then
    log "debootstrap bookworm (minbase) into $dir"
    debootstrap --variant=minbase bookworm "$dir" "$mirror" > "$dir.debootstrap.log" 2>&1 \
        || { tail -20 "$dir.debootstrap.log"; exit 1; }
fi
mnt -t proc proc "$dir/proc"
mnt --rbind /sys "$dir/sys"
mnt --rbind /dev "$dir/dev"
mnt --bind "$swift_dir" "$dir/opt/swift"
mount -o remount,bind,ro "$dir/opt/swift"
cp /etc/resolv.conf "$dir/etc/resolv.conf"

in_chroot() {
    chroot "$dir" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
        PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/bash -c "$1"
}

log "Swift's own prerequisites (its Linux install guide for Debian 12)"
in_chroot 'set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq
  apt-get install -y -qq --no-install-recommends binutils-gold gcc git libc6-dev libcurl4-openssl-dev \
    libedit2 libgcc-12-dev libncurses-dev libpython3-dev libsqlite3-0 libstdc++-12-dev libxml2-dev \
    libz3-dev pkg-config tzdata unzip uuid-dev ca-certificates > /dev/null
  swift --version | head -1'

# The machine's own network set-up, not the project's: certificate authorities it adds
# (/usr/local/share/ca-certificates: an egress proxy's, on the machines here) and its
# pip configuration (/etc/pip.conf: which bundle pip trusts, its find-links folder,
# bound read-only like the toolchain). Without them pip in the chroot cannot reach PyPI
# where the host can, and every script that needs the venv fails for that reason alone.
if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
    mkdir -p "$dir/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
    in_chroot 'update-ca-certificates > /dev/null'
fi
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$dir/etc/pip.conf"
if [ -d /opt/wheels ]; then mnt --bind /opt/wheels "$dir/opt/wheels"; mount -o remount,bind,ro "$dir/opt/wheels"; fi

# The Swift packages of Package.resolved come from SwiftPM's cache, as on the machines
# the project runs on (their network reaches the Debian archive and PyPI only, not the
# package hosts): the host's cache is copied in, as the toolchain is mounted.
if [ -d "$HOME/.cache/org.swift.swiftpm/repositories" ]; then
    mkdir -p "$dir/root/.cache/org.swift.swiftpm"
    rm -rf "$dir/root/.cache/org.swift.swiftpm/repositories"
    cp -a "$HOME/.cache/org.swift.swiftpm/repositories" "$dir/root/.cache/org.swift.swiftpm/"
fi

log "a clean clone of HEAD ($(git -C "$root" rev-parse --short HEAD)) into $dir/root/gdqr"
rm -rf "$dir/root/gdqr"
git clone -q --no-hardlinks "$root" "$dir/root/gdqr"

log "README command 1: bash Cluster/quickstart.sh (reduced budget: $set_args)"
status=0
in_chroot "cd /root/gdqr && bash Cluster/quickstart.sh configs/fashion-mnist-resnet20-w4a4.yaml $set_args" \
    || { status=$?; log "FAIL: quickstart.sh exited $status"; }
if [ $status = 0 ] && [ "${FRESH_TESTS:-1}" = 1 ]; then
    log "README command 2: bash Cluster/test.sh"
    in_chroot "cd /root/gdqr && bash Cluster/test.sh" || { status=$?; log "FAIL: test.sh exited $status"; }
fi
[ $status = 0 ] && log "passed: the README's commands work on a fresh Debian 12 with only the Swift toolchain added"
exit $status
