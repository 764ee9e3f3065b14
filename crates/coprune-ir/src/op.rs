//! The `Op` trait: one implementation per operator, in `ops/<family>/<op>.rs`.

use crate::{ChannelCtx, ChannelRule, DType, Dim, Result};
use std::fmt::Debug;

/// A small tensor value tracked during inference (shape vectors, axes, scales), so that ops like
/// Reshape whose output shape depends on another tensor's content can be inferred.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstValue {
    /// Integer (or bool) elements; may be symbolic (`Shape` of an input with dim `N`).
    Ints(Vec<Dim>),
    /// Floating-point elements.
    Floats(Vec<f64>),
}

impl ConstValue {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ConstValue::Ints(v) => v.len(),
            ConstValue::Floats(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Values are tracked only up to this many elements: enough for any shape vector.
pub const MAX_TRACKED_ELEMENTS: u64 = 64;

/// What is known about a value: element type, shape, and for small tensors the content.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub dtype: DType,
    pub shape: Vec<Dim>,
    pub value: Option<ConstValue>,
}

impl Fact {
    /// A fact with no tracked value.
    pub fn new(dtype: DType, shape: Vec<Dim>) -> Fact {
        Fact {
            dtype,
            shape,
            value: None,
        }
    }

    /// Rank.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The tracked integer content (for shape-like inputs).
    pub fn ints(&self) -> Option<&[Dim]> {
        match &self.value {
            Some(ConstValue::Ints(v)) => Some(v),
            _ => None,
        }
    }

    /// The tracked integer content when every element is known.
    pub fn known_ints(&self) -> Option<Vec<i64>> {
        self.ints()?.iter().map(Dim::as_known).collect()
    }

    /// The tracked content as f64 when every element is known.
    pub fn known_f64(&self) -> Option<Vec<f64>> {
        match &self.value {
            Some(ConstValue::Floats(v)) => Some(v.clone()),
            Some(ConstValue::Ints(v)) => v.iter().map(|d| d.as_known().map(|x| x as f64)).collect(),
            None => None,
        }
    }
}

/// Compute cost of one node beyond what the graph-level analysis derives by itself (parameter
/// counts come from constant inputs, activation bytes from output facts).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cost {
    /// Multiply-accumulates (may be symbolic in the batch dim).
    pub macs: Dim,
}

impl Default for Dim {
    fn default() -> Dim {
        Dim::known(0)
    }
}

/// An operator. Built from a node's attributes by the registry (see [`crate::ops::build_op`]);
/// inputs arrive as facts, `None` for an omitted optional input.
pub trait Op: Debug + Send + Sync {
    /// The operator's name, e.g. `Conv`.
    fn name(&self) -> &'static str;

    /// Output element types and shapes (and small values where computable).
    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>>;

    /// Multiply-accumulates and other op-specific cost; zero by default (elementwise ops, data
    /// movement).
    fn cost(&self, _inputs: &[Option<&Fact>], _outputs: &[Fact]) -> Result<Cost> {
        Ok(Cost::default())
    }

    /// Whether constant input `index` is a learned parameter when it is a floating-point tensor of
    /// rank ≥ 1 (weights, biases, norm scales). Parameter counts come from this. Default: yes;
    /// ops override it for constant inputs that are not learned (BatchNorm running statistics,
    /// Resize scales).
    fn learned_input(&self, _index: usize) -> bool {
        true
    }

    /// How channels flow through the op (see [`ChannelRule`]). Default: blocks, naming the op.
    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Block(format!("op {} has no channel rule", self.name()))
    }
}
