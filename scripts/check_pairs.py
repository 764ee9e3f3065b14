#!/usr/bin/env python3
"""Checks every DIR/*.pruned.onnx against its DIR/*.masked.onnx in onnxruntime (same seeded random
inputs, outputs within 1e-4) and runs the ONNX checker on the pruned one. Usage: check_pairs.py DIR"""
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ort_compare import compare  # noqa: E402

pairs = sorted(glob.glob(os.path.join(sys.argv[1], "*.pruned.onnx")))
bad = 0
for p in pairs:
    m = p.replace(".pruned.onnx", ".masked.onnx")
    try:
        ok, lines = compare(m, p, atol=1e-4, rtol=1e-4, check=True)
    except Exception as e:  # checker or runtime refusal counts as a failure
        ok, lines = False, [str(e)]
    if not ok:
        bad += 1
        print(f"FAIL {p}:\n" + "\n".join(lines))
print(f"pruned-vs-masked pairs: {len(pairs) - bad} passed, {bad} failed")
sys.exit(1 if bad or not pairs else 0)
