"""Checks a quantized run folder's TensorBoard event files and quantization.json.

    check_tensorboard.py RUN_DIR MODEL.safetensors K_A [RESUME_STEP FIRST_METRICS.jsonl]

Reads the events with tensorboard's EventAccumulator and checks that
  * every numeric field of every metrics.jsonl record is the scalar
    "<split>/<key>" at the record's step (float32 tolerance), and nothing more;
    after a resume at RESUME_STEP (a second event file), metrics.jsonl holds the
    first run's records up to that step followed by the resumed run's, and the
    events show the same: what the first file logged after RESUME_STEP is dropped
    by the second file's SessionLog START;
  * quantization.json has the shared schema, and its numbers agree with an
    independent recomputation from the final weights (the last evaluation ran
    on them): T_g = k_g * mean|W_g|, the clip fraction, both histograms
    (numpy.histogram over the file's edges of the float weights and of the
    weights quantized here in numpy), T_a = k_a * running mean;
  * the quant/<layer>/... scalars and weights_before/after histograms in the
    event files equal quantization.json at its step.
Exits non-zero with the first failures listed.
"""
import glob
import json
import math
import os
import sys

import numpy as np
from safetensors.numpy import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

run, model_path, k_a = sys.argv[1], sys.argv[2], float(sys.argv[3])
resume_step = int(sys.argv[4]) if len(sys.argv) > 5 else None
failures = []


def check(ok, msg):
    if not ok:
        failures.append(msg)
    return ok


def close32(got, want):
    if want is None:
        return math.isnan(got)
    return abs(got - float(np.float32(want))) <= 1e-7 * max(1.0, abs(want))


files = glob.glob(os.path.join(run, "events.out.tfevents.*"))
check(len(files) == (1 if resume_step is None else 2), f"event files: {files}")
acc = EventAccumulator(run, size_guidance={"scalars": 0, "histograms": 0})
acc.Reload()
tags = acc.Tags()
scalar_tags = set(tags["scalars"])

# 1. metrics.jsonl -> scalars
records = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
if resume_step is not None:
    first = [json.loads(l) for l in open(sys.argv[5])]
    check(max(r["step"] for r in first) > resume_step, "the first run logged nothing after the resume step")
    kept = [r for r in first if r["step"] <= resume_step]
    check(records[:len(kept)] == kept, "metrics.jsonl does not start with the first run's records up to the resume step")
    check(all(r["step"] > resume_step for r in records[len(kept):]), "the resumed run logged a step it did not run")
expected = {}
for r in records:
    for key, value in r.items():
        if key in ("phase", "split", "step"):
            continue
        expected.setdefault(f"{r['split']}/{key}", []).append((r["step"], value))
for tag, want in expected.items():
    if not check(tag in scalar_tags, f"scalar {tag} missing"):
        continue
    got = [(e.step, e.value) for e in acc.Scalars(tag)]
    check(len(got) == len(want), f"{tag}: {len(got)} events for {len(want)} records")
    for (gs, gv), (ws, wv) in zip(got, want):
        check(gs == ws and close32(gv, wv), f"{tag}: event (step {gs}, {gv}) vs metrics.jsonl (step {ws}, {wv})")
extra = {t for t in scalar_tags if not t.startswith("quant/")} - set(expected)
check(not extra, f"scalars not in metrics.jsonl: {sorted(extra)}")
n_scalar_checks = sum(len(v) for v in expected.values())

# 2. quantization.json schema and independent recomputation
q = json.load(open(os.path.join(run, "quantization.json")))
tests = [r for r in records if r["split"] == "test" and r["phase"] == q.get("phase")]
check(set(q) == {"phase", "step", "epoch", "layers"}, f"quantization.json keys {sorted(q)}")
check(bool(tests) and q["step"] == tests[-1]["step"] and q["epoch"] == tests[-1]["epoch"],
      f"quantization.json phase/step/epoch {q.get('phase')}/{q.get('step')}/{q.get('epoch')} is not the last test of its phase")
model = load_file(model_path)
layer_keys = {"name", "kind", "weight_bits", "activation_bits", "groups", "weight_thresholds", "weight_clip_fraction",
              "activation_threshold", "activation_clip_fraction", "weight_histogram_before", "weight_histogram_after"}
