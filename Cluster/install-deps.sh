#!/usr/bin/env bash
# Installs every Debian package gdqr needs. Idempotent and non-interactive:
# packages already present are skipped, so a second run does nothing.
set -euo pipefail

PACKAGES=(
  pkg-config
  libopenmpi-dev openmpi-bin   # MPI data parallelism
  libzstd-dev                  # compressed checkpoints and models
  zlib1g-dev                   # gzip-compressed IDX files
  dataset-fashion-mnist        # the default training data
  python3-venv                 # benchmark and interop scripts build a virtual environment
  chromium                     # renders report.html headless in Tests/scripts/report-test.sh
  libpng-dev libjpeg62-turbo-dev  # image-folder data sets (PNG, JPEG decoding)
  qemu-user                    # runs the default binary as an AVX2-only and a pre-AVX2 CPU in tests
  iproute2                     # network namespaces: simulated hosts for the multi-host tests
  bc procps                    # arithmetic and pgrep/pkill in the script tests
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
