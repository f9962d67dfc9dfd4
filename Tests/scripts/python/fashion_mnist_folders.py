"""Writes Fashion-MNIST (the IDX files of Debian's dataset-fashion-mnist, the
default data.root of the configs) as an image folder for data.dataset image-folder:

    OUT/train/0-tshirt/00000.png ... OUT/val/9-ankle-boot/09999.png

Class folders are prefixed with the label so that their sorted order is the IDX
label order; files are named by their index in the IDX file, which the reader's
sample order (path below the class folder, then class) follows. The PNGs hold the
IDX bytes unchanged (grey, 28x28), so a run on the folder sees the same pixels as
the IDX run. --format jpeg writes JPEGs of the given --quality (lossy).

    PY=$(Cluster/python-env.sh pillow numpy)
    "$PY" Tests/scripts/python/fashion_mnist_folders.py OUT [--format png|jpeg] [--quality 90] [--limit N]
        [--val-limit N] [--repeat K]

--repeat K writes each training image K times, copy k shifted right by k pixels
(wrapping) and named NNNNN-k: a larger folder for memory and throughput checks.
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

CLASSES = ["0-tshirt", "1-trouser", "2-pullover", "3-dress", "4-coat",
           "5-sandal", "6-shirt", "7-sneaker", "8-bag", "9-ankle-boot"]


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    dims = magic & 0xFF
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(directory, name):
    for candidate in (name + ".gz", name):
        p = os.path.join(directory, candidate)
        if os.path.exists(p):
            return p
    raise SystemExit(f"{os.path.join(directory, name)}.gz: missing file (also looked for the uncompressed name)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--idx-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--format", choices=["png", "jpeg"], default="png")
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--limit", type=int, default=0, help="first N images of each split; 0 = all")
    ap.add_argument("--val-limit", type=int, default=-1, help="first N validation images; default: --limit")
    ap.add_argument("--repeat", type=int, default=1, help="copies of each training image (shifted)")
    a = ap.parse_args()
    ext = "png" if a.format == "png" else "jpg"
    for split, prefix in (("train", "train"), ("val", "t10k")):
        images = read_idx(find(a.idx_dir, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(find(a.idx_dir, f"{prefix}-labels-idx1-ubyte"))
        limit = a.val_limit if split == "val" and a.val_limit >= 0 else a.limit
        n = len(labels) if limit <= 0 else min(limit, len(labels))
        copies = a.repeat if split == "train" else 1
        for c in CLASSES:
            os.makedirs(os.path.join(a.out, split, c), exist_ok=True)
        for i in range(n):
            for k in range(copies):
                name = f"{i:05d}.{ext}" if copies == 1 else f"{i:05d}-{k}.{ext}"
                im = Image.fromarray(np.roll(images[i], k, axis=1), "L")
                path = os.path.join(a.out, split, CLASSES[labels[i]], name)
                if ext == "png":
                    im.save(path)
                else:
                    im.save(path, quality=a.quality)
        print(f"{split}: {n * copies} images in {os.path.join(a.out, split)}")


if __name__ == "__main__":
    main()
