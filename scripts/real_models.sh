#!/usr/bin/env bash
# Real-model suite: every ONNX model in DIR goes through `coprune convert` (inline, and with
# external data), and the result must be protobuf-equal to the original (scripts/proto_equal.py),
# pass the ONNX checker, and give onnxruntime outputs identical to the original's
# (scripts/ort_compare.py). `coprune analyze` must succeed on each. Needs python3 with onnx,
# onnxruntime and numpy, and target/release/coprune.
set -euo pipefail
DIR=${1:?usage: real_models.sh MODELS_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/release/coprune
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
n=0
for model in "$DIR"/*.onnx; do
  name=$(basename "$model" .onnx)
  echo "--- $name"
  "$BIN" analyze "$model" | tail -n 1
  "$BIN" convert "$model" "$OUT/$name.onnx"
  python3 "$ROOT/scripts/proto_equal.py" "$model" "$OUT/$name.onnx"
  python3 "$ROOT/scripts/ort_compare.py" "$model" "$OUT/$name.onnx" --check
  "$BIN" convert "$model" "$OUT/${name}_ext.onnx" --external-data-threshold 1024
  python3 "$ROOT/scripts/proto_equal.py" "$model" "$OUT/${name}_ext.onnx"
  python3 "$ROOT/scripts/ort_compare.py" "$model" "$OUT/${name}_ext.onnx" --check
  n=$((n + 1))
done
if [ "$n" -lt 4 ]; then
  echo "error: expected the reference models in $DIR, found $n" >&2
  exit 1
fi
echo "real-model suite: $n models passed"

# The golden fixtures hold what ORT cannot run (custom ops); they must survive losslessly.
for model in "$ROOT/tests/fixtures/features.onnx" "$ROOT/tests/fixtures/external/model.onnx"; do
  "$BIN" convert "$model" "$OUT/fixture.onnx"
  python3 "$ROOT/scripts/proto_equal.py" "$model" "$OUT/fixture.onnx"
done
