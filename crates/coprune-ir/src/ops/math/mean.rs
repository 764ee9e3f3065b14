//! `Mean`: element-wise mean of any number of inputs, with numpy broadcasting.

use crate::ops::util::broadcast;
use crate::{bail, ChannelCtx, ChannelRule, Dim, Fact, Node, Op, Result};

/// `Mean` (element-wise mean of any number of inputs).
#[derive(Debug, Clone, PartialEq)]
pub struct Mean;

impl Mean {
    /// Builds the op (no attributes).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Mean))
    }
}

impl Op for Mean {
    fn name(&self) -> &'static str {
        "Mean"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let present: Vec<&Fact> = inputs.iter().flatten().copied().collect();
        let Some(first) = present.first() else {
            bail!("needs at least one input");
        };
        let shapes: Vec<&[Dim]> = present.iter().map(|f| f.shape.as_slice()).collect();
        Ok(vec![Fact::new(first.dtype, broadcast(&shapes)?)])
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}
