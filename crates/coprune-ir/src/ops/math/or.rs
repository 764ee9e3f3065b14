//! `Or`: logical A or B, with numpy broadcasting.

use crate::ops::util::binary;
use crate::DType;
use crate::{ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `Or` (logical A or B).
#[derive(Debug, Clone, PartialEq)]
pub struct Or;

impl Or {
    /// Builds the op (no attributes matter for inference).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Or))
    }
}

impl Op for Or {
    fn name(&self) -> &'static str {
        "Or"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        binary(inputs, Some(DType::Bool), None)
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}
