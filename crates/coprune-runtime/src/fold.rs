//! Inference-time graph simplification before lowering: a `BatchNormalization` that only
//! rescales the output of a `Conv` with constant weights is folded into that convolution
//! (w' = w·k, b' = (b − mean)·k + β with k = γ/√(var + ε) per output channel), saving a pass over
//! the activations. The user's model is not changed; the session lowers a folded copy.

use coprune_ir::{Model, Tensor};
use std::collections::HashMap;

/// The model with every foldable Conv → BatchNormalization pair folded, or `None` when there is
/// none (then the original is lowered as it is).
pub fn fold_batch_norms(model: &Model) -> Option<Model> {
    let g = &model.graph;
    let consts = g.constants();
    let mut readers: HashMap<&str, usize> = HashMap::new();
    for n in &g.nodes {
        for i in n.inputs.iter().filter(|i| !i.is_empty()) {
            *readers.entry(i.as_str()).or_default() += 1;
        }
    }
    for o in &g.outputs {
        *readers.entry(o.name.as_str()).or_default() += 1;
    }
    let producer = g.producers();
    let f32s = |name: Option<&str>| -> Option<Vec<f32>> {
        let t = consts.get(name?)?;
        (t.dtype == coprune_ir::DType::F32).then(|| t.to_f32_vec().ok())?
    };
    // (conv index, bn index, new weight, new bias)
    let mut folds: Vec<(usize, usize, Tensor, Tensor)> = Vec::new();
    for (bi, bn) in g.nodes.iter().enumerate() {
        if bn.op_type != "BatchNormalization"
            || !coprune_ir::ops::is_default_domain(&bn.domain)
            || bn.outputs.len() != 1
            || bn.attr_int("training_mode", 0).ok() != Some(0)
        {
            continue;
        }
        let Some(x) = bn.input(0) else { continue };
        let Some(&ci) = producer.get(x) else { continue };
        let conv = &g.nodes[ci];
        if conv.op_type != "Conv"
            || !coprune_ir::ops::is_default_domain(&conv.domain)
            || readers.get(x) != Some(&1)
        {
            continue;
        }
        let (Some(w), Some(wt)) = (
            f32s(conv.input(1)),
            conv.input(1).and_then(|n| consts.get(n)),
        ) else {
            continue;
        };
        let (Some(s), Some(beta), Some(mean), Some(var)) = (
            f32s(bn.input(1)),
            f32s(bn.input(2)),
            f32s(bn.input(3)),
            f32s(bn.input(4)),
        ) else {
            continue;
        };
        let m = wt.dims.first().copied().unwrap_or(0) as usize;
        if m == 0 || [s.len(), beta.len(), mean.len(), var.len()] != [m; 4] {
            continue;
        }
        let bias = match conv.input(2) {
            Some(b) => match f32s(Some(b)) {
                Some(v) if v.len() == m => v,
                _ => continue,
            },
            None => vec![0.0; m],
        };
        let Ok(eps) = bn.attr_float("epsilon", 1e-5) else {
            continue;
        };
        let k: Vec<f32> = s
            .iter()
            .zip(&var)
            .map(|(s, v)| s / (v + eps).sqrt())
            .collect();
        let per = w.len() / m;
        let w2: Vec<f32> = w.iter().enumerate().map(|(i, v)| v * k[i / per]).collect();
        let b2: Vec<f32> = (0..m)
            .map(|o| (bias[o] - mean[o]) * k[o] + beta[o])
            .collect();
        let name = |what: &str| format!("{}.bnfold.{what}", bn.outputs[0]);
        let (Ok(wn), Ok(bn_t)) = (
            Tensor::from_f32(name("w"), wt.dims.clone(), &w2),
            Tensor::from_f32(name("b"), vec![m as u64], &b2),
        ) else {
            continue;
        };
        folds.push((ci, bi, wn, bn_t));
    }
    if folds.is_empty() {
        return None;
    }
    let mut out = model.clone();
    let g = &mut out.graph;
    let mut drop = vec![false; g.nodes.len()];
    for (ci, bi, w, b) in folds {
        let y = g.nodes[bi].outputs[0].clone();
        let conv = &mut g.nodes[ci];
        conv.inputs.resize(3, String::new());
        conv.inputs[1] = w.name.clone();
        conv.inputs[2] = b.name.clone();
        conv.outputs[0] = y;
        drop[bi] = true;
        g.initializers.push(w);
        g.initializers.push(b);
    }
    let mut i = 0;
    g.nodes.retain(|_| {
        i += 1;
        !drop[i - 1]
    });
    Some(out)
}
