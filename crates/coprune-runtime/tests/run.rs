//! Runtime results: hand-checked small graphs here; the real models are compared with
//! onnxruntime by CI (`COPRUNE_EXPORT_RUNS=DIR` writes inputs and outputs for
//! scripts/check_runs.py).

use coprune_runtime::{Session, Value};
use coprune_testutil::{random_cnn, shared_models_dir, small_cnn, Rng};
use std::collections::HashMap;

fn input_for(s: &Session, seed: u64) -> Vec<Value> {
    let mut rng = Rng::new(seed);
    s.input_shapes()
        .into_iter()
        .map(|(_, shape)| {
            let n = shape.iter().product();
            Value::f32(shape, (0..n).map(|_| rng.f32()).collect())
        })
        .collect()
}

/// Writes input, output and shapes for CI's onnxruntime comparison.
fn export(name: &str, model_path: &std::path::Path, input: &[Value], output: &[Value]) {
    let Some(dir) = std::env::var_os("COPRUNE_EXPORT_RUNS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let raw = |v: &Value| -> Vec<u8> {
        v.as_f32()
            .unwrap()
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect()
    };
    std::fs::write(dir.join(format!("{name}.in.f32")), raw(&input[0])).unwrap();
    std::fs::write(dir.join(format!("{name}.out.f32")), raw(&output[0])).unwrap();
    let meta = format!(
        "{{\"model\": {:?}, \"input_shape\": {:?}, \"output_shape\": {:?}}}",
        model_path.display().to_string(),
        input[0].shape(),
        output[0].shape()
    );
    std::fs::write(dir.join(format!("{name}.json")), meta).unwrap();
}

#[test]
fn relu_gemm_by_hand() {
    let mut b = coprune_testutil::GraphBuilder::new(0);
    let x = b.input("x", coprune_ir::DType::F32, &["2", "3"]);
    let w = "w".to_string();
    b.graph
        .initializers
        .push(coprune_ir::Tensor::from_f32(&w, vec![2, 3], &[1., 0., -1., 2., 1., 0.]).unwrap());
    let y = b.op(
        "Gemm",
        &[&x, &w],
        vec![("transB", coprune_ir::AttrValue::Int(1))],
    );
    let r = b.op("Relu", &[&y], vec![]);
    b.output(&r);
    let m = b.into_model();
    let s = Session::new(&m, &HashMap::from([("x".to_string(), vec![2, 3])]), 1).unwrap();
    let out = s
        .run(vec![Value::f32(vec![2, 3], vec![1., 2., 3., -1., 0., 1.])])
        .unwrap();
    // Row 1: [1−3, 2+2] = [−2, 4] → [0, 4]; row 2: [−1−1, −2] → [0, 0].
    assert_eq!(out[0].as_f32().unwrap(), &[0., 4., 0., 0.]);
}

/// The statistics hook sees the input and every computed value by name, with the values the
/// graph computes, and changes no output.
#[test]
fn observer_sees_every_value_without_changing_outputs() {
    let m = small_cnn(3);
    let s = Session::observable(
        &m,
        &HashMap::from([("input".to_string(), vec![2, 3, 16, 16])]),
        2,
    )
    .unwrap();
    let x = input_for(&s, 1);
    let plain = s.run(x.clone()).unwrap();
    let mut seen: Vec<(String, Vec<usize>)> = Vec::new();
    let observed = s
        .run_observed(x, &mut |name, v| {
            seen.push((name.to_string(), v.shape().to_vec()))
        })
        .unwrap();
    assert_eq!(plain, observed);
    assert_eq!(seen[0], ("input".to_string(), vec![2, 3, 16, 16]));
    let computed: Vec<&str> = m
        .graph
        .nodes
        .iter()
        .map(|n| n.outputs[0].as_str())
        .collect();
    for c in &computed {
        assert!(
            seen.iter().any(|(n, _)| n == c),
            "{c} not observed: {seen:?}"
        );
    }
    let last = &m.graph.outputs[0].name;
    let (_, shape) = seen.iter().find(|(n, _)| n == last).unwrap();
    assert_eq!(shape, plain[0].shape());
}

