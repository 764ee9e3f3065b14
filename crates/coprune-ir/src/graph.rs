//! Graphs and models.

use crate::{AttrValue, DType, Dim, IrError, Node, Opaque, Result, Tensor};
use std::borrow::Cow;
use std::collections::{BinaryHeap, HashMap};

/// One declared dimension of a graph input/output/value_info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DimValue {
    /// A fixed size.
    Value(i64),
    /// A named symbolic size (`N`).
    Param(String),
    /// Declared but neither fixed nor named.
    Unknown,
}

/// A declared dimension with its optional denotation (e.g. `DATA_BATCH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimSpec {
    pub value: DimValue,
    pub denotation: String,
}

/// The declared type of a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueType {
    /// A tensor; element type and shape may each be undeclared.
    Tensor {
        dtype: Option<DType>,
        shape: Option<Vec<DimSpec>>,
    },
    /// Sequence/map/optional/sparse types, or no type at all; the content is in the value's `extra`.
    Other,
}

/// A named, typed value (graph input, output or intermediate annotation).
#[derive(Debug, Clone, PartialEq)]
pub struct ValueInfo {
    pub name: String,
    pub ty: ValueType,
    /// Fields of the source format the IR does not model.
    pub extra: Opaque,
}

impl ValueInfo {
    /// A tensor value with known dtype and shape (symbolic dims as params).
    pub fn tensor(name: impl Into<String>, dtype: DType, shape: &[Dim]) -> ValueInfo {
        let shape = shape
            .iter()
            .map(|d| DimSpec {
                value: match d.as_known() {
                    Some(v) => DimValue::Value(v),
                    None => DimValue::Param(d.to_string()),
                },
                denotation: String::new(),
            })
            .collect();
        ValueInfo {
            name: name.into(),
            ty: ValueType::Tensor {
                dtype: Some(dtype),
                shape: Some(shape),
            },
            extra: Opaque::default(),
        }
    }
}

/// A dataflow graph. Values are named by strings, as in ONNX.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    pub name: String,
    /// Nodes in source order (normally topological).
    pub nodes: Vec<Node>,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
    /// Intermediate value annotations.
    pub value_info: Vec<ValueInfo>,
    /// Parameters and other constants.
    pub initializers: Vec<Tensor>,
    /// Fields of the source format the IR does not model.
    pub extra: Opaque,
}

/// An imported operator set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsetImport {
    /// Empty for the default domain.
    pub domain: String,
    pub version: i64,
    /// Fields of the source format the IR does not model.
    pub extra: Opaque,
}

/// A model: a graph plus the metadata around it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Model {
    pub ir_version: i64,
    pub opsets: Vec<OpsetImport>,
    pub producer_name: String,
    pub producer_version: String,
    pub graph: Graph,
    /// Fields of the source format the IR does not model (functions, training info, …).
    pub extra: Opaque,
}

impl Model {
    /// Version of the default-domain opset (`""` or `ai.onnx`); 0 when not imported.
    pub fn default_opset(&self) -> i64 {
        self.opsets
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .unwrap_or(0)
    }
}

impl Graph {
    /// Index of the node producing each value.
    pub fn producers(&self) -> HashMap<&str, usize> {
        let mut map = HashMap::with_capacity(self.nodes.len() * 2);
        for (i, n) in self.nodes.iter().enumerate() {
            for o in n.outputs.iter().filter(|o| !o.is_empty()) {
                map.entry(o.as_str()).or_insert(i);
            }
        }
        map
    }

