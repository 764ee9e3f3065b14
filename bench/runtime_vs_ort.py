#!/usr/bin/env python3
"""coprune's runtime against onnxruntime (the same library, loaded by `coprune bench --runtime
ort`) on the reference models, alternating A B A B in one run; prints a table of medians.

usage: bench/runtime_vs_ort.py [--rounds 3] [--models resnet18,mobilenet_v2] [--threads 1,2]
"""
import argparse
import json
import os
import statistics
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("COPRUNE_SHARED", os.path.join(ROOT, "..", "shared"))


def median_ms(model, runtime, threads):
    out = subprocess.run(
        [os.path.join(ROOT, "target", "release", "coprune"), "bench", model, "--runtime", runtime,
         "--threads", str(threads), "--json"],
        capture_output=True, text=True, check=True).stdout
    return json.loads(out)["median_ms"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", default="resnet18,mobilenet_v2")
    ap.add_argument("--threads", default="1,2")
    a = ap.parse_args()
    print(f"{'model':<14} {'threads':>7} {'coprune ms':>11} {'ort ms':>9} {'ratio':>6}")
    for name in a.models.split(","):
        model = os.path.join(SHARED, "models", f"{name}.onnx")
        for t in [int(x) for x in a.threads.split(",")]:
            ours, theirs = [], []
            for _ in range(a.rounds):
                ours.append(median_ms(model, "coprune", t))
                theirs.append(median_ms(model, "ort", t))
            o, r = statistics.median(ours), statistics.median(theirs)
            print(f"{name:<14} {t:>7} {o:>11.2f} {r:>9.2f} {o / r:>6.2f}")


if __name__ == "__main__":
    main()
