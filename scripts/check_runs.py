#!/usr/bin/env python3
"""Compares coprune runtime outputs written by `COPRUNE_EXPORT_RUNS=DIR cargo test -p
coprune-runtime --test run` with onnxruntime on the same inputs: relative error ≤ 1e-4
(|a − b| ≤ 1e-4 · max|b|). Usage: check_runs.py DIR"""
import glob
import json
import os
import sys

import numpy as np
import onnxruntime as ort

bad = 0
metas = sorted(glob.glob(os.path.join(sys.argv[1], "*.json")))
for meta_path in metas:
    meta = json.load(open(meta_path))
    base = meta_path[:-5]
    x = np.fromfile(base + ".in.f32", dtype=np.float32).reshape(meta["input_shape"])
    ours = np.fromfile(base + ".out.f32", dtype=np.float32).reshape(meta["output_shape"])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(meta["model"], opts, providers=["CPUExecutionProvider"])
    ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    err = float(np.max(np.abs(ours - ref)) / max(1e-12, float(np.max(np.abs(ref)))))
    ok = ours.shape == ref.shape and err <= 1e-4
    bad += not ok
    print(f"{os.path.basename(base)}: max relative error {err:.2e} -> {'ok' if ok else 'MISMATCH'}")
print(f"runtime vs onnxruntime: {len(metas) - bad} passed, {bad} failed")
sys.exit(1 if bad or not metas else 0)
