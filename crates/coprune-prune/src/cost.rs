//! Predicted parameters and MACs of a pruned model, without slicing any tensor: channel counts are
//! replaced in the facts and each op's own cost function is re-evaluated. Exact for every op whose
//! cost depends only on shapes (all of them).

use crate::depgraph::DepGraph;
use coprune_hw::{LatencyModel, NodeShape};
use coprune_ir::{infer::Inferred, Dim, Fact, Model};
use std::collections::{HashMap, HashSet};

/// Removed positions per sliced axis of one tensor use.
type Slicing = Vec<(usize, Vec<usize>)>;

/// Parameter elements, MACs and peak activation memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Cost {
    pub params: u64,
    pub macs: u64,
    /// Most activation bytes alive at once (`coprune_ir::analysis::Liveness`).
    #[serde(default)]
    pub peak_activation_bytes: u64,
}

/// Evaluates costs of candidate removals on one model.
pub struct CostModel<'a> {
    model: &'a Model,
    inferred: &'a Inferred,
    dg: &'a DepGraph,
    /// Constant name → (dtype, rank).
    constants: HashMap<String, (coprune_ir::DType, usize)>,
    /// (node, input) → members slicing that constant.
    members_at: HashMap<(usize, usize), Vec<usize>>,
    /// Canonical tensor identity per constant name (aliases share it).
    base_of: HashMap<String, String>,
    /// Constant values by name (for latency measurements of nodes with constant inputs).
    values: HashMap<String, std::borrow::Cow<'a, coprune_ir::Tensor>>,
    /// When each activation is alive.
    live: coprune_ir::analysis::Liveness,
}

fn count_dim(d: &Dim) -> u64 {
    d.substitute(&|_| Some(1)).as_known().unwrap_or(0).max(0) as u64
}

