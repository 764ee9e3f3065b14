//! `LogSoftmax`: log of Softmax along `axis`. Element-wise in shape; couples all channels when `axis` is the channel axis.

use crate::ops::util::{req, same_as};
use crate::{ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `LogSoftmax(input)` along `axis` (default -1, opset 13).
#[derive(Debug, Clone, PartialEq)]
pub struct LogSoftmax {
    pub axis: i64,
}

impl LogSoftmax {
    /// Reads axis (default -1 from opset 13, 1 before).
    pub fn build(node: &Node, opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(LogSoftmax {
            axis: node.attr_int("axis", if opset >= 13 { -1 } else { 1 })?,
        }))
    }
}

impl Op for LogSoftmax {
    fn name(&self) -> &'static str {
        "LogSoftmax"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        Ok(vec![same_as(req(inputs, 0, "input")?)])
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        let r = ctx.rank(0) as i64;
        let axis = if self.axis < 0 {
            self.axis + r
        } else {
            self.axis
        };
        match ctx.axis(0) {
            Some(c) if c as i64 == axis => {
                ChannelRule::Block("LogSoftmax across the channel axis".into())
            }
            _ => ChannelRule::Elementwise,
        }
    }
}