#[test]
fn wrong_input_shape_is_an_error() {
    let m = small_cnn(0);
    let s = Session::new(
        &m,
        &HashMap::from([("input".to_string(), vec![1, 3, 16, 16])]),
        1,
    )
    .unwrap();
    let e = s
        .run(vec![Value::f32(vec![1, 3, 8, 8], vec![0.0; 192])])
        .unwrap_err();
    assert!(e.to_string().contains("input `input`"), "{e}");
}

#[test]
fn unsupported_op_is_named() {
    let mut b = coprune_testutil::GraphBuilder::new(0);
    let x = b.input("x", coprune_ir::DType::F32, &["1", "4"]);
    let y = b.op("Hardmax", &[&x], vec![]);
    b.output(&y);
    let e = match Session::new(
        &b.into_model(),
        &HashMap::from([("x".to_string(), vec![1, 4])]),
        1,
    ) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("Hardmax has no kernel yet"),
    };
    assert!(e.contains("Hardmax") && e.contains("not supported"), "{e}");
}

#[test]
fn random_graphs_run_and_batch_consistently() {
    for seed in 0..40u64 {
        let m = random_cnn(seed);
        let one = Session::new(
            &m,
            &HashMap::from([("input".to_string(), vec![1, 4, 8, 8])]),
            1,
        )
        .unwrap();
        let two = Session::new(
            &m,
            &HashMap::from([("input".to_string(), vec![2, 4, 8, 8])]),
            2,
        )
        .unwrap();
        let a = input_for(&one, seed);
        let b = input_for(&one, seed + 1000);
        let ya = one.run(a.clone()).unwrap();
        let yb = one.run(b.clone()).unwrap();
        let mut both = a[0].as_f32().unwrap().to_vec();
        both.extend_from_slice(b[0].as_f32().unwrap());
        let y2 = two.run(vec![Value::f32(vec![2, 4, 8, 8], both)]).unwrap();
        let mut want = ya[0].as_f32().unwrap().to_vec();
        want.extend_from_slice(yb[0].as_f32().unwrap());
        let got = y2[0].as_f32().unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                "seed {seed}: {g} vs {w}"
            );
        }
    }
}

#[test]
fn recycled_outputs_are_reused_without_changing_results() {
    let m = small_cnn(3);
    // Batch 512: 5120 logits, long enough to be kept for reuse.
    let shape = vec![512, 3, 16, 16];
    let s = Session::new(&m, &HashMap::from([("input".to_string(), shape)]), 1).unwrap();
    let (a, b) = (input_for(&s, 1), input_for(&s, 2));
    let ya = s.run(a.clone()).unwrap();
    let want = ya[0].as_f32().unwrap().to_vec();
    let ptr = ya[0].as_f32().unwrap().as_ptr();
    s.recycle(ya);
    // Had the buffer been dropped, this allocation would likely take its place.
    let hold = vec![0f32; want.len()];
    let yb = s.run(b).unwrap();
    assert_eq!(
        yb[0].as_f32().unwrap().as_ptr(),
        ptr,
        "the handed-back output is written again"
    );
    drop(hold);
    s.recycle(yb);
    let again = s.run(a).unwrap();
    assert_eq!(again[0].as_f32().unwrap(), want.as_slice());
}

#[test]
fn real_models_run() {
    let Some(models) = shared_models_dir() else {
        return;
    };
    for name in [
        "resnet18",
        "mobilenet_v2",
        "lenet5_mnist",
        "mlp_784_128_10_mnist",
        // Torch-Pruning's: channel counts that are not whole panels (mixed layouts).
        "resnet18_pruned_l1_local",
    ] {
        let path = models.join(format!("{name}.onnx"));
        let m = coprune_onnx::load(&path).unwrap();
        let input = &m.graph.inputs[0];
        let (_, decl) = coprune_ir::infer::declared_shape(&input.name, &input.ty).unwrap();
        let shape: Vec<usize> = decl
            .iter()
            .map(|d| d.as_known().unwrap_or(1) as usize)
            .collect();
        let s = Session::new(&m, &HashMap::from([(input.name.clone(), shape)]), 2).unwrap();
        let x = input_for(&s, 7);
        let y = s.run(x.clone()).unwrap();
        assert!(
            y[0].as_f32().unwrap().iter().all(|v| v.is_finite()),
            "{name}"
        );
        export(name, &path, &x, &y);
    }
}

