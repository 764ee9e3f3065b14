#!/usr/bin/env bash
# Real-model suite: every ONNX model in DIR goes through `coprune convert` (inline, and with
# external data), and the result must be protobuf-equal to the original (scripts/proto_equal.py),
# pass the ONNX checker, and give onnxruntime outputs identical to the original's
# (scripts/ort_compare.py). `coprune analyze` must succeed on each. Then structured pruning (below). Needs python3 with onnx,
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

# Structured pruning: every reference model and export-shaped fixture is pruned; the pruned model
# must pass the ONNX checker and give the same onnxruntime outputs as the masked original
# (invariant 2: prune(model) == mask(model)).
prune_check() { # MODEL NAME ARGS...
  local model=$1 name=$2
  shift 2
  "$BIN" prune "$model" -o "$OUT/${name}_pruned.onnx" --write-masked "$OUT/${name}_masked.onnx" "$@" | tail -n 4
  python3 "$ROOT/scripts/ort_compare.py" "$OUT/${name}_masked.onnx" "$OUT/${name}_pruned.onnx" --atol 1e-4 --rtol 1e-4 --check
}
for name in resnet18 mobilenet_v2 lenet5_mnist mlp_784_128_10_mnist; do
  echo "--- prune $name --target-macs 0.5"
  prune_check "$DIR/$name.onnx" "$name" --target-macs 0.5
