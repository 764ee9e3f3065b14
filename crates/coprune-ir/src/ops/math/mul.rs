//! `Mul`: A × B, with numpy broadcasting. Tracked integer values (shape arithmetic) are combined too.

use crate::ops::util::binary;
use crate::Dim;
use crate::{ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `Mul` (A × B).
#[derive(Debug, Clone, PartialEq)]
pub struct Mul;

impl Mul {
    /// Builds the op (no attributes matter for inference).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Mul))
    }
}

impl Op for Mul {
    fn name(&self) -> &'static str {
        "Mul"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        binary(inputs, None, Some(&|a: &Dim, b: &Dim| Some(a.mul(b))))
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}
