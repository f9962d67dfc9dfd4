#!/usr/bin/env bash
# The bad-input table's script (Cluster/bad-inputs.sh) as a test: 43 broken configs,
# flags, data, model, checkpoint, safetensors and scene files against the built
# binaries; fails on a crash, a hang, an accepted bad input or a message that does not
# name what is wrong. The table goes to a scratch file here (the committed
# docs/bad-inputs.md is rewritten by running Cluster/bad-inputs.sh itself).
# GDQR_BIN_DIR: another build's binaries (default .build/release).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
need_built "$gdqr" "$train"
GDQR_BIN_DIR=$bin_dir BAD_INPUTS_DOC=$tmp/bad-inputs.md bash "$root/Cluster/bad-inputs.sh"
