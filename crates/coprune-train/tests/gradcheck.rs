//! Backward passes against central finite differences: random residual/concat/split/depthwise
//! CNNs and a model with every other trainable op (BatchNorm in training mode, pools, Gemm with
//! transposes, MatMul, broadcast arithmetic, smooth and piecewise activations, Softmax).

use coprune_ir::{AttrValue, DType, Model};
use coprune_testutil::{random_cnn, ConvSpec, GraphBuilder, Rng};
use coprune_train::{Buf, Params, TrainGraph};

/// L = Σ logits ⊙ r for a fixed random r: dL/dlogits = r.
fn objective(g: &TrainGraph, p: &Params, x: &Buf, r: &[f32]) -> f64 {
    let tape = g.forward(p, x.clone(), true).expect("forward");
    tape.logits(g)
        .data
        .iter()
        .zip(r)
        .map(|(a, b)| (*a as f64) * (*b as f64))
        .sum()
}

/// Checks up to `per_param` elements of every trainable parameter; returns how many were checked.
fn check(model: &Model, input: &[usize], seed: u64, per_param: usize) -> usize {
    let mut p = Params::from_model(model).expect("params");
    let g = match TrainGraph::new(model, &p, input) {
        Ok(g) => g,
        // Some random graphs compute their output from the input alone.
        Err(coprune_train::TrainError::Mismatch(m)) if m.contains("does not depend") => return 0,
        Err(e) => panic!("seed {seed}: {e}"),
    };
    let mut rng = Rng::new(seed);
    let n: usize = input.iter().product();
    let x = Buf::new(input.to_vec(), (0..n).map(|_| rng.f32() * 2.0).collect());
    let tape = g.forward(&p, x.clone(), true).expect("forward");
    let out_len = tape.logits(&g).len();
    let r: Vec<f32> = (0..out_len).map(|_| rng.f32()).collect();
    let grads = g
        .backward(
            &p,
            &tape,
            Buf::new(tape.logits(&g).shape.clone(), r.clone()),
        )
        .expect("backward");
    let mut checked = 0;
    for (i, gr) in grads.iter().enumerate() {
        let (Some(gr), true) = (gr, p.trainable[i]) else {
            continue;
        };
        assert_eq!(gr.shape, p.values[i].shape, "{}", p.names[i]);
        for _ in 0..per_param.min(p.values[i].len()) {
            let j = rng.below(p.values[i].len() as u64) as usize;
            // Central differences at several steps: large steps cross the kinks of ReLU-like
            // activations, small ones drown in f32 rounding; a wrong gradient fails at all.
            let ana = gr.data[j] as f64;
            let w0 = p.values[i].data[j];
            let mut nums = Vec::new();
            for h in [1e-2f32, 3e-3, 1e-3, 3e-4] {
                p.values[i].data[j] = w0 + h;
                let up = objective(&g, &p, &x, &r);
                p.values[i].data[j] = w0 - h;
                let down = objective(&g, &p, &x, &r);
                p.values[i].data[j] = w0;
                nums.push((up - down) / (2.0 * h as f64));
            }
            assert!(
                nums.iter()
                    .any(|num| (num - ana).abs() <= 1e-2 * num.abs().max(ana.abs()).max(1.0)),
                "seed {seed}, {}[{j}]: numeric {nums:?}, analytic {ana}",
                p.names[i]
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn random_cnns_match_finite_differences() {
    let mut total = 0;
    for seed in 0..50 {
        total += check(&random_cnn(seed), &[2, 4, 8, 8], seed, 4);
    }
    assert!(total > 200, "only {total} elements checked");
}

#[test]
fn every_trainable_op_matches_finite_differences() {
    let mut b = GraphBuilder::new(7);
    let x = b.input("input", DType::F32, &["N", "3", "8", "8"]);
    let c = b.conv(&x, ConvSpec::same(3, 6, 3).stride(2));
    let scale = b.weight("bn_scale", &[6]);
    let bias = b.weight("bn_bias", &[6]);
    let mean = b.weight("bn_mean", &[6]);
    let var = b.weight("bn_var", &[6]);
    // Variances must be positive: a fixed constant.
    let bn = b.op(
        "BatchNormalization",
        &[&c, &scale, &bias, &mean, &var],
        vec![],
    );
    let l = b.op("LeakyRelu", &[&bn], vec![("alpha", AttrValue::Float(0.1))]);
    let g = b.conv(&l, ConvSpec::same(6, 6, 3).groups(3));
    let s = b.op("Sigmoid", &[&g], vec![]);
    let m = b.weight("m", &[6, 1, 1]);
    let mu = b.op("Mul", &[&s, &m], vec![]);
    let k = b.weight("k", &[1]);
    let su = b.op("Sub", &[&mu, &k], vec![]);
    let d = b.weight("d", &[6, 1, 1]);
    let dv = b.op("Div", &[&su, &d], vec![]);
    let hs = b.op("HardSigmoid", &[&dv], vec![]);
    let mp = b.op(
        "MaxPool",
        &[&hs],
        vec![
            ("kernel_shape", AttrValue::Ints(vec![3, 3])),
            ("strides", AttrValue::Ints(vec![1, 1])),
            ("pads", AttrValue::Ints(vec![1, 1, 1, 1])),
        ],
    );
    let ap = b.op(
        "AveragePool",
        &[&mp],
        vec![
            ("kernel_shape", AttrValue::Ints(vec![2, 2])),
            ("strides", AttrValue::Ints(vec![2, 2])),
        ],
    );
    let f = b.op("Flatten", &[&ap], vec![("axis", AttrValue::Int(1))]);
    let w1 = b.weight("w1", &[24, 12]);
    let b1 = b.weight("b1", &[12]);
    let h = b.op(
        "Gemm",
        &[&f, &w1, &b1],
        vec![
            ("alpha", AttrValue::Float(0.7)),
            ("beta", AttrValue::Float(1.3)),
        ],
    );
    let t = b.op("Tanh", &[&h], vec![]);
    let w2 = b.weight("w2", &[12, 8]);
    let mm = b.op("MatMul", &[&t, &w2], vec![]);
    let hw = b.op("HardSwish", &[&mm], vec![]);
    let w3 = b.weight("w3", &[5, 8]);
    let o = b.op("Gemm", &[&hw, &w3], vec![("transB", AttrValue::Int(1))]);
    b.output(&o);
    let mut model = b.into_model();
    for t in &mut model.graph.initializers {
        if t.name.starts_with("bn_var") || t.name.starts_with('d') {
            let n = t.numel().unwrap_or(0) as usize;
            *t = coprune_ir::Tensor::from_f32(t.name.clone(), t.dims.clone(), &vec![1.5; n])
                .unwrap();
        }
    }
    let checked = check(&model, &[3, 3, 8, 8], 11, 6);
    assert!(checked >= 60, "only {checked} elements checked");
}

/// A transformer-style block: MatMul → LayerNormalization (last axis) → Relu → MatMul, and a
/// LayerNormalization over the last two axes with broadcast scale.
#[test]
fn layer_normalization_matches_finite_differences() {
    let mut b = GraphBuilder::new(9);
    let x = b.input("input", DType::F32, &["N", "4", "6"]);
    let w1 = b.weight("w1", &[6, 8]);
    let h = b.op("MatMul", &[&x, &w1], vec![]);
    let g = b.weight("ln_scale", &[8]);
    let be = b.weight("ln_bias", &[8]);
    let ln = b.op(
        "LayerNormalization",
        &[&h, &g, &be],
        vec![("axis", AttrValue::Int(-1))],
    );
    let r = b.op("Tanh", &[&ln], vec![]);
    let g2 = b.weight("ln2_scale", &[1, 8]);
    let ln2 = b.op(
        "LayerNormalization",
        &[&r, &g2],
        vec![("axis", AttrValue::Int(1))],
    );
    let w2 = b.weight("w2", &[8, 3]);
    let o = b.op("MatMul", &[&ln2, &w2], vec![]);
    b.output(&o);
    let checked = check(&b.into_model(), &[2, 4, 6], 13, 8);
    assert!(checked >= 30, "only {checked} elements checked");
}

/// Running statistics are updated in training mode and used in evaluation mode.
#[test]
fn batch_norm_updates_running_statistics() {
    let mut b = GraphBuilder::new(3);
    let x = b.input("input", DType::F32, &["N", "2", "4", "4"]);
    let c = b.conv(&x, ConvSpec::same(2, 2, 1));
    let names: Vec<String> = ["s", "b", "mean", "var"]
        .iter()
        .map(|n| b.weight(n, &[2]))
        .collect();
    let bn = b.op(
        "BatchNormalization",
        &[&c, &names[0], &names[1], &names[2], &names[3]],
        vec![("momentum", AttrValue::Float(0.5))],
    );
    b.output(&bn);
    let model = b.into_model();
    let p = Params::from_model(&model).unwrap();
    let g = TrainGraph::new(&model, &p, &[4, 2, 4, 4]).unwrap();
    let x = Buf::new(vec![4, 2, 4, 4], (0..128).map(|i| (i % 7) as f32).collect());
    let tape = g.forward(&p, x.clone(), true).unwrap();
    assert_eq!(tape.state.len(), 2, "mean and variance updated");
    let mean_idx = p.names.iter().position(|n| n.starts_with("mean")).unwrap();
    assert!(!p.trainable[mean_idx], "running mean is not a weight");
    let (i, new) = tape.state.iter().find(|(i, _)| *i == mean_idx).unwrap();
    assert_ne!(new.data, p.values[*i].data);
    // Evaluation mode is deterministic and differs from training mode on this batch.
    let e1 = g.forward(&p, x.clone(), false).unwrap();
    assert_ne!(e1.logits(&g).data, tape.logits(&g).data);
}
