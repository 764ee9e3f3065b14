//! Graph nodes and typed attribute access.

use crate::{bail, AttrValue, Attribute, Opaque, Result, Tensor};

/// One operator application.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Node name (may be empty in the source; see [`Node::display_name`]).
    pub name: String,
    /// Operator type, e.g. `Conv`.
    pub op_type: String,
    /// Operator domain; empty for the default ONNX domain.
    pub domain: String,
    /// Input value names; an empty string is an omitted optional input.
    pub inputs: Vec<String>,
    /// Output value names; an empty string is an omitted optional output.
    pub outputs: Vec<String>,
    /// Attributes in source order.
    pub attrs: Vec<Attribute>,
    /// Fields of the source format the IR does not model (doc strings, metadata, …).
    pub extra: Opaque,
}

impl Node {
    /// A node with no attributes.
    pub fn new(
        name: impl Into<String>,
        op_type: impl Into<String>,
        inputs: &[&str],
        outputs: &[&str],
    ) -> Node {
        Node {
            name: name.into(),
            op_type: op_type.into(),
            domain: String::new(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            attrs: Vec::new(),
            extra: Opaque::default(),
        }
    }

    /// Adds an attribute (builder style).
    pub fn with_attr(mut self, name: &str, value: AttrValue) -> Node {
        self.set_attr(name, value);
        self
    }

    /// Sets or replaces an attribute.
    pub fn set_attr(&mut self, name: &str, value: AttrValue) {
        match self.attrs.iter_mut().find(|a| a.name == name) {
            Some(a) => a.value = value,
            None => self.attrs.push(Attribute::new(name, value)),
        }
    }

    /// The name used in messages: the node's name, or its first output when unnamed.
    pub fn display_name(&self) -> &str {
        if !self.name.is_empty() {
            &self.name
        } else {
            self.outputs
                .first()
                .map(String::as_str)
                .unwrap_or("<unnamed>")
        }
    }

    /// The attribute called `name`.
    pub fn attr(&self, name: &str) -> Option<&AttrValue> {
        self.attrs.iter().find(|a| a.name == name).map(|a| &a.value)
    }

    /// An integer attribute, or `default` when absent.
    pub fn attr_int(&self, name: &str, default: i64) -> Result<i64> {
        match self.attr(name) {
            None => Ok(default),
            Some(AttrValue::Int(v)) => Ok(*v),
            Some(other) => bail!("attribute `{name}` must be an int, found {}", kind(other)),
        }
    }

    /// A float attribute, or `default` when absent.
    pub fn attr_float(&self, name: &str, default: f32) -> Result<f32> {
        match self.attr(name) {
            None => Ok(default),
            Some(AttrValue::Float(v)) => Ok(*v),
            Some(other) => bail!("attribute `{name}` must be a float, found {}", kind(other)),
        }
    }

    /// An integer-list attribute, or `None` when absent.
    pub fn attr_ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Ints(v)) => Ok(Some(v.clone())),
            Some(other) => bail!(
                "attribute `{name}` must be a list of ints, found {}",
                kind(other)
            ),
        }
    }

    /// A float-list attribute, or `None` when absent.
    pub fn attr_floats(&self, name: &str) -> Result<Option<Vec<f32>>> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Floats(v)) => Ok(Some(v.clone())),
            Some(other) => bail!(
                "attribute `{name}` must be a list of floats, found {}",
                kind(other)
            ),
        }
    }

    /// A string attribute (lossy UTF-8), or `default` when absent.
    pub fn attr_str(&self, name: &str, default: &str) -> Result<String> {
        match self.attr(name) {
            None => Ok(default.to_string()),
            Some(AttrValue::String(v)) => Ok(String::from_utf8_lossy(v).into_owned()),
            Some(other) => bail!("attribute `{name}` must be a string, found {}", kind(other)),
        }
    }

    /// A tensor attribute, or `None` when absent.
    pub fn attr_tensor(&self, name: &str) -> Result<Option<&Tensor>> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Tensor(t)) => Ok(Some(t)),
            Some(other) => bail!("attribute `{name}` must be a tensor, found {}", kind(other)),
        }
    }

    /// Input `i` if present and not omitted.
    pub fn input(&self, i: usize) -> Option<&str> {
        self.inputs
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

fn kind(v: &AttrValue) -> &'static str {
    match v {
        AttrValue::Float(_) => "a float",
        AttrValue::Int(_) => "an int",
        AttrValue::String(_) => "a string",
        AttrValue::Tensor(_) => "a tensor",
        AttrValue::Graph(_) => "a graph",
        AttrValue::Floats(_) => "a list of floats",
        AttrValue::Ints(_) => "a list of ints",
        AttrValue::Strings(_) => "a list of strings",
        AttrValue::Tensors(_) => "a list of tensors",
        AttrValue::Graphs(_) => "a list of graphs",
        AttrValue::Other => "another kind",
    }
}
