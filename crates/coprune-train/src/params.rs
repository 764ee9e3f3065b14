//! The float constants of a model as trainable parameters and fixed values, and writing trained
//! values back into the model (the same graph, new initializer or `Constant` data).

use crate::kernel::Buf;
use crate::{Result, TrainError};
use coprune_ir::{infer, AttrValue, DType, Dim, Model, Tensor};
use std::collections::{HashMap, HashSet};

/// A model's float constants: weights (trainable) and other float values (running statistics,
/// scales, bounds: fixed, though BatchNormalization updates its running statistics).
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub names: Vec<String>,
    pub values: Vec<Buf>,
    pub trainable: Vec<bool>,
    /// Whether a value changed since loading (only those are written back).
    pub changed: Vec<bool>,
}

impl Params {
    /// Collects the root float constants (initializers and `Constant` node outputs) of `model`.
    /// One is trainable when some node reads it, directly or through `Identity`, at an input the
    /// op declares learned (weights and biases).
    pub fn from_model(model: &Model) -> Result<Params> {
        let g = &model.graph;
        let shadowed: HashSet<&str> = g.inputs.iter().map(|v| v.name.as_str()).collect();
        let mut roots: Vec<(String, Tensor)> = Vec::new();
        for t in &g.initializers {
            if !shadowed.contains(t.name.as_str()) && t.dtype.is_float() {
                roots.push((t.name.clone(), t.clone()));
            }
        }
        for n in &g.nodes {
            if n.op_type == "Constant" && coprune_ir::ops::is_default_domain(&n.domain) {
                if let (Some(out), Ok(t)) = (n.outputs.first(), coprune_ir::constant_node_value(n))
                {
                    if t.dtype.is_float() {
                        roots.push((out.clone(), t.into_owned()));
                    }
                }
            }
        }
        // Identity aliases resolve to their root.
        let root_names: HashSet<&str> = roots.iter().map(|(n, _)| n.as_str()).collect();
        let mut alias: HashMap<&str, &str> = HashMap::new();
        for n in &g.nodes {
            if n.op_type == "Identity" {
                if let (Some(i), Some(o)) = (n.input(0), n.outputs.first()) {
                    let r = alias.get(i).copied().unwrap_or(i);
                    if root_names.contains(r) {
                        alias.insert(o.as_str(), r);
                    }
                }
            }
        }
        let inferred = infer(model, &HashMap::<String, Vec<Dim>>::new());
        let mut learned: HashSet<&str> = HashSet::new();
        if let Ok(inf) = &inferred {
            for (i, n) in g.nodes.iter().enumerate() {
                let Some(op) = inf.ops.get(i) else { continue };
                for (k, v) in n.inputs.iter().enumerate() {
                    if op.learned_input(k) {
                        learned.insert(alias.get(v.as_str()).copied().unwrap_or(v));
                    }
                }
            }
        }
        let mut p = Params {
            names: Vec::new(),
            values: Vec::new(),
            trainable: Vec::new(),
            changed: Vec::new(),
        };
        for (name, t) in roots {
            let train = learned.contains(name.as_str()) && !t.dims.is_empty();
            if train && t.dtype != DType::F32 {
                return Err(TrainError::Mismatch(format!(
                    "weight `{name}` is {:?}; training supports f32 weights only",
                    t.dtype
                )));
            }
            let data = t.to_f32_vec()?;
            p.values
                .push(Buf::new(t.dims.iter().map(|&d| d as usize).collect(), data));
            p.names.push(name);
            p.trainable.push(train);
            p.changed.push(false);
        }
        Ok(p)
    }

    /// Index of the parameter called `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Number of trainable elements.
    pub fn trainable_len(&self) -> usize {
        self.values
            .iter()
            .zip(&self.trainable)
            .filter(|(_, &t)| t)
            .map(|(v, _)| v.len())
            .sum()
    }

    /// Writes every changed value back into `model` (initializers keep their name, storage and
    /// metadata; `Constant` nodes get a new `value` tensor).
    pub fn write_back(&self, model: &mut Model) -> Result<()> {
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for (i, n) in self.names.iter().enumerate() {
            if self.changed[i] {
                by_name.insert(n, i);
            }
        }
        let retype = |t: &Tensor, v: &Buf| -> Result<Tensor> {
            let mut out = Tensor::from_f32(t.name.clone(), t.dims.clone(), &v.data)?;
            if t.dtype != DType::F32 {
                return Err(TrainError::Mismatch(format!(
                    "`{}` is {:?}; only f32 values can be written back",
                    t.name, t.dtype
                )));
            }
            out.storage = t.storage.clone();
            out.extra = t.extra.clone();
            Ok(out)
        };
        for t in model.graph.initializers.iter_mut() {
            if let Some(&i) = by_name.get(t.name.as_str()) {
                *t = retype(t, &self.values[i])?;
            }
        }
        for n in model.graph.nodes.iter_mut() {
            if n.op_type != "Constant" {
                continue;
            }
            let Some(&i) = n.outputs.first().and_then(|o| by_name.get(o.as_str())) else {
                continue;
            };
            let t = coprune_ir::constant_node_value(n)?.into_owned();
            let new = retype(&t, &self.values[i])?;
            n.attrs.retain(|a| !a.name.starts_with("value"));
            n.set_attr("value", AttrValue::Tensor(new));
        }
        Ok(())
    }
}
