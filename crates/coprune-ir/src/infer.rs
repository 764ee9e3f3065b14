//! Shape and type inference over a whole graph: every value gets a [`Fact`].

use crate::ops::shape::constant::tensor_fact;
use crate::ops::{build_op, is_default_domain, registry};
use crate::{bail, Dim, DimValue, Fact, IrError, Model, Op, Result, ValueType};
use std::collections::{BTreeSet, HashMap};

/// Facts for every value of a graph, plus the built op of every node (index-aligned with
/// `graph.nodes`), so later passes do not rebuild them.
#[derive(Debug)]
pub struct Inferred {
    pub facts: HashMap<String, Fact>,
    pub ops: Vec<Box<dyn Op>>,
    /// Topological order used.
    pub order: Vec<usize>,
}

impl Inferred {
    /// The facts of a node's inputs (`None` for omitted optional inputs).
    pub fn input_facts(&self, node: &crate::Node) -> Vec<Option<&Fact>> {
        node.inputs
            .iter()
            .map(|v| {
                if v.is_empty() {
                    None
                } else {
                    self.facts.get(v)
                }
            })
            .collect()
    }
}

/// Declared shape of a graph input, with undeclared dims named `<input>_d<axis>`.
pub fn declared_shape(name: &str, ty: &ValueType) -> Option<(crate::DType, Vec<Dim>)> {
    match ty {
        ValueType::Tensor {
            dtype: Some(dt),
            shape: Some(dims),
        } => Some((
            *dt,
            dims.iter()
                .enumerate()
                .map(|(i, d)| match &d.value {
                    DimValue::Value(v) => Dim::known(*v),
                    DimValue::Param(p) => Dim::sym(p.clone()),
                    DimValue::Unknown => Dim::sym(format!("{name}_d{i}")),
                })
                .collect(),
        )),
        _ => None,
    }
}

/// Infers the facts of every value. `input_shapes` overrides the declared shape of graph inputs
/// (e.g. from `--input-shape`).
pub fn infer(model: &Model, input_shapes: &HashMap<String, Vec<Dim>>) -> Result<Inferred> {
    let g = &model.graph;
    let opset = model.default_opset();
    let mut facts: HashMap<String, Fact> = HashMap::with_capacity(g.nodes.len() * 2);
    for t in &g.initializers {
        facts.insert(t.name.clone(), tensor_fact(t));
    }
    for v in &g.inputs {
        let declared = declared_shape(&v.name, &v.ty);
        let fact = match (input_shapes.get(&v.name), declared) {
            (Some(shape), Some((dt, decl))) => {
                if shape.len() != decl.len() {
                    bail!(
                        "input `{}` is declared as {} but --input-shape gives rank {}",
                        v.name,
                        crate::shape_to_string(&decl),
                        shape.len()
                    );
                }
                for (i, (d, s)) in decl.iter().zip(shape).enumerate() {
                    if let (Some(a), Some(b)) = (d.as_known(), s.as_known()) {
                        if a != b {
                            bail!(
                                "input `{}` axis {i} is fixed at {a} in the model, not {b}",
                                v.name
                            );
                        }
                    }
                }
                Fact::new(dt, shape.clone())
            }
            (Some(shape), None) => match &v.ty {
                ValueType::Tensor {
                    dtype: Some(dt), ..
                } => Fact::new(*dt, shape.clone()),
                _ => Fact::new(crate::DType::F32, shape.clone()),
            },
            (None, Some((dt, shape))) => {
                if facts.contains_key(&v.name) {
                    continue; // an input with a default initializer (IR < 4 style)
                }
                Fact::new(dt, shape)
            }
            (None, None) => {
                if facts.contains_key(&v.name) {
                    continue;
                }
                bail!("graph input `{}` has no declared tensor type and shape; give one with --input-shape {}=DIMS", v.name, v.name);
            }
        };
        facts.insert(v.name.clone(), fact);
    }
    for name in input_shapes.keys() {
        if !g.inputs.iter().any(|v| &v.name == name) {
            let names: Vec<&str> = g.inputs.iter().map(|v| v.name.as_str()).collect();
            bail!(
                "--input-shape names `{name}`, but the graph inputs are: {}",
                names.join(", ")
            );
        }
    }
    let order = g.topo_order()?;
    let mut ops: Vec<Option<Box<dyn Op>>> = (0..g.nodes.len()).map(|_| None).collect();
    for &i in &order {
        let node = &g.nodes[i];
        let op = match build_op(node, opset) {
            Ok(op) => op,
            Err(e @ IrError::UnsupportedOp { .. }) => {
                let unsupported: BTreeSet<&str> = g
                    .nodes
                    .iter()
                    .filter(|n| {
                        !is_default_domain(&n.domain)
                            || !registry().contains_key(n.op_type.as_str())
                    })
                    .map(|n| n.op_type.as_str())
                    .collect();
                let list: Vec<&str> = unsupported.into_iter().collect();
                return Err(IrError::Invalid(format!(
                    "{e} (ops without inference in this model: {})",
                    list.join(", ")
                ))
                .at_node(node.display_name(), &node.op_type));
            }
            Err(e) => return Err(e.at_node(node.display_name(), &node.op_type)),
        };
        let inputs: Vec<Option<&Fact>> = node
            .inputs
            .iter()
            .map(|v| if v.is_empty() { None } else { facts.get(v) })
            .collect();
        let outs = op
            .output_facts(&inputs)
            .map_err(|e| e.at_node(node.display_name(), &node.op_type))?;
        for (k, name) in node.outputs.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            let Some(f) = outs.get(k) else {
                return Err(IrError::Invalid(format!(
                    "has {} outputs but the op defines {}",
                    node.outputs.len(),
                    outs.len()
                ))
                .at_node(node.display_name(), &node.op_type));
            };
            facts.insert(name.clone(), f.clone());
        }
        ops[i] = Some(op);
    }
    Ok(Inferred {
        facts,
        ops: ops
            .into_iter()
            .map(|o| o.expect("every node is in the topological order"))
            .collect(),
        order,
    })
}
