#!/usr/bin/env bash
# Replays the committed fuzz corpora (Tests/fuzz/corpus/TARGET, the inputs libFuzzer
# found that add coverage) through the release readers: every input must end in a
# value or in an error whose message names the input. Cluster/fuzz-package-readers.sh
# and Tests/scripts/fuzz-readers.sh are the fuzzers that grow these corpora.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
replay=$bin_dir/gdqr-fuzz
need_built "$replay"
for t in model config coco image; do
    dir=$root/Tests/fuzz/corpus/$t
    n=$(ls "$dir" 2>/dev/null | wc -l)
    [ "$n" -ge 2 ] || { fail "$t: the committed corpus $dir holds $n inputs"; continue; }
    "$replay" "$t" "$dir" || fail "$t: replay of $dir"
done
exit $status
