//! Fine-grained sparsity: zeroes individual weights (unstructured, by magnitude, threshold,
//! seeded random or Taylor |w·g|), keeps N of every M consecutive weights along the
//! input-channel axis (N:M, e.g. 2:4), or zeroes whole R×C blocks of the layer's matrix view
//! (output channels × reduction, as a GEMM sees it; e.g. 4×1 blocks share an input column, which
//! coprune's runtime turns into a blocked sparse kernel). Shapes do not change; the model stays a valid ONNX that
//! any runtime loads. Weights are the float constants (rank ≥ 2) read at an input the op declares
//! learned: Conv, ConvTranspose, Gemm, MatMul, … ; biases and normalisation vectors stay dense.

use crate::importance::Stats;
use crate::{PruneError, Result};
use coprune_ir::{infer, Dim, Model, Patch, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Which weights go.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SparsePattern {
    /// Any weight.
    Unstructured,
    /// N kept of every M consecutive weights along the input-channel axis; `rows` consecutive
    /// output channels make the same choice (scored by their summed scores), so that a CPU
    /// kernel can load each kept activation once for all of them (coprune's runtime runs
    /// `rows: 4` on its blocked kernel). Every row is N:M whatever `rows` is.
    NM {
        n: usize,
        m: usize,
        #[serde(default = "one")]
        rows: usize,
    },
    /// Whole blocks of `rows` output channels × `cols` consecutive reduction elements (the
    /// weight as an [outputs, inputs·kernel] matrix), scored by their summed element scores.
    Block { rows: usize, cols: usize },
}

fn one() -> usize {
    1
}

/// How much goes (unstructured).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SparseTarget {
    /// This fraction of each layer's weights (of all weights with `global`).
    Sparsity(f64),
    /// Every weight whose score is below this value (blocks: whose mean score is).
    Threshold(f32),
    /// N:M patterns fix the fraction themselves.
    Pattern,
}

/// Per-weight score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ElementCriterion {
    /// |w|.
    Magnitude,
    /// Seeded uniform scores: the random baseline.
    Random,
    /// |w·∂L/∂w| from calibration gradients in [`Stats`].
    Taylor,
    /// |w|·‖X_c‖ with the activation norm of the weight's input channel (Wanda).
    Wanda,
}

/// Settings of a sparsification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SparsityConfig {
    pub pattern: SparsePattern,
    pub target: SparseTarget,
    pub criterion: ElementCriterion,
    /// One ranking across all layers instead of the same fraction per layer.
    pub global: bool,
    /// Fixed fractions for the layers of these nodes.
    pub layer_sparsity: Vec<(String, f64)>,
    /// Nodes whose weights stay dense.
    pub ignore: Vec<String>,
    /// Refuse (instead of skipping with a warning) a pattern that does not fit a layer.
    pub strict: bool,
    pub seed: u64,
}

/// One weight tensor as sparsified.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerSparsity {
    /// The node(s) reading the tensor.
    pub node: String,
    pub op: String,
    pub tensor: String,
    pub elements: usize,
    pub zeros_before: usize,
    pub zeros_after: usize,
    /// Why the layer was left as it was, when it was.
    pub skipped: Option<String>,
}

/// What a sparsification did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SparsityReport {
    pub layers: Vec<LayerSparsity>,
    /// Weight elements considered, and zeros among them after.
    pub elements: usize,
    pub zeros: usize,
    pub warnings: Vec<String>,
}

pub(crate) struct Weight {
    /// Root tensor name (initializer or Constant output).
    pub(crate) name: String,
    pub(crate) tensor: Tensor,
    pub(crate) nodes: Vec<usize>,
    /// Input-channel axis for N:M.
    in_axis: Option<usize>,
    /// Output-channel axis, along which `--nm-rows` shares N:M choices.
    out_axis: Option<usize>,
    /// The value the first reading node takes at input 0 (its activations).
    reads: Option<String>,
    /// Whether the root is an initializer (replaced in place) or a Constant node output.
    pub(crate) initializer: bool,
}

/// The (input-channel, output-channel) axes of a weight read by `op` at input `k`.
fn channel_axes(model: &Model, node: usize, k: usize, rank: usize) -> Option<(usize, usize)> {
    let n = &model.graph.nodes[node];
    match (n.op_type.as_str(), k) {
        ("Conv", 1) => Some((1, 0)),
        ("ConvTranspose", 1) => Some((0, 1)),
        ("Gemm", 1) => Some(if n.attr_int("transB", 0).ok()? != 0 {
            (1, 0)
        } else {
            (0, 1)
        }),
        ("MatMul", 1) if rank >= 2 => Some((rank - 2, rank - 1)),
        _ => None,
    }
}

