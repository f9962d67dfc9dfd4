#!/usr/bin/env python3
"""Check a .safetensors file with the reference `safetensors` package (numpy API).

usage: check_safetensors.py FILE.safetensors EXPECTED.json [--exact] [--rtol R] [--atol A]

EXPECTED.json maps tensor names to {"shape": [...], "sum": number} and, optionally,
"dtype": "F32" | "F64" | "I32" | "I64" | "U8" | ...; an optional "__metadata__"
object must equal the file's metadata. With --exact the file must contain no
tensors besides the expected ones. Exit status 0 when everything matches, 1 with
one line per mismatch on stderr otherwise, 2 on usage or read errors.
"""
import argparse
import json
import sys

DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("expected")
    ap.add_argument("--exact", action="store_true", help="no tensors besides the expected ones")
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--atol", type=float, default=1e-4)
    args = ap.parse_args()

    try:
        import numpy as np
        from safetensors import safe_open
        from safetensors.numpy import load_file
    except ImportError as e:
        print(f"check_safetensors: missing Python package: {e}", file=sys.stderr)
        return 2
    try:
        with open(args.expected) as f:
            expected = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{args.expected}: cannot read expected values: {e}", file=sys.stderr)
        return 2
    try:
        tensors = load_file(args.file)
        with safe_open(args.file, framework="numpy") as f:
            metadata = f.metadata() or {}
    except Exception as e:  # the package raises several exception types
        print(f"{args.file}: safetensors cannot read the file: {e}", file=sys.stderr)
        return 2

    errors = []
    want_meta = expected.pop("__metadata__", None)
    if want_meta is not None and want_meta != metadata:
        errors.append(f"metadata {metadata!r}, expected {want_meta!r}")
    for name, spec in sorted(expected.items()):
        if name not in tensors:
            errors.append(f"tensor '{name}': missing")
            continue
        t = tensors[name]
        if list(t.shape) != list(spec["shape"]):
            errors.append(f"tensor '{name}': shape {list(t.shape)}, expected {spec['shape']}")
        if "dtype" in spec and str(t.dtype) != DTYPES.get(spec["dtype"], spec["dtype"]):
            errors.append(f"tensor '{name}': dtype {t.dtype}, expected {spec['dtype']}")
        if "sum" in spec:
            total = float(np.asarray(t, dtype=np.float64).sum())
            want = float(spec["sum"])
            if not abs(total - want) <= args.atol + args.rtol * abs(want):
                errors.append(f"tensor '{name}': sum {total!r}, expected {want!r}")
    if args.exact:
        for name in sorted(set(tensors) - set(expected)):
            errors.append(f"tensor '{name}': not expected")

    for e in errors:
        print(f"{args.file}: {e}", file=sys.stderr)
    if not errors:
        print(f"{args.file}: {len(expected)} tensors match")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
