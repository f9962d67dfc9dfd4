# The set-up the script tests in Tests/scripts/ share; each sources it right
# after `set -euo pipefail`:
#     source "$(dirname "$0")/lib/common.sh"
# It sits in lib/ because Cluster/test.sh runs every Tests/scripts/*.sh as a
# test, and this file is not one.
#
# It defines:
#   root         the repository
#   gdqr, train  the gdqr and gdqr-train binaries, by default those of
#                .build/release; GDQR_BIN_DIR names another build's folder,
#                GDQR_BIN and GDQR_TRAIN_BIN one binary each
#   run          Cluster/run-local.sh, which starts N ranks with the mpirun
#                flags this machine needs (root, oversubscription, transport)
#   cmp          Tests/scripts/python/compare_safetensors.py
#   py           the project venv's python with numpy (Cluster/python-env.sh):
#                scripts run Python only through it, never the python3 on the
#                PATH, so a stock Debian with install-deps.sh is enough
#   tmp          a scratch folder, removed when the script exits
#   status       0 until a check fails; scripts end with `exit $status`
# and the functions fail, need_built, compare_params, expect and scene_files below.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
bin_dir=${GDQR_BIN_DIR:-$root/.build/release}
gdqr=${GDQR_BIN:-$bin_dir/gdqr}
train=${GDQR_TRAIN_BIN:-$bin_dir/gdqr-train}
run=$root/Cluster/run-local.sh
cmp=$root/Tests/scripts/python/compare_safetensors.py
py=$("$root/Cluster/python-env.sh" numpy)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Open MPI refuses to start as root (containers) without both of these.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
status=0

# fail MESSAGE: reports a failed check; the script goes on and exits non-zero.
fail() { echo "FAIL: $*"; status=1; }

# need_built BINARY...: stops the script at once when a binary is missing.
need_built() {
    local b
    for b in "$@"; do [ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }; done
}

# compare_params RTOL A B PASSED FAILED: the float parameters of the safetensors
# files A and B must have a whole-vector relative difference <= RTOL (0: equal to
# the bit). Prints "PASSED: bit-identical" (RTOL 0) or "PASSED: <the comparison>",
# or fails with "FAILED: <the comparison>".
compare_params() {
    local rtol=$1 a=$2 b=$3 passed=$4 failed=$5 out
    if out=$("$py" "$cmp" --rtol "$rtol" "$a" "$b" 2>&1); then
        if [ "$rtol" = 0 ]; then echo "$passed: bit-identical"; else echo "$passed: $out"; fi
    else
        fail "$failed: $out"
    fi
}

# expect CODE PATTERN COMMAND...: the command exits CODE and its output (stdout
# and stderr) matches the extended regular expression PATTERN.
expect() {
    local want=$1 pattern=$2; shift 2
    local code=0
    "$@" > "$tmp/expect.out" 2>&1 || code=$?
    if [ "$code" != "$want" ]; then
        fail "'$*' exited $code, expected $want: $(head -3 "$tmp/expect.out")"
    elif ! grep -qE -- "$pattern" "$tmp/expect.out"; then
        fail "'$*' output lacks /$pattern/: $(head -3 "$tmp/expect.out")"
    else
        echo "exit $code as expected: $*"
    fi
}

# scene_files TRAIN TEST: COCO and VOC copies of TRAIN training and TEST test
# scenes (32x32, 1-3 items at scale 1-2, seed 0) in $tmp/coco and $tmp/voc.
scene_files() {
    local f s n
    for f in coco voc; do
        for s in train test; do
            n=$([ $s = train ] && echo "$1" || echo "$2")
            "$gdqr" scenes write --format $f --split $s --count "$n" --seed 0 --size 32 --items 1,3,1.0,2.0 \
                --out "$tmp/$f" > /dev/null
        done
    done
}
