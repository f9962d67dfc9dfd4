#!/usr/bin/env python3
"""Compare the float tensors of two safetensors files (numpy only).

usage: compare_safetensors.py A B [--rtol R]
Prints the relative difference of the whole parameter vector,
||a - b||_2 / ||a||_2 over every float tensor, and the worst single tensor
(max |a-b| / max |a| within it, which near-zero tensors such as freshly
initialised biases inflate); exits 1 when the whole-vector figure exceeds
--rtol (default 1e-5), 2 on bad input.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64}


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] not in DTYPES:
            continue
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[base + b:base + e], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def main():
    args = sys.argv[1:]
    rtol = 1e-5
    if "--rtol" in args:
        i = args.index("--rtol")
        rtol = float(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    a, b = read(args[0]), read(args[1])
    if set(a) != set(b):
        print(f"tensor names differ: only in A {sorted(set(a) - set(b))[:5]}, only in B {sorted(set(b) - set(a))[:5]}",
              file=sys.stderr)
        return 1
    worst, worst_name = 0.0, None
    num = den = 0.0
    for name in sorted(a):
        x, y = a[name].astype(np.float64), b[name].astype(np.float64)
        num += float(((x - y) ** 2).sum())
        den += float((x ** 2).sum())
        scale = max(np.abs(x).max(), 1e-12)
        rel = float(np.abs(x - y).max() / scale)
        if rel > worst:
            worst, worst_name = rel, name
    whole = (num / max(den, 1e-300)) ** 0.5
    print(f"relative difference {whole:.3e} (whole vector; tolerance {rtol:.1e}); "
          f"worst tensor {worst_name}: {worst:.3e}")
    return 0 if whole <= rtol else 1


if __name__ == "__main__":
    sys.exit(main())
