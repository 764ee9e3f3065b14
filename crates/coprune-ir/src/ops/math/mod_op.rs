//! `Mod`: A mod B, with numpy broadcasting.

use crate::ops::util::binary;
use crate::{ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `Mod` (A mod B).
#[derive(Debug, Clone, PartialEq)]
pub struct Mod;

impl Mod {
    /// Builds the op (no attributes matter for inference).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Mod))
    }
}

impl Op for Mod {
    fn name(&self) -> &'static str {
        "Mod"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        binary(inputs, None, None)
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}
