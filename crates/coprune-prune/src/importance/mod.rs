//! Importance criteria: one file per criterion, each scoring the positions of one sliced tensor
//! (a [`MemberView`]); [`score_groups`] reduces those scores to one per unit of every group.
//! Criteria never run models: data-driven ones (Taylor) read [`Stats`] that the trainer or the
//! runtime collected beforehand.

mod bn_scale;
mod fpgm;
mod l1;
mod l2;
mod lamp;
mod random;
mod taylor;
mod wanda;

pub use bn_scale::BnScale;
pub use fpgm::Fpgm;
pub use l1::L1;
pub use l2::L2;
pub use lamp::Lamp;
pub use random::Random;
pub use taylor::Taylor;
pub use wanda::Wanda;

use crate::depgraph::{DepGraph, Group, Role};
use coprune_ir::Model;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::rc::Rc;

/// One sliced tensor as a criterion sees it.
#[derive(Debug, Clone, Copy)]
pub struct MemberView<'a> {
    pub values: &'a [f32],
    pub dims: &'a [u64],
    /// Axis whose positions are scored.
    pub axis: usize,
    pub role: Role,
    /// Op type of the node the tensor belongs to.
    pub op: &'a str,
    /// Input index of the tensor at that node.
    pub input: usize,
    /// The loss gradient of the tensor, when [`Stats`] has one.
    pub grad: Option<&'a [f32]>,
    /// ‖X‖₂ per channel of the value the node reads at input 0 (its activations), when
    /// [`Stats`] has it.
    pub act: Option<&'a [f32]>,
}

/// Statistics collected from data for data-driven criteria.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Mean loss gradient of each weight tensor over the calibration batches, by tensor name
    /// (aliases included).
    pub grads: HashMap<String, Vec<f32>>,
    /// ‖X_c‖₂ per channel of each layer input over the calibration samples, by value name.
    pub act_norms: HashMap<String, Vec<f32>>,
}

impl MemberView<'_> {
    /// Calls `f(position, chunk)` for every contiguous run of elements at one position along
    /// `axis` (no per-element index arithmetic, so the inner loops vectorise).
    pub fn for_each_chunk(&self, mut f: impl FnMut(usize, &[f32])) {
        let n = self.positions();
        let inner: usize = self.dims[self.axis + 1..].iter().product::<u64>() as usize;
        if n == 0 || inner == 0 {
            return;
        }
        for (k, chunk) in self.values.chunks_exact(inner).enumerate() {
            f(k % n, chunk);
        }
    }

    /// Number of positions along the axis.
    pub fn positions(&self) -> usize {
        self.dims.get(self.axis).copied().unwrap_or(0) as usize
    }

    /// The slice at each position, flattened (row `p` holds every element at position `p`).
    pub fn rows(&self) -> Vec<Vec<f32>> {
        let mut rows = vec![Vec::new(); self.positions()];
        self.for_each_chunk(|p, c| rows[p].extend_from_slice(c));
        rows
    }
}

/// Σ f(x) with eight independent partial sums, so the loop vectorises (a single running f32 sum
/// cannot be reordered by the compiler).
pub fn lane_sum(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = xs.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|&x| f(x)).sum();
    for c in chunks {
        for i in 0..8 {
            acc[i] += f(c[i]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Dot product with eight partial sums.
pub fn lane_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// A channel importance criterion.
pub trait Criterion {
    /// Name as given on the command line.
    fn name(&self) -> &'static str;

    /// Score per position of one member; `None` when this member does not inform the criterion.
    fn member_scores(&self, m: &MemberView) -> Option<Vec<f32>>;

    /// Whether the criterion reads gradients from [`Stats`] (data needed).
    fn needs_gradients(&self) -> bool {
        false
    }

    /// Whether the criterion reads activation norms from [`Stats`] (data needed).
    fn needs_activations(&self) -> bool {
        false
    }

    /// Scores for a whole group, bypassing members (random); `None` by default.
    fn unit_scores(&self, _group: &Group) -> Option<Vec<f32>> {
        None
    }
}

/// How a group's member scores combine into one score per unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Reduction {
    /// Average over the members that score the unit.
    #[default]
    Mean,
    Sum,
    Max,
    /// Only the first member (the root layer's filters).
    First,
}

/// How scores are normalised within a group before groups are compared (global ranking).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    None,
    /// Divide by the group's mean score.
    #[default]
    Mean,
    /// Divide by the group's maximum.
    Max,
    /// Divide by the group's sum.
    Sum,
    /// Subtract the mean, divide by the standard deviation.
    Standardize,
}

/// The criteria by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum CriterionKind {
    L1,
    L2,
    Random,
    BnScale,
    Fpgm,
    Lamp,
    /// First-order Taylor |Σ w·∂L/∂w| (needs calibration data).
    Taylor,
    /// Activation-weighted ‖X_c‖·Σ|W[:, c]| (Wanda-style; needs calibration data).
    Wanda,
}

impl CriterionKind {
    /// Every criterion, for help texts and error messages.
    pub const ALL: [CriterionKind; 8] = [
        CriterionKind::L1,
        CriterionKind::L2,
        CriterionKind::Random,
        CriterionKind::BnScale,
        CriterionKind::Fpgm,
        CriterionKind::Lamp,
        CriterionKind::Taylor,
        CriterionKind::Wanda,
    ];

