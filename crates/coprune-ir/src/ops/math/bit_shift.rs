//! `BitShift`: A shifted by B, with numpy broadcasting.

use crate::ops::util::binary;
use crate::{ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `BitShift` (A shifted by B).
#[derive(Debug, Clone, PartialEq)]
pub struct BitShift;

impl BitShift {
    /// Builds the op (no attributes matter for inference).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(BitShift))
    }
}

impl Op for BitShift {
    fn name(&self) -> &'static str {
        "BitShift"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        binary(inputs, None, None)
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}
