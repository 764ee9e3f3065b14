#!/usr/bin/env python3
"""Runs two ONNX models in onnxruntime on the same seeded random inputs and compares outputs.

Usage: ort_compare.py A.onnx B.onnx [--atol 0] [--rtol 0] [--seed 0] [--check]

Symbolic/unknown input dims are set to 1. `--check` also runs the ONNX checker on B (full check,
with external data). Exit 0 when every output matches within tolerance, 1 otherwise.
"""
import argparse
import sys

import numpy as np
import onnx
import onnxruntime as ort

TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(float16)": np.float16,
    "tensor(bool)": np.bool_,
}


def feeds(sess, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
        dt = TYPES.get(i.type)
        if dt is None:
            raise SystemExit(f"input {i.name}: unsupported type {i.type}")
        if np.issubdtype(dt, np.floating):
            out[i.name] = rng.standard_normal(shape).astype(dt)
        elif dt == np.bool_:
            out[i.name] = rng.integers(0, 2, shape).astype(dt)
        else:
            out[i.name] = rng.integers(0, 4, shape).astype(dt)
    return out


def compare(a, b, atol=0.0, rtol=0.0, seed=0, check=False):
    """Returns (ok, report lines)."""
    if check:
        onnx.checker.check_model(b, full_check=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sa = ort.InferenceSession(a, opts, providers=["CPUExecutionProvider"])
    sb = ort.InferenceSession(b, opts, providers=["CPUExecutionProvider"])
    f = feeds(sa, seed)
    ra = sa.run(None, f)
    rb = sb.run(None, f)
    ok = len(ra) == len(rb)
    lines = []
    for oa, ob, meta in zip(ra, rb, sa.get_outputs()):
        same_shape = oa.shape == ob.shape
        diff = float(np.max(np.abs(oa.astype(np.float64) - ob.astype(np.float64)))) if same_shape and oa.size else 0.0
        good = same_shape and np.allclose(oa, ob, atol=atol, rtol=rtol)
        ok &= bool(good)
        lines.append(f"{meta.name}: shape {oa.shape} vs {ob.shape}, max |diff| {diff:.3g} -> {'ok' if good else 'MISMATCH'}")
    return ok, lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--atol", type=float, default=0.0)
    ap.add_argument("--rtol", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    ok, lines = compare(args.a, args.b, args.atol, args.rtol, args.seed, args.check)
    print("\n".join(lines))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
