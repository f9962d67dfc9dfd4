#!/usr/bin/env bash
# Peak memory of a one-epoch image-folder run against the folder's size: the
# streaming loader must not grow with the data set (issue: "within 10%").
#   Cluster/bench-loader-memory.sh [SMALL LARGE]   (default 20000 200000 images)
# Writes two PNG folders of Fashion-MNIST training images (each image repeated 4
# times with shifts, Tests/scripts/python/fashion_mnist_folders.py --repeat 4;
# 1,000 validation images each) under BENCH_DIR (default /var/tmp/gdqr-loader),
# trains the image-folder CNN config for one epoch on each under /usr/bin/time -v
# and prints the maximum resident set sizes and their ratio. The folders are kept
# for a second run.
set -euo pipefail
cd "$(dirname "$0")/.."
small=${1:-20000} large=${2:-200000}
dir=${BENCH_DIR:-/var/tmp/gdqr-loader}
PY=$(Cluster/python-env.sh pillow numpy)
train=.build/release/gdqr-train
[ -x "$train" ] || { echo "build first: swift build -c release"; exit 1; }
declare -A rss
for n in "$small" "$large"; do
    root=$dir/png-$n
    if [ ! -d "$root/train" ]; then
        "$PY" Tests/scripts/python/fashion_mnist_folders.py "$root" --limit $((n / 4)) --repeat 4 --val-limit 1000 >&2
    fi
    /usr/bin/time -v "$train" --config configs/fashion-mnist-imagefolder-cnn-fp32.yaml --quiet \
        --set data.root="$root" --set train.epochs=1 --set checkpoint.every_epochs=0 \
        --out "$dir/run-$n" > "$dir/run-$n.log" 2> "$dir/time-$n.log"
    rss[$n]=$(grep "Maximum resident set size" "$dir/time-$n.log" | grep -o '[0-9]*$')
    wall=$(grep "Elapsed (wall clock)" "$dir/time-$n.log" | awk '{print $NF}')
    echo "$n images: peak RSS ${rss[$n]} KiB, wall $wall"
done
awk -v a="${rss[$small]}" -v b="${rss[$large]}" -v s="$small" -v l="$large" \
    'BEGIN { printf "peak RSS %d images / %d images: %.3f\n", l, s, b / a }'
