//! Node attributes.

use crate::{Opaque, Tensor};

/// The value of an attribute. Equality compares floats bit for bit (a NaN attribute equals
/// itself, so a round trip can be checked exactly).
#[derive(Debug, Clone)]
pub enum AttrValue {
    Float(f32),
    Int(i64),
    String(Vec<u8>),
    Tensor(Tensor),
    /// A subgraph (body of If/Loop/Scan), carried opaquely.
    Graph(Opaque),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<Vec<u8>>),
    Tensors(Vec<Tensor>),
    Graphs(Vec<Opaque>),
    /// A kind the IR does not model (sparse tensors, type protos, references); its content is in
    /// [`Attribute::extra`].
    Other,
}

/// A named attribute of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub value: AttrValue,
    /// Fields of the source format the IR does not model.
    pub extra: Opaque,
}

impl Attribute {
    /// A new attribute with nothing extra.
    pub fn new(name: impl Into<String>, value: AttrValue) -> Attribute {
        Attribute {
            name: name.into(),
            value,
            extra: Opaque::default(),
        }
    }
}

fn same_f32(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

impl PartialEq for AttrValue {
    fn eq(&self, other: &AttrValue) -> bool {
        use AttrValue::*;
        match (self, other) {
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Floats(a), Floats(b)) => same_f32(a, b),
            (Int(a), Int(b)) => a == b,
            (String(a), String(b)) => a == b,
            (Tensor(a), Tensor(b)) => a == b,
            (Graph(a), Graph(b)) => a == b,
            (Ints(a), Ints(b)) => a == b,
            (Strings(a), Strings(b)) => a == b,
            (Tensors(a), Tensors(b)) => a == b,
            (Graphs(a), Graphs(b)) => a == b,
            (Other, Other) => true,
            _ => false,
        }
    }
}
