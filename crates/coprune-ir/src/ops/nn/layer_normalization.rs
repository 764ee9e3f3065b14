//! `LayerNormalization`: normalises over the trailing axes from `axis`, then scale and bias.
//! Optional outputs Mean and InvStdDev keep the leading axes with trailing ones set to 1.

use crate::ops::util::{norm_axis, req, same_as};
use crate::{ChannelCtx, ChannelRule, Dim, Fact, Node, Op, Result};

/// `LayerNormalization(X, Scale, B)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNormalization {
    pub axis: i64,
}

impl LayerNormalization {
    /// Reads axis (default -1).
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(LayerNormalization {
            axis: node.attr_int("axis", -1)?,
        }))
    }
}

impl Op for LayerNormalization {
    fn name(&self) -> &'static str {
        "LayerNormalization"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "X")?;
        let axis = norm_axis(self.axis, x.rank())?;
        let mut stat = x.shape.clone();
        for d in stat.iter_mut().skip(axis) {
            *d = Dim::known(1);
        }
        Ok(vec![
            same_as(x),
            Fact::new(crate::DType::F32, stat.clone()),
            Fact::new(crate::DType::F32, stat),
        ])
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        let r = ctx.rank(0) as i64;
        let axis = if self.axis < 0 {
            self.axis + r
        } else {
            self.axis
        };
        match ctx.axis(0) {
            Some(c) if (c as i64) < axis => ChannelRule::Elementwise,
            _ => ChannelRule::Renormalized(
                "LayerNormalization normalises across these channels: the kept ones are \
                 renormalised without the removed ones"
                    .into(),
            ),
        }
    }
}
