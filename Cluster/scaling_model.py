"""The data-parallel scaling model of docs/multi-host.md (numpy only).

usage: scaling_model.py MEASUREMENTS.jsonl OUT_DIR [--latency-us L] [--hop-us H] [--small 1]
                        [--bucket-mb 4] [--backward 0.667]

MEASUREMENTS.jsonl comes from Cluster/scaling-model.sh:
  {"kind":"compute","copies":1,"batch":64,"step_seconds":s,"parameters":n}
      one 1-rank 1-thread ResNet-20 training alone, no communication (for comparison)
  {"kind":"local","rate":r,"ranks":p,"batch":B,"step_seconds":s}
      the P ranks' step on one node (shared memory), measured right before the run at r
  {"kind":"allreduce","rate":r,"ranks":p,"bytes":n,"seconds":s,...}  one MPI_Allreduce
      ("rate":"local": the P ranks on one node)
  {"kind":"train","rate":r,"ranks":p,"batch":B,"step_seconds":s}     the real runs
  {"kind":"model","model":m,"copies":2,"batch":b,"step_seconds":s,"parameters":n}
      a larger model's compute with every core busy, for the extrapolation

Model of one step on P ranks spread over hosts (global batch B, one thread per rank):
  step = local(P) - comm(P, local) + comm(P, rate)
  comm(P, x) = allreduce_x(G) + allreduce_x(S) + small x alpha_x
where local(P) is the measured step of the same P ranks on one node: their compute as
they share the cores (this is how the oversubscription of 4 ranks on 2 cores enters:
measured, not assumed) and the wait for the slowest of the synchronous ranks, with
shared-memory all-reduces; G the gradient bytes (ResNet-20: one bucket, so the
all-reduce starts when backward ends and nothing overlaps), S the running statistics
(6272 B, every step), `small` the other tiny collectives per step (the stop-signal flag,
8 B), and allreduce_x(n) = alpha_x + beta_x n fitted per (P, link) by least squares.

Extrapolation (ranks 2-256, 1/10/25/100 Gbit/s, per-rank batch 128: weak scaling, with
each model's compute per image measured with every core busy): a ring all-reduce,
  ring(n) = 2 (P - 1) (h + L) + eta x 2 (P - 1) / P x n / bandwidth,
with h = alpha(2) / 2 (per-hop software cost, fitted at 2 ranks, or --hop-us), L the link
latency (a parameter: the simulated links have none), eta = beta(2) x bandwidth (how far
the measured 2-rank all-reduce is from moving n bytes once, fitted per rate and
averaged). Gradients go in buckets of --bucket-mb MiB, as the trainer sends them:
backward (--backward of the compute, 2/3: twice the forward's FLOPs) fills them at an
even rate in bytes, each starts its all-reduce when full, one at a time on the link;
what is still running when backward ends is exposed. A hierarchical reduction with K
ranks per node is costed as the ring over the P / K nodes plus 2 (K - 1) h within a node
(its shared-memory bandwidth term left out: far above a link's).
"""
import json
import math
import statistics
import sys

import numpy as np

STAT_BYTES = 6272                  # ResNet-20's 1568 running statistics
MODEL_NAMES = {"vgg-small": "VGG-small", "resnet18": "ResNet-18", "resnet50": "ResNet-50",
               "mobilenetv2": "MobileNetV2"}


def rate_bits(r):
    units = {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9}
    for u, m in units.items():
        if r.endswith(u):
            return float(r[: -len(u)]) * m
    raise ValueError(r)


def option(args, name, default):
    return float(args[args.index(name) + 1]) if name in args else default


