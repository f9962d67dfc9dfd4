#!/usr/bin/env bash
# Creates or updates the project's Python virtual environment and installs the
# packages named on the command line, then prints the venv's python path (the
# only thing written to stdout; all progress goes to stderr), so callers do
#
#   PY=$(Cluster/python-env.sh torch onnx onnxruntime safetensors numpy)
#   "$PY" Tests/fixtures/make_fixtures.py
#
# Idempotent: the venv is created only if missing, and only packages that are
# not installed yet are passed to pip (a second run with the same names makes
# no network request). Arguments may carry pip version specifiers
# ("numpy<3", "onnx==1.17.0"); a pinned argument is always handed to pip, which
# does nothing if the installed version already satisfies it.
#
# Environment:
#   GDQR_VENV        venv directory (default: <repo>/.venv, gitignored)
#   GDQR_PYTHON      interpreter used to create the venv (default: python3)
#   GDQR_TORCH_WHEEL path of a torch wheel to install instead of searching
#
# How torch is installed (PyPI is the only index reachable from our machines):
#   * The default torch wheel on PyPI for Linux x86_64 is the CUDA build: the
#     wheel alone is ~540 MB (torch 2.15.0) and its dependencies pull several GB
#     of nvidia-* wheels (cublas, cudnn, nccl, ...) plus triton.
#   * `pip install torch --no-deps` (plus filelock, typing-extensions, sympy,
#     networkx, jinja2, fsspec) does NOT work with that wheel: `import torch`
#     fails with "ValueError: libcublasLt.so.*[0-9] not found in the system
#     path" because torch/__init__.py preloads the CUDA libraries. Tried with
#     torch 2.15.0 / Python 3.11; the venv was 1.4 GB and unusable.
#   * What works: a CPU-only wheel (version suffix "+cpu", ~190 MB, no nvidia
#     dependencies; its own Requires-Dist is just filelock, typing-extensions,
#     setuptools, sympy, networkx, jinja2, fsspec). Our machines ship one in
#     pip's find-links directory (/opt/wheels, configured in /etc/pip.conf and
#     PIP_FIND_LINKS): torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl.
#     This script looks for a "+cpu" wheel matching the interpreter in
#     $GDQR_TORCH_WHEEL, $PIP_FIND_LINKS, pip's configured find-links and
#     /opt/wheels, and installs that file (with its small dependencies). A plain
#     `pip install torch` would instead pick the newer CUDA build from PyPI.
#     With the local wheel a fresh venv holding torch, onnx, onnxruntime,
#     onnxscript, safetensors and numpy took 32 s and 1.1 GB on disk (a second
#     run that finds everything installed takes under a second).
#   * Fallback when no CPU wheel is found: a normal `pip install torch` (CUDA
#     build with all its dependencies: several GB and several minutes, but it
#     runs fine on CPU). Set GDQR_TORCH_WHEEL to avoid it.
#   * Do not ask for packages that pin torch (torchvision, torchaudio): pip
#     would replace the CPU build by the matching CUDA build from PyPI.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${GDQR_VENV:-$ROOT/.venv}"
BASE_PY="${GDQR_PYTHON:-python3}"
log() { echo "python-env: $*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating venv at $VENV"
  "$BASE_PY" -m venv "$VENV" >&2
fi
PY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1

# Which of the requested packages are missing? Names are compared the way pip
# normalises them (case-insensitive, "-" "_" "." equivalent).
missing=()
torch_wanted=0
if [ $# -gt 0 ]; then
  while IFS= read -r line; do
    [ -n "$line" ] && missing+=("$line")
  done < <("$PY" - "$@" <<'EOF'
import re, sys
from importlib import metadata
installed = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower()
             for d in metadata.distributions() if d.metadata["Name"]}
for spec in sys.argv[1:]:
    name = re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0]
    norm = re.sub(r"[-_.]+", "-", name).lower()
    pinned = spec != name
    if norm not in installed or pinned:
        print(spec)
EOF
  )
fi

pip_args=()
for spec in "${missing[@]+"${missing[@]}"}"; do
  name="${spec%%[<>=!~;[ ]*}"
  if [ "$(echo "$name" | tr 'A-Z_.' 'a-z--')" = "torch" ] && [ "$spec" = "$name" ]; then
    torch_wanted=1
  else
    pip_args+=("$spec")
  fi
done

find_cpu_torch_wheel() {
  if [ -n "${GDQR_TORCH_WHEEL:-}" ]; then echo "$GDQR_TORCH_WHEEL"; return; fi
  local tag dirs d f
  tag=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
  dirs="${PIP_FIND_LINKS:-} $("$PY" -m pip config get global.find-links 2>/dev/null || true) /opt/wheels"
  for d in $dirs; do
    d="${d#file://}"
    [ -d "$d" ] || continue
    # newest +cpu build for this interpreter and architecture
    f=$(ls -1 "$d"/torch-*+cpu-"$tag"-"$tag"-*"$(uname -m)".whl 2>/dev/null | sort -V | tail -1 || true)
    if [ -n "$f" ]; then echo "$f"; return; fi
  done
}

if [ "$torch_wanted" = 1 ]; then
  wheel=$(find_cpu_torch_wheel)
  if [ -n "$wheel" ]; then
    log "installing CPU torch from $wheel"
    "$PY" -m pip install -q "$wheel" >&2
  else
    log "no CPU torch wheel found; installing torch from the index (CUDA build, several GB)"
    "$PY" -m pip install -q torch >&2
  fi
fi

if [ ${#pip_args[@]} -gt 0 ]; then
  log "installing ${pip_args[*]}"
  "$PY" -m pip install -q "${pip_args[@]}" >&2
fi

if [ "$torch_wanted" = 1 ]; then
  "$PY" -c 'import torch; torch.nn.Conv2d(1, 1, 3)(torch.randn(1, 1, 4, 4)).sum().backward()' >&2 \
    || { log "torch installed but does not run"; exit 1; }
fi

echo "$PY"
