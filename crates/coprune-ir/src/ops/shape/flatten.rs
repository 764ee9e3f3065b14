//! `Flatten`: [d0…d(axis-1), d(axis)…] → [prod(leading), prod(trailing)].

use crate::ops::util::req;
use crate::{bail, numel, ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `Flatten(input)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Flatten {
    pub axis: i64,
}

impl Flatten {
    /// Reads axis (default 1).
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Flatten {
            axis: node.attr_int("axis", 1)?,
        }))
    }
}

impl Op for Flatten {
    fn name(&self) -> &'static str {
        "Flatten"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "input")?;
        let r = x.rank() as i64;
        if self.axis < -r || self.axis > r {
            bail!("axis {} is out of range for rank {r}", self.axis);
        }
        let axis = if self.axis < 0 {
            self.axis + r
        } else {
            self.axis
        } as usize;
        let overflow = || crate::IrError::Invalid("element count overflows".into());
        let a = numel(&x.shape[..axis]).ok_or_else(overflow)?;
        let b = numel(&x.shape[axis..]).ok_or_else(overflow)?;
        Ok(vec![Fact::new(x.dtype, vec![a, b])])
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        let Some(x) = ctx.inputs.first().copied().flatten() else {
            return ChannelRule::Block("Flatten without input".into());
        };
        let r = x.rank() as i64;
        let axis = if self.axis < 0 {
            self.axis + r
        } else {
            self.axis
        };
        match (ctx.axis(0), axis) {
            (Some(1), 1) => match crate::known_numel(&x.shape[2..]) {
                Some(inner) => ChannelRule::Flatten {
                    inner: inner as usize,
                },
                None => ChannelRule::Block("Flatten of symbolic spatial dims".into()),
            },
            (Some(c), a) if (c as i64) < a && c == 0 => ChannelRule::Elementwise,
            _ => ChannelRule::Block(format!(
                "Flatten at axis {axis} merges the channel axis with others"
            )),
        }
    }
}
