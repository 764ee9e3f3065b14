#!/usr/bin/env python3
"""Checks two ONNX files are equal as protobuf messages (field order aside), with the reference
`onnx` package. External data is compared by content. Usage: proto_equal.py A.onnx B.onnx"""
import sys

import onnx
from onnx import numpy_helper


def same(x, y):
    if x.dtype == object:
        return x.tolist() == y.tolist()
    return x.tobytes() == y.tobytes()


def main():
    a, b = sys.argv[1], sys.argv[2]
    ma = onnx.load(a, load_external_data=False)
    mb = onnx.load(b, load_external_data=False)
    ta = {t.name: numpy_helper.to_array(t, base_dir=a.rsplit("/", 1)[0] if "/" in a else ".") for t in ma.graph.initializer}
    tb = {t.name: numpy_helper.to_array(t, base_dir=b.rsplit("/", 1)[0] if "/" in b else ".") for t in mb.graph.initializer}
    same_tensors = ta.keys() == tb.keys() and all(
        ta[k].dtype == tb[k].dtype and ta[k].shape == tb[k].shape and same(ta[k], tb[k]) for k in ta
    )
    # Compare the rest with tensor data locations cleared (external vs inline may differ by design).
    for m in (ma, mb):
        for t in m.graph.initializer:
            t.ClearField("raw_data")
            t.ClearField("external_data")
            t.ClearField("data_location")
            t.ClearField("float_data")
    same_rest = ma == mb
    print(f"{b}: tensors {'identical' if same_tensors else 'DIFFER'}, graph {'identical' if same_rest else 'DIFFERS'}")
    sys.exit(0 if same_tensors and same_rest else 1)


if __name__ == "__main__":
    main()
