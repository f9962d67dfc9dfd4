"""The Python side of Cluster/bench-loader-vs-pil.sh: an image folder's training
batches through PyTorch's DataLoader (num_workers worker processes, batch_size,
shuffle, drop_last, persistent workers, prefetch_factor 2), each sample made with
PIL and numpy doing what torchvision's transforms do (torchvision is not installed:
its wheels pin the CUDA build of torch):

  random-resized-crop: Image.open(f).convert(mode); the RandomResizedCrop.get_params
      box (area in [0.08, 1], log-uniform aspect in [3/4, 4/3], ten tries, then the
      centre crop); img.crop(box).resize((S, S), BILINEAR) (what F.resized_crop does
      on a PIL image); flip with p = 0.5 (RandomHorizontalFlip); ToTensor as
      np.asarray / 255 in CHW float32; Normalize (x - mean) / std.
  pad-crop: convert; Resize(S) + CenterCrop(S) as one resize of the centred square
      (skipped when the image is already S x S, as gdqr skips it); RandomCrop(S,
      padding=P) as np.pad with zeros and a random S x S window; flip; ToTensor;
      Normalize.

This is the work gdqr's image-folder loader does per training sample
(Sources/Datasets/ImageFolderSource.swift). Timing as `gdqr bench loader`: the first
batch is not timed (worker start-up), then batches are taken for --seconds and the
images after the first batch are counted. Prints one JSON object.
"""
import argparse
import json
import math
import os
import random
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

EXTENSIONS = (".png", ".jpg", ".jpeg")


def image_folder(split_dir):
    classes = sorted(d for d in os.listdir(split_dir) if not d.startswith(".")
                     and os.path.isdir(os.path.join(split_dir, d)))
    files = []
    for label, cls in enumerate(classes):
        for base, _, names in os.walk(os.path.join(split_dir, cls)):
            files += [(os.path.join(base, n), label) for n in sorted(names) if n.lower().endswith(EXTENSIONS)]
    return files


def rrc_box(w, h, min_scale):
    area = w * h
    for _ in range(10):
        target = area * random.uniform(min_scale, 1.0)
        aspect = math.exp(random.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            top, left = random.randint(0, h - ch), random.randint(0, w - cw)
            return left, top, left + cw, top + ch
    ratio = w / h
    cw, ch = w, h
    if ratio < 3 / 4:
        ch = int(round(cw / (3 / 4)))
    elif ratio > 4 / 3:
        cw = int(round(ch * (4 / 3)))
    left, top = (w - cw) // 2, (h - ch) // 2
    return left, top, left + cw, top + ch


class Folder(Dataset):
    def __init__(self, files, size, mode, crop, padding, min_scale, mean, std):
        self.files, self.size, self.mode, self.crop = files, size, mode, crop
        self.padding, self.min_scale = padding, min_scale
        channels = 3 if mode == "RGB" else 1
        self.mean = np.full((channels, 1, 1), mean, np.float32)
        self.std = np.full((channels, 1, 1), std, np.float32)

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        path, label = self.files[i]
        s = self.size
        with open(path, "rb") as f:
            img = Image.open(f).convert(self.mode)
        if self.crop == "random-resized-crop":
            img = img.crop(rrc_box(img.width, img.height, self.min_scale)).resize((s, s), Image.BILINEAR)
            a = np.asarray(img)
        else:
            if img.size != (s, s):
                side = min(img.size)
                x, y = (img.width - side) / 2, (img.height - side) / 2
                img = img.resize((s, s), Image.BILINEAR, box=(x, y, x + side, y + side))
            a = np.asarray(img)
            p = self.padding
            if p > 0:
                a = np.pad(a, ((p, p), (p, p)) + ((0, 0),) * (a.ndim - 2))
                top, left = random.randint(0, 2 * p), random.randint(0, 2 * p)
                a = a[top:top + s, left:left + s]
        if random.random() < 0.5:
            a = a[:, ::-1]
        a = a.reshape(s, s, -1).transpose(2, 0, 1).astype(np.float32) / 255.0
        return torch.from_numpy((a - self.mean) / self.std), label


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--channels", type=int, choices=(1, 3), required=True)
    ap.add_argument("--crop", choices=("pad-crop", "random-resized-crop"), default="random-resized-crop")
    ap.add_argument("--crop-padding", type=int, default=2)
    ap.add_argument("--min-scale", type=float, default=0.08)
    ap.add_argument("--mean", type=float, default=0.2860)
    ap.add_argument("--std", type=float, default=0.3530)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=5)
    a = ap.parse_args()
    torch.set_num_threads(1)
    files = image_folder(os.path.join(a.root, "train"))
    ds = Folder(files, a.size, "RGB" if a.channels == 3 else "L", a.crop, a.crop_padding, a.min_scale, a.mean, a.std)
    loader = DataLoader(ds, batch_size=a.batch, shuffle=True, drop_last=True, num_workers=a.workers,
                        persistent_workers=True, prefetch_factor=2)
    it = iter(loader)
    next(it)
    t0 = time.monotonic()
    images, elapsed = 0, 0.0
    while elapsed < a.seconds:
        try:
            x, _ = next(it)
        except StopIteration:
            it = iter(loader)
            continue
        images += x.shape[0]
        elapsed = time.monotonic() - t0
    print(json.dumps({"framework": "pil", "root": a.root, "size": a.size, "channels": a.channels, "crop": a.crop,
                      "workers": a.workers, "batch": a.batch, "images": images, "seconds": round(elapsed, 3),
                      "images_per_s": round(images / elapsed, 1),
                      "images_per_s_per_worker": round(images / elapsed / a.workers, 1)}))


if __name__ == "__main__":
    main()