def main():
    path, out = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    latency = option(args, "--latency-us", 5) * 1e-6
    small = int(option(args, "--small", 1))
    hop = option(args, "--hop-us", None)
    hop = None if hop is None else hop * 1e-6
    bucket = option(args, "--bucket-mb", 4) * 2 ** 20
    backward = option(args, "--backward", 2 / 3)
    rows = [json.loads(l) for l in open(path) if l.strip()]
    alone = next(r for r in rows if r["kind"] == "compute" and r["copies"] == 1)
    local = {(r["rate"], r["ranks"]): r["step_seconds"] for r in rows if r["kind"] == "local"}
    fits = {}
    for key in sorted({(r["ranks"], r["rate"]) for r in rows if r["kind"] == "allreduce"}):
        pts = [(r["bytes"], r["seconds"]) for r in rows
               if r["kind"] == "allreduce" and (r["ranks"], r["rate"]) == key]
        x = np.array([p[0] for p in pts], float)
        y = np.array([p[1] for p in pts], float)
        beta, alpha = np.polyfit(x, y, 1, w=1 / y)   # relative residuals: small sizes count
        resid = np.max(np.abs(alpha + beta * x - y) / y)
        fits[key] = (max(alpha, 0.0), beta, resid)
    grad20 = 4 * alone["parameters"]

    lines = ["# Scaling model: fit and check", "",
             "Simulated hosts (network namespaces, tbf-shaped links) on one AMD EPYC Zen 3 "
             "machine (AVX2 + FMA, 2 cores), Open MPI 4.1.4, ResNet-20 FP32, 1 thread per rank.", "",
             "## All-reduce fits: t = alpha + beta x bytes (4 KB - 4 MB)", "",
             "| ranks | rate | alpha (us) | beta (ns/B) | effective GB/s | worst point off by |",
             "|---|---|---|---|---|---|"]
    for (p, r), (a, b, e) in fits.items():
        lines.append(f"| {p} | {r} | {a * 1e6:.0f} | {b * 1e9:.2f} | {1 / b / 1e9:.3f} | {e * 100:.0f}% |")

    def comm(p, link):
        a, b, _ = fits[(p, link)]
        return a + b * grad20 + a + b * STAT_BYTES + small * a

    node2 = [local[(rate, 2)] - comm(2, "local") for (rate, p) in local if p == 2]
    lines += ["", f"ResNet-20 compute of a batch-64 step, 1 thread: {alone['step_seconds']:.3f} s for one rank alone; "
              f"{min(node2):.3f}-{max(node2):.3f} s for each of 2 ranks on one node (their step without its "
              "shared-memory all-reduces).",
              "", "## Predicted against measured step time (global batch 128)", "",
              "| ranks | rate | one-node step (s) | its all-reduces (s) | network all-reduces (s) | predicted (s) | "
              "measured (s) | error | measured exposed comm (s) |",
              "|---|---|---|---|---|---|---|---|---|"]
    worst = 0.0
    checked = []
    for r in rows:
        if r["kind"] != "train":
            continue
        p, rate = r["ranks"], r["rate"]
        node, here, there = local[(rate, p)], comm(p, "local"), comm(p, rate)
        pred = node - here + there
        err = (pred - r["step_seconds"]) / r["step_seconds"]
        worst = max(worst, abs(err))
        checked.append((p, rate, err))
        lines.append(f"| {p} | {rate} | {node:.3f} | {here:.4f} | {there:.3f} | {pred:.3f} | {r['step_seconds']:.3f} | "
                     f"{err * 100:+.1f}% | {r.get('exposed_seconds', float('nan')):.3f} |")
    within = sum(1 for c in checked if abs(c[2]) <= 0.15)
    lines += ["", f"{within} of {len(checked)} runs within 15% (worst {worst * 100:.1f}%).", ""]

    # Extrapolation from the 2-rank fits.
    two = {rate: fits[(2, rate)] for (p, rate) in fits if p == 2 and rate != "local"}
    h = float(np.median([f[0] for f in two.values()])) / 2 if hop is None else hop
    eta = float(np.mean([f[1] * rate_bits(rate) / 8 for rate, f in two.items()]))
    models = {"ResNet-20": (grad20, statistics.median(node2) / 64)}
    for r in rows:
        if r["kind"] == "model":
            models[MODEL_NAMES.get(r["model"], r["model"])] = (4 * r["parameters"], r["step_seconds"] / r["batch"])

    def ring(P, n, bw):
        return 2 * (P - 1) * (h + latency) + eta * 2 * (P - 1) / P * n / bw

    def hier(P, n, bw, K=8):
        nodes = max(1, P // K)
        return 2 * (min(P, K) - 1) * h + (ring(nodes, n, bw) if nodes > 1 else 0.0)

    def step(model, P, gbps, half=False, bucket_bytes=bucket, reduce=ring, fold=False, comp=None):
        """(compute, exposed communication, efficiency) of one step, per-rank batch 128
        (compute: the step's measured compute unless given)."""
        grad, t_img = models[model]
        grad = grad // 2 if half else grad
        bw = gbps * 1e9 / 8
        comp = t_img * 128 if comp is None else comp
        t_back = backward * comp
        done, end = 0, 0.0
        while done < grad:                          # buckets, one at a time on the link
            size = min(bucket_bytes, grad - done)
            done += size
            end = max(end, t_back * done / grad) + reduce(P, size, bw)
        exposed = max(0.0, end - t_back)
        if not fold:                                # statistics and stop flag: their own all-reduces
            exposed += reduce(P, STAT_BYTES, bw) + small * reduce(P, 8, bw)
        return comp, exposed, comp / (comp + exposed)

    rates = (1, 10, 25, 100)
    lines += ["## Extrapolation (weak scaling, 128 images per rank, 1 thread per rank)", "",
              f"Ring all-reduce with per-hop cost h = {h * 1e6:.0f} us "
              f"({'half the 2-rank alpha' if hop is None else 'given'}), "
              f"link latency L = {latency * 1e6:.0f} us, bandwidth efficiency eta = {eta:.2f} "
              f"(measured 2-rank beta x link bandwidth; 1 would be the ring's ideal); gradients in "
              f"{bucket / 2 ** 20:g} MiB buckets overlapping the last {backward * 100:.0f}% of the compute "
              f"(backward).", "",
              "| model | parameters | gradients (MB) | compute per step (s) | buckets | "
              + " | ".join(f"256 ranks, {g} Gbit/s" for g in rates) + " |",
              "|---" * (5 + len(rates)) + "|"]
    for m, (grad, t_img) in models.items():
        cells = [f"{step(m, 256, g)[2] * 100:.1f}%" for g in rates]
        lines.append(f"| {m} | {grad // 4:,} | {grad / 1e6:.1f} | {t_img * 128:.2f} | "
                     f"{math.ceil(grad / bucket)} | " + " | ".join(cells) + " |")

    def break_even(model, gbps, target=0.9):
        """The step compute below which 256 ranks fall under `target` efficiency (bisection:
        efficiency grows with compute, which hides more of the buckets)."""
        lo, hi = 1e-5, 1e4
        for _ in range(100):
            mid = math.sqrt(lo * hi)
            lo, hi = (lo, mid) if step(model, 256, gbps, comp=mid)[2] >= target else (mid, hi)
        return hi

    lines += ["", "Where scaling stops: 256 ranks fall below 90% efficiency when a rank computes its 128 "
              "images faster than this (a faster CPU, more threads per rank); in brackets the images/s "
              "per rank that means:", "",
              "| model | " + " | ".join(f"{g} Gbit/s" for g in rates) + " |", "|---" * (1 + len(rates)) + "|"]
    for m in models:
        limits = [break_even(m, g) for g in rates]
        cells = [f"{t * 1e3:.0f} ms ({128 / t:,.0f})" for t in limits]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "ResNet-20's parallel efficiency, compute / (compute + exposed communication), fp32 "
              "gradients (fp16/bf16 in brackets):", "",
              "| ranks | " + " | ".join(f"{g} Gbit/s" for g in rates) + " |", "|---" * 5 + "|"]
    curves = {}
    for half, tag in ((False, "fp32"), (True, "fp16")):
        for g in rates:
            curves[(tag, g)] = [step("ResNet-20", 2 ** k, g, half)[2] for k in range(1, 9)]
    for k in range(1, 9):
        cells = [f"{curves[('fp32', g)][k - 1] * 100:.1f}% ({curves[('fp16', g)][k - 1] * 100:.1f}%)"
                 for g in rates]
        lines.append(f"| {2 ** k} | " + " | ".join(cells) + " |")
    c256, e256, _ = step("ResNet-20", 256, 10)
    lines += ["", f"At 256 ranks and 10 Gbit/s a ResNet-20 step computes for {c256 * 1e3:.0f} ms and is "
              f"held up {e256 * 1e3:.1f} ms by its all-reduces, of which the latency term 2 (P - 1) (h + L) "
              f"is {2 * 255 * (h + latency) * (2 + small) * 1e3:.1f} ms ({2 + small} all-reduces a step).", ""]
    variants = [("now: fp32, ring", {}), ("fp16/bf16 gradients", {"half": True}),
                ("25 MiB buckets", {"bucket_bytes": 25 * 2 ** 20}),
                ("statistics and flag in the gradient buckets", {"fold": True}),
                ("hierarchical, 8 ranks per node", {"reduce": hier}),
                ("fp16, folded and hierarchical", {"half": True, "fold": True, "reduce": hier})]
    for g in (1, 10):
        lines += [f"What pays at 256 ranks, {g} Gbit/s: exposed communication per step (ms) and "
                  "parallel efficiency", "",
                  "| model | " + " | ".join(v[0] for v in variants) + " |", "|---" * (1 + len(variants)) + "|"]
        for m in models:
            cells = []
            for _, kw in variants:
                _, e, eff = step(m, 256, g, **kw)
                cells.append(f"{e * 1e3:.1f} ms, {eff * 100:.1f}%")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    with open(f"{out}/scaling.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    colors = {1: "#d62728", 10: "#ff7f0e", 25: "#2ca02c", 100: "#1f77b4"}
    write_svg(f"{out}/scaling.svg",
              f"ResNet-20 data-parallel efficiency, 128 images/rank, 1 thread/rank, latency {latency * 1e6:.0f} us",
              [(f"{g} Gbit/s {tag}", colors[g], tag == "fp16", ys)
               for (tag, g), ys in sorted(curves.items(), key=lambda kv: (kv[0][1], kv[0][0]))])
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    write_svg(f"{out}/scaling-models.svg",
              f"Every model at 1 Gbit/s, fp32 gradients, {bucket / 2 ** 20:g} MiB buckets, 128 images/rank",
              [(m, palette[i % len(palette)], False, [step(m, 2 ** k, 1)[2] for k in range(1, 9)])
               for i, m in enumerate(models)])
    print("\n".join(lines))


def write_svg(path, title, series):
    """Efficiency against ranks (2-256): series = [(label, colour, dashed, 8 values)]."""
    W, H, L, R, T, B = 640, 400, 60, 150, 30, 50
    x = lambda k: L + (k - 1) / 7 * (W - L - R)
    y = lambda e: T + (1 - e) * (H - T - B)
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<text x="{L}" y="18">{title}</text>']
    for e in (0, 0.25, 0.5, 0.75, 1.0):
        s.append(f'<line x1="{L}" y1="{y(e):.1f}" x2="{W - R}" y2="{y(e):.1f}" stroke="#ddd"/>'
                 f'<text x="{L - 8}" y="{y(e) + 4:.1f}" text-anchor="end">{e * 100:.0f}%</text>')
    for k in range(1, 9):
        s.append(f'<text x="{x(k):.1f}" y="{H - B + 18}" text-anchor="middle">{2 ** k}</text>')
    s.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">ranks</text>')
    for row, (label, color, dashed, ys) in enumerate(series):
        pts = " ".join(f"{x(k + 1):.1f},{y(v):.1f}" for k, v in enumerate(ys))
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        s.append(f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{pts}"/>')
        ly = T + 10 + row * 18
        s.append(f'<line x1="{W - R + 10}" y1="{ly}" x2="{W - R + 35}" y2="{ly}" stroke="{color}" '
                 f'stroke-width="2"{dash}/><text x="{W - R + 40}" y="{ly + 4}">{label}</text>')
    s.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(s) + "\n")


if __name__ == "__main__":
    main()
