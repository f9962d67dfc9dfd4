"""Writes the synthetic RGB JPEG image folders of Cluster/bench-loader-vs-pil.sh:

    OUT/train/cNN/NNNNN.jpg (CLASSES classes, COUNT images), OUT/val/cNN/... (2 per class)

Each image is a SIZE x SIZE RGB picture made of a smooth random field (a 6x6 grid of
random colours upscaled bicubically) plus Gaussian noise (sigma 12), saved at JPEG
--quality (default 90): smooth regions with texture, so that the files are neither
trivially small (flat colour) nor incompressible (white noise). Deterministic: image
i of a split is drawn from numpy's PCG64 seeded with (seed, split, i).

    PY=$(Cluster/python-env.sh pillow numpy)
    "$PY" Cluster/loader_bench_folders.py OUT --size 64 --count 2000 [--quality 90]
"""
import argparse
import os

import numpy as np
from PIL import Image


def picture(rng, size):
    grid = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(grid, "RGB").resize((size, size), Image.BICUBIC), dtype=np.float32)
    noisy = smooth + rng.normal(0.0, 12.0, size=smooth.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8), "RGB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--seed", type=int, default=19)
    a = ap.parse_args()
    for split, n in (("train", a.count), ("val", 2 * a.classes)):
        for i in range(n):
            d = os.path.join(a.out, split, "c%02d" % (i % a.classes))
            os.makedirs(d, exist_ok=True)
            rng = np.random.default_rng([a.seed, split == "val", i])
            picture(rng, a.size).save(os.path.join(d, "%05d.jpg" % i), quality=a.quality)


if __name__ == "__main__":
    main()
