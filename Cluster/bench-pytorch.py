#!/usr/bin/env python3
"""PyTorch / onnxruntime throughput baseline for gdqr's models.

    PY=$(Cluster/python-env.sh torch onnx onnxruntime onnxscript numpy)
    "$PY" Cluster/bench-pytorch.py --model resnet --threads 2
    "$PY" Cluster/bench-pytorch.py --model all --threads 2 --modes train,infer,ort

Models are those of Tests/fixtures/models.py: "resnet" (depth 20, width 16 by
default) and "cnn" (width 32), on random 1x28x28 data, and the standard
networks of Tests/fixtures/zoo_models.py as configs/fashion-mnist-*.yaml build
them, on random 1x32x32 data: "vgg-small", "resnet18", "resnet50" (CIFAR stem,
width 64) and "mobilenetv2" (width 1.0, CIFAR stem). 1 input channel, 10
classes, no dataset is read. Batch 128 by default. The standard networks have
no train-fq4 mode (their PyTorch definitions have no fake-quant layers).

Modes (--modes, comma separated; default all):
  train      FP32 training step: forward, cross-entropy, backward, SGD step
             (lr 0.1, momentum 0.9, nesterov, wd 5e-4), model in train mode.
  train-fq4  same with 4-bit fake quantization: per-output-channel symmetric
             4-bit weights (torch.fake_quantize_per_channel_affine, -7..7) and
             per-tensor unsigned 4-bit activations after every ReLU
             (torch.fake_quantize_per_tensor_affine, 0..15).
  infer      FP32 inference, eval mode, torch.no_grad().
  ort        the FP32 eval model exported to ONNX (opset 17) and run by
             onnxruntime, intra_op_num_threads = --threads, sequential.
  ort-int8   onnxruntime static int8 quantization (quantize_static, per-channel
             int8 weights, uint8 activations, calibrated on random batches), in
             QDQ and in QOperator format.

Every result is one JSON line on stdout, e.g.
  {"framework": "pytorch", "model": "resnet", "mode": "train", "threads": 2,
   "batch": 128, "images_per_s": 812.3, ...}
framework is "pytorch", "onnxruntime", "onnxruntime-int8-qdq" or
"onnxruntime-int8-qop" (the last three always with mode "infer").
images_per_s = batch * timed iterations / wall time of those iterations, after
--warmup untimed iterations; timing runs until --seconds have passed and at
least --min-iters iterations are done. PyTorch runs channels_last by default
(--memory-format; faster here), the ONNX export is plain NCHW. cpu_ms_per_batch is the process CPU
time (all threads) per batch and loadavg_1m the machine's load when the mode
finished: on a shared machine a load above --threads means the figure is
unreliable. Progress goes to stderr.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import warnings

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "fixtures"))
import models  # noqa: E402
import zoo_models  # noqa: E402

# The standard networks, as their configs in configs/ build them (gdqr bench's names).
ZOO = {"vgg-small": dict(arch="vgg", depth=7),
       "resnet18": dict(arch="resnet", depth=18, width=64, block="basic"),
       "resnet50": dict(arch="resnet", depth=50, width=64, block="bottleneck"),
       "mobilenetv2": dict(arch="mobilenetv2", width_mult=1.0)}

ALL_MODES = ["train", "train-fq4", "infer", "ort", "ort-int8"]


def log(*a):
    print("bench-pytorch:", *a, file=sys.stderr, flush=True)


def timed(fn, warmup, min_iters, seconds):
    for _ in range(warmup):
        fn()
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - t0
        if n >= min_iters and el >= seconds:
            timed.cpu_s = time.process_time() - c0
            return n, el


def emit(args, framework, mode, n, el, **extra):
    rec = dict(framework=framework, model=args.model_name, mode=mode, threads=args.threads,
               batch=args.batch, images_per_s=round(args.batch * n / el, 2),
               ms_per_batch=round(1000 * el / n, 3), iters=n,
               cpu_ms_per_batch=round(1000 * timed.cpu_s / n, 3),
               loadavg_1m=round(os.getloadavg()[0], 2), **args.model_info, **extra)
    print(json.dumps(rec), flush=True)


def make_model(args):
    if args.model_name in ZOO:
        return zoo_models.build(**ZOO[args.model_name], stem="cifar", in_channels=1,
                                num_classes=10, image_size=args.hw)
    return models.build(args.model_name, width=args.width, depth=args.depth,
                        in_channels=1, num_classes=10)


def to_format(args, t):
    """Model or input tensor in the memory format PyTorch is timed with."""
    if args.memory_format == "channels_last":
        return t.to(memory_format=torch.channels_last)
    return t


def bench_train(args, fq4):
    torch.manual_seed(0)
    model = to_format(args, models.set_fq4(make_model(args), fq4))
    model.train()
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    opt = torch.optim.SGD([dict(params=decay, weight_decay=5e-4),
                           dict(params=no_decay, weight_decay=0.0)],
                          lr=0.1, momentum=0.9, nesterov=True)
    x = to_format(args, torch.randn(args.batch, 1, args.hw, args.hw))
    y = torch.randint(0, 10, (args.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    n, el = timed(step, args.warmup, args.min_iters, args.seconds)
    emit(args, "pytorch", "train-fq4" if fq4 else "train", n, el,
         version=torch.__version__, memory_format=args.memory_format)


def bench_infer(args):
    torch.manual_seed(0)
    model = to_format(args, make_model(args)).eval()
    x = to_format(args, torch.randn(args.batch, 1, args.hw, args.hw))

    def step():
        with torch.no_grad():
            model(x)

    n, el = timed(step, args.warmup, args.min_iters, args.seconds)
    emit(args, "pytorch", "infer", n, el, version=torch.__version__,
         memory_format=args.memory_format)


def export_onnx(args, path):
    torch.manual_seed(0)
    model = make_model(args).eval()
    # Give BN non-trivial running stats so the exported graph is representative.
    with torch.no_grad():
        model.train()
        for _ in range(2):
            model(torch.randn(args.batch, 1, args.hw, args.hw))
        model.eval()
    x = torch.randn(args.batch, 1, args.hw, args.hw)
    kw = dict(input_names=["input"], output_names=["logits"], opset_version=args.opset)
    try:
        # The TorchScript-based exporter: no onnxscript needed, static shapes.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(model, (x,), path, dynamo=False, **kw)
    except Exception as e:  # exporter removed or failing: use the dynamo one
        log(f"dynamo=False export failed ({type(e).__name__}: {e}); trying dynamo=True")
        torch.onnx.export(model, (x,), path, dynamo=True, **kw)
    return path


def ort_session(args, path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def bench_ort(args, path, framework):
    import numpy as np
    import onnxruntime as ort
    sess = ort_session(args, path)
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal((args.batch, 1, args.hw, args.hw), dtype=np.float32)
    n, el = timed(lambda: sess.run(None, {name: x}), args.warmup, args.min_iters, args.seconds)
    emit(args, framework, "infer", n, el, version=ort.__version__)


def quantize(args, fp32_path, out_path, fmt):
    import numpy as np
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    class RandomReader(CalibrationDataReader):
        def __init__(self, batches):
            rng = np.random.default_rng(1)
            self.data = iter([{"input": rng.standard_normal(
                (args.batch, 1, args.hw, args.hw), dtype=np.float32)} for _ in range(batches)])

        def get_next(self):
            return next(self.data, None)

    src = fp32_path
    try:  # shape inference + graph cleanup recommended before quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
        src = fp32_path.replace(".onnx", "-pre.onnx")
        if not os.path.exists(src):
            quant_pre_process(fp32_path, src)
    except Exception as e:
        log(f"quant_pre_process skipped ({type(e).__name__}: {e})")
        src = fp32_path
    quantize_static(src, out_path, RandomReader(args.calib_batches),
                    quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    return out_path


def run_model(args):
    zoo = args.model_name in ZOO
    args.hw = args.image_size or (32 if zoo else 28)
    info = dict(hw=args.hw)
    if zoo:
        info.update(ZOO[args.model_name])
    elif args.model_name == "resnet":
        info.update(depth=args.depth, width=args.width or 16)
    else:
        info.update(width=args.width or 32)
    args.model_info = info
    modes = args.modes
    if zoo and "train-fq4" in modes:
        log(f"{args.model_name}: no train-fq4 mode for the standard networks, skipped")
        modes = [m for m in modes if m != "train-fq4"]
    log(f"{args.model_name} {info} batch {args.batch} threads {args.threads}: {','.join(modes)}")
    if "train" in modes:
        bench_train(args, fq4=False)
    if "train-fq4" in modes:
        bench_train(args, fq4=True)
    if "infer" in modes:
        bench_infer(args)
    if "ort" in modes or "ort-int8" in modes:
        with tempfile.TemporaryDirectory(prefix="gdqr-onnx-") as d:
            fp32 = export_onnx(args, os.path.join(d, f"{args.model_name}.onnx"))
            if "ort" in modes:
                bench_ort(args, fp32, "onnxruntime")
            if "ort-int8" in modes:
                for fmt in ("qdq", "qop"):
                    try:
                        q = quantize(args, fp32, os.path.join(d, f"{args.model_name}-{fmt}.onnx"), fmt)
                        bench_ort(args, q, f"onnxruntime-int8-{fmt}")
                    except Exception as e:
                        log(f"int8 {fmt} failed: {type(e).__name__}: {e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="all", choices=["resnet", "cnn", *ZOO, "all"],
                    help="all = resnet and cnn")
    ap.add_argument("--depth", type=int, default=20, help="resnet depth (6n+2)")
    ap.add_argument("--width", type=int, default=None, help="default 16 (resnet) / 32 (cnn)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--hw", dest="image_size", type=int, default=None,
                    help="input height and width (default 28; 32 for the standard networks)")
    ap.add_argument("--modes", default=",".join(ALL_MODES),
                    help=f"comma-separated subset of {','.join(ALL_MODES)}")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--min-iters", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5.0, help="minimum timed wall time per mode")
    ap.add_argument("--memory-format", default="channels_last",
                    choices=["channels_last", "contiguous"],
                    help="layout of PyTorch's model and input (channels_last was ~1.6x "
                         "faster than contiguous NCHW for these models with oneDNN)")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--calib-batches", type=int, default=4)
    args = ap.parse_args()
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in args.modes if m not in ALL_MODES]
    if bad:
        ap.error(f"unknown modes {bad}")
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    for name in (["resnet", "cnn"] if args.model == "all" else [args.model]):
        args.model_name = name
        run_model(args)


if __name__ == "__main__":
    main()
