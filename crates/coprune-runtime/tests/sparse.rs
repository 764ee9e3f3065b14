//! Sparse kernels give the dense kernels' outputs: every conv geometry (padding, stride, kernel
//! size, groups), Gemm (both transposes, batch) and MatMul, in every sparse mode.

use coprune_ir::{AttrValue, DType, Model, Tensor};
use coprune_runtime::sparse::SparseMode;
use coprune_runtime::{Session, Value};
use coprune_testutil::{random_cnn, small_cnn, ConvSpec, GraphBuilder, Rng};
use std::collections::HashMap;

/// Zeroes `frac` of every weight with rank ≥ 2 (seeded), in place.
fn sparsify(m: &mut Model, frac: f32, seed: u64) {
    let mut rng = Rng::new(seed);
    for t in &mut m.graph.initializers {
        if t.dims.len() < 2 {
            continue;
        }
        let v: Vec<f32> = t
            .to_f32_vec()
            .unwrap()
            .into_iter()
            .map(|x| if rng.f32().abs() < frac { 0.0 } else { x })
            .collect();
        *t = Tensor::from_f32(t.name.clone(), t.dims.clone(), &v).unwrap();
    }
}

fn run(m: &Model, shape: &[usize], mode: SparseMode, threads: usize, seed: u64) -> Vec<f32> {
    let name = m.graph.inputs[0].name.clone();
    let s =
        Session::with_sparse(m, &HashMap::from([(name, shape.to_vec())]), threads, mode).unwrap();
    let mut rng = Rng::new(seed);
    let x: Vec<f32> = (0..shape.iter().product()).map(|_| rng.f32()).collect();
    let y = s.run(vec![Value::f32(shape.to_vec(), x)]).unwrap();
    y[0].as_f32().unwrap().to_vec()
}

fn same(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
            "{what}: {x} vs {y}"
        );
    }
}

fn check(m: &Model, shape: &[usize], what: &str) {
    let dense = run(m, shape, SparseMode::Off, 1, 3);
    for (mode, threads) in [
        (SparseMode::On, 1),
        (SparseMode::On, 2),
        (SparseMode::Auto, 2),
    ] {
        same(
            &run(m, shape, mode, threads, 3),
            &dense,
            &format!("{what} {mode:?} {threads}"),
        );
    }
}

#[test]
fn sparse_layers_report_their_choice() {
    let mut m = small_cnn(1);
    sparsify(&mut m, 0.9, 5);
    let name = m.graph.inputs[0].name.clone();
    let shapes = HashMap::from([(name, vec![1, 3, 16, 16])]);
    let on = Session::with_sparse(&m, &shapes, 1, SparseMode::On).unwrap();
    let layers = on.sparse_layers();
    // Two dense convs and the Gemm have zeros; the depthwise conv stays dense (not listed).
    assert_eq!(layers.len(), 3, "{layers:?}");
    assert!(layers
        .iter()
        .all(|(_, c)| c.format.is_some() && c.density < 0.3));
    let off = Session::with_sparse(&m, &shapes, 1, SparseMode::Off).unwrap();
    assert!(off.sparse_layers().iter().all(|(_, c)| c.format.is_none()));
    let auto = Session::with_sparse(&m, &shapes, 1, SparseMode::Auto).unwrap();
    assert!(auto
        .sparse_layers()
        .iter()
        .all(|(_, c)| c.timed_ms.is_some()));
}

#[test]
fn conv_geometries_match_dense() {
    let specs = [
        ConvSpec::same(6, 8, 3),
        ConvSpec::same(6, 8, 3).stride(2),
        ConvSpec::same(6, 8, 5),
        ConvSpec::same(6, 8, 3).pad(0),
        ConvSpec::same(6, 8, 1),
        ConvSpec::same(6, 8, 1).stride(2),
        ConvSpec::same(6, 8, 3).groups(2),
        ConvSpec::same(6, 12, 3).groups(3).stride(2),
        ConvSpec::same(6, 5, 3).pad(2),
    ];
    for (i, spec) in specs.into_iter().enumerate() {
        let mut b = GraphBuilder::new(i as u64);
        let x = b.input("x", DType::F32, &["N", "6", "9", "11"]);
        let y = b.conv(&x, spec);
        b.output(&y);
        let mut m = b.into_model();
        sparsify(&mut m, 0.8, i as u64);
        check(&m, &[1, 6, 9, 11], &format!("conv {i}"));
        check(&m, &[3, 6, 9, 11], &format!("conv {i} batch 3"));
    }
}

#[test]
fn random_graphs_match_dense() {
    for seed in 0..25u64 {
        let mut m = random_cnn(seed);
        sparsify(&mut m, 0.85, seed);
        check(&m, &[2, 4, 8, 8], &format!("seed {seed}"));
    }
}

#[test]
fn gemm_and_matmul_match_dense() {
    for (k, n, batch) in [(20, 12, 1), (33, 9, 5), (64, 16, 70)] {
        // alpha ≠ 1 adds the product to C; alpha 1 starts from a C that is not a bias ([batch,
        // n]) or adds a bias ([n]) as the output is stored, with a Relu fused or not.
        for (trans_b, alpha, c_rows, relu) in [
            (0, 0.5, 0, false),
            (1, 0.5, 0, false),
            (0, 1.0, 0, true),
            (1, 1.0, 0, false),
            (1, 1.0, batch, true),
        ] {
            let mut b = GraphBuilder::new(k);
            let x = b.input("x", DType::F32, &["N", &k.to_string()]);
            let w = b.weight("w", &if trans_b == 1 { [n, k] } else { [k, n] });
            let c = match c_rows {
                0 => b.weight("c", &[n]),
                r => b.weight("c", &[r as u64, n]),
            };
            let mut y = b.op(
                "Gemm",
                &[&x, &w, &c],
                vec![
                    ("transB", AttrValue::Int(trans_b)),
                    ("alpha", AttrValue::Float(alpha)),
                ],
            );
            if relu {
                y = b.op("Relu", &[&y], vec![]);
            }
            b.output(&y);
            let mut m = b.into_model();
            sparsify(&mut m, 0.9, k);
            check(
                &m,
                &[batch, k as usize],
                &format!("gemm {k}x{n} transB {trans_b} alpha {alpha} C rows {c_rows} relu {relu}"),
            );
        }
        let mut b = GraphBuilder::new(n);
        let x = b.input("x", DType::F32, &["N", "3", &k.to_string()]);
        let w = b.weight("w", &[k, n]);
        let y = b.op("MatMul", &[&x, &w], vec![]);
        b.output(&y);
        let mut m = b.into_model();
        sparsify(&mut m, 0.7, n);
        check(&m, &[batch, 3, k as usize], &format!("matmul {k}x{n}"));
    }
}