pub(crate) fn weights(model: &Model) -> Result<Vec<Weight>> {
    let g = &model.graph;
    let inf = infer(model, &HashMap::<String, Vec<Dim>>::new())?;
    let mut roots: BTreeMap<String, (Tensor, bool)> = BTreeMap::new();
    let shadowed: std::collections::HashSet<&str> =
        g.inputs.iter().map(|v| v.name.as_str()).collect();
    for t in &g.initializers {
        if !shadowed.contains(t.name.as_str()) {
            roots.insert(t.name.clone(), (t.clone(), true));
        }
    }
    for n in &g.nodes {
        if n.op_type == "Constant" {
            if let (Some(o), Ok(t)) = (n.outputs.first(), coprune_ir::constant_node_value(n)) {
                roots.insert(o.clone(), (t.into_owned(), false));
            }
        }
    }
    let mut alias: HashMap<String, String> = HashMap::new();
    for n in &g.nodes {
        if n.op_type == "Identity" {
            if let (Some(i), Some(o)) = (n.input(0), n.outputs.first()) {
                let r = alias.get(i).cloned().unwrap_or_else(|| i.to_string());
                if roots.contains_key(&r) {
                    alias.insert(o.clone(), r);
                }
            }
        }
    }
    let mut out: Vec<Weight> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, n) in g.nodes.iter().enumerate() {
        let Some(op) = inf.ops.get(i) else { continue };
        for (k, v) in n.inputs.iter().enumerate() {
            if v.is_empty() || !op.learned_input(k) {
                continue;
            }
            let root = alias.get(v).cloned().unwrap_or_else(|| v.clone());
            let Some((t, init)) = roots.get(&root) else {
                continue;
            };
            if !t.dtype.is_float() || t.dims.len() < 2 {
                continue;
            }
            let axes = channel_axes(model, i, k, t.dims.len());
            match index.get(&root) {
                Some(&w) => out[w].nodes.push(i),
                None => {
                    index.insert(root.clone(), out.len());
                    out.push(Weight {
                        name: root,
                        tensor: t.clone(),
                        nodes: vec![i],
                        in_axis: axes.map(|a| a.0),
                        out_axis: axes.map(|a| a.1),
                        reads: n.input(0).map(str::to_string),
                        initializer: *init,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The element indices of each `rows × cols` block of a weight's matrix view (outputs ×
/// reduction), or why the pattern does not fit it.
fn block_units(
    model: &Model,
    w: &Weight,
    rows: usize,
    cols: usize,
) -> std::result::Result<Vec<Vec<usize>>, String> {
    let dims: Vec<usize> = w.tensor.dims.iter().map(|&d| d as usize).collect();
    let node = &model.graph.nodes[w.nodes[0]];
    // (outputs, reduction, element index of (output r, reduction c)).
    let (out, red, transposed) = match (node.op_type.as_str(), w.in_axis, dims.len()) {
        ("Conv", Some(1), _) => (dims[0], dims[1..].iter().product::<usize>(), false),
        ("Gemm", Some(1), 2) => (dims[0], dims[1], false),
        ("Gemm", Some(0), 2) | ("MatMul", Some(0), 2) => (dims[1], dims[0], true),
        _ => {
            return Err(format!(
                "blocks apply to Conv, Gemm and 2-D MatMul weights ({} {:?})",
                node.op_type, dims
            ))
        }
    };
    if !out.is_multiple_of(rows) || !red.is_multiple_of(cols) {
        return Err(format!(
            "its {out}×{red} matrix view is not a multiple of {rows}×{cols}"
        ));
    }
    let at = |r: usize, c: usize| if transposed { c * out + r } else { r * red + c };
    let mut units = Vec::with_capacity(out / rows * (red / cols));
    for br in (0..out).step_by(rows) {
        for bc in (0..red).step_by(cols) {
            units.push(
                (br..br + rows)
                    .flat_map(|r| (bc..bc + cols).map(move |c| at(r, c)))
                    .collect(),
            );
        }
    }
    Ok(units)
}

/// Seeded uniform score in [0, 1) for element `i` of tensor `t` (SplitMix64).
fn random_score(seed: u64, t: usize, i: usize) -> f32 {
    let mut z = seed
        .wrapping_add((t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add((i as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
}

/// Marks the `k` lowest scores (ties broken by index, so the result is deterministic).
fn lowest(scores: &[f32], k: usize) -> Vec<bool> {
    let mut gone = vec![false; scores.len()];
    if k == 0 {
        return gone;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let k = k.min(scores.len());
    idx.select_nth_unstable_by(k - 1, |&a, &b| {
        scores[a].total_cmp(&scores[b]).then(a.cmp(&b))
    });
    for &i in &idx[..k] {
        gone[i] = true;
    }
    gone
}

/// Computes the sparsified weights of `model` as a [`Patch`] (initializers replaced in place;
/// weights held in `Constant` nodes become initializers) and a report.
pub fn sparsify(
    model: &Model,
    cfg: &SparsityConfig,
    stats: &Stats,
) -> Result<(Patch, SparsityReport)> {
    if let SparseTarget::Sparsity(f) = cfg.target {
        if !(0.0..1.0).contains(&f) {
            return Err(PruneError::Invalid(format!(
                "sparsity {f} must be in [0, 1)"
            )));
        }
    }
    if let SparsePattern::NM { n, m, rows } = cfg.pattern {
        if m == 0 || n == 0 || n >= m {
            return Err(PruneError::Invalid(format!(
                "pattern {n}:{m} needs 0 < N < M"
            )));
        }
        if rows == 0 {
            return Err(PruneError::Invalid(format!(
                "pattern {n}:{m} shared by {rows} rows: needs at least one"
            )));
        }
    }
    if let SparsePattern::Block { rows, cols } = cfg.pattern {
        if rows == 0 || cols == 0 || rows * cols < 2 {
            return Err(PruneError::Invalid(format!(
                "block {rows}x{cols} needs at least two elements"
            )));
        }
    }
    for (node, f) in &cfg.layer_sparsity {
        if !(0.0..1.0).contains(f) {
            return Err(PruneError::Invalid(format!(
                "layer sparsity {f} for `{node}` must be in [0, 1)"
            )));
        }
    }
    let ws = weights(model)?;
    let g = &model.graph;
    let names =
        |w: &Weight| -> Vec<&str> { w.nodes.iter().map(|&i| g.nodes[i].display_name()).collect() };
    for name in cfg
        .ignore
        .iter()
        .chain(cfg.layer_sparsity.iter().map(|(n, _)| n))
    {
        if !ws.iter().any(|w| names(w).contains(&name.as_str())) {
            return Err(PruneError::Invalid(format!(
                "node `{name}` reads no prunable weight (see `coprune analyze` for node names)"
            )));
        }
    }
    let mut report = SparsityReport {
        layers: Vec::new(),
        elements: 0,
        zeros: 0,
        warnings: Vec::new(),
    };
    // Scores per weight.
    let mut values: Vec<Vec<f32>> = Vec::with_capacity(ws.len());
    let mut scores: Vec<Vec<f32>> = Vec::with_capacity(ws.len());
    for (ti, w) in ws.iter().enumerate() {
        let v = w.tensor.to_f32_vec()?;
        let s: Vec<f32> = match cfg.criterion {
            ElementCriterion::Magnitude => v.iter().map(|x| x.abs()).collect(),
            ElementCriterion::Random => (0..v.len())
                .map(|i| random_score(cfg.seed, ti, i))
                .collect(),
            ElementCriterion::Taylor => {
                let gr = stats
                    .grads
                    .get(&w.name)
                    .filter(|g| g.len() == v.len())
                    .ok_or_else(|| {
                        PruneError::Invalid(format!("no calibration gradient for `{}`", w.name))
                    })?;
                v.iter().zip(gr).map(|(a, b)| (a * b).abs()).collect()
            }
            ElementCriterion::Wanda => {
                let dims: Vec<usize> = w.tensor.dims.iter().map(|&d| d as usize).collect();
                let act = w
                    .in_axis
                    .zip(w.reads.as_ref().and_then(|r| stats.act_norms.get(r)))
                    .filter(|(ax, a)| a.len() == dims[*ax]);
                match act {
                    Some((ax, a)) => {
                        let inner: usize = dims[ax + 1..].iter().product();
                        v.iter()
                            .enumerate()
                            .map(|(i, x)| x.abs() * a[(i / inner) % dims[ax]])
                            .collect()
                    }
                    // No statistics for this layer (grouped conv, unusual op): magnitude.
                    None => v.iter().map(|x| x.abs()).collect(),
                }
            }
        };
        // Weights already zero are pruned whatever their score.
        let s = s
            .into_iter()
            .zip(&v)
            .map(|(s, &x)| if x == 0.0 { f32::NEG_INFINITY } else { s })
            .collect();
        values.push(v);
        scores.push(s);
    }
    let ignored = |w: &Weight| names(w).iter().any(|n| cfg.ignore.iter().any(|i| i == n));
    // A pattern that does not fit a layer: refused with `strict`, else the layer stays dense
    // with a warning (returns the reason).
    let misfit = |report: &mut SparsityReport, w: &Weight, what: &str, why: String| {
        let at = format!("`{}` ({})", w.name, names(w).join(", "));
        if cfg.strict {
            return Err(PruneError::Invalid(format!(
                "{what} does not fit {at}: {why}"
            )));
        }
        report.warnings.push(format!("{at} left dense: {why}"));
        Ok(why)
    };
    let fixed = |w: &Weight| -> Option<f64> {
        cfg.layer_sparsity
            .iter()
            .find(|(n, _)| names(w).contains(&n.as_str()))
            .map(|(_, f)| *f)
    };
    let mut gone: Vec<Option<Vec<bool>>> = vec![None; ws.len()];
    let mut skipped: Vec<Option<String>> = vec![None; ws.len()];
    match (cfg.pattern, cfg.target) {
        (SparsePattern::NM { n, m, rows }, _) => {
            for (ti, w) in ws.iter().enumerate() {
                if ignored(w) {
                    skipped[ti] = Some("ignored".into());
                    continue;
                }
                let Some(axis) = w.in_axis else {
                    skipped[ti] = Some(format!("{n}:{m} applies to Conv/Gemm/MatMul weights"));
                    continue;
                };
                let dims: Vec<usize> = w.tensor.dims.iter().map(|&d| d as usize).collect();
                if !dims[axis].is_multiple_of(m) {
                    let why = format!(
                        "input-channel dim {} of {:?} is not a multiple of {m}",
                        dims[axis], dims
                    );
                    skipped[ti] = Some(misfit(&mut report, w, &format!("{n}:{m}"), why)?);
                    continue;
                }
                // Groups of `rows` output channels share their choice: a group's key is its
                // first element with the output coordinate rounded down to its block.
                let share = match w.out_axis {
                    _ if rows == 1 => None,
                    Some(oa) if dims[oa].is_multiple_of(rows) => {
                        Some((dims[oa], dims[oa + 1..].iter().product::<usize>()))
                    }
                    oa => {
                        let why = match oa {
                            Some(oa) => format!(
                                "output-channel dim {} of {:?} is not a multiple of {rows}",
                                dims[oa], dims
                            ),
                            None => "no output-channel axis to share the choice along".into(),
                        };
                        let what = format!("{n}:{m} shared by {rows} rows");
                        skipped[ti] = Some(misfit(&mut report, w, &what, why)?);
                        continue;
                    }
                };
                let key = |e: usize| match share {
                    Some((d, stride)) => e - ((e / stride) % d % rows) * stride,
                    None => e,
                };
                let (outer, a, inner) = (
                    dims[..axis].iter().product::<usize>(),
                    dims[axis],
                    dims[axis + 1..].iter().product::<usize>(),
                );
                let s = &scores[ti];
                let groups = || {
                    (0..outer).flat_map(move |o| {
                        (0..inner).flat_map(move |i| {
                            (0..a)
                                .step_by(m)
                                .map(move |b| (b..b + m).map(move |c| (o * a + c) * inner + i))
                        })
                    })
                };
                // The choice of each block of groups that share one, made once on their summed
                // scores (weights already zero count as 0 there, so one row's zero does not
                // decide for the others).
                let mut shared: HashMap<usize, Vec<f32>> = HashMap::new();
                if share.is_some() {
                    for blk in groups() {
                        let blk: Vec<usize> = blk.collect();
                        let sum = shared.entry(key(blk[0])).or_insert_with(|| vec![0.0; m]);
                        for (j, &e) in blk.iter().enumerate() {
                            sum[j] += s[e].max(0.0);
                        }
                    }
                }
                let shared: HashMap<usize, Vec<bool>> = shared
                    .into_iter()
                    .map(|(k, sum)| (k, lowest(&sum, m - n)))
                    .collect();
                let mut gv = vec![false; s.len()];
                for blk in groups() {
                    let blk: Vec<usize> = blk.collect();
                    let own;
                    let go = match shared.get(&key(blk[0])) {
                        Some(go) => go,
                        None => {
                            let bs: Vec<f32> = blk.iter().map(|&e| s[e]).collect();
                            own = lowest(&bs, m - n);
                            &own
                        }
                    };
                    for (&e, &g) in blk.iter().zip(go) {
                        if g {
                            gv[e] = true;
                        }
                    }
                }
                gone[ti] = Some(gv);
            }
        }
        (SparsePattern::Unstructured | SparsePattern::Block { .. }, target) => {
            // Blocks: rank block scores (sum of the elements'), expand to elements afterwards.
            let mut blocks: Vec<Option<Vec<Vec<usize>>>> = vec![None; ws.len()];
            if let SparsePattern::Block { rows, cols } = cfg.pattern {
                for (ti, w) in ws.iter().enumerate() {
                    if ignored(w) {
                        continue;
                    }
                    match block_units(model, w, rows, cols) {
                        Ok(units) => {
                            let s = &scores[ti];
                            let bs: Vec<f32> = units
                                .iter()
                                .map(|u| u.iter().map(|&e| s[e].max(0.0)).sum::<f32>())
                                .collect();
                            let bs = match target {
                                // Thresholds compare the block's mean score.
                                SparseTarget::Threshold(_) => {
                                    bs.iter().map(|v| v / (rows * cols) as f32).collect()
                                }
                                _ => bs,
                            };
                            scores[ti] = bs;
                            blocks[ti] = Some(units);
                        }
                        Err(why) => {
                            let what = format!("block {rows}x{cols}");
                            skipped[ti] = Some(misfit(&mut report, w, &what, why)?);
                        }
                    }
                }
            }
            let mut pool: Vec<usize> = Vec::new();
            for (ti, w) in ws.iter().enumerate() {
                if ignored(w) {
                    skipped[ti] = Some("ignored".into());
                    continue;
                }
                if skipped[ti].is_some() {
                    continue;
                }
                let s = &scores[ti];
                let per_layer = |f: f64| lowest(s, (f * s.len() as f64).round() as usize);
                gone[ti] = match (fixed(w), target) {
                    (Some(f), _) => Some(per_layer(f)),
                    (None, SparseTarget::Threshold(t)) => Some(s.iter().map(|&x| x < t).collect()),
                    (None, SparseTarget::Sparsity(f)) if !cfg.global => Some(per_layer(f)),
                    (None, SparseTarget::Sparsity(_)) => {
                        pool.push(ti);
                        None
                    }
                    (None, SparseTarget::Pattern) => {
                        return Err(PruneError::Invalid(
                            "unstructured sparsity needs a sparsity or a threshold".into(),
                        ))
                    }
                };
            }
            if let (SparseTarget::Sparsity(f), false) = (target, pool.is_empty()) {
                // One ranking over every weight of the pooled layers.
                let all: Vec<f32> = pool
                    .iter()
                    .flat_map(|&ti| scores[ti].iter().copied())
                    .collect();
                let k = (f * all.len() as f64).round() as usize;
                let flat = lowest(&all, k);
                let mut off = 0;
                for &ti in &pool {
                    let n = scores[ti].len();
                    gone[ti] = Some(flat[off..off + n].to_vec());
                    off += n;
                }
            }
            for (ti, units) in blocks.into_iter().enumerate() {
                if let (Some(units), Some(gb)) = (units, gone[ti].as_ref()) {
                    let mut gv = vec![false; values[ti].len()];
                    for (u, _) in units.iter().zip(gb).filter(|(_, &g)| g) {
                        u.iter().for_each(|&e| gv[e] = true);
                    }
                    gone[ti] = Some(gv);
                }
            }
        }
    }
    let mut patch = Patch::default();
    for (ti, w) in ws.iter().enumerate() {
        let v = &values[ti];
        let zeros_before = v.iter().filter(|&&x| x == 0.0).count();
        let mut zeros_after = zeros_before;
        if let Some(gv) = &gone[ti] {
            let nv: Vec<f32> = v
                .iter()
                .zip(gv)
                .map(|(&x, &g)| if g { 0.0 } else { x })
                .collect();
            zeros_after = nv.iter().filter(|&&x| x == 0.0).count();
            if zeros_after != zeros_before {
                let mut t = Tensor::from_f32(w.name.clone(), w.tensor.dims.clone(), &nv)?;
                if w.tensor.dtype != coprune_ir::DType::F32 {
                    return Err(PruneError::Invalid(format!(
                        "`{}` is {:?}; fine-grained sparsity supports f32 weights",
                        w.name, w.tensor.dtype
                    )));
                }
                if w.initializer {
                    t.storage = w.tensor.storage.clone();
                    t.extra = w.tensor.extra.clone();
                } else {
                    // A Constant node's weight becomes an initializer under a fresh name.
                    let mut name = format!("{}.sparse", w.name);
                    while g.initializers.iter().any(|x| x.name == name) {
                        name.push('_');
                    }
                    t.name = name.clone();
                    for (ni, n) in g.nodes.iter().enumerate() {
                        for (k, inp) in n.inputs.iter().enumerate() {
                            if *inp == w.name {
                                patch.inputs.push((ni, k, name.clone()));
                            }
                        }
                    }
                }
                patch.initializers.push(t);
            }
        }
        report.elements += v.len();
        report.zeros += zeros_after;
        report.layers.push(LayerSparsity {
            node: names(w).join(", "),
            op: g.nodes[w.nodes[0]].op_type.clone(),
            tensor: w.name.clone(),
            elements: v.len(),
            zeros_before,
            zeros_after,
            skipped: skipped[ti].take(),
        });
    }
    Ok((patch, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use coprune_ir::AttrValue;
    use coprune_testutil::{small_cnn, ConvSpec, GraphBuilder};

    fn cfg(pattern: SparsePattern, target: SparseTarget) -> SparsityConfig {
        SparsityConfig {
            pattern,
            target,
            criterion: ElementCriterion::Magnitude,
            global: false,
            layer_sparsity: Vec::new(),
            ignore: Vec::new(),
            strict: false,
            seed: 0,
        }
    }

    fn apply(m: &Model, c: &SparsityConfig) -> (Model, SparsityReport) {
        let (patch, r) = sparsify(m, c, &Stats::default()).unwrap();
        let mut out = m.clone();
        patch.apply(&mut out).unwrap();
        (out, r)
    }

    fn values(m: &Model, name: &str) -> Vec<f32> {
        m.graph.initializer(name).unwrap().to_f32_vec().unwrap()
    }

    #[test]
    fn per_layer_sparsity_removes_the_smallest_magnitudes() {
        let m = small_cnn(1);
        let (out, r) = apply(
            &m,
            &cfg(SparsePattern::Unstructured, SparseTarget::Sparsity(0.5)),
        );
        assert!(!r.layers.is_empty());
        for l in &r.layers {
            assert_eq!(
                l.zeros_after,
                (0.5 * l.elements as f64).round() as usize,
                "{l:?}"
            );
            let before = values(&m, &l.tensor);
            let after = values(&out, &l.tensor);
            // Every kept weight is at least as large as every removed one.
            let kept_min = after
                .iter()
                .filter(|x| **x != 0.0)
                .fold(f32::INFINITY, |a, x| a.min(x.abs()));
            let gone_max = before
                .iter()
                .zip(&after)
                .filter(|(_, a)| **a == 0.0)
                .fold(0f32, |a, (b, _)| a.max(b.abs()));
            assert!(
                gone_max <= kept_min,
                "{}: {gone_max} > {kept_min}",
                l.tensor
            );
            // Shapes unchanged; biases untouched.
            assert_eq!(
                out.graph.initializer(&l.tensor).unwrap().dims,
                m.graph.initializer(&l.tensor).unwrap().dims
            );
        }
        let bias_changed = m
            .graph
            .initializers
            .iter()
            .filter(|t| t.dims.len() == 1)
            .any(|t| out.graph.initializer(&t.name) != Some(t));
        assert!(!bias_changed);
    }

    #[test]
    fn global_threshold_random_and_overrides() {
        let m = small_cnn(2);
        let mut c = cfg(SparsePattern::Unstructured, SparseTarget::Sparsity(0.7));
        c.global = true;
        let (_, r) = apply(&m, &c);
        assert_eq!(r.zeros, (0.7 * r.elements as f64).round() as usize);
        // Global ranking prunes layers unevenly.
        let fr: Vec<f64> = r
            .layers
            .iter()
            .map(|l| l.zeros_after as f64 / l.elements as f64)
            .collect();
        assert!(fr.iter().any(|&f| (f - 0.7).abs() > 0.01), "{fr:?}");
        // Threshold: exactly the weights below it.
        let (out, r) = apply(
            &m,
            &cfg(SparsePattern::Unstructured, SparseTarget::Threshold(0.3)),
        );
        for l in &r.layers {
            let below = values(&m, &l.tensor)
                .iter()
                .filter(|x| x.abs() < 0.3)
                .count();
            assert_eq!(l.zeros_after, below);
            assert!(values(&out, &l.tensor)
                .iter()
                .all(|x| *x == 0.0 || x.abs() >= 0.3));
        }
        // Random: seeded and reproducible; another seed differs.
        let mut c = cfg(SparsePattern::Unstructured, SparseTarget::Sparsity(0.5));
        c.criterion = ElementCriterion::Random;
        let (a, _) = apply(&m, &c);
        let (b, _) = apply(&m, &c);
        assert_eq!(a, b);
        c.seed = 9;
        let (d, _) = apply(&m, &c);
        assert_ne!(a, d);
        // Per-node override and ignore.
        let first = r.layers[0].node.clone();
        let second = r.layers[1].node.clone();
        let mut c = cfg(SparsePattern::Unstructured, SparseTarget::Sparsity(0.5));
        c.layer_sparsity = vec![(first.clone(), 0.25)];
        c.ignore = vec![second.clone()];
        let (_, r) = apply(&m, &c);
        let l0 = &r.layers[0];
        assert_eq!(l0.zeros_after, (0.25 * l0.elements as f64).round() as usize);
        assert_eq!(r.layers[1].zeros_after, 0);
        assert_eq!(r.layers[1].skipped.as_deref(), Some("ignored"));
        c.ignore = vec!["no_such_node".into()];
        assert!(sparsify(&m, &c, &Stats::default()).is_err());
    }

    #[test]
    fn n_m_keeps_n_of_every_m_input_channels() {
        let mut b = GraphBuilder::new(4);
        let x = b.input("input", coprune_ir::DType::F32, &["N", "8", "6", "6"]);
        let c1 = b.conv(&x, ConvSpec::same(8, 4, 3));
        let c2 = b.conv(&c1, ConvSpec::same(4, 6, 1));
        let c3 = b.conv(&c2, ConvSpec::same(6, 2, 1)); // 6 input channels: not a multiple of 4
        b.output(&c3);
        let m = b.into_model();
        let (out, r) = apply(
            &m,
            &cfg(
                SparsePattern::NM {
                    n: 2,
                    m: 4,
                    rows: 1,
                },
                SparseTarget::Pattern,
            ),
        );
        for l in &r.layers[..2] {
            let w = out.graph.initializer(&l.tensor).unwrap();
            let d: Vec<usize> = w.dims.iter().map(|&x| x as usize).collect();
            let v = w.to_f32_vec().unwrap();
            let inner = d[2] * d[3];
            for o in 0..d[0] {
                for i in 0..inner {
                    for blk in (0..d[1]).step_by(4) {
                        let nz = (blk..blk + 4)
                            .filter(|&c| v[(o * d[1] + c) * inner + i] != 0.0)
                            .count();
                        assert!(nz <= 2, "{}: {nz} non-zeros in a block of 4", l.tensor);
                    }
                }
            }
            assert_eq!(l.zeros_after * 2, l.elements);
        }
        assert!(r.layers[2].skipped.is_some());
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        let mut strict = cfg(
            SparsePattern::NM {
                n: 2,
                m: 4,
                rows: 1,
            },
            SparseTarget::Pattern,
        );
        strict.strict = true;
        let e = sparsify(&m, &strict, &Stats::default()).unwrap_err();
        assert!(e.to_string().contains("not a multiple of 4"), "{e}");
    }

    #[test]
    fn n_m_choices_shared_by_rows() {
        let mut b = GraphBuilder::new(9);
        let x = b.input("input", coprune_ir::DType::F32, &["N", "8", "6", "6"]);
        let c1 = b.conv(&x, ConvSpec::same(8, 8, 3));
        let c2 = b.conv(&c1, ConvSpec::same(8, 6, 1)); // 6 outputs: not a multiple of 4
        let c3 = b.conv(&c2, ConvSpec::same(6, 8, 1)); // 6 inputs: not 2:4 at all
        let p = b.op("GlobalAveragePool", &[&c3], vec![]);
        let f = b.op("Flatten", &[&p], vec![]);
        let w = b.weight("fc_w", &[8, 12]); // Gemm without transB: K = 8 inputs, 12 outputs
        let y = b.op("Gemm", &[&f, &w], vec![]);
        b.output(&y);
        let m = b.into_model();
        let pattern = SparsePattern::NM {
            n: 2,
            m: 4,
            rows: 4,
        };
        let (out, r) = apply(&m, &cfg(pattern, SparseTarget::Pattern));
        // Conv [8 out, 8 in, 3, 3]: every row keeps 2 of each 4 input channels at each tap, the
        // same 2 in both blocks of 4 rows, and they are the 2 with the largest summed |w|.
        let l = &r.layers[0];
        let (v, orig) = (values(&out, &l.tensor), values(&m, &l.tensor));
        let at = |o: usize, c: usize, t: usize| (o * 8 + c) * 9 + t;
        for br in [0, 4] {
            for t in 0..9 {
                for g in [0, 4] {
                    let kept = |o: usize| -> Vec<bool> {
                        (g..g + 4).map(|c| v[at(o, c, t)] != 0.0).collect()
                    };
                    for o in br..br + 4 {
                        assert_eq!(kept(o).iter().filter(|&&k| k).count(), 2);
                        assert_eq!(kept(o), kept(br), "rows {br}.. differ at tap {t}");
                    }
                    let sum = |c: usize| (br..br + 4).map(|o| orig[at(o, c, t)].abs()).sum::<f32>();
                    let k = kept(br);
                    let kept_min = (0..4)
                        .filter(|&j| k[j])
                        .map(|j| sum(g + j))
                        .fold(f32::INFINITY, f32::min);
                    let gone_max = (0..4)
                        .filter(|&j| !k[j])
                        .map(|j| sum(g + j))
                        .fold(0.0, f32::max);
                    assert!(gone_max <= kept_min);
                }
            }
        }
        assert_eq!(l.zeros_after * 2, l.elements);
        // 6 output channels cannot share in fours; 6 input channels do not fit 2:4.
        assert!(r.layers[1]
            .skipped
            .as_deref()
            .unwrap()
            .contains("output-channel dim 6"));
        assert!(r.layers[2].skipped.is_some());
        assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
        // The Gemm's weight is [K, outputs]: consecutive output columns share.
        let g = values(&out, &w);
        for blk in [0, 4] {
            for ob in [0, 4, 8] {
                let kept = |o: usize| -> Vec<bool> {
                    (blk..blk + 4).map(|k| g[k * 12 + o] != 0.0).collect()
                };
                for o in ob..ob + 4 {
                    assert_eq!(kept(o).iter().filter(|&&k| k).count(), 2);
                    assert_eq!(kept(o), kept(ob));
                }
            }
        }
        // Rows choosing alone (plain 2:4) choose differently somewhere: the sharing is real.
        let single = SparsePattern::NM {
            n: 2,
            m: 4,
            rows: 1,
        };
        let (a, _) = apply(&m, &cfg(single, SparseTarget::Pattern));
        let p = values(&a, &l.tensor);
        let differs = (0..8).any(|o| {
            (0..8).any(|c| (0..9).any(|t| (p[at(o, c, t)] != 0.0) != (p[at(o & !3, c, t)] != 0.0)))
        });
        assert!(differs);
        let mut strict = cfg(pattern, SparseTarget::Pattern);
        strict.strict = true;
        let e = sparsify(&m, &strict, &Stats::default()).unwrap_err();
        assert!(e.to_string().contains("shared by 4 rows"), "{e}");
    }

    #[test]
    fn blocks_go_whole() {
        let mut b = GraphBuilder::new(6);
        let x = b.input("input", coprune_ir::DType::F32, &["N", "8", "6", "6"]);
        let c1 = b.conv(&x, ConvSpec::same(8, 8, 3));
        let c2 = b.conv(&c1, ConvSpec::same(8, 6, 1)); // 6 outputs: not a multiple of 4
        let p = b.op("GlobalAveragePool", &[&c2], vec![]);
        let f = b.op("Flatten", &[&p], vec![]);
        let w = b.weight("fc_w", &[6, 8]); // Gemm without transB: the view is 8 × 6
        let y = b.op("Gemm", &[&f, &w], vec![]);
        b.output(&y);
        let m = b.into_model();
        let pattern = SparsePattern::Block { rows: 4, cols: 1 };
        let (out, r) = apply(&m, &cfg(pattern, SparseTarget::Sparsity(0.5)));
        // Conv: [8, 8·3·3] view, blocks of 4 output channels at one reduction index.
        let l = &r.layers[0];
        let v = values(&out, &l.tensor);
        for bc in 0..72 {
            for br in [0, 4] {
                let zeros = (br..br + 4).filter(|&o| v[o * 72 + bc] == 0.0).count();
                assert!(
                    zeros == 0 || zeros == 4,
                    "block ({br}, {bc}) has {zeros} zeros"
                );
            }
        }
        assert_eq!(l.zeros_after * 2, l.elements);
        // The 8×6 conv's 6 outputs do not fit; the Gemm's view (8 outputs × 6) does.
        assert!(r.layers[1].skipped.is_some());
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        let g = values(&out, &w);
        for k in 0..6 {
            for br in [0, 4] {
                let zeros = (br..br + 4).filter(|&o| g[k * 8 + o] == 0.0).count();
                assert!(
                    zeros == 0 || zeros == 4,
                    "fc block ({br}, {k}): {zeros} zeros"
                );
            }
        }
        // The kept blocks are the largest by L1.
        let orig = values(&m, &l.tensor);
        let score = |vals: &[f32], br: usize, bc: usize| -> f32 {
            (br..br + 4).map(|o| vals[o * 72 + bc].abs()).sum()
        };
        let kept_min = (0..72)
            .flat_map(|bc| [0, 4].map(|br| (br, bc)))
            .filter(|&(br, bc)| v[br * 72 + bc] != 0.0)
            .map(|(br, bc)| score(&orig, br, bc))
            .fold(f32::INFINITY, f32::min);
        let gone_max = (0..72)
            .flat_map(|bc| [0, 4].map(|br| (br, bc)))
            .filter(|&(br, bc)| v[br * 72 + bc] == 0.0)
            .map(|(br, bc)| score(&orig, br, bc))
            .fold(0.0, f32::max);
        assert!(gone_max <= kept_min);
        let mut strict = cfg(pattern, SparseTarget::Sparsity(0.5));
        strict.strict = true;
        let e = sparsify(&m, &strict, &Stats::default()).unwrap_err();
        assert!(e.to_string().contains("not a multiple of 4×1"), "{e}");
    }

    #[test]
    fn constant_node_weights_become_initializers() {
        let mut b = GraphBuilder::new(5);
        let x = b.input("input", coprune_ir::DType::F32, &["N", "4"]);
        let w = coprune_ir::Tensor::from_f32(
            "cw",
            vec![3, 4],
            &[1., -2., 3., -4., 5., -6., 7., -8., 9., -10., 11., -12.],
        )
        .unwrap();
        b.graph.nodes.push(
            coprune_ir::Node::new("const", "Constant", &[], &["cw"])
                .with_attr("value", AttrValue::Tensor(w)),
        );
        let y = b.op("Gemm", &[&x, "cw"], vec![("transB", AttrValue::Int(1))]);
        b.output(&y);
        let m = b.into_model();
        let (out, r) = apply(
            &m,
            &cfg(SparsePattern::Unstructured, SparseTarget::Sparsity(0.5)),
        );
        assert_eq!(r.layers[0].zeros_after, 6);
        assert!(out.graph.nodes.iter().all(|n| n.op_type != "Constant"));
        let t = out.graph.initializer("cw.sparse").unwrap();
        assert_eq!(
            t.to_f32_vec().unwrap(),
            vec![0., 0., 0., 0., 0., 0., 7., -8., 9., -10., 11., -12.]
        );
        out.graph.check_consistency().unwrap();
    }
}
