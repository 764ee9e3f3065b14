#!/usr/bin/env python3
"""The peer on mobilenet_v2: Torch-Pruning (v1.6.x) structured L1 pruning of torchvision
MobileNetV2 to a MAC budget, exported to ONNX (opset 17), for latency comparisons (issue P1).
Same method as ../shared/bench/tp_prune_resnet18.py: bisection on the uniform channel ratio,
MagnitudePruner(L1), classifier ignored. Weights are torchvision's random initialisation (nothing
downloads here): with local (uniform) pruning the kept channel counts, and so the latency, do not
depend on the weights.

usage: tp_prune_mobilenet_v2.py [--target-macs 0.7] [--round-to N] -o OUT.onnx [--json]
(run it with the peers' venv: /tmp/peers/bin/python, see ../shared/bench/README.md)
"""
import argparse
import json

import torch
import torch_pruning as tp
import torchvision


def build(ratio, round_to):
    torch.manual_seed(0)
    m = torchvision.models.mobilenet_v2(weights=None).eval()
    ex = torch.randn(1, 3, 224, 224)
    pr = tp.pruner.MagnitudePruner(m, ex, importance=tp.importance.MagnitudeImportance(p=1),
                                   pruning_ratio=ratio, round_to=round_to,
                                   ignored_layers=[m.classifier])
    pr.step()
    return m, ex


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target-macs", type=float, default=0.7)
    ap.add_argument("--round-to", type=int, default=None)
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    base = torchvision.models.mobilenet_v2(weights=None).eval()
    ex = torch.randn(1, 3, 224, 224)
    base_macs, _ = tp.utils.count_ops_and_params(base, ex)
    lo, hi = 0.0, 0.95
    for _ in range(12):
        mid = (lo + hi) / 2
        m, _ = build(mid, a.round_to)
        macs, _ = tp.utils.count_ops_and_params(m, ex)
        lo, hi = (mid, hi) if macs / base_macs > a.target_macs else (lo, mid)
    m, ex = build(hi, a.round_to)
    macs, params = tp.utils.count_ops_and_params(m, ex)
    torch.onnx.export(m, ex, a.out, opset_version=17, input_names=["input"],
                      output_names=["logits"], dynamo=False)
    r = {"peer": "torch-pruning " + tp.__version__, "ratio": hi, "macs_fraction": macs / base_macs,
         "params": int(params), "out": a.out}
    print(json.dumps(r) if a.json else r)


if __name__ == "__main__":
    main()
