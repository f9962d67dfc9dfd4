#!/usr/bin/env python3
"""Run an exported ONNX model with onnxruntime over the test split and compare it with gdqr.

usage: onnx_check.py MODEL.onnx --data DIR --gdqr-json EVAL.json --gdqr-predictions PRED.txt
                     [--limit N] [--threads 2] [--batch 128] [--max-acc-diff-pp 0.05]
                     [--min-agreement 0.999] [--json OUT.json]

Checks the model with onnx.checker (full check, with shape inference), reads the
MNIST-layout IDX test files with numpy, feeds the pixels as float 0...255 (the
exported graph quantizes them to uint8 and normalises them itself), and compares
onnxruntime's top-1 with `gdqr eval --json` (accuracy_integer) and with
`gdqr infer` (one predicted class per image). Throughput: a timed pass at batch
--batch with --threads intra-op threads, sequential execution, after one warm-up
batch; with default session options, and again with session.disable_quant_qdq=1
("folded": onnxruntime then constant-folds the DequantizeLinear of the weights
into float initializers and runs its prepacked float convolutions; with its
default QDQ handling it keeps the weights as DequantizeLinear outputs, which its
Conv cannot prepack). The accuracy and agreement limits apply to both.
Exit status 0 when accuracy and agreement are within the limits, 1 otherwise.
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort


def read_idx(path: str) -> np.ndarray:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = data[0] << 8 | data[1], data[2], data[3]
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {data[:4].hex()})")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {arr.size} bytes of data for dims {dims}")
    return arr.reshape(dims)


def find(directory: str, stem: str) -> str:
    for name in (stem, stem + ".gz"):
        p = os.path.join(directory, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{directory}: no {stem}[.gz]")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--data", required=True)
    ap.add_argument("--gdqr-json", required=True, help="output of gdqr eval MODEL.gdqr --json")
    ap.add_argument("--gdqr-predictions", required=True, help="output of gdqr infer (one class per line)")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--max-acc-diff-pp", type=float, default=0.05)
    ap.add_argument("--min-agreement", type=float, default=0.999)
    ap.add_argument("--json", help="write the report here too")
    args = ap.parse_args()

    model = onnx.load(args.model)
    onnx.checker.check_model(model, full_check=True)
    opset = {o.domain: o.version for o in model.opset_import}
    types = {t.name: t.data_type for t in model.graph.initializer}
    n_int4 = sum(1 for t in types.values() if t == onnx.TensorProto.INT4)
    n_uint4 = sum(1 for t in types.values() if t == onnx.TensorProto.UINT4)

    images = read_idx(find(args.data, "t10k-images-idx3-ubyte"))
    labels = read_idx(find(args.data, "t10k-labels-idx1-ubyte")).astype(np.int64)
    if args.limit > 0:
        images, labels = images[: args.limit], labels[: args.limit]
    n = len(labels)
    x = images.reshape(n, 1, images.shape[1], images.shape[2]).astype(np.float32)

    with open(args.gdqr_json) as f:
        ev = json.load(f)
    with open(args.gdqr_predictions) as f:
        gdqr_pred = np.array([int(line) for line in f if line.strip()], dtype=np.int64)
    if args.limit > 0:
        gdqr_pred = gdqr_pred[: args.limit]   # gdqr infer predicts the whole file
    if ev.get("images") != n or len(gdqr_pred) != n:
        print(f"FAIL: gdqr evaluated {ev.get('images')} images and predicted {len(gdqr_pred)}, onnxruntime {n}")
        return 1

    def timed_predictions(config: dict) -> tuple:
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        for k, v in config.items():
            so.add_session_config_entry(k, v)
        sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        sess.run(None, {name: x[: args.batch]})  # warm-up, not timed
        t0 = time.perf_counter()
        out = [sess.run(None, {name: x[i: i + args.batch]})[0] for i in range(0, n, args.batch)]
        seconds = time.perf_counter() - t0
        return np.concatenate(out).argmax(axis=1), n / seconds

    pred, ips = timed_predictions({})
    pred_folded, ips_folded = timed_predictions({"session.disable_quant_qdq": "1"})

    acc_ort = float((pred == labels).mean())
    acc_gdqr = float(ev["accuracy_integer"])
    agreement = float((pred == gdqr_pred).mean())
    report = {
        "model": args.model, "bytes": os.path.getsize(args.model), "opset": opset.get("", 0),
        "ir_version": model.ir_version, "int4_initializers": n_int4, "uint4_initializers": n_uint4,
        "onnx": onnx.__version__, "onnxruntime": ort.__version__, "images": n,
        "accuracy_onnxruntime": acc_ort, "accuracy_gdqr_integer": acc_gdqr,
        "accuracy_diff_pp": 100 * (acc_ort - acc_gdqr), "agreement": agreement,
        "disagreements": int((pred != gdqr_pred).sum()),
        "accuracy_onnxruntime_folded": float((pred_folded == labels).mean()),
        "agreement_folded": float((pred_folded == gdqr_pred).mean()),
        "batch": args.batch, "threads": args.threads,
        "images_per_second_onnxruntime": ips, "images_per_second_onnxruntime_folded": ips_folded,
        "images_per_second_gdqr_integer": ev.get("images_per_second_integer"),
    }
    gdqr_ips = report["images_per_second_gdqr_integer"] or 0
    report["gdqr_over_onnxruntime_speed"] = gdqr_ips / ips
    report["gdqr_over_onnxruntime_folded_speed"] = gdqr_ips / ips_folded
    print(json.dumps(report, sort_keys=True))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, sort_keys=True, indent=1)
    ok = True
    # Limits in images, not in floats: 0.05 pp of 2000 images is one image, and
    # 100 * (0.493 - 0.4935) is 0.0500000000000005 in floating point.
    def too_far(diff_pp):
        return round(abs(diff_pp) * n / 100) > round(args.max_acc_diff_pp * n / 100, 6)

    def too_few(agree):
        return round(agree * n) < round(args.min_agreement * n, 6)

    if too_far(report["accuracy_diff_pp"]):
        print(f"FAIL: onnxruntime accuracy {100 * acc_ort:.2f}% vs gdqr {100 * acc_gdqr:.2f}% "
              f"(|diff| {abs(report['accuracy_diff_pp']):.3f} pp > {args.max_acc_diff_pp})")
        ok = False
    if too_few(agreement):
        print(f"FAIL: top-1 agreement {100 * agreement:.2f}% < {100 * args.min_agreement:.2f}%")
        ok = False
    acc_folded = report["accuracy_onnxruntime_folded"]
    if too_far(100 * (acc_folded - acc_gdqr)) or too_few(report["agreement_folded"]):
        print(f"FAIL: folded session: accuracy {100 * acc_folded:.2f}%, agreement {100 * report['agreement_folded']:.2f}%")
        ok = False
    if n_int4 == 0:
        print("FAIL: the model has no INT4 initializer")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