    /// The criterion object (`seed` is used by the random baseline).
    pub fn build(self, seed: u64) -> Box<dyn Criterion> {
        match self {
            CriterionKind::L1 => Box::new(L1),
            CriterionKind::L2 => Box::new(L2),
            CriterionKind::Random => Box::new(Random { seed }),
            CriterionKind::BnScale => Box::new(BnScale),
            CriterionKind::Fpgm => Box::new(Fpgm),
            CriterionKind::Lamp => Box::new(Lamp),
            CriterionKind::Taylor => Box::new(Taylor),
            CriterionKind::Wanda => Box::new(Wanda),
        }
    }
}

/// One score per unit of every group (in each group's unit order), reduced over members and
/// normalised per group. `stats` feeds data-driven criteria (empty for the others).
pub fn score_groups(
    model: &Model,
    dg: &DepGraph,
    criterion: &dyn Criterion,
    stats: &Stats,
    reduction: Reduction,
    normalization: Normalization,
) -> Vec<Vec<f32>> {
    let consts = model.graph.constants();
    let mut cache: HashMap<String, Rc<Vec<f32>>> = HashMap::new();
    let mut values = |name: &str| -> Option<Rc<Vec<f32>>> {
        if let Some(v) = cache.get(name) {
            return Some(v.clone());
        }
        let v = Rc::new(consts.get(name)?.to_f32_vec().ok()?);
        cache.insert(name.to_string(), v.clone());
        Some(v)
    };
    let mut out = Vec::with_capacity(dg.groups.len());
    for g in &dg.groups {
        if let Some(s) = criterion.unit_scores(g) {
            out.push(normalize(s, normalization));
            continue;
        }
        let pos: HashMap<usize, usize> = g.units.iter().enumerate().map(|(i, &u)| (u, i)).collect();
        let mut per_member: Vec<Vec<f32>> = Vec::new();
        let mut fallback: Vec<Vec<f32>> = Vec::new();
        for &mi in &g.members {
            let m = &dg.members[mi];
            let node = &model.graph.nodes[m.node];
            let Some(name) = node.input(m.input) else {
                continue;
            };
            let Some(vals) = values(name) else { continue };
            let Some(t) = consts.get(name) else { continue };
            let view = MemberView {
                values: &vals,
                dims: &t.dims,
                axis: m.axis,
                role: m.role,
                op: &node.op_type,
                input: m.input,
                grad: stats
                    .grads
                    .get(name)
                    .filter(|g| g.len() == vals.len())
                    .map(Vec::as_slice),
                act: node
                    .input(0)
                    .and_then(|x| stats.act_norms.get(x))
                    .map(Vec::as_slice),
            };
            let mut acc = vec![0f32; g.units.len()];
            if let Some(s) = criterion.member_scores(&view) {
                for (p, &u) in m.units.iter().enumerate() {
                    if let (Some(&i), Some(&v)) = (pos.get(&u), s.get(p)) {
                        acc[i] += v;
                    }
                }
                per_member.push(acc);
            } else if let Some(s) = L1.member_scores(&view) {
                for (p, &u) in m.units.iter().enumerate() {
                    if let (Some(&i), Some(&v)) = (pos.get(&u), s.get(p)) {
                        acc[i] += v;
                    }
                }
                fallback.push(acc);
            }
        }
        // A criterion that informs no member of this group (BN-scale without a BatchNorm)
        // falls back to L1 magnitudes.
        let used = if per_member.is_empty() {
            fallback
        } else {
            per_member
        };
        let n = g.units.len();
        let reduced: Vec<f32> = (0..n)
            .map(|i| {
                let vals: Vec<f32> = used.iter().map(|m| m[i]).collect();
                match reduction {
                    Reduction::Mean => vals.iter().sum::<f32>() / vals.len().max(1) as f32,
                    Reduction::Sum => vals.iter().sum(),
                    Reduction::Max => vals.iter().copied().fold(0.0, f32::max),
                    Reduction::First => vals.first().copied().unwrap_or(0.0),
                }
            })
            .collect();
        out.push(normalize(reduced, normalization));
    }
    out
}

fn normalize(mut s: Vec<f32>, how: Normalization) -> Vec<f32> {
    let n = s.len().max(1) as f32;
    let eps = 1e-12f32;
    match how {
        Normalization::None => {}
        Normalization::Mean => {
            let m = s.iter().sum::<f32>() / n;
            s.iter_mut().for_each(|x| *x /= m + eps);
        }
        Normalization::Max => {
            let m = s.iter().copied().fold(0.0, f32::max);
            s.iter_mut().for_each(|x| *x /= m + eps);
        }
        Normalization::Sum => {
            let m: f32 = s.iter().sum();
            s.iter_mut().for_each(|x| *x /= m + eps);
        }
        Normalization::Standardize => {
            let m = s.iter().sum::<f32>() / n;
            let sd = (s.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / n).sqrt();
            s.iter_mut().for_each(|x| *x = (*x - m) / (sd + eps));
        }
    }
    s
}