#[test]
fn batch_norm_after_conv_is_folded_with_the_same_outputs() {
    use coprune_ir::{DType, Tensor};
    use coprune_testutil::{ConvSpec, GraphBuilder};
    for (seed, spec) in [
        (1u64, ConvSpec::same(3, 6, 3)),
        (2, ConvSpec::same(4, 8, 3).stride(2).groups(2)),
        (3, ConvSpec::same(5, 5, 3).groups(5)),
    ] {
        // Two models: in the second the conv's own output is also a graph output, so the pair
        // cannot be folded; the BN outputs must agree.
        let build = |expose: bool| {
            let mut b = GraphBuilder::new(seed);
            let cin = spec.cin;
            let x = b.input("x", DType::F32, &["N", &cin.to_string(), "9", "9"]);
            let c = b.conv(&x, spec);
            let m = spec.cout;
            let stats: Vec<String> = ["s", "b", "mean", "var"]
                .iter()
                .map(|p| b.weight(p, &[m]))
                .collect();
            // Variances must be positive.
            let var = b
                .graph
                .initializers
                .iter_mut()
                .find(|t| t.name == stats[3])
                .unwrap();
            let v: Vec<f32> = var
                .to_f32_vec()
                .unwrap()
                .iter()
                .map(|x| x.abs() + 0.1)
                .collect();
            *var = Tensor::from_f32(var.name.clone(), var.dims.clone(), &v).unwrap();
            let y = b.op(
                "BatchNormalization",
                &[&c, &stats[0], &stats[1], &stats[2], &stats[3]],
                vec![],
            );
            let r = b.op("Relu", &[&y], vec![]);
            b.output(&r);
            if expose {
                b.output(&c);
            }
            b.into_model()
        };
        let (folded, kept) = (build(false), build(true));
        let f = coprune_runtime::fold::fold_batch_norms(&folded).expect("foldable");
        assert!(f
            .graph
            .nodes
            .iter()
            .all(|n| n.op_type != "BatchNormalization"));
        assert!(coprune_runtime::fold::fold_batch_norms(&kept).is_none());
        let shape = vec![2, spec.cin as usize, 9, 9];
        let run = |m: &coprune_ir::Model| {
            let s = Session::new(m, &HashMap::from([("x".to_string(), shape.clone())]), 1).unwrap();
            let x = input_for(&s, seed);
            s.run(x).unwrap()[0].as_f32().unwrap().to_vec()
        };
        for (a, b) in run(&folded).iter().zip(&run(&kept)) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "seed {seed}: {a} vs {b}"
            );
        }
    }
}

#[derive(serde::Deserialize)]
struct Golden {
    inputs: Vec<Tensor>,
    outputs: Vec<Tensor>,
}

#[derive(serde::Deserialize)]
struct Tensor {
    name: String,
    shape: Vec<usize>,
    data: Vec<f32>,
}

/// Runs `tests/fixtures/runtime/NAME.onnx` on the inputs of NAME.expected.json (written by
/// tests/fixtures/gen_runtime_fixtures.py) and compares every output with onnxruntime's.
fn matches_golden(name: &str) {
    let dir = coprune_testutil::fixtures_dir().join("runtime");
    let model = coprune_onnx::load(&dir.join(format!("{name}.onnx"))).unwrap();
    let golden: Golden =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.expected.json"))).unwrap())
            .unwrap();
    let shapes = golden
        .inputs
        .iter()
        .map(|t| (t.name.clone(), t.shape.clone()))
        .collect();
    let s = Session::new(&model, &shapes, 1).unwrap();
    let out = s
        .run(
            golden
                .inputs
                .iter()
                .map(|t| Value::f32(t.shape.clone(), t.data.clone()))
                .collect(),
        )
        .unwrap();
    assert_eq!(out.len(), golden.outputs.len());
    for (got, want) in out.iter().zip(&golden.outputs) {
        assert_eq!(got.shape(), &want.shape[..], "{name}: {}", want.name);
        for (i, (a, b)) in got.as_f32().unwrap().iter().zip(&want.data).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{name}: {} [{i}]: {a} vs onnxruntime {b}",
                want.name
            );
        }
    }
}

