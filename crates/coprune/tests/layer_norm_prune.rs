//! Pruning the hidden size across a LayerNormalization: the pruned model's outputs equal a
//! direct computation of the same block on the kept channels (the kept channels renormalised
//! over themselves), and the report says the group was renormalised.

use coprune_ir::infer;
use coprune_prune::apply::{prune_model, Mode};
use coprune_prune::depgraph::DepGraph;
use coprune_runtime::{Session, Value};
use coprune_testutil::{fixtures_dir, Rng};
use std::collections::HashMap;

#[test]
fn pruned_layer_norm_block_equals_the_direct_computation() {
    // layer_norm.onnx: x[N,5,16] → MatMul W1[16,32] + b1 → LayerNormalization(s, c) → Relu
    // → MatMul W2[32,10] + b2.
    let m = coprune_onnx::load(&fixtures_dir().join("prune/layer_norm.onnx")).unwrap();
    let shapes = HashMap::from([(
        "input".to_string(),
        vec![
            coprune_ir::Dim::known(2),
            coprune_ir::Dim::known(5),
            coprune_ir::Dim::known(16),
        ],
    )]);
    let inf = infer(&m, &shapes).unwrap();
    let dg = DepGraph::build(&m, &inf);
    let grp = dg.groups.iter().find(|g| g.root == "MatMul_2").unwrap();
    assert_eq!(grp.units.len(), 32);
    assert_eq!(grp.renormalized.len(), 1, "{:?}", grp.renormalized);
    let gone = [0usize, 3, 4, 9, 17, 18, 30];
    let mut removed = vec![false; dg.num_units()];
    for &p in &gone {
        removed[grp.units[p]] = true;
    }
    let pruned = prune_model(&m, &dg, &removed, Mode::Remove).unwrap();

    let consts = m.graph.constants();
    let input_of = |op: &str, k: usize, i: usize| -> Vec<f32> {
        let n = m
            .graph
            .nodes
            .iter()
            .filter(|n| n.op_type == op)
            .nth(k)
            .unwrap();
        consts[n.input(i).unwrap()].to_f32_vec().unwrap()
    };
    let (w1, w2) = (input_of("MatMul", 0, 1), input_of("MatMul", 1, 1));
    let (b1, b2) = (input_of("Add", 0, 1), input_of("Add", 1, 1));
    let (s, c) = (
        input_of("LayerNormalization", 0, 1),
        input_of("LayerNormalization", 0, 2),
    );
    let keep: Vec<usize> = (0..32).filter(|j| !gone.contains(j)).collect();

    let mut rng = Rng::new(5);
    let x: Vec<f32> = (0..2 * 5 * 16).map(|_| rng.f32() * 2.0 - 1.0).collect();
    let sess = Session::new(
        &pruned,
        &HashMap::from([("input".to_string(), vec![2, 5, 16])]),
        1,
    )
    .unwrap();
    let got = sess
        .run(vec![Value::f32(vec![2, 5, 16], x.clone())])
        .unwrap();
    let got = got[0].as_f32().unwrap();
    assert_eq!(got.len(), 2 * 5 * 10);
    for (row, xr) in x.chunks(16).enumerate() {
        let h: Vec<f32> = keep
            .iter()
            .map(|&j| (0..16).map(|i| xr[i] * w1[i * 32 + j]).sum::<f32>() + b1[j])
            .collect();
        let n = h.len() as f32;
        let mean = h.iter().sum::<f32>() / n;
        let var = h.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let r: Vec<f32> = h
            .iter()
            .zip(&keep)
            .map(|(v, &j)| ((v - mean) / (var + 1e-5).sqrt() * s[j] + c[j]).max(0.0))
            .collect();
        for o in 0..10 {
            let want = r
                .iter()
                .zip(&keep)
                .map(|(v, &j)| v * w2[j * 10 + o])
                .sum::<f32>()
                + b2[o];
            let g = got[row * 10 + o];
            assert!(
                (g - want).abs() <= 1e-4 * (1.0 + want.abs()),
                "row {row} out {o}: {g} vs {want}"
            );
        }
    }
}
