//! Node attributes.

use crate::{Opaque, Tensor};

/// The value of an attribute.
#[derive(Debug, Clone, PartialEq)]
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
