#!/usr/bin/env python3
"""Writes the MNIST test set in the other dataset formats coprune reads, for CI to check that
each gives the same accuracy as the IDX files: OUT/mnist.npz (x_test uint8 [N,1,28,28],
y_test int64), OUT/x.npy + OUT/y.npy (normalised float32 and int32 labels) and the first
--images images as grey PNGs in OUT/folder/test/<digit>/ (PNG written with zlib, no imaging
library needed). Usage: export_mnist.py MNIST_DIR OUT [--images N]"""
import argparse
import gzip
import os
import struct
import zlib

import numpy as np


def idx(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        data = f.read()
    _, _, dtype, rank = struct.unpack(">BBBB", data[:4])
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data[4 + 4 * rank:], np.uint8).reshape(dims)


def find(d, name):
    for n in (name, name + ".gz"):
        if os.path.exists(os.path.join(d, n)):
            return os.path.join(d, n)
    raise SystemExit(f"{name} not found in {d}")


def png(path, img):
    h, w = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


ap = argparse.ArgumentParser()
ap.add_argument("mnist")
ap.add_argument("out")
ap.add_argument("--images", type=int, default=1000)
a = ap.parse_args()
x = idx(find(a.mnist, "t10k-images-idx3-ubyte"))
y = idx(find(a.mnist, "t10k-labels-idx1-ubyte"))
os.makedirs(a.out, exist_ok=True)
np.savez_compressed(os.path.join(a.out, "mnist.npz"), x_test=x[:, None], y_test=y.astype(np.int64))
np.save(os.path.join(a.out, "x.npy"), ((x[:, None] / 255.0 - 0.1307) / 0.3081).astype(np.float32))
np.save(os.path.join(a.out, "y.npy"), y.astype(np.int32))
for i in range(a.images):
    d = os.path.join(a.out, "folder", "test", str(y[i]))
    os.makedirs(d, exist_ok=True)
    png(os.path.join(d, f"{i:05d}.png"), x[i])
print(f"wrote {len(y)} test samples and {a.images} PNGs to {a.out}")
