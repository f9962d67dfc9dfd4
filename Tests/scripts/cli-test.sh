#!/usr/bin/env bash
# The command line's contract:
#  * every command's --help equals its golden text in Tests/golden/help/
#    (GDQR_UPDATE_GOLDEN=1 rewrites them after a deliberate change);
#  * --version prints the version on every command;
#  * exit statuses: 0 success, 1 runtime failure, 2 usage or config error,
#    each with the message a user needs.
# GDQR_BIN_DIR: another build's binaries (default .build/release).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
golden=$root/Tests/golden/help
export COLUMNS=100   # ArgumentParser wraps help text at the terminal width

# Every command and subcommand: file gdqr.PATH.txt, "." for spaces (gdqr.bench.gemm.txt).
commands=("" train eval export infer inspect info report config "config check" "config reference"
          bench "bench gemm" "bench conv" "bench train" "bench infer" "bench allreduce" "bench loader" data "data stats")
version=$("$gdqr" --version)
for c in "${commands[@]}"; do
    name=gdqr${c:+.${c// /.}}
    # shellcheck disable=SC2086
    "$gdqr" $c --help > "$tmp/$name.txt" 2>&1 || fail "$name --help exited $?"
    if [ "${GDQR_UPDATE_GOLDEN:-0}" = 1 ]; then
        cp "$tmp/$name.txt" "$golden/$name.txt"
    elif ! diff -u "$golden/$name.txt" "$tmp/$name.txt" > "$tmp/$name.diff"; then
        fail "$name --help differs from Tests/golden/help/$name.txt:"; head -20 "$tmp/$name.diff"
    fi
    # shellcheck disable=SC2086
    v=$("$gdqr" $c --version 2>&1) || fail "$name --version exited $?"
    [ "$v" = "$version" ] || fail "$name --version printed '$v', not '$version'"
done
"$train" --help > "$tmp/gdqr-train.txt" 2>&1
if [ "${GDQR_UPDATE_GOLDEN:-0}" = 1 ]; then cp "$tmp/gdqr-train.txt" "$golden/gdqr-train.txt"
elif ! diff -u "$golden/gdqr-train.txt" "$tmp/gdqr-train.txt"; then fail "gdqr-train --help differs"; fi
[ "$("$train" --version)" = "$version" ] || fail "gdqr-train --version"
echo "help and version: ${#commands[@]} gdqr commands + gdqr-train checked"

cfg=$root/configs/fashion-mnist-resnet20-w4a4.yaml
expect 0 "^gdqr " "$gdqr" info
expect 0 "config hash [0-9a-f]{16}" "$gdqr" config check "$cfg"
expect 2 "Unknown option '--bogus'" "$gdqr" eval model.gdqr --bogus
expect 2 "no such config file or data folder" "$gdqr" data stats "$tmp/no-such-set"
mkdir -p "$tmp/voc/ImageSets/Segmentation" && echo x > "$tmp/voc/ImageSets/Segmentation/train.txt"
expect 1 "voc/JPEGImages/x.jpg: cannot open: No such file or directory" "$gdqr" data stats "$tmp/voc"
expect 2 "Unexpected argument 'nonsense'|Unknown subcommand|unexpected" "$gdqr" nonsense
expect 2 "Missing expected argument" "$gdqr" export
expect 2 "--arithmetic int64: expected int32, int32-reference or exact-float" "$gdqr" eval "$tmp/none.gdqr" --arithmetic int64
expect 2 "--quiet and --verbose exclude each other" "$gdqr" export "$tmp/missing-run" --quiet --verbose
expect 2 "--quiet and --verbose exclude each other" "$train" --config "$cfg" --quiet --verbose
expect 2 "unknown key 'optim.lrr' \(did you mean 'optim.lr'\?\)" "$gdqr" config check "$cfg" --set optim.lrr=0.1
expect 2 "train.batch_size.*0" "$train" --config "$cfg" --set train.batch_size=0 --out "$tmp/run"
expect 2 "no such config file" "$train" --config "$tmp/missing.yaml"
expect 1 "no such run folder or file" "$gdqr" export "$tmp/missing-run"
printf 'not a model' > "$tmp/bad.gdqr"
expect 1 "bad.gdqr" "$gdqr" inspect "$tmp/bad.gdqr"
exit $status
