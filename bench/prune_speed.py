#!/usr/bin/env python3
"""End-to-end speed of `coprune prune` against the peer (Torch-Pruning, ../shared/bench/
tp_prune_resnet18.py) on ResNet-18 at 50% MACs, alternating A B A B in one run; prints medians.

usage: bench/prune_speed.py [--runs 5] [--peer-python /tmp/peers/bin/python] [--json]
Both sides are timed as whole processes (load, plan, write; for the peer: interpreter and torch
imports, its MAC-ratio search, prune, ONNX export). The peer's own JSON split is reported too.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("COPRUNE_SHARED", os.path.join(ROOT, "..", "shared"))


def timed(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
    return dt, r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--peer-python", default="/tmp/peers/bin/python")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    coprune = os.path.join(ROOT, "target", "release", "coprune")
    model = os.path.join(SHARED, "models", "resnet18.onnx")
    peer = os.path.join(SHARED, "bench", "tp_prune_resnet18.py")
    out = tempfile.mkdtemp()
    ours, theirs, peer_json, our_json = [], [], None, None
    for _ in range(a.runs):
        dt, text = timed([coprune, "prune", model, "-o", os.path.join(out, "c.onnx"), "--target-macs", "0.5", "--json"])
        ours.append(dt)
        our_json = json.loads(text)
        dt, text = timed([a.peer_python, peer, "--target-macs", "0.5", "-o", os.path.join(out, "tp.onnx"), "--json"])
        theirs.append(dt)
        peer_json = json.loads(text.strip().splitlines()[-1])
    r = {
        "coprune_median_s": statistics.median(ours),
        "coprune_runs_s": ours,
        "coprune_macs_fraction": our_json["measured"]["macs"] / our_json["dense"]["macs"],
        "coprune_split_ms": our_json["millis"],
        "peer_median_s": statistics.median(theirs),
        "peer_runs_s": theirs,
        "peer_report": peer_json,
        "speedup_whole_process": statistics.median(theirs) / statistics.median(ours),
    }
    print(json.dumps(r, indent=2) if a.json else
          f"coprune prune resnet18 --target-macs 0.5: median {r['coprune_median_s']:.3f} s "
          f"(MACs {r['coprune_macs_fraction']:.3f})\n"
          f"Torch-Pruning script (whole process):    median {r['peer_median_s']:.3f} s "
          f"(MACs {peer_json['macs_fraction']:.3f}; imports {peer_json['import_s']:.2f} s, ratio search "
          f"{peer_json['ratio_search_s']:.2f} s, prune {peer_json['prune_s']:.2f} s, export {peer_json['export_s']:.2f} s)\n"
          f"speed-up: {r['speedup_whole_process']:.1f}x")


if __name__ == "__main__":
    main()