done
echo "--- prune resnet18 --global --criterion fpgm --round-to 8 --target-macs 0.6"
prune_check "$DIR/resnet18.onnx" resnet18_g --global --criterion fpgm --round-to 8 --target-macs 0.6
for model in "$ROOT"/tests/fixtures/prune/*.onnx; do
  name=$(basename "$model" .onnx)
  echo "--- prune fixture $name --ratio 0.5"
  if [ "$name" = layer_norm ]; then
    # Across a LayerNormalization the kept channels are renormalised: not a mask, so only the
    # checker and onnxruntime must accept it (tests/layer_norm_prune.rs checks the numbers).
    "$BIN" prune "$model" -o "$OUT/${name}_pruned.onnx" --ratio 0.5 | tail -n 4
    python3 "$ROOT/scripts/ort_compare.py" "$OUT/${name}_pruned.onnx" "$OUT/${name}_pruned.onnx" --check
    continue
  fi
  prune_check "$model" "$name" --ratio 0.5
done

# MNIST accuracy by coprune's runtime must equal onnxruntime's, on the full test set.
MNIST="$ROOT/assets/mnist"
for name in lenet5_mnist mlp_784_128_10_mnist lenet5_mnist_pruned_l1_local; do
  top1=$("$BIN" eval "$DIR/$name.onnx" --data "mnist:$MNIST" --threads 2 --json | python3 -c "import json,sys; print(json.load(sys.stdin)['top1'])")
  python3 "$ROOT/scripts/check_eval.py" "$DIR/$name.onnx" "$MNIST" "$top1"
done

# The other dataset formats hold the same MNIST test images: each must give the IDX accuracy.
echo "--- datasets: npz, npy pair, image folder"
python3 "$ROOT/scripts/export_mnist.py" "$MNIST" "$OUT/mx" --images 1000
acc() { "$BIN" eval "$DIR/lenet5_mnist.onnx" --threads 2 --json "$@" | python3 -c "import json,sys; print(json.load(sys.stdin)['top1'])"; }
ref=$(acc --data "mnist:$MNIST")
ref1k=$(acc --data "mnist:$MNIST" --limit 1000)
for got in "$(acc --data "npz:$OUT/mx/mnist.npz" --normalize 0.1307,0.3081)" "$(acc --data "npy:$OUT/mx/x.npy,$OUT/mx/y.npy")"; do
  python3 -c "import sys; print('npz/npy top-1', $got, 'idx', $ref); sys.exit(0 if $got == $ref else 1)"
done
got=$(acc --data "folder:$OUT/mx/folder,gray,mean=0.1307,std=0.3081")
python3 -c "import sys; print('folder top-1', $got, 'idx (first 1000)', $ref1k); sys.exit(0 if $got == $ref1k else 1)"

# Recovery: LeNet-5 pruned to half its MACs (above), fine-tuned one epoch on the full MNIST
# training set, must reach the issue's 99.0% (Torch-Pruning here: 99.01% local L1); the result
# must score the same in onnxruntime.
FULL="$DIR/../data/mnist"
echo "--- finetune lenet5_mnist_pruned (1 epoch, full MNIST)"
"$BIN" finetune "$OUT/lenet5_mnist_pruned.onnx" --data "mnist:$FULL" -o "$OUT/lenet5_ft.onnx" --threads 2 --json > "$OUT/ft.json"
top1=$(python3 -c "import json; print(json.load(open('$OUT/ft.json'))['report']['epochs'][-1]['test_accuracy'])")
python3 "$ROOT/scripts/check_eval.py" "$OUT/lenet5_ft.onnx" "$FULL" "$top1"
python3 -c "import sys; a=float('$top1'); print(f'fine-tuned top-1 {a:.4f}'); sys.exit(0 if a >= 0.990 else 1)"

# Fine-grained sparsity: MLP 784-128-10 at 90% (global magnitude) then one epoch of fine-tuning
# must reach the issue's 96% (Torch-Pruning + torch.nn.utils.prune here: 95.43%) and stay 90%
# sparse; resnet18 at 2:4 and at 90% must load and run in onnxruntime.
echo "--- mlp 90% unstructured + finetune"
"$BIN" prune "$DIR/mlp_784_128_10_mnist.onnx" -o "$OUT/mlp90.onnx" --pattern unstructured --sparsity 0.9 --global | tail -n 1
"$BIN" finetune "$OUT/mlp90.onnx" --data "mnist:$FULL" -o "$OUT/mlp90_ft.onnx" --lr 1e-3 --threads 2 --json > "$OUT/mlp_ft.json"
top1=$(python3 -c "import json; print(json.load(open('$OUT/mlp_ft.json'))['report']['epochs'][-1]['test_accuracy'])")
python3 "$ROOT/scripts/check_eval.py" "$OUT/mlp90_ft.onnx" "$FULL" "$top1"
python3 -c "import sys; a=float('$top1'); print(f'mlp 90% fine-tuned top-1 {a:.4f}'); sys.exit(0 if a >= 0.96 else 1)"
sp=$("$BIN" prune "$OUT/mlp90_ft.onnx" --pattern unstructured --threshold 0 --dry-run --json | python3 -c "import json,sys; print(json.load(sys.stdin)['sparsity'])")
python3 -c "import sys; s=float('$sp'); print(f'sparsity after fine-tuning {s:.4f}'); sys.exit(0 if s >= 0.899 else 1)"
for spec in "--pattern 2:4" "--pattern unstructured --sparsity 0.9 --global" "--pattern block:4x1 --sparsity 0.9"; do
  echo "--- resnet18 $spec"
  "$BIN" prune "$DIR/resnet18.onnx" -o "$OUT/r18_sparse.onnx" $spec | tail -n 1
  python3 "$ROOT/scripts/ort_compare.py" "$OUT/r18_sparse.onnx" "$OUT/r18_sparse.onnx" --check
done
# 2:4 with the choice shared by 4 output channels: still 2:4 in every row, valid in onnxruntime,
# and every 2:4 layer (all but the 3-channel stem) runs on the blocked kernel.
echo "--- resnet18 --pattern 2:4 --nm-rows 4"
"$BIN" prune "$DIR/resnet18.onnx" -o "$OUT/r18_24r4.onnx" --pattern 2:4 --nm-rows 4 | tail -n 1
python3 "$ROOT/scripts/ort_compare.py" "$OUT/r18_24r4.onnx" "$OUT/r18_24r4.onnx" --check
"$BIN" bench "$OUT/r18_24r4.onnx" --sparse on --runs 3 --warmup 1 > "$OUT/r18_24r4_bench.txt"
head -n 2 "$OUT/r18_24r4_bench.txt"
blocked=$(grep -c "zeros  block4x1" "$OUT/r18_24r4_bench.txt" || true)
python3 -c "import sys; n=int('$blocked'); print(f'{n} layers on the blocked kernel'); sys.exit(0 if n >= 20 else 1)"
# Sparse kernels: the 90%-sparse MLP evaluated on them gives onnxruntime's accuracy; the sparse
# resnet18 (4x1 blocks) runs on them; as sparse initializers it is over 3x smaller on disk and
# onnxruntime gives exactly the same outputs.
echo "--- sparse kernels and sparse initializers"
on=$("$BIN" eval "$OUT/mlp90_ft.onnx" --data "mnist:$FULL" --sparse on --json | python3 -c "import json,sys; print(json.load(sys.stdin)['top1'])")
python3 "$ROOT/scripts/check_eval.py" "$OUT/mlp90_ft.onnx" "$FULL" "$on"
"$BIN" bench "$OUT/r18_sparse.onnx" --sparse on --runs 3 --warmup 1 | head -n 2
"$BIN" convert "$OUT/r18_sparse.onnx" "$OUT/r18_sparse_init.onnx" --sparse-initializers | tail -n 1
# (the ONNX checker's basic check passes; its full check types sparse initializers as
# sparse_tensor, which no dense op accepts, so it is not run on this file)
python3 -c "import onnx; onnx.checker.check_model(onnx.load('$OUT/r18_sparse_init.onnx')); print('onnx checker: ok')"
python3 "$ROOT/scripts/ort_compare.py" "$OUT/r18_sparse.onnx" "$OUT/r18_sparse_init.onnx"
python3 -c "import os,sys; a,b=os.path.getsize('$OUT/r18_sparse.onnx'),os.path.getsize('$OUT/r18_sparse_init.onnx'); print(f'{a} -> {b} bytes'); sys.exit(0 if b*3 < a else 1)"
# Weight sharing: LeNet-5 with 16 shared values per layer keeps its accuracy (coprune and
# onnxruntime agree on the written model); resnet18's file shrinks 4x and passes the checker.
echo "--- compress --cluster 16"
"$BIN" compress "$DIR/lenet5_mnist.onnx" -o "$OUT/lenet_c16.onnx" --cluster 16 --data "mnist:$FULL" --json > "$OUT/c16.json"
top1=$(python3 -c "import json; print(json.load(open('$OUT/c16.json'))['after']['top1'])")
python3 "$ROOT/scripts/check_eval.py" "$OUT/lenet_c16.onnx" "$FULL" "$top1"
python3 -c "import sys; a=float('$top1'); print(f'lenet5 clustered (16) top-1 {a:.4f}'); sys.exit(0 if a >= 0.985 else 1)"
"$BIN" compress "$DIR/resnet18.onnx" -o "$OUT/r18_c16.onnx" --cluster 16 | tail -n 1
python3 "$ROOT/scripts/ort_compare.py" "$OUT/r18_c16.onnx" "$OUT/r18_c16.onnx" --check

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
