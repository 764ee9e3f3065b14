//! A model lowered for training at fixed input shapes: one [`GradKernel`] per node that depends
//! on the input or a parameter, constants and shape arithmetic folded, a forward pass that keeps
//! every activation (the tape) and a backward pass in reverse order.

use crate::kernel::{Buf, GradKernel};
use crate::ops::registry;
use crate::params::Params;
use crate::{Result, TrainError};
use coprune_ir::{infer, ConstValue, Dim, Model};
use coprune_runtime::LowerCtx;
use std::collections::{HashMap, HashSet};

/// Where a value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    /// A parameter (trainable or fixed) by index.
    Param(usize),
    /// A folded float constant by index.
    Fixed(usize),
    /// An activation on the tape by index (0 is the model input).
    Act(usize),
}

struct Step {
    kernel: Box<dyn GradKernel>,
    name: String,
    inputs: Vec<Option<Src>>,
    outputs: Vec<Option<usize>>,
    need: Vec<bool>,
    /// Whether any output depends on a trainable parameter.
    grad: bool,
}

/// A trainable model lowered for one input shape.
pub struct TrainGraph {
    steps: Vec<Step>,
    fixed: Vec<Buf>,
    n_acts: usize,
    input_shape: Vec<usize>,
    /// The activation holding the logits.
    logits: usize,
}

/// The activations of one forward pass, and the new running statistics it computed.
pub struct Tape {
    acts: Vec<Option<Buf>>,
    /// (parameter index, new value) for state such as running statistics.
    pub state: Vec<(usize, Buf)>,
}

impl Tape {
    /// The logits of the forward pass.
    pub fn logits<'a>(&'a self, g: &TrainGraph) -> &'a Buf {
        self.acts[g.logits].as_ref().expect("logits computed")
    }
}

fn folded_float(f: &coprune_ir::Fact) -> Option<Buf> {
    let shape = coprune_runtime::concrete(&f.shape)?;
    match &f.value {
        Some(ConstValue::Floats(v)) if f.dtype.is_float() => {
            Some(Buf::new(shape, v.iter().map(|&x| x as f32).collect()))
        }
        _ => None,
    }
}

