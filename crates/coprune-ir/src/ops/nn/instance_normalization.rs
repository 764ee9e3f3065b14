//! `InstanceNormalization`: normalises each (sample, channel) over its spatial extent, then a
//! per-channel scale and bias.

use crate::ops::util::{req, same_as};
use crate::{ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `InstanceNormalization(X, scale, B)`.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceNormalization;

impl InstanceNormalization {
    /// Builds the op (epsilon does not matter for inference).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(InstanceNormalization))
    }
}

impl Op for InstanceNormalization {
    fn name(&self) -> &'static str {
        "InstanceNormalization"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        Ok(vec![same_as(req(inputs, 0, "X")?)])
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::PerChannel { params: vec![1, 2] }
    }
}
