#!/usr/bin/env bash
# SGEMM: gdqr's engine against OpenBLAS (through numpy) on the same square sizes
# and thread counts, measured in the same run, best of several repetitions each.
#
#   Cluster/bench-gemm-vs-openblas.sh [SIZES] [THREADS]
#   e.g. Cluster/bench-gemm-vs-openblas.sh 256,512,1024,2048 1,2
#
# Prints, per size and thread count: gdqr GFLOP/s, OpenBLAS GFLOP/s, gdqr/OpenBLAS.
# Environment: GDQR_BIN (default .build/release/gdqr), PYTHON (default the project's
# venv from Cluster/python-env.sh, with numpy), SKIP_BUILD=1; GDQR_ISA=v3 or v3-vnni on an
# AVX-512 CPU also holds OpenBLAS to its AVX2 kernel (below).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES="${1:-256,512,1024,2048}"
NPROC="$(nproc)"
THREADS="${2:-1,$NPROC}"
BIN="${GDQR_BIN:-.build/release/gdqr}"
# numpy from the project's virtual environment (never the python3 on the PATH).
PY="${PYTHON:-$(Cluster/python-env.sh numpy)}"

if [ "${SKIP_BUILD:-0}" != 1 ] || [ ! -x "$BIN" ]; then
    swift build -c release --product gdqr >&2
fi

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# One numpy process per thread count: OpenBLAS fixes its thread count at load.
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE overrides (if set here) would pick a slower
# kernel or blocking, so they are unset for these measurements only, with one
# exception: when GDQR_ISA forces gdqr to an AVX2 level (v3, v3-vnni) on a CPU with
# AVX-512, OpenBLAS runs its Haswell (AVX2) kernel too, so both sides use the same
# vector ISA. (Its own choice on such a CPU is its AVX-512 kernel: on an AMD EPYC
# Zen 5, 1 thread, 1024^3, SkylakeX 126 and Haswell 110 GFLOP/s in one run.)
coretype=()
case "${GDQR_ISA:-}" in
    v3|v3-vnni) if grep -qw avx512f /proc/cpuinfo; then
                    coretype=(OPENBLAS_CORETYPE=Haswell)
                    echo "GDQR_ISA=$GDQR_ISA: OpenBLAS runs its Haswell (AVX2) kernel" >&2
                fi ;;
esac
openblas_run() {
    local threads="$1"
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "${coretype[@]}" \
        OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" \
        "$PY" - "$SIZES" "$threads" <<'PYEOF'
import json, sys, time
import numpy as np
sizes = [int(s) for s in sys.argv[1].split(",")]
threads = int(sys.argv[2])
rng = np.random.default_rng(0)
for n in sizes:
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=c)                      # warm-up
    t0 = time.perf_counter(); np.matmul(a, b, out=c); once = time.perf_counter() - t0
    inner = max(1, int(0.02 / max(once, 1e-7)))
    best = float("inf")
    for _ in range(5 if n >= 2048 else 10):
        t0 = time.perf_counter()
        for _ in range(inner):
            np.matmul(a, b, out=c)
        best = min(best, (time.perf_counter() - t0) / inner)
    print(json.dumps({"bench": "openblas_sgemm", "shape": f"{n}x{n}x{n}", "threads": threads,
                      "gflops": round(2.0 * n * n * n / best / 1e9, 2)}), flush=True)
PYEOF
}

# Interleave the two libraries per thread count so both see similar machine load.
IFS=, read -ra TLIST <<< "$THREADS"
for t in "${TLIST[@]}"; do
    "$BIN" bench gemm --json --sizes "$SIZES" --threads "$t" >> "$OUT/gdqr.jsonl"
    openblas_run "$t" >> "$OUT/openblas.jsonl"
done

"$PY" - "$OUT/gdqr.jsonl" "$OUT/openblas.jsonl" <<'PYEOF'
import json, sys
gd = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ob = {(r["shape"], r["threads"]): r["gflops"] for r in map(json.loads, open(sys.argv[2])) if r}
for r in gd:
    if r["bench"] == "fma_peak":
        print(f"FMA peak, {r['threads']} thread(s): {r['gflops']:.1f} GFLOP/s")
print(f"{'shape':>16} {'threads':>7} {'gdqr':>9} {'OpenBLAS':>9} {'gdqr/OB':>8} {'gdqr %peak':>10}")
for r in gd:
    if r["bench"] != "gemm":
        continue
    o = ob.get((r["shape"], r["threads"]))
    ratio = f"{r['gflops'] / o:.3f}" if o else "n/a"
    print(f"{r['shape']:>16} {r['threads']:>7} {r['gflops']:>9.1f} {o if o else float('nan'):>9.1f} "
          f"{ratio:>8} {100 * r['fraction_of_peak']:>9.1f}%")
PYEOF