    /// Indices of the nodes reading each value.
    pub fn consumers(&self) -> HashMap<&str, Vec<usize>> {
        let mut map: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for v in n.inputs.iter().filter(|v| !v.is_empty()) {
                map.entry(v.as_str()).or_default().push(i);
            }
        }
        map
    }

    /// The initializer called `name`.
    pub fn initializer(&self, name: &str) -> Option<&Tensor> {
        self.initializers.iter().find(|t| t.name == name)
    }

    /// Every constant value of the graph by name: initializers, outputs of `Constant` nodes (some
    /// exporters keep weights there), and `Identity` aliases of either (torchvision exports alias
    /// shared weights that way). Graph inputs that shadow an initializer are not constant.
    pub fn constants(&self) -> HashMap<String, Cow<'_, Tensor>> {
        let shadowed: std::collections::HashSet<&str> =
            self.inputs.iter().map(|v| v.name.as_str()).collect();
        let mut map: HashMap<String, Cow<'_, Tensor>> = HashMap::new();
        for t in &self.initializers {
            if !shadowed.contains(t.name.as_str()) {
                map.insert(t.name.clone(), Cow::Borrowed(t));
            }
        }
        for n in &self.nodes {
            if !n.domain.is_empty() && n.domain != "ai.onnx" {
                continue;
            }
            let Some(out) = n.outputs.first() else {
                continue;
            };
            match n.op_type.as_str() {
                "Constant" => {
                    if let Ok(t) = constant_node_value(n) {
                        map.insert(out.clone(), t);
                    }
                }
                "Identity" => {
                    if let Some(t) = n.input(0).and_then(|i| map.get(i)).cloned() {
                        map.insert(out.clone(), t);
                    }
                }
                _ => {}
            }
        }
        map
    }

    /// A topological order of the nodes: source order when that is already valid (the usual
    /// case), otherwise Kahn's algorithm preferring lower indices. Fails on cycles, duplicate
    /// producers and inputs no one produces.
    pub fn topo_order(&self) -> Result<Vec<usize>> {
        let mut producer: HashMap<&str, usize> = HashMap::with_capacity(self.nodes.len() * 2);
        let sources: std::collections::HashSet<&str> = self
            .inputs
            .iter()
            .map(|v| v.name.as_str())
            .chain(self.initializers.iter().map(|t| t.name.as_str()))
            .collect();
        for (i, n) in self.nodes.iter().enumerate() {
            for o in n.outputs.iter().filter(|o| !o.is_empty()) {
                if let Some(&first) = producer.get(o.as_str()) {
                    return Err(IrError::DuplicateValue {
                        value: o.clone(),
                        first: format!("node `{}`", self.nodes[first].display_name()),
                        second: format!("node `{}`", n.display_name()),
                    });
                }
                if sources.contains(o.as_str()) {
                    return Err(IrError::DuplicateValue {
                        value: o.clone(),
                        first: "a graph input or initializer".into(),
                        second: format!("node `{}`", n.display_name()),
                    });
                }
                producer.insert(o.as_str(), i);
            }
        }
        let mut indeg = vec![0usize; self.nodes.len()];
        let mut users: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        let mut in_order = true;
        for (i, n) in self.nodes.iter().enumerate() {
            for v in n.inputs.iter().filter(|v| !v.is_empty()) {
                if let Some(&p) = producer.get(v.as_str()) {
                    indeg[i] += 1;
                    users[p].push(i);
                    in_order &= p < i;
                } else if !sources.contains(v.as_str()) {
                    return Err(IrError::DanglingInput {
                        node: n.display_name().to_string(),
                        value: v.clone(),
                    });
                }
            }
        }
        if in_order {
            return Ok((0..self.nodes.len()).collect());
        }
        let mut ready: BinaryHeap<std::cmp::Reverse<usize>> = indeg
            .iter()
            .enumerate()
            .filter(|(_, &d)| d == 0)
            .map(|(i, _)| std::cmp::Reverse(i))
            .collect();
        let mut order = Vec::with_capacity(self.nodes.len());
        while let Some(std::cmp::Reverse(i)) = ready.pop() {
            order.push(i);
            for &u in &users[i] {
                indeg[u] -= 1;
                if indeg[u] == 0 {
                    ready.push(std::cmp::Reverse(u));
                }
            }
        }
        if order.len() != self.nodes.len() {
            let stuck = (0..self.nodes.len())
                .find(|&i| indeg[i] > 0)
                .expect("some node has unresolved inputs when the order is short");
            return Err(IrError::Cycle {
                node: self.nodes[stuck].display_name().to_string(),
            });
        }
        Ok(order)
    }

    /// Structural checks every patch application ends with: a valid topological order, unique
    /// producers, every read value produced, every graph output produced, initializers whose data
    /// matches dtype × dims.
    pub fn check_consistency(&self) -> Result<()> {
        self.topo_order()?;
        for t in &self.initializers {
            t.validate()?;
        }
        let producers = self.producers();
        for o in &self.outputs {
            let known = producers.contains_key(o.name.as_str())
                || self.inputs.iter().any(|v| v.name == o.name)
                || self.initializers.iter().any(|t| t.name == o.name);
            if !known {
                return Err(IrError::DanglingOutput {
                    value: o.name.clone(),
                });
            }
        }
        Ok(())
    }
}

/// The tensor a `Constant` node produces, from whichever `value*` attribute it carries.
pub fn constant_node_value(n: &Node) -> Result<Cow<'_, Tensor>> {
    let name = n.outputs.first().cloned().unwrap_or_default();
    for a in &n.attrs {
        let t = match (a.name.as_str(), &a.value) {
            ("value", AttrValue::Tensor(t)) => return Ok(Cow::Borrowed(t)),
            ("value_float", AttrValue::Float(v)) => Tensor::from_f32(name, vec![], &[*v])?,
            ("value_floats", AttrValue::Floats(v)) => {
                Tensor::from_f32(name, vec![v.len() as u64], v)?
            }
            ("value_int", AttrValue::Int(v)) => Tensor::from_i64(name, vec![], &[*v])?,
            ("value_ints", AttrValue::Ints(v)) => Tensor::from_i64(name, vec![v.len() as u64], v)?,
            _ => continue,
        };
        return Ok(Cow::Owned(t));
    }
    crate::bail!(
        "Constant node has no supported value attribute (value, value_float(s), value_int(s))"
    )
}
