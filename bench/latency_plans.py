#!/usr/bin/env python3
"""Latency of pruned models in onnxruntime and coprune's runtime, one run, 1 thread: the dense
model, Torch-Pruning's L1 plan, coprune's MAC plan, and coprune's latency-aware plans (--target
host, local and global) at the same budget. Prints MACs, both latencies, and speed-up / MAC
reduction (issue P1).

resnet18 at 50%: Torch-Pruning's plan is ../shared/models/resnet18_pruned_l1_local.onnx.
mobilenet_v2 at 70%: Torch-Pruning's plan is made here by bench/tp_prune_mobilenet_v2.py with the
peers' Python (--tp-python /tmp/peers/bin/python; see ../shared/bench/README.md).

usage: bench/latency_plans.py [--model resnet18|mobilenet_v2] [--threads 1] [--rounds 3] [--tp-python PY]
"""
import argparse
import json
import os
import statistics
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
    ap.add_argument("--model", choices=["resnet18", "mobilenet_v2"], default="resnet18")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tp-python", help="python with torch + torch-pruning (mobilenet_v2)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of timing (medians)")
    a = ap.parse_args()
    t = str(a.threads)
    models = os.path.join(SHARED, "models")
    dense = os.path.join(models, a.model + ".onnx")
    out = tempfile.mkdtemp()
    budget = "0.5" if a.model == "resnet18" else "0.7"
    plans = [("dense", dense)]
    if a.model == "resnet18":
        plans.append(("Torch-Pruning L1 local", os.path.join(models, "resnet18_pruned_l1_local.onnx")))
    elif a.tp_python:
        tp = os.path.join(out, "tp.onnx")
        subprocess.run([a.tp_python, os.path.join(ROOT, "bench", "tp_prune_mobilenet_v2.py"),
                        "--target-macs", budget, "-o", tp], check=True, capture_output=True)
        plans.append(("Torch-Pruning L1 local", tp))
    pct = f"{100 * float(budget):.0f}%"
    for name, flags in [
        (f"coprune L1 {pct} MACs", ["--target-macs", budget]),
        (f"coprune latency {budget} (host)", ["--target", "host", "--latency", budget, "--threads", t]),
        (f"coprune latency {budget} global (host)", ["--target", "host", "--latency", budget, "--global", "--threads", t]),
        (f"coprune ORT-latency {budget} (host)", ["--target", "host", "--latency-model", "measured-ort", "--latency", budget, "--threads", t]),
        (f"coprune ORT-latency {budget} global (host)", ["--target", "host", "--latency-model", "measured-ort", "--latency", budget, "--global", "--threads", t]),
    ]:
        path = os.path.join(out, name.replace(" ", "_") + ".onnx")
        run("prune", dense, "-o", path, *flags)
        plans.append((name, path))
    base = None
    # Every plan is timed once per round, round after round, and the medians are compared: the
    # VM's speed drifts over minutes, so timing one plan after another would skew the ratios.
    macs = {name: json.loads(run("analyze", path, "--json"))["totals"]["macs"] for name, path in plans}
    times = {name: ([], []) for name, _ in plans}
    for _ in range(a.rounds):
        for name, path in plans:
            times[name][0].append(json.loads(run("bench", path, "--runtime", "ort", "--threads", t, "--json"))["median_ms"])
            times[name][1].append(json.loads(run("bench", path, "--threads", t, "--json"))["median_ms"])
    print(f"{'plan':<40} {'MACs %':>7} {'ORT ms':>8} {'coprune ms':>11} {'ORT speed-up / MAC reduction':>30} {'ORT vs TP':>10}")
    base = macs["dense"], statistics.median(times["dense"][0])
    tp = [statistics.median(times[n][0]) for n, _ in plans if n.startswith("Torch-Pruning")]
    for name, _ in plans:
        ort, ours = (statistics.median(v) for v in times[name])
        ratio = (base[1] / ort) / (base[0] / macs[name])
        vs_tp = f"{tp[0] / ort:.2f}" if tp else "-"
        print(f"{name:<40} {100 * macs[name] / base[0]:>6.1f}% {ort:>8.2f} {ours:>11.2f} {ratio:>30.2f} {vs_tp:>10}")

if __name__ == "__main__":
    main()
