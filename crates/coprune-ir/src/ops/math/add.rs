//! `Add`: A + B, with numpy broadcasting. Tracked integer values (shape arithmetic) are combined too.

use crate::ops::util::binary;
use crate::Dim;
use crate::{ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `Add` (A + B).
#[derive(Debug, Clone, PartialEq)]
pub struct Add;

impl Add {
    /// Builds the op (no attributes matter for inference).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Add))
    }
}

impl Op for Add {
    fn name(&self) -> &'static str {
        "Add"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        binary(inputs, None, Some(&|a: &Dim, b: &Dim| Some(a.add(b))))
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}
