"""The data-parallel scaling model of docs/multi-host.md (numpy only).

usage: scaling_model.py MEASUREMENTS.jsonl OUT_DIR [--latency-us L] [--hop-us H] [--small 1]

MEASUREMENTS.jsonl comes from Cluster/scaling-model.sh:
  {"kind":"compute","batch":b,"step_seconds":s}           1 rank, 1 thread, no communication
  {"kind":"allreduce","rate":r,"ranks":p,"bytes":n,"seconds":s,...}  one MPI_Allreduce
  {"kind":"train","rate":r,"ranks":p,"batch":B,"step_seconds":s}     the real runs

Model of one step on P ranks (global batch B, one thread per rank, C cores in all):
  step = compute(B / P) * max(1, P / C) + allreduce(G) + (small + 1) x alpha + beta x S
where compute(b) is measured, G the gradient bytes (one bucket: the all-reduce starts when
backward ends, so nothing overlaps), S the running statistics (6272 B, every step),
`small` the other tiny collectives per step (the stop-signal flag, 8 B), and
allreduce(n) = alpha + beta n fitted per (P, rate) by least squares.

Extrapolation (ranks 2-256, 1/10/25/100 Gbit/s): a ring all-reduce,
  allreduce(n) = 2 (P - 1) (h + L) + eta x 2 (P - 1) / P x n / bandwidth,
with h = alpha(2) / 2 (per-hop software cost, fitted at 2 ranks, or --hop-us: on a loaded
machine the fitted alpha is mostly scheduling delay), L the link latency
(a parameter: the simulated links have none), eta = beta(2) x bandwidth (how far the
measured 2-rank all-reduce is from moving n bytes once, fitted per rate and averaged),
and per-rank batch 128 (weak scaling) at the measured 1-thread compute speed.
"""
import json
import math
import sys

import numpy as np

RESNET20_GRAD_BYTES = 1088744      # gdqr bench allreduce: 272186 floats
STAT_BYTES = 6272                  # 1568 running statistics
CORES = 2


def rate_bits(r):
    units = {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9}
    for u, m in units.items():
        if r.endswith(u):
            return float(r[: -len(u)]) * m
    raise ValueError(r)


