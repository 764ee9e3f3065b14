//! `GroupNormalization`: normalises groups of channels, then a per-channel scale and bias
//! (opset 21; opset 18 had per-group scale).

use crate::ops::util::{req, same_as};
use crate::{bail, ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `GroupNormalization(X, scale, bias)`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupNormalization {
    pub num_groups: i64,
}

impl GroupNormalization {
    /// Reads num_groups.
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        let num_groups = node.attr_int("num_groups", 0)?;
        if num_groups < 1 {
            bail!("attribute num_groups must be ≥ 1, found {num_groups}");
        }
        Ok(Box::new(GroupNormalization { num_groups }))
    }
}

impl Op for GroupNormalization {
    fn name(&self) -> &'static str {
        "GroupNormalization"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "X")?;
        if let Some(c) = x.shape.get(1).and_then(|d| d.as_known()) {
            if c % self.num_groups != 0 {
                bail!("{c} channels do not split into {} groups", self.num_groups);
            }
        }
        Ok(vec![same_as(x)])
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::GroupNorm {
            groups: self.num_groups as usize,
            params: vec![1, 2],
        }
    }
}