impl TrainGraph {
    /// Lowers `model` (one input, whose shape is `input_shape`) for training. The logits are the
    /// first graph output, or the input of the final `Softmax` when the model ends in one (the
    /// loss applies its own softmax).
    pub fn new(model: &Model, params: &Params, input_shape: &[usize]) -> Result<TrainGraph> {
        let g = &model.graph;
        let consts = g.constants();
        let param_idx: HashMap<&str, usize> = params
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let inputs: Vec<_> = g
            .inputs
            .iter()
            .filter(|v| !param_idx.contains_key(v.name.as_str()) && !consts.contains_key(&v.name))
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(TrainError::Mismatch(format!(
                "training needs a model with one input, this one has {}",
                inputs.len()
            )));
        };
        let dims: HashMap<String, Vec<Dim>> = [(
            input.name.clone(),
            input_shape.iter().map(|&d| Dim::known(d as i64)).collect(),
        )]
        .into();
        let inferred = infer(model, &dims)?;
        let mut src: HashMap<String, Src> = HashMap::new();
        let mut dynamic: HashSet<String> = HashSet::new();
        let mut requires: HashSet<String> = HashSet::new();
        src.insert(input.name.clone(), Src::Act(0));
        dynamic.insert(input.name.clone());
        for (i, n) in params.names.iter().enumerate() {
            src.insert(n.clone(), Src::Param(i));
            if params.trainable[i] {
                dynamic.insert(n.clone());
                requires.insert(n.clone());
            }
        }
        let mut fixed = Vec::new();
        let mut n_acts = 1usize;
        let mut steps = Vec::new();
        let mut unsupported: Vec<String> = Vec::new();
        let mut first_err = None;
        for &i in &inferred.order {
            let node = &g.nodes[i];
            if node.op_type == "Constant" {
                continue;
            }
            let is_dyn = node.inputs.iter().any(|v| dynamic.contains(v));
            if !is_dyn {
                // Constant arithmetic: folded when inference tracked the values, else computed
                // every step (float outputs only).
                let vals: Vec<Option<Buf>> = node
                    .outputs
                    .iter()
                    .map(|o| inferred.facts.get(o).and_then(folded_float))
                    .collect();
                let all_known = node.outputs.iter().all(|o| {
                    o.is_empty()
                        || inferred
                            .facts
                            .get(o)
                            .is_some_and(|f| f.value.is_some() || consts.contains_key(o))
                });
                if all_known {
                    for (v, o) in vals.into_iter().zip(&node.outputs) {
                        if let Some(v) = v {
                            if !src.contains_key(o) {
                                src.insert(o.clone(), Src::Fixed(fixed.len()));
                                fixed.push(v);
                            }
                        }
                    }
                    continue;
                }
            }
            let Some(lower) = registry()
                .get(node.op_type.as_str())
                .filter(|_| coprune_ir::ops::is_default_domain(&node.domain))
            else {
                if !unsupported.contains(&node.op_type) {
                    unsupported.push(node.op_type.clone());
                }
                first_err.get_or_insert_with(|| node.display_name().to_string());
                continue;
            };
            let ctx = LowerCtx::new(node, &inferred, &consts, 1);
            let kernel = lower(&ctx)?;
            let ins: Vec<Option<Src>> = node
                .inputs
                .iter()
                .map(|v| (!v.is_empty()).then(|| src.get(v).copied()).flatten())
                .collect();
            let need: Vec<bool> = node.inputs.iter().map(|v| requires.contains(v)).collect();
            let grad = need.iter().any(|&b| b);
            let mut outs = Vec::new();
            for o in &node.outputs {
                if o.is_empty() {
                    outs.push(None);
                    continue;
                }
                src.insert(o.clone(), Src::Act(n_acts));
                outs.push(Some(n_acts));
                n_acts += 1;
                if is_dyn {
                    dynamic.insert(o.clone());
                }
                if grad {
                    requires.insert(o.clone());
                }
            }
            steps.push(Step {
                kernel,
                name: node.display_name().to_string(),
                inputs: ins,
                outputs: outs,
                need,
                grad,
            });
        }
        if let Some(node) = first_err {
            return Err(TrainError::Unsupported {
                node,
                op: unsupported[0].clone(),
                detail: format!(
                    " (ops without a backward pass in this model: {})",
                    unsupported.join(", ")
                ),
            });
        }
        let out_name = g
            .outputs
            .first()
            .map(|o| o.name.clone())
            .ok_or_else(|| TrainError::Mismatch("the model has no output".into()))?;
        // A final Softmax: train on its input.
        let producer = g
            .nodes
            .iter()
            .find(|n| n.outputs.first() == Some(&out_name));
        let logits_name = match producer {
            Some(n) if n.op_type == "Softmax" => n.inputs[0].clone(),
            _ => out_name,
        };
        let logits = match src.get(&logits_name) {
            Some(Src::Act(a)) if requires.contains(&logits_name) => *a,
            _ => {
                return Err(TrainError::Mismatch(format!(
                    "output `{logits_name}` does not depend on any trainable weight"
                )))
            }
        };
        Ok(TrainGraph {
            steps,
            fixed,
            n_acts,
            input_shape: input_shape.to_vec(),
            logits,
        })
    }

    /// The input shape this graph was built for.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Runs forward, keeping every activation for [`TrainGraph::backward`].
    pub fn forward(&self, params: &Params, x: Buf, train: bool) -> Result<Tape> {
        if x.shape != self.input_shape {
            return Err(TrainError::Mismatch(format!(
                "input shape {:?}, the graph was built for {:?}",
                x.shape, self.input_shape
            )));
        }
        let mut acts: Vec<Option<Buf>> = vec![None; self.n_acts];
        acts[0] = Some(x);
        let mut state = Vec::new();
        for step in &self.steps {
            let f = {
                let ins: Vec<Option<&Buf>> = step
                    .inputs
                    .iter()
                    .map(|s| s.and_then(|s| self.value(s, params, &acts)))
                    .collect();
                step.kernel
                    .forward(&ins, train)
                    .map_err(|e| at(&step.name, e))?
            };
            for (k, v) in f.state {
                if let Some(Some(Src::Param(p))) = step.inputs.get(k) {
                    state.push((*p, v));
                }
            }
            for (o, v) in step.outputs.iter().zip(f.outputs) {
                if let Some(o) = o {
                    acts[*o] = Some(v);
                }
            }
        }
        Ok(Tape { acts, state })
    }

    fn value<'a>(&'a self, s: Src, params: &'a Params, acts: &'a [Option<Buf>]) -> Option<&'a Buf> {
        match s {
            Src::Param(i) => params.values.get(i),
            Src::Fixed(i) => self.fixed.get(i),
            Src::Act(i) => acts.get(i).and_then(Option::as_ref),
        }
    }

    /// Back-propagates `dlogits` through the tape: the gradient of every trainable parameter
    /// (`None` for fixed ones and for parameters the logits do not depend on).
    pub fn backward(&self, params: &Params, tape: &Tape, dlogits: Buf) -> Result<Vec<Option<Buf>>> {
        let mut dact: Vec<Option<Buf>> = vec![None; self.n_acts];
        let mut dparam: Vec<Option<Buf>> = vec![None; params.values.len()];
        dact[self.logits] = Some(dlogits);
        for step in self.steps.iter().rev() {
            if !step.grad || step.outputs.iter().flatten().all(|&o| dact[o].is_none()) {
                continue;
            }
            let dys: Vec<Buf> = step
                .outputs
                .iter()
                .map(|o| match o {
                    Some(o) => dact[*o].take().unwrap_or_else(|| {
                        Buf::zeros(
                            &tape.acts[*o]
                                .as_ref()
                                .map(|b| b.shape.clone())
                                .unwrap_or_default(),
                        )
                    }),
                    None => Buf::default(),
                })
                .collect();
            let ins: Vec<Option<&Buf>> = step
                .inputs
                .iter()
                .map(|s| s.and_then(|s| self.value(s, params, &tape.acts)))
                .collect();
            let outs: Vec<&Buf> = step
                .outputs
                .iter()
                .map(|o| o.and_then(|o| tape.acts[o].as_ref()).unwrap_or(&EMPTY))
                .collect();
            let dy_refs: Vec<&Buf> = dys.iter().collect();
            let grads = step
                .kernel
                .backward(&ins, &outs, &dy_refs, &step.need)
                .map_err(|e| at(&step.name, e))?;
            for ((g, s), &need) in grads.into_iter().zip(&step.inputs).zip(&step.need) {
                let (Some(g), Some(s), true) = (g, s, need) else {
                    continue;
                };
                let slot = match s {
                    Src::Act(i) => &mut dact[*i],
                    Src::Param(i) => &mut dparam[*i],
                    Src::Fixed(_) => continue,
                };
                match slot {
                    Some(acc) => acc.data.iter_mut().zip(&g.data).for_each(|(a, b)| *a += b),
                    None => *slot = Some(g),
                }
            }
        }
        Ok(dparam)
    }
}

static EMPTY: Buf = Buf {
    shape: Vec::new(),
    data: Vec::new(),
};

/// Adds the node name to an error from a kernel.
fn at(node: &str, e: TrainError) -> TrainError {
    match e {
        TrainError::Mismatch(m) => TrainError::Mismatch(format!("node `{node}`: {m}")),
        other => other,
    }
}
