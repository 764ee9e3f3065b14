#!/usr/bin/env python3
"""Training throughput of `coprune train --arch lenet5` against PyTorch on the CPU, same model
(LeNet-5: conv 20 → conv 50 → fc 500 → fc 10), same optimizer (Adam, lr 1e-3), same batch,
same MNIST samples, same thread count, in one run. Prints steps/s for each and the ratio.

usage: bench/train_speed.py [--batch 64] [--samples 12800] [--threads 1 2] [--peer-python P]
coprune's figure is its own report (training steps only, no evaluation); PyTorch's is timed
around the same number of steps after 20 warm-up steps.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("COPRUNE_SHARED", os.path.join(ROOT, "..", "shared"))

PEER = r'''
import gzip, sys, time, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
d, batch, samples, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
x = np.frombuffer(gzip.open(d + "/train-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
y = np.frombuffer(gzip.open(d + "/train-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
x = ((x.reshape(-1, 1, 28, 28)[:samples] / 255.0 - 0.1307) / 0.3081).astype(np.float32)
x, y = torch.from_numpy(x), torch.from_numpy(y[:samples].astype(np.int64))
class LeNet(nn.Module):
    def __init__(s):
        super().__init__()
        s.conv1, s.conv2 = nn.Conv2d(1, 20, 5), nn.Conv2d(20, 50, 5)
        s.fc1, s.fc2 = nn.Linear(800, 500), nn.Linear(500, 10)
    def forward(s, v):
        v = F.max_pool2d(F.relu(s.conv1(v)), 2)
        v = F.max_pool2d(F.relu(s.conv2(v)), 2)
        return s.fc2(F.relu(s.fc1(v.flatten(1))))
m = LeNet()
opt = torch.optim.Adam(m.parameters(), lr=1e-3)
perm = torch.randperm(samples)
def step(i):
    idx = perm[(i * batch) % samples:][:batch]
    opt.zero_grad()
    F.cross_entropy(m(x[idx]), y[idx]).backward()
    opt.step()
for i in range(20):
    step(i)
n = samples // batch
t = time.perf_counter()
for i in range(n):
    step(i)
print(n / (time.perf_counter() - t))
'''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--samples", type=int, default=12800)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--peer-python", default="/tmp/peers/bin/python")
    a = ap.parse_args()
    coprune = os.path.join(ROOT, "target", "release", "coprune")
    data = os.path.join(SHARED, "data", "mnist")
    out = os.path.join(tempfile.mkdtemp(), "lenet.onnx")
    print(f"LeNet-5, Adam, batch {a.batch}, {a.samples} MNIST samples")
    print(f"{'threads':>7} {'coprune steps/s':>16} {'PyTorch steps/s':>16} {'PyTorch/coprune':>16}")
    for t in a.threads:
        r = subprocess.run(
            [coprune, "train", "--arch", "lenet5", "--data", f"mnist:{data}", "-o", out,
             "--batch", str(a.batch), "--limit", str(a.samples), "--test-limit", "100",
             "--threads", str(t), "--schedule", "constant", "--json"],
            capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(r.stderr)
        ours = json.loads(r.stdout)["report"]["steps_per_s"]
        p = subprocess.run([a.peer_python, "-c", PEER, data, str(a.batch), str(a.samples), str(t)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(p.stderr)
        peer = float(p.stdout.strip())
        print(f"{t:>7} {ours:>16.1f} {peer:>16.1f} {peer / ours:>16.2f}")


if __name__ == "__main__":
    main()
