#!/usr/bin/env python3
"""MNIST test accuracy of a model in onnxruntime (reference for `coprune eval`).
Usage: check_eval.py MODEL.onnx MNIST_DIR COPRUNE_TOP1  → exit 0 when they agree exactly."""
import gzip
import os
import sys

import numpy as np
import onnxruntime as ort

model, d, ours = sys.argv[1], sys.argv[2], float(sys.argv[3])
imgs = np.frombuffer(gzip.open(os.path.join(d, "t10k-images-idx3-ubyte.gz")).read()[16:], np.uint8)
labels = np.frombuffer(gzip.open(os.path.join(d, "t10k-labels-idx1-ubyte.gz")).read()[8:], np.uint8)
x = ((imgs.astype(np.float32) / 255 - 0.1307) / 0.3081).reshape(len(labels), 28, 28)
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
inp = sess.get_inputs()[0]
batch = inp.shape[0] if isinstance(inp.shape[0], int) else len(labels)
rest = list(inp.shape[1:])
logits = np.concatenate([
    sess.run(None, {inp.name: x[i:i + batch].reshape([len(x[i:i + batch])] + rest)})[0]
    for i in range(0, len(labels), batch)
])
ref = float((logits.argmax(1) == labels).mean())
print(f"{os.path.basename(model)}: onnxruntime top-1 {ref:.4f}, coprune {ours:.4f} -> {'ok' if abs(ref - ours) < 1e-9 else 'MISMATCH'}")
sys.exit(0 if abs(ref - ours) < 1e-9 else 1)