for L in q["layers"]:
    name = L["name"]
    check(set(L) == layer_keys, f"{name}: keys {sorted(L)}")
    check(L["kind"] in ("conv", "linear"), f"{name}: kind {L['kind']}")
    w = model[f"{name}.weight"].astype(np.float32)
    if L["weight_bits"] is not None:
        G = L["groups"]
        T = np.array(L["weight_thresholds"], dtype=np.float64)
        check(len(T) == G and (T > 0).all(), f"{name}: thresholds {T}")
        groups = w.reshape(G, -1)
        k = model.get(f"{name}.weight_k", np.full(G, np.nan, dtype=np.float32))
        T_ref = k.astype(np.float32) * np.abs(groups).mean(axis=1, dtype=np.float64).astype(np.float32)
        check(np.allclose(T, T_ref, rtol=1e-5), f"{name}: thresholds {T} vs k*mean|W| {T_ref}")
        top = 2 ** (L["weight_bits"] - 1) - 1
        delta = (np.array(L["weight_thresholds"], dtype=np.float32) / np.float32(top))[:, None]
        scaled = groups / delta
        clip_ref = float((np.abs(scaled) > top).mean())
        check(0 <= L["weight_clip_fraction"] <= 1 and abs(L["weight_clip_fraction"] - clip_ref) < 1e-9,
              f"{name}: weight clip fraction {L['weight_clip_fraction']} vs {clip_ref}")
        wq = (np.clip(np.round(scaled), -top, top) * delta).astype(np.float32)
        for key, values in (("weight_histogram_before", w), ("weight_histogram_after", wq)):
            h = L[key]
            edges, counts = np.array(h["edges"]), np.array(h["counts"])
            check(len(edges) == 33 and len(counts) == 32 and (np.diff(edges) > 0).all()
                  and math.isclose(edges[0], -edges[-1]), f"{name}: {key} edges {edges}")
            check(counts.sum() == w.size, f"{name}: {key} counts sum {counts.sum()} for {w.size} weights")
            ref, _ = np.histogram(values.astype(np.float64), bins=edges)
            diff = int(np.abs(ref - counts).sum())
            check(diff == 0, f"{name}: {key} counts differ from numpy.histogram by {diff}: {counts} vs {ref}")
        check(L["weight_histogram_before"]["edges"] == L["weight_histogram_after"]["edges"], f"{name}: edges differ")
    if L["activation_bits"] is not None:
        t, f = L["activation_threshold"], L["activation_clip_fraction"]
        check(t is not None and t > 0 and f is not None and 0 <= f <= 1, f"{name}: activation {t} {f}")
    else:
        check(L["activation_threshold"] is None and L["activation_clip_fraction"] is None, f"{name}: activation not null")
act_checked = 0
for stat_name, m in model.items():
    if stat_name.endswith(".running_absmean"):
        act = stat_name[: -len(".running_absmean")]
        for L in q["layers"]:
            if L["activation_threshold"] is not None and (
                    (act == "fc.act_in" and L["name"] == "fc") or act == L["name"].rsplit(".", 1)[0] + ".act1"
                    and L["name"].endswith(".conv2")):
                check(abs(L["activation_threshold"] - k_a * float(m[0])) <= 1e-6 * L["activation_threshold"],
                      f"{L['name']}: T_a {L['activation_threshold']} vs k_a * m = {k_a * float(m[0])}")
                act_checked += 1
check(act_checked > 0, "no activation threshold checked against running_absmean")

# 3. the event files hold the same at quantization.json's step
hist_tags = set(tags["histograms"])
for L in q["layers"]:
    p = f"quant/{L['name']}/"
    want = {}
    if L["weight_thresholds"] is not None:
        want["weight_threshold_mean"] = float(np.mean(np.array(L["weight_thresholds"], dtype=np.float32)))
        want["weight_clip_fraction"] = L["weight_clip_fraction"]
    if L["activation_threshold"] is not None:
        want["activation_threshold"] = L["activation_threshold"]
        want["activation_clip_fraction"] = L["activation_clip_fraction"]
    for key, v in want.items():
        if not check(p + key in scalar_tags, f"scalar {p + key} missing"):
            continue
        ev = [e for e in acc.Scalars(p + key) if e.step == q["step"]]
        check(len(ev) == 1 and abs(ev[0].value - v) <= 1e-6 * max(1.0, abs(v)), f"{p + key}: {ev} vs {v}")
    if L["weight_bits"] is None:
        continue
    for kind, key in (("weights_before", "weight_histogram_before"), ("weights_after", "weight_histogram_after")):
        tag = f"{kind}/{L['name']}"
        if not check(tag in hist_tags, f"histogram {tag} missing"):
            continue
        ev = [e for e in acc.Histograms(tag) if e.step == q["step"]]
        if not check(len(ev) == 1, f"{tag}: {len(ev)} events at step {q['step']}"):
            continue
        h = ev[0].histogram_value
        check(list(h.bucket) == [float(c) for c in L[key]["counts"]] and h.num == sum(L[key]["counts"])
              and np.allclose(h.bucket_limit, L[key]["edges"][1:], rtol=0, atol=0),
              f"{tag}: event histogram differs from quantization.json")

if failures:
    print(f"FAIL: {len(failures)} problems:")
    for f in failures[:20]:
        print("  " + f)
    sys.exit(1)
print(("" if resume_step is None else f"resumed at step {resume_step}: ") + f"tensorboard: {n_scalar_checks} metrics scalars in {len(expected)} tags equal metrics.jsonl; "
      f"{len(q['layers'])} layers in quantization.json agree with the weights (histograms equal "
      f"numpy.histogram), {act_checked} activation thresholds = k_a*m; event scalars and histograms match")