def main():
    path, out = sys.argv[1], sys.argv[2]
    latency = 5e-6
    small = 1
    hop = None
    args = sys.argv[3:]
    for i, a in enumerate(args):
        if a == "--latency-us":
            latency = float(args[i + 1]) * 1e-6
        if a == "--small":
            small = int(args[i + 1])
        if a == "--hop-us":
            hop = float(args[i + 1]) * 1e-6
    rows = [json.loads(l) for l in open(path) if l.strip()]
    compute = {r["batch"]: r["step_seconds"] for r in rows if r["kind"] == "compute"}
    fits = {}
    for key in sorted({(r["ranks"], r["rate"]) for r in rows if r["kind"] == "allreduce"}):
        pts = [(r["bytes"], r["seconds"]) for r in rows
               if r["kind"] == "allreduce" and (r["ranks"], r["rate"]) == key]
        x = np.array([p[0] for p in pts], float)
        y = np.array([p[1] for p in pts], float)
        beta, alpha = np.polyfit(x, y, 1, w=1 / y)   # relative residuals: small sizes count
        resid = np.max(np.abs(alpha + beta * x - y) / y)
        fits[key] = (max(alpha, 0.0), beta, resid)

    lines = ["# Scaling model: fit and check", "",
             "Simulated hosts (network namespaces, tbf-shaped links) on one AMD EPYC Zen 3 "
             "machine (AVX2 + FMA, 2 cores), Open MPI 4.1.4, ResNet-20 FP32, 1 thread per rank.", "",
             "## All-reduce fits: t = alpha + beta x bytes (4 KB - 4 MB)", "",
             "| ranks | rate | alpha (us) | beta (ns/B) | effective GB/s | worst point off by |",
             "|---|---|---|---|---|---|"]
    for (p, r), (a, b, e) in fits.items():
        lines.append(f"| {p} | {r} | {a * 1e6:.0f} | {b * 1e9:.2f} | {1 / b / 1e9:.3f} | {e * 100:.0f}% |")
    lines += ["", "## Predicted against measured step time (global batch 128)", "",
              "| ranks | rate | compute (s) | all-reduces (s) | predicted (s) | measured (s) | error | "
              "measured exposed comm (s) |",
              "|---|---|---|---|---|---|---|---|"]
    worst = 0.0
    checked = []
    for r in rows:
        if r["kind"] != "train":
            continue
        p, rate = r["ranks"], r["rate"]
        a, b, _ = fits[(p, rate)]
        per_rank = r["batch"] // p
        comp = compute[per_rank] * max(1.0, p / CORES)
        comm = a + b * RESNET20_GRAD_BYTES + a + b * STAT_BYTES + small * a
        pred = comp + comm
        err = (pred - r["step_seconds"]) / r["step_seconds"]
        worst = max(worst, abs(err))
        checked.append((p, rate, err))
        lines.append(f"| {p} | {rate} | {comp:.3f} | {comm:.3f} | {pred:.3f} | {r['step_seconds']:.3f} | "
                     f"{err * 100:+.1f}% | {r.get('exposed_seconds', float('nan')):.3f} |")
    within = sum(1 for c in checked if abs(c[2]) <= 0.15)
    lines += ["", f"{within} of {len(checked)} runs within 15% (worst {worst * 100:.1f}%).", ""]

    # Extrapolation from the 2-rank fits.
    two = {rate: fits[(2, rate)] for (p, rate) in fits if p == 2}
    h = float(np.median([f[0] for f in two.values()])) / 2 if hop is None else hop
    eta = float(np.mean([f[1] * rate_bits(rate) / 8 for rate, f in two.items()]))
    b0 = max(compute)
    t_img = compute[b0] / b0

    def step(P, gbps, grad_bytes, per_rank=128, overlap=False):
        bw = gbps * 1e9 / 8
        ring = lambda n: 2 * (P - 1) * (h + latency) + eta * 2 * (P - 1) / P * n / bw
        comp = t_img * per_rank
        comm = ring(grad_bytes) + ring(STAT_BYTES) + small * 2 * (P - 1) * (h + latency)
        exposed = max(0.0, comm - 2 / 3 * comp) if overlap else comm
        return comp, comm, comp / (comp + exposed)

    lines += ["## Extrapolation (weak scaling, 128 images per rank, 1 thread per rank)", "",
              f"Ring all-reduce with per-hop cost h = {h * 1e6:.0f} us "
              f"({'half the 2-rank alpha' if hop is None else 'given'}), "
              f"link latency L = {latency * 1e6:.0f} us, bandwidth efficiency eta = {eta:.2f} "
              f"(measured 2-rank beta x link bandwidth; 1 would be the ring's ideal), "
              f"compute {t_img * 1e3:.2f} ms per image.", "",
              "Parallel efficiency, compute / (compute + exposed communication), fp32 gradients "
              "(fp16/bf16 in brackets), no overlap:", "",
              "| ranks | " + " | ".join(f"{g} Gbit/s" for g in (1, 10, 25, 100)) + " |",
              "|---" * 5 + "|"]
    curves = {}
    for grad, tag in ((RESNET20_GRAD_BYTES, "fp32"), (RESNET20_GRAD_BYTES // 2, "fp16")):
        for g in (1, 10, 25, 100):
            curves[(tag, g)] = [step(2 ** k, g, grad)[2] for k in range(1, 9)]
    for k in range(1, 9):
        P = 2 ** k
        cells = [f"{curves[('fp32', g)][k - 1] * 100:.1f}% ({curves[('fp16', g)][k - 1] * 100:.1f}%)"
                 for g in (1, 10, 25, 100)]
        lines.append(f"| {P} | " + " | ".join(cells) + " |")
    c256, m256, _ = step(256, 10, RESNET20_GRAD_BYTES)
    lines += ["", f"At 256 ranks and 10 Gbit/s a step computes for {c256 * 1e3:.0f} ms and all-reduces for "
              f"{m256 * 1e3:.1f} ms, of which the latency term 2 (P - 1) (h + L) is "
              f"{2 * 255 * (h + latency) * 3 * 1e3:.1f} ms (three all-reduces a step).", ""]
    with open(f"{out}/scaling.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    write_svg(f"{out}/scaling.svg", curves, latency)
    print("\n".join(lines))


def write_svg(path, curves, latency):
    W, H, L, R, T, B = 640, 400, 60, 150, 30, 50
    x = lambda k: L + (k - 1) / 7 * (W - L - R)
    y = lambda e: T + (1 - e) * (H - T - B)
    colors = {1: "#d62728", 10: "#ff7f0e", 25: "#2ca02c", 100: "#1f77b4"}
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<text x="{L}" y="18">ResNet-20 data-parallel efficiency, 128 images/rank, 1 thread/rank, '
         f'latency {latency * 1e6:.0f} us</text>']
    for e in (0, 0.25, 0.5, 0.75, 1.0):
        s.append(f'<line x1="{L}" y1="{y(e):.1f}" x2="{W - R}" y2="{y(e):.1f}" stroke="#ddd"/>'
                 f'<text x="{L - 8}" y="{y(e) + 4:.1f}" text-anchor="end">{e * 100:.0f}%</text>')
    for k in range(1, 9):
        s.append(f'<text x="{x(k):.1f}" y="{H - B + 18}" text-anchor="middle">{2 ** k}</text>')
    s.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">ranks</text>')
    row = 0
    for (tag, g), ys in sorted(curves.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        pts = " ".join(f"{x(k + 1):.1f},{y(v):.1f}" for k, v in enumerate(ys))
        dash = ' stroke-dasharray="5,3"' if tag == "fp16" else ""
        s.append(f'<polyline fill="none" stroke="{colors[g]}" stroke-width="2"{dash} points="{pts}"/>')
        ly = T + 10 + row * 18
        s.append(f'<line x1="{W - R + 10}" y1="{ly}" x2="{W - R + 35}" y2="{ly}" stroke="{colors[g]}" '
                 f'stroke-width="2"{dash}/><text x="{W - R + 40}" y="{ly + 4}">{g} Gbit/s {tag}</text>')
        row += 1
    s.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(s) + "\n")


if __name__ == "__main__":
    main()