impl<'a> CostModel<'a> {
    /// Prepares the cost model.
    pub fn new(model: &'a Model, inferred: &'a Inferred, dg: &'a DepGraph) -> CostModel<'a> {
        let consts = model.graph.constants();
        let mut base_of = HashMap::new();
        for (name, t) in &consts {
            // Aliases borrow the same tensor; owned ones (Constant attributes) are their own base.
            let base = match t {
                std::borrow::Cow::Borrowed(b) => format!("{:p}", *b as *const _),
                std::borrow::Cow::Owned(_) => name.clone(),
            };
            base_of.insert(name.clone(), base);
        }
        // Only names, dtypes and dims are needed: no tensor data is copied.
        let constants = consts
            .iter()
            .map(|(k, t)| (k.clone(), (t.dtype, t.dims.len())))
            .collect();
        let live = coprune_ir::analysis::Liveness::new(model, &inferred.order, &|v| {
            consts.contains_key(v)
        });
        let mut members_at: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
        for (i, m) in dg.members.iter().enumerate() {
            members_at.entry((m.node, m.input)).or_default().push(i);
        }
        CostModel {
            model,
            inferred,
            dg,
            constants,
            members_at,
            base_of,
            values: consts,
            live,
        }
    }

    /// Peak activation bytes with the units flagged in `removed` taken out.
    pub fn peak_activation(&self, removed: &[bool]) -> u64 {
        self.live.peak(&|v: &str| {
            let Some(f) = self.inferred.facts.get(v) else {
                return 0;
            };
            coprune_ir::analysis::fact_bytes(&self.pruned_fact(v, f, removed))
        })
    }

    /// The fact of value `name` with its tracked channel axis cut to the kept channels.
    fn pruned_fact(&self, name: &str, f: &Fact, removed: &[bool]) -> Fact {
        let mut f = f.clone();
        if let Some(c) = self.dg.chan.get(name) {
            if c.axis < f.shape.len() {
                let kept = c.units.iter().filter(|&&u| !removed[u]).count() as i64;
                f.shape[c.axis] = Dim::known(kept);
            }
        }
        f
    }

    /// Predicted latency (ms) with the units flagged in `removed` taken out: the sum of `lm`'s
    /// per-node predictions at the pruned shapes.
    pub fn latency(&self, removed: &[bool], lm: &dyn LatencyModel) -> f64 {
        let mut total = 0.0;
        self.walk(removed, &mut |_, _| {}, &mut |shape| {
            total += lm.node_ms(shape)
        });
        total
    }

    /// Visits every node at its pruned shapes, as a latency model sees it.
    pub fn for_each_node(&self, removed: &[bool], node_fn: &mut dyn FnMut(&NodeShape)) {
        self.walk(removed, &mut |_, _| {}, node_fn);
    }

    /// Cost with the units flagged in `removed` (indexed by unit id) taken out.
    pub fn eval(&self, removed: &[bool]) -> Cost {
        let mut cost = Cost::default();
        self.walk(
            removed,
            &mut |params, macs| {
                cost.params += params;
                cost.macs += macs;
            },
            &mut |_| {},
        );
        cost.peak_activation_bytes = self.peak_activation(removed);
        cost
    }

    /// Visits every node at its pruned shapes: `count(params, macs)` per node, and `node` with
    /// the node's shapes (for latency models).
    fn walk(
        &self,
        removed: &[bool],
        count: &mut dyn FnMut(u64, u64),
        node_fn: &mut dyn FnMut(&NodeShape),
    ) {
        let g = &self.model.graph;
        let kept = |units: &[usize]| units.iter().filter(|&&u| !removed[u]).count() as i64;
        // A tensor is counted once per distinct slicing, as `apply` creates one per slicing.
        let mut seen: HashSet<(String, Slicing)> = HashSet::new();
        for &i in &self.inferred.order {
            let node = &g.nodes[i];
            let op = &self.inferred.ops[i];
            let mut ins: Vec<Option<Fact>> = Vec::with_capacity(node.inputs.len());
            let mut weights = vec![false; node.inputs.len()];
            let mut params = 0u64;
            for (k, v) in node.inputs.iter().enumerate() {
                let Some(f) = (if v.is_empty() {
                    None
                } else {
                    self.inferred.facts.get(v)
                }) else {
                    ins.push(None);
                    continue;
                };
                let mut f = self.pruned_fact(v, f, removed);
                let mut slicing: Slicing = Vec::new();
                if let Some(ms) = self.members_at.get(&(i, k)) {
                    for &m in ms {
                        let m = &self.dg.members[m];
                        if m.axis < f.shape.len() {
                            f.shape[m.axis] = Dim::known(kept(&m.units));
                        }
                        let gone: Vec<usize> = (0..m.units.len())
                            .filter(|&p| removed[m.units[p]])
                            .collect();
                        if !gone.is_empty() {
                            slicing.push((m.axis, gone));
                        }
                    }
                }
                slicing.sort();
                if let Some(&(dtype, rank)) = self.constants.get(v) {
                    if dtype.is_float() && rank > 0 && op.learned_input(k) {
                        weights[k] = true;
                        let dims: Vec<i64> =
                            f.shape.iter().map(|d| d.as_known().unwrap_or(0)).collect();
                        let base = self.base_of.get(v).cloned().unwrap_or_else(|| v.clone());
                        if seen.insert((base, slicing)) {
                            params += dims.iter().map(|&d| d.max(0) as u64).product::<u64>();
                        }
                    }
                }
                ins.push(Some(f));
            }
            let outs: Vec<Fact> = node
                .outputs
                .iter()
                .filter_map(|o| {
                    self.inferred
                        .facts
                        .get(o)
                        .map(|f| self.pruned_fact(o, f, removed))
                })
                .collect();
            let refs: Vec<Option<&Fact>> = ins.iter().map(Option::as_ref).collect();
            let macs = op.cost(&refs, &outs).map_or(0, |c| count_dim(&c.macs));
            count(params, macs);
            let consts = node
                .inputs
                .iter()
                .enumerate()
                .map(|(k, v)| {
                    (!weights[k])
                        .then(|| self.values.get(v).map(|t| &**t))
                        .flatten()
                })
                .collect();
            node_fn(&NodeShape {
                node,
                inputs: refs,
                outputs: &outs,
                macs,
                weights,
                consts,
            });
        }
    }
}
