#!/usr/bin/env bash
# The README's main job on a fresh machine: install the Debian packages, build
# (one binary for every x86-64-v3 CPU), and train the default config end to end on Fashion-MNIST.
#   Cluster/quickstart.sh [CONFIG] [gdqr-train options...]
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/fashion-mnist-resnet20-w4a4.yaml}
shift || true
bash Cluster/install-deps.sh
swift build -c release
exec .build/release/gdqr-train --config "$config" "$@"
