//! `Identity`: passes its input through (torchvision exports alias shared weights with it).

use crate::ops::util::req;
use crate::{ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `Identity(input)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity;

impl Identity {
    /// Builds the op (no attributes).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Identity))
    }
}

impl Op for Identity {
    fn name(&self) -> &'static str {
        "Identity"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        Ok(vec![req(inputs, 0, "input")?.clone()])
    }

    fn learned_input(&self, _index: usize) -> bool {
        // Parameters it aliases are counted at the node that uses the alias.
        false
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}
