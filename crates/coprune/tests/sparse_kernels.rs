//! The runtime's sparse kernels on real models: resnet18 and mobilenet_v2 (from ../shared, when
//! present) at 90% per-layer magnitude sparsity, and at 4×1 blocks, give the dense kernels'
//! outputs on the same input.

use coprune::pruning::sparsity::{
    sparsify, ElementCriterion, SparsePattern, SparseTarget, SparsityConfig,
};
use coprune::runtime::sparse::SparseMode;
use coprune::runtime::{Session, Value};
use coprune_testutil::{shared_models_dir, Rng};
use std::collections::HashMap;

fn outputs(m: &coprune::ir::Model, mode: SparseMode) -> (Vec<f32>, usize) {
    let input = &m.graph.inputs[0];
    let shapes = HashMap::from([(input.name.clone(), vec![1, 3, 224, 224])]);
    let s = Session::with_sparse(m, &shapes, 2, mode).unwrap();
    let mut rng = Rng::new(3);
    let x: Vec<f32> = (0..3 * 224 * 224).map(|_| rng.f32()).collect();
    let y = s.run(vec![Value::f32(vec![1, 3, 224, 224], x)]).unwrap();
    let on = s
        .sparse_layers()
        .iter()
        .filter(|(_, c)| c.format.is_some())
        .count();
    (y[0].as_f32().unwrap().to_vec(), on)
}

#[test]
fn real_models_give_the_same_outputs_sparse_and_dense() {
    let Some(dir) = shared_models_dir() else {
        return;
    };
    for name in ["resnet18", "mobilenet_v2"] {
        let model = coprune::onnx::load(&dir.join(format!("{name}.onnx"))).unwrap();
        for pattern in [
            SparsePattern::Unstructured,
            SparsePattern::Block { rows: 4, cols: 1 },
        ] {
            let cfg = SparsityConfig {
                pattern,
                target: SparseTarget::Sparsity(0.9),
                criterion: ElementCriterion::Magnitude,
                global: false,
                layer_sparsity: Vec::new(),
                ignore: Vec::new(),
                strict: false,
                seed: 0,
            };
            let (patch, _) = sparsify(&model, &cfg, &Default::default()).unwrap();
            let mut m = model.clone();
            patch.apply(&mut m).unwrap();
            let (dense, none) = outputs(&m, SparseMode::Off);
            let (sparse, on) = outputs(&m, SparseMode::On);
            assert_eq!(none, 0);
            assert!(on >= 20, "{name} {pattern:?}: {on} sparse layers");
            let scale = dense.iter().fold(0f32, |a, v| a.max(v.abs()));
            for (a, b) in sparse.iter().zip(&dense) {
                assert!(
                    (a - b).abs() <= 1e-4 * scale.max(1.0),
                    "{name} {pattern:?}: {a} vs {b}"
                );
            }
        }
    }
}
