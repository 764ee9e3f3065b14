//! `Pow`: A ^ B, with numpy broadcasting.

use crate::ops::util::binary;
use crate::{ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `Pow` (A ^ B).
#[derive(Debug, Clone, PartialEq)]
pub struct Pow;

impl Pow {
    /// Builds the op (no attributes matter for inference).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Pow))
    }
}

impl Op for Pow {
    fn name(&self) -> &'static str {
        "Pow"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        binary(inputs, None, None)
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}
