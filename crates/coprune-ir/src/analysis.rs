//! Per-node and total cost of a model: parameters, MACs, activation bytes.

use crate::{infer::Inferred, numel, shape_to_string, Dim, Model, Result};
use serde::Serialize;
use std::collections::HashSet;

/// Cost of one node.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeCost {
    pub name: String,
    pub op: String,
    /// Output shapes, e.g. `[1,64,112,112]`.
    pub output_shapes: Vec<String>,
    /// Learned parameter elements first used by this node.
    pub params: u64,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Bytes of the node's outputs.
    pub activation_bytes: u64,
}

/// Sums over the model.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Totals {
    pub nodes: usize,
    /// Learned parameter elements (floating-point constants of rank ≥ 1 used as weights).
    pub params: u64,
    /// Bytes of those parameters as stored.
    pub param_bytes: u64,
    pub macs: u64,
    /// Sum of all intermediate output sizes (an upper bound on activation memory).
    pub activation_bytes: u64,
    /// Most activation bytes alive at once when the nodes run in order (graph inputs included):
    /// the working memory a runtime without in-place reuse needs (an MCU's RAM budget).
    pub peak_activation_bytes: u64,
}

/// When each activation is written and last read, for peak-memory estimates: a value lives from
/// the node that writes it (graph inputs from the start) to its last reader (graph outputs to
/// the end); while a node runs, its inputs and outputs are all alive. Constants do not count.
#[derive(Debug, Clone, Default)]
pub struct Liveness {
    inputs: Vec<String>,
    /// Per node in run order: the values it writes and the values it reads for the last time.
    steps: Vec<(Vec<String>, Vec<String>)>,
}

impl Liveness {
    /// The schedule of `model` run in `order`, with `is_const` telling constants apart.
    pub fn new(model: &Model, order: &[usize], is_const: &dyn Fn(&str) -> bool) -> Liveness {
        let g = &model.graph;
        let outputs: HashSet<&str> = g.outputs.iter().map(|o| o.name.as_str()).collect();
        let mut last: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (p, &i) in order.iter().enumerate() {
            for v in g.nodes[i].inputs.iter().filter(|v| !v.is_empty()) {
                last.insert(v.as_str(), p);
            }
        }
        let live = |v: &str| !v.is_empty() && !is_const(v);
        let mut steps: Vec<(Vec<String>, Vec<String>)> = vec![Default::default(); order.len()];
        for (p, &i) in order.iter().enumerate() {
            let node = &g.nodes[i];
            steps[p].0 = node.outputs.iter().filter(|o| live(o)).cloned().collect();
            for o in steps[p].0.clone() {
                // Written and never read: freed right after its node.
                if !last.contains_key(o.as_str()) && !outputs.contains(o.as_str()) {
                    steps[p].1.push(o);
                }
            }
        }
        let inputs: Vec<String> = g
            .inputs
            .iter()
            .map(|v| v.name.clone())
            .filter(|v| live(v))
            .collect();
        for (v, &p) in &last {
            if live(v) && !outputs.contains(v) {
                steps[p].1.push(v.to_string());
            }
        }
        for s in &mut steps {
            s.1.sort();
            s.1.dedup();
        }
        Liveness { inputs, steps }
    }

    /// The peak of the live bytes, with `size` giving each value's bytes.
    pub fn peak(&self, size: &dyn Fn(&str) -> u64) -> u64 {
        let mut live: u64 = self.inputs.iter().map(|v| size(v)).sum();
        let mut peak = live;
        for (writes, frees) in &self.steps {
            live += writes.iter().map(|v| size(v)).sum::<u64>();
            peak = peak.max(live);
            live = live.saturating_sub(frees.iter().map(|v| size(v)).sum::<u64>());
        }
        peak
    }
}

/// The analysis of a model at given input shapes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Analysis {
    pub nodes: Vec<NodeCost>,
    pub totals: Totals,
}

/// Bytes of a value with this fact (symbolic dims count as 1).
pub fn fact_bytes(f: &crate::Fact) -> u64 {
    let n = numel(&f.shape).map(|d| count(&d)).unwrap_or(0);
    f.dtype.byte_size(n).unwrap_or(0)
}

/// Value of a dim for counting: symbolic parts left after substitution count as 1.
fn count(d: &Dim) -> u64 {
    d.substitute(&|_| Some(1)).as_known().unwrap_or(0).max(0) as u64
}

/// Computes per-node costs in topological order.
pub fn analyze(model: &Model, inferred: &Inferred) -> Result<Analysis> {
    let g = &model.graph;
    let constants = g.constants();
    let mut counted: HashSet<*const crate::Tensor> = HashSet::new();
    let mut nodes = Vec::with_capacity(g.nodes.len());
    let mut totals = Totals::default();
    for &i in &inferred.order {
        let node = &g.nodes[i];
        let op = &inferred.ops[i];
        let ins = inferred.input_facts(node);
        let outs: Vec<crate::Fact> = node
            .outputs
            .iter()
            .filter_map(|o| inferred.facts.get(o).cloned())
            .collect();
        let mut params = 0u64;
        for (k, v) in node.inputs.iter().enumerate() {
            let Some(t) = constants.get(v) else { continue };
            if !t.dtype.is_float() || t.dims.is_empty() || !op.learned_input(k) {
                continue;
            }
            // Count each tensor once, even when several nodes (or aliases) use it.
            if counted.insert(&**t as *const crate::Tensor) {
                params += t.numel().unwrap_or(0);
                totals.param_bytes += t.bytes().len() as u64;
            }
        }
        let cost = op
            .cost(&ins, &outs)
            .map_err(|e| e.at_node(node.display_name(), &node.op_type))?;
        // Outputs that are constants (Identity aliases of weights, Constant nodes) are parameters,
        // not activations.
        let activation_bytes = node
            .outputs
            .iter()
            .filter(|o| !o.is_empty() && !constants.contains_key(o.as_str()))
            .filter_map(|o| inferred.facts.get(o))
            .map(fact_bytes)
            .sum();
        let macs = count(&cost.macs);
        totals.params += params;
        totals.macs += macs;
        totals.activation_bytes += activation_bytes;
        nodes.push(NodeCost {
            name: node.display_name().to_string(),
            op: node.op_type.clone(),
            output_shapes: outs.iter().map(|f| shape_to_string(&f.shape)).collect(),
            params,
            macs,
            activation_bytes,
        });
    }
    totals.nodes = nodes.len();
    let size = |v: &str| -> u64 { inferred.facts.get(v).map_or(0, fact_bytes) };
    totals.peak_activation_bytes =
        Liveness::new(model, &inferred.order, &|v| constants.contains_key(v)).peak(&size);
    Ok(Analysis { nodes, totals })
}
