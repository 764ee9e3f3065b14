//! `Xor`: logical A xor B, with numpy broadcasting.

use crate::ops::util::binary;
use crate::DType;
use crate::{ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `Xor` (logical A xor B).
#[derive(Debug, Clone, PartialEq)]
pub struct Xor;

impl Xor {
    /// Builds the op (no attributes matter for inference).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Xor))
    }
}

impl Op for Xor {
    fn name(&self) -> &'static str {
        "Xor"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        binary(inputs, Some(DType::Bool), None)
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}
