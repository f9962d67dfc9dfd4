#!/usr/bin/env python3
"""An exported scene model (ONNX) under onnxruntime against the integer engine's output maps.

usage: onnx_scene_check.py MODEL.onnx SCENES_DIR OUTPUTS.f32 [--json OUT.json]

SCENES_DIR holds instances.json and the PGM images it names (`gdqr scenes write`);
OUTPUTS.f32 the integer engine's maps for those scenes in that order, raw float32
[N][C][H][W] (`gdqr eval MODEL.gdqr --scenes SCENES_DIR --save-outputs OUTPUTS.f32`).
The model's output is CenterNet's map (C = classes + 4: heatmap logits, size,
offset) or per-pixel segmentation logits. Reports the largest and mean absolute
difference, and the agreement of the per-position argmax over the class channels
(the heatmap channels for CenterNet). Float summation order and a requantization
level flipped at a rounding boundary make small local differences; the check
requires an argmax agreement of at least 99.5% and a mean absolute difference
below 1e-3 of the outputs' mean magnitude. Exit status 0 when both hold.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def read_pgm(path):
    with open(path, "rb") as f:
        data = f.read()
    fields, pos = [], 0
    while len(fields) < 4:           # magic, width, height, maxval; '#' comments skipped
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P5" or int(fields[3]) > 255:
        raise ValueError(f"{path}: not an 8-bit binary PGM")
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(data, dtype=np.uint8, count=w * h, offset=pos + 1).reshape(h, w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("scenes")
    ap.add_argument("outputs")
    ap.add_argument("--json")
    a = ap.parse_args()
    onnx.checker.check_model(onnx.load(a.model), full_check=True)
    coco = json.load(open(os.path.join(a.scenes, "instances.json")))
    images = np.stack([read_pgm(os.path.join(a.scenes, im["file_name"])) for im in coco["images"]])
    x = images[:, None, :, :].astype(np.float32)
    sess = ort.InferenceSession(a.model, providers=["CPUExecutionProvider"])
    y = np.concatenate([sess.run(None, {"image": x[i:i + 64]})[0] for i in range(0, len(x), 64)])
    ours = np.fromfile(a.outputs, dtype=np.float32).reshape(y.shape)
    classes = y.shape[1] - 4 if y.shape[2] != x.shape[2] else y.shape[1]   # CenterNet maps are smaller
    diff = np.abs(y - ours)
    agree = float(np.mean(np.argmax(y[:, :classes], axis=1) == np.argmax(ours[:, :classes], axis=1)))
    scale = float(np.mean(np.abs(ours)))
    r = {"scenes": int(len(x)), "shape": list(y.shape), "max_abs_diff": float(diff.max()),
         "mean_abs_diff": float(diff.mean()), "mean_abs_output": scale, "argmax_agreement": agree}
    print(json.dumps(r))
    if a.json:
        json.dump(r, open(a.json, "w"), indent=1)
    ok = agree >= 0.995 and r["mean_abs_diff"] <= 1e-3 * scale
    if not ok:
        print("FAIL: onnxruntime and the integer engine disagree beyond the limits", file=sys.stderr)
    sys.exit(0 if ok else 1)


main()
