//! `Sub`: A - B, with numpy broadcasting. Tracked integer values (shape arithmetic) are combined too.

use crate::ops::util::binary;
use crate::Dim;
use crate::{ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `Sub` (A - B).
#[derive(Debug, Clone, PartialEq)]
pub struct Sub;

impl Sub {
    /// Builds the op (no attributes matter for inference).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Sub))
    }
}

impl Op for Sub {
    fn name(&self) -> &'static str {
        "Sub"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        binary(inputs, None, Some(&|a: &Dim, b: &Dim| Some(a.sub(b))))
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}
