//! `And`: logical A and B, with numpy broadcasting.

use crate::ops::util::binary;
use crate::DType;
use crate::{ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `And` (logical A and B).
#[derive(Debug, Clone, PartialEq)]
pub struct And;

impl And {
    /// Builds the op (no attributes matter for inference).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(And))
    }
}

impl Op for And {
    fn name(&self) -> &'static str {
        "And"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        binary(inputs, Some(DType::Bool), None)
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}