#[test]
fn transformer_block_matches_onnxruntime() {
    // A PyTorch-shaped encoder block (LayerNormalization and its decomposed form, attention with
    // a Where mask, Erf and Gelu, Shape arithmetic, Slice with negative steps, Expand, …).
    matches_golden("encoder");
}

#[test]
fn recurrent_ops_match_onnxruntime() {
    // Bidirectional LSTM with peepholes, initial states, lengths and clip; reverse GRU with
    // linear_before_reset; forward GRU with HardSigmoid gates.
    matches_golden("recurrent");
}

#[test]
fn batch_first_recurrent_layout_equals_the_default() {
    // onnxruntime has no layout=1, so coprune's is checked against its own layout 0.
    for op in ["LSTM", "GRU"] {
        let gates = if op == "LSTM" { 4 } else { 3 };
        let (s, b, i, h) = (4usize, 2usize, 3usize, 5usize);
        let build = |layout: i64| {
            let mut g = coprune_testutil::GraphBuilder::new(9);
            let x = if layout == 0 {
                g.input("x", coprune_ir::DType::F32, &["4", "2", "3"])
            } else {
                g.input("x", coprune_ir::DType::F32, &["2", "4", "3"])
            };
            let w = g.weight("w", &[2, (gates * h) as u64, i as u64]);
            let r = g.weight("r", &[2, (gates * h) as u64, h as u64]);
            let y = g.op(
                op,
                &[&x, &w, &r],
                vec![
                    ("hidden_size", coprune_ir::AttrValue::Int(h as i64)),
                    (
                        "direction",
                        coprune_ir::AttrValue::String(b"bidirectional".to_vec()),
                    ),
                    ("layout", coprune_ir::AttrValue::Int(layout)),
                ],
            );
            g.output(&y);
            g.into_model()
        };
        let mut rng = Rng::new(3);
        let x0: Vec<f32> = (0..s * b * i).map(|_| rng.f32() - 0.5).collect();
        let mut x1 = vec![0.0; x0.len()];
        for t in 0..s {
            for bb in 0..b {
                for k in 0..i {
                    x1[(bb * s + t) * i + k] = x0[(t * b + bb) * i + k];
                }
            }
        }
        let run = |m: &coprune_ir::Model, shape: Vec<usize>, x: Vec<f32>| {
            let sess =
                Session::new(m, &HashMap::from([("x".to_string(), shape.clone())]), 1).unwrap();
            sess.run(vec![Value::f32(shape, x)]).unwrap().remove(0)
        };
        let y0 = run(&build(0), vec![s, b, i], x0);
        let y1 = run(&build(1), vec![b, s, i], x1);
        assert_eq!(y0.shape(), &[s, 2, b, h]);
        assert_eq!(y1.shape(), &[b, s, 2, h]);
        let (y0, y1) = (y0.as_f32().unwrap(), y1.as_f32().unwrap());
        for t in 0..s {
            for d in 0..2 {
                for bb in 0..b {
                    for k in 0..h {
                        let a = y0[((t * 2 + d) * b + bb) * h + k];
                        let c = y1[((bb * s + t) * 2 + d) * h + k];
                        assert!(
                            (a - c).abs() < 1e-6,
                            "{op} t{t} d{d} b{bb} k{k}: {a} vs {c}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn activations_fused_into_convolutions_change_nothing() {
    // small_cnn and random graphs have Conv → Relu chains (and residual adds that read a Conv
    // twice, which must not fuse): the fused session equals the observable, unfused one.
    let mut models = vec![small_cnn(3)];
    models.extend((0..10).map(random_cnn));
    for (k, m) in models.iter().enumerate() {
        let shapes: HashMap<String, Vec<usize>> = m
            .graph
            .inputs
            .iter()
            .filter_map(|v| {
                let (_, s) = coprune_ir::infer::declared_shape(&v.name, &v.ty)?;
                Some((
                    v.name.clone(),
                    s.iter()
                        .map(|d| d.as_known().map_or(2, |x| x as usize))
                        .collect(),
                ))
            })
            .collect();
        let (Ok(fused), Ok(plain)) = (
            Session::new(m, &shapes, 1),
            Session::observable(m, &shapes, 1),
        ) else {
            continue;
        };
        let x = input_for(&plain, k as u64);
        assert_eq!(
            fused.run(x.clone()).unwrap(),
            plain.run(x).unwrap(),
            "model {k}"
        );
    }
}

#[test]
fn relus_fused_into_residual_adds_change_nothing() {
    // Conv → Add(·, x) → Relu and a broadcasting Add → Relu, large enough (8×64×64) that the
    // fused Add runs in parallel chunks on two threads: the same bits as the unfused session.
    use coprune_testutil::{ConvSpec, GraphBuilder};
    let mut b = GraphBuilder::new(5);
    let x = b.input("input", coprune_ir::DType::F32, &["1", "8", "64", "64"]);
    let c = b.conv(&x, ConvSpec::same(8, 8, 3));
    let a = b.op("Add", &[&c, &x], vec![]);
    let r = b.op("Relu", &[&a], vec![]);
    let w = b.weight("shift", &[8, 1, 1]);
    let a2 = b.op("Add", &[&r, &w], vec![]);
    let r2 = b.op("Relu", &[&a2], vec![]);
    b.output(&r2);
    let m = b.into_model();
    let shapes: HashMap<String, Vec<usize>> = [("input".to_string(), vec![1, 8, 64, 64])].into();
    let plain = Session::observable(&m, &shapes, 1).unwrap();
    let x = input_for(&plain, 3);
    let want = plain.run(x.clone()).unwrap();
    let Value::F32 { data, .. } = &want[0] else {
        panic!("f32 output")
    };
    assert!(data.contains(&0.0) && data.iter().any(|&v| v > 0.0));
    for threads in [1, 2] {
        let fused = Session::new(&m, &shapes, threads).unwrap();
        assert_eq!(fused.run(x.clone()).unwrap(), want, "{threads} threads");
    }
}

#[test]
fn residual_adds_fused_into_convolutions_change_nothing() {
    // A Conv whose only reader is an Add of a value computed before it takes that value as a
    // residual: in the transposed store of a 3×3 convolution read in place (128 channels at
    // 14×14), in the split sums of reducing 1×1 convolutions on two threads (384→64 at 14×14,
    // 192→32 at 28×28), and in a pass after any other product (8 channels at 20×20, and a
    // grouped one). Of two convolutions added together, the later one takes the earlier as its
    // residual. Bit for bit the unfused session's outputs, on one thread and two.
    use coprune_testutil::{ConvSpec, GraphBuilder};
    let cases: [(u64, u64, u64, u64, u64, bool); 5] = [
        (128, 128, 14, 3, 1, false),
        (384, 64, 14, 1, 1, true),
        (192, 32, 28, 1, 1, true),
        (8, 8, 20, 3, 1, false),
        (8, 8, 20, 3, 2, false),
    ];
    for (seed, &(cin, cout, hw, k, group, two)) in cases.iter().enumerate() {
        let mut b = GraphBuilder::new(seed as u64 + 20);
        let dims = [
            "1".to_string(),
            cin.to_string(),
            hw.to_string(),
            hw.to_string(),
        ];
        let dims: Vec<&str> = dims.iter().map(String::as_str).collect();
        let x = b.input("input", coprune_ir::DType::F32, &dims);
        let spec = ConvSpec::same(cin, cout, k).groups(group);
        let (c, other) = if two {
            let first = b.conv(&x, spec);
            (b.conv(&x, spec), first)
        } else {
            (b.conv(&x, spec), x.clone())
        };
        let a = b.op("Add", &[&other, &c], vec![]);
        let r = b.op("Relu", &[&a], vec![]);
        b.output(&r);
        let m = b.into_model();
        let shape = vec![1, cin as usize, hw as usize, hw as usize];
        let shapes: HashMap<String, Vec<usize>> = [("input".to_string(), shape)].into();
        for threads in [1, 2] {
            let plain = Session::observable(&m, &shapes, threads).unwrap();
            let x = input_for(&plain, seed as u64);
            let want = plain.run(x.clone()).unwrap();
            let Value::F32 { data, .. } = &want[0] else {
                panic!("f32 output")
            };
            assert!(data.contains(&0.0) && data.iter().any(|&v| v > 0.0));
            let fused = Session::new(&m, &shapes, threads).unwrap();
            assert_eq!(
                fused.run(x).unwrap(),
                want,
                "case {seed}, {threads} threads"
            );
        }
    }
    // A Conv of a constant runs once at load and is not fused: the Add reads its value.
    let mut b = GraphBuilder::new(40);
    let x = b.input("input", coprune_ir::DType::F32, &["1", "8", "10", "10"]);
    let k = b.weight("k", &[1, 8, 10, 10]);
    let c = b.conv(&k, ConvSpec::same(8, 8, 3));
    let a = b.op("Add", &[&c, &x], vec![]);
    b.output(&a);
    let m = b.into_model();
    let shapes: HashMap<String, Vec<usize>> = [("input".to_string(), vec![1, 8, 10, 10])].into();
    let plain = Session::observable(&m, &shapes, 1).unwrap();
    let x = input_for(&plain, 1);
    let fused = Session::new(&m, &shapes, 1).unwrap();
    assert_eq!(fused.run(x.clone()).unwrap(), plain.run(x).unwrap());
}

#[test]
fn channels_last_values_change_outputs_only_by_rounding() {
    // With AVX-512, the values between convolutions (and a max pooling) are kept
    // channels-last: a planar input into a channels-last output (the first convolution), padded
    // stride-1 and stride-2 3×3 convolutions, an unpadded 1×1 stride-2 one read in place, fused
    // residuals, a max pooling, a global pooling, and a convolution of 24 channels (not whole
    // panels) back to planar. Batch 2, on one thread and two: the unfused, planar session's
    // outputs but for the rounding of sums taken in other orders.
    use coprune_testutil::{ConvSpec, GraphBuilder};
    let mut b = GraphBuilder::new(77);
    let x = b.input("input", coprune_ir::DType::F32, &["2", "3", "20", "20"]);
    let relu = |b: &mut GraphBuilder, v: &str| b.op("Relu", &[v], vec![]);
    let c1 = b.conv(&x, ConvSpec::same(3, 16, 3));
    let c1 = relu(&mut b, &c1);
    let ints = |v: &[i64]| coprune_ir::AttrValue::Ints(v.to_vec());
    let p = b.op(
        "MaxPool",
        &[&c1],
        vec![
            ("kernel_shape", ints(&[3, 3])),
            ("strides", ints(&[2, 2])),
            ("pads", ints(&[1, 1, 1, 1])),
        ],
    );
    let c2 = b.conv(&p, ConvSpec::same(16, 16, 3));
    let c2 = relu(&mut b, &c2);
    let c3 = b.conv(&c2, ConvSpec::same(16, 16, 3));
    let a = b.op("Add", &[&c3, &p], vec![]);
    let r = relu(&mut b, &a);
    let c4 = b.conv(&r, ConvSpec::same(16, 32, 3).stride(2));
    let c4 = relu(&mut b, &c4);
    let d = b.conv(&r, ConvSpec::same(16, 32, 1).stride(2));
    let c5 = b.conv(&c4, ConvSpec::same(32, 32, 3));
    let a2 = b.op("Add", &[&c5, &d], vec![]);
    let r2 = relu(&mut b, &a2);
    let c6 = b.conv(&r2, ConvSpec::same(32, 24, 3));
    let c6 = relu(&mut b, &c6);
    let g = b.op("GlobalAveragePool", &[&r2], vec![]);
    let f = b.op("Flatten", &[&g], vec![]);
    b.output(&c6);
    b.output(&f);
    let m = b.into_model();
    let shapes: HashMap<String, Vec<usize>> = [("input".to_string(), vec![2, 3, 20, 20])].into();
    let avx512 = coprune_runtime::sparse::Isa::detect() == coprune_runtime::sparse::Isa::Avx512;
    for threads in [1, 2] {
        let plain = Session::observable(&m, &shapes, threads).unwrap();
        assert!(plain.channels_last().is_empty());
        let x = input_for(&plain, 5);
        let want = plain.run(x.clone()).unwrap();
        let s = Session::new(&m, &shapes, threads).unwrap();
        // Every value from the first convolution's to the last one's input, but the outputs.
        let kept = s.channels_last().len();
        assert_eq!(kept > 0, avx512, "{:?}", s.channels_last());
        if avx512 {
            assert!(!s.channels_last().iter().any(|v| *v == c6 || *v == g));
            for v in [&c1, &p, &r, &c4, &d, &r2] {
                assert!(
                    s.channels_last().contains(v),
                    "{v}: {:?}",
                    s.channels_last()
                );
            }
        }
        let got = s.run(x).unwrap();
        for (o, (g, w)) in got.iter().zip(&want).enumerate() {
            let (g, w) = (g.as_f32().unwrap(), w.as_f32().unwrap());
            assert_eq!(g.len(), w.len());
            let scale = w.iter().fold(0f32, |a, v| a.max(v.abs()));
            let err = g.iter().zip(w).fold(0f32, |a, (x, y)| a.max((x - y).abs()));
            assert!(
                scale > 0.0 && err <= 1e-5 * scale,
                "output {o}, {threads} threads: error {err} of {scale}"
            );
        }
    }
}

#[test]
fn one_session_runs_from_two_threads_at_once() {
    // A two-thread session's pool serves one caller at a time; a second caller's regions run
    // serially on its own thread. Both get the outputs of a lone run.
    let m = small_cnn(9);
    let shapes: HashMap<String, Vec<usize>> = [("input".to_string(), vec![4, 3, 16, 16])].into();
    let s = Session::new(&m, &shapes, 2).unwrap();
    let x = input_for(&s, 4);
    let want = s.run(x.clone()).unwrap();
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    (0..50)
                        .map(|_| s.run(x.clone()).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for r in runs {
            for out in r.join().unwrap() {
                assert_eq!(out, want);
            }
        }
    });
}

#[test]
fn an_add_without_a_fused_clamp_passes_nan_through() {
    // Same-shape Add, large enough (8×64×64) for parallel chunks on two threads.
    use coprune_testutil::GraphBuilder;
    let mut b = GraphBuilder::new(6);
    let x = b.input("input", coprune_ir::DType::F32, &["1", "8", "64", "64"]);
    let y = b.input("other", coprune_ir::DType::F32, &["1", "8", "64", "64"]);
    let a = b.op("Add", &[&x, &y], vec![]);
    b.output(&a);
    let m = b.into_model();
    let dims = vec![1, 8, 64, 64];
    let shapes: HashMap<String, Vec<usize>> = [
        ("input".to_string(), dims.clone()),
        ("other".to_string(), dims.clone()),
    ]
    .into();
    let n: usize = dims.iter().product();
    let mut xs = vec![1f32; n];
    xs[n - 5] = f32::NAN;
    let ins = vec![
        Value::f32(dims.clone(), xs),
        Value::f32(dims, vec![2f32; n]),
    ];
    for threads in [1, 2] {
        let s = Session::new(&m, &shapes, threads).unwrap();
        let out = s.run(ins.clone()).unwrap();
        let Value::F32 { data, .. } = &out[0] else {
            panic!("f32 output")
        };
        assert!(data[n - 5].is_nan(), "{threads} threads");
        assert!(data.iter().filter(|v| !v.is_nan()).all(|&v| v == 3.0));
    }
}
