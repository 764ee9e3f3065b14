#!/usr/bin/env python3
"""Sparse models: onnxruntime (dense execution, zeros and all) against coprune's runtime with its
sparse kernels, one run, same machine (issue P2). Optionally DeepSparse too.

For resnet18 (batch 1) at 70% and 90% unstructured (per-layer magnitude), 90% in 4x1 blocks, 2:4
and 2:4 with each choice shared by 4 output channels (`--nm-rows 4`), and the MLP 784-128-10 at
90% (batch 256): the median latency of onnxruntime, coprune dense (--sparse off) and coprune
sparse (--sparse auto), and the speed-ups. Also the effective GFLOP/s of the sparse run
(2 x non-zero MACs / time) against the dense run's.

usage: bench/sparse_speed.py [--threads 1] [--deepsparse-python /tmp/ds/bin/python]
(DeepSparse: see ../shared/bench/README.md; it is given the same 90% resnet18.)
"""
import argparse
import json
import os
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("COPRUNE_SHARED", os.path.join(ROOT, "..", "shared"))
BIN = os.path.join(ROOT, "target", "release", "coprune")


def run(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True, check=True)
    return r.stdout


def bench(path, threads, batch, *extra):
    args = ["bench", path, "--threads", str(threads), "--batch", str(batch), "--json", *extra]
    return json.loads(run(*args))["median_ms"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--deepsparse-python", help="python of a venv with deepsparse 1.8.0")
    a = ap.parse_args()
    models = os.path.join(SHARED, "models")
    out = tempfile.mkdtemp()
    cases = [
        ("resnet18 dense", "resnet18.onnx", None, 1),
        ("resnet18 70%", "resnet18.onnx", ["--pattern", "unstructured", "--sparsity", "0.7"], 1),
        ("resnet18 90%", "resnet18.onnx", ["--pattern", "unstructured", "--sparsity", "0.9"], 1),
        ("resnet18 90% block 4x1", "resnet18.onnx", ["--pattern", "block:4x1", "--sparsity", "0.9"], 1),
        ("resnet18 2:4", "resnet18.onnx", ["--pattern", "2:4"], 1),
        ("resnet18 2:4 rows 4", "resnet18.onnx", ["--pattern", "2:4", "--nm-rows", "4"], 1),
        ("mlp dense (batch 256)", "mlp_784_128_10_mnist.onnx", None, 256),
        ("mlp 90% (batch 256)", "mlp_784_128_10_mnist.onnx", ["--pattern", "unstructured", "--sparsity", "0.9"], 256),
    ]
    print(f"threads {a.threads}")
    print(f"{'model':<26} {'zeros':>6} {'ORT ms':>8} {'coprune dense':>14} {'coprune sparse':>15} "
          f"{'vs ORT':>7} {'vs own dense':>12} {'sparse GFLOP/s':>15} {'dense GFLOP/s':>14}")
    for name, file, flags, batch in cases:
        src = os.path.join(models, file)
        path = src
        zeros = 0.0
        if flags:
            path = os.path.join(out, name.split(" (")[0].replace(" ", "_").replace("%", "").replace(":", "-") + ".onnx")
            zeros = json.loads(run("prune", src, "-o", path, *flags, "--json"))["sparsity"]
        macs = json.loads(run("analyze", path, "--json"))["totals"]["macs"] * batch
        ort = bench(path, a.threads, batch, "--runtime", "ort")
        dense = bench(path, a.threads, batch, "--sparse", "off")
        sparse = bench(path, a.threads, batch, "--sparse", "auto")
        nz_macs = macs * (1 - zeros)
        print(f"{name:<26} {100 * zeros:>5.1f}% {ort:>8.3f} {dense:>14.3f} {sparse:>15.3f} "
              f"{ort / sparse:>6.2f}x {dense / sparse:>11.2f}x {2 * nz_macs / sparse / 1e6:>15.1f} "
              f"{2 * macs / dense / 1e6:>14.1f}")
        if a.deepsparse_python and name == "resnet18 90%":
            ds = os.path.join(SHARED, "bench", "ds_bench.py")
            r = subprocess.run([a.deepsparse_python, ds, path, "--cores", str(a.threads), "--json"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                ms = json.loads(r.stdout.strip().splitlines()[-1])["median_ms"]
                print(f"{'  DeepSparse 1.8 (same)':<26} {'':>6} {'':>8} {'':>14} {ms:>15.3f} {ort / ms:>6.2f}x")
            else:
                print(f"  DeepSparse failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")


if __name__ == "__main__":
    main()
