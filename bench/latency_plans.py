#!/usr/bin/env python3
"""Latency of pruned ResNet-18s in onnxruntime and coprune's runtime, one run, 1 thread: the dense
model, Torch-Pruning's L1 plan (../shared/models/resnet18_pruned_l1_local.onnx), coprune's
50%-MAC plan, and coprune's latency-aware plans (--target host --latency 0.5, local and global).
Prints MACs, both latencies, and speed-up / MAC reduction (issue P1).

usage: bench/latency_plans.py [--threads 1]
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    t = str(a.threads)
    models = os.path.join(SHARED, "models")
    dense = os.path.join(models, "resnet18.onnx")
    out = tempfile.mkdtemp()
    plans = [("dense", dense), ("Torch-Pruning L1 local", os.path.join(models, "resnet18_pruned_l1_local.onnx"))]
    for name, flags in [
        ("coprune L1 50% MACs", ["--target-macs", "0.5"]),
        ("coprune latency 0.5 (host)", ["--target", "host", "--latency", "0.5", "--threads", t]),
        ("coprune latency 0.5 global (host)", ["--target", "host", "--latency", "0.5", "--global", "--threads", t]),
        ("coprune ORT-latency 0.5 (host)", ["--target", "host", "--latency-model", "measured-ort", "--latency", "0.5", "--threads", t]),
        ("coprune ORT-latency 0.5 global (host)", ["--target", "host", "--latency-model", "measured-ort", "--latency", "0.5", "--global", "--threads", t]),
    ]:
        path = os.path.join(out, name.replace(" ", "_") + ".onnx")
        run("prune", dense, "-o", path, *flags)
        plans.append((name, path))
    base = None
    print(f"{'plan':<40} {'MACs %':>7} {'ORT ms':>8} {'coprune ms':>11} {'ORT speed-up / MAC reduction':>30}")
    for name, path in plans:
        macs = json.loads(run("analyze", path, "--json"))["totals"]["macs"]
        ort = json.loads(run("bench", path, "--runtime", "ort", "--threads", t, "--json"))["median_ms"]
        ours = json.loads(run("bench", path, "--threads", t, "--json"))["median_ms"]
        if base is None:
            base = (macs, ort)
        ratio = (base[1] / ort) / (base[0] / macs)
        print(f"{name:<40} {100 * macs / base[0]:>6.1f}% {ort:>8.2f} {ours:>11.2f} {ratio:>30.2f}")


if __name__ == "__main__":
    main()
