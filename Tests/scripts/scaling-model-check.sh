#!/usr/bin/env bash
# Cluster/scaling_model.py on made-up measurements whose answers are known in closed
# form (no MPI, no namespaces, a second):
#   - all-reduce times generated exactly as alpha + beta x bytes: the fits give back
#     alpha and beta;
#   - the prediction of each multi-host step is the one-host step minus its shared-memory
#     all-reduces plus the network ones, computed here from the same alphas and betas;
#     one run is made 20% slower than predicted, so the check counts 5 of 6;
#   - the extrapolation: ResNet-20 (one bucket, no overlap) at 256 ranks is
#     compute / (compute + three ring all-reduces); a model with compute long enough
#     that no bucket waits for the one before exposes only its last bucket's all-reduce.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

"$py" - "$root/Cluster/scaling_model.py" "$tmp" <<'PY' || fail "scaling model against its closed forms"
import json, re, subprocess, sys
script, out = sys.argv[1], sys.argv[2]
G, S = 4 * 272186, 6272                    # ResNet-20's gradient and statistics bytes
bits = {"100mbit": 1e8, "1gbit": 1e9, "10gbit": 1e10}
eta = 1.1
fit = {(2, "local"): (10e-6, 0.5e-9), (4, "local"): (40e-6, 1.4e-9)}
for r, b in bits.items():
    fit[(2, r)] = (60e-6, eta * 8 / b)     # eta x the time to move a byte once
    fit[(4, r)] = (120e-6, 2.5 * 8 / b)
local = {2: 0.300, 4: 0.400}
comm = lambda p, link: 3 * fit[(p, link)][0] + fit[(p, link)][1] * (G + S)   # 2 alphas + flag
rows = [{"kind": "compute", "copies": 1, "batch": 64, "step_seconds": 0.25, "parameters": 272186}]
for (p, link), (a, b) in fit.items():
    for n in (4096, 65536, 1048576, 4194304):
        rows.append({"kind": "allreduce", "rate": link, "ranks": p, "bytes": n, "seconds": a + b * n})
pred = {}
for r in bits:
    for p in (2, 4):
        pred[(p, r)] = local[p] - comm(p, "local") + comm(p, r)
        slow = 1.2 if (p, r) == (4, "1gbit") else 1.0
        rows += [{"kind": "local", "rate": r, "ranks": p, "batch": 128, "step_seconds": local[p]},
                 {"kind": "train", "rate": r, "ranks": p, "batch": 128, "step_seconds": pred[(p, r)] * slow}]
rows.append({"kind": "model", "model": "resnet50", "copies": 2, "batch": 32, "step_seconds": 32.0,
             "parameters": 10 * 2 ** 20 // 4 + 1000})   # 10 MiB + 4000 B: buckets 4, 4, 2 MiB + 4000 B
with open(f"{out}/m.jsonl", "w") as f:
    f.write("\n".join(json.dumps(r) for r in rows) + "\n")
text = subprocess.run([sys.executable, script, f"{out}/m.jsonl", out, "--hop-us", "30"],
                      check=True, capture_output=True, text=True).stdout
md = open(f"{out}/scaling.md").read()
assert text.strip() == md.strip()
bad = []

def expect(cond, what):
    if not cond:
        bad.append(what)
    print(("PASSED: " if cond else "FAILED: ") + what)

for (p, link), (a, b) in fit.items():
    m = re.search(rf"^\| {p} \| {link} \| (\d+) \| ([0-9.]+) \|", md, re.M)
    expect(m and int(m.group(1)) == round(a * 1e6) and abs(float(m.group(2)) - b * 1e9) <= 0.005 + 1e-9,
           f"fit {p} ranks, {link}: alpha {a * 1e6:.0f} us, beta {b * 1e9:.2f} ns/B")
for (p, r), v in pred.items():
    m = re.search(rf"^\| {p} \| {r} \| [^|]+\| [^|]+\| [^|]+\| ([0-9.]+) \| ([0-9.]+) \| ([-+0-9.]+)%", md, re.M)
    err = -100 / 6 if (p, r) == (4, "1gbit") else 0.0    # predicted / (1.2 predicted) - 1
    expect(m and abs(float(m.group(1)) - v) <= 0.0005 and abs(float(m.group(3)) - err) <= 0.05,
           f"{p} ranks at {r}: predicted {v:.3f} s, error {err:+.1f}%")
expect("5 of 6 runs within 15%" in md, "5 of 6 runs within 15%")

# Extrapolation, 10 Gbit/s, 256 ranks, h = 30 us (given), L = 5 us, eta = 1.1 (every rate).
h, L, P, bw = 30e-6, 5e-6, 256, 10e9 / 8
ring = lambda n: 2 * (P - 1) * (h + L) + eta * 2 * (P - 1) / P * n / bw
comp20 = (local[2] - comm(2, "local")) / 64 * 128
eff20 = comp20 / (comp20 + ring(G) + ring(S) + ring(8))
m = re.search(r"^\| ResNet-20 \| 272,186 \| 1\.1 \| [0-9.]+ \| 1 \| [0-9.]+% \| ([0-9.]+)%", md, re.M)
expect(m and abs(float(m.group(1)) - 100 * eff20) <= 0.05, f"ResNet-20, 256 ranks, 10 Gbit/s: {100 * eff20:.1f}%")
# 128 s of compute, backward 85.3 s: the buckets are ready every ~34 s and each all-reduce
# takes well under a second, so only the last one (4000 B) is exposed, then the statistics
# and the flag.
comp50 = 32.0 / 32 * 128
eff50 = comp50 / (comp50 + ring(4000) + ring(S) + ring(8))
m = re.search(r"^\| ResNet-50 \| 2,622,440 \| 10\.5 \| 128\.00 \| 3 \| [0-9.]+% \| ([0-9.]+)%", md, re.M)
expect(m and abs(float(m.group(1)) - 100 * eff50) <= 0.05, f"overlapped buckets, 256 ranks, 10 Gbit/s: {100 * eff50:.2f}%")
sys.exit(1 if bad else 0)
PY
exit $status
