//! `GlobalAveragePool`: average over all spatial positions: [N, C, *spatial] → [N, C, 1, …].

use crate::ops::util::req;
use crate::{bail, ChannelCtx, ChannelRule, Dim, Fact, Node, Op, Result};

/// `GlobalAveragePool(X)`.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalAveragePool;

impl GlobalAveragePool {
    /// Builds the op (no attributes).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(GlobalAveragePool))
    }
}

impl Op for GlobalAveragePool {
    fn name(&self) -> &'static str {
        "GlobalAveragePool"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "X")?;
        if x.rank() < 3 {
            bail!(
                "X {} must be [N, C, spatial…]",
                crate::shape_to_string(&x.shape)
            );
        }
        let mut shape = x.shape[..2].to_vec();
        shape.extend((2..x.rank()).map(|_| Dim::known(1)));
        Ok(vec![Fact::new(x.dtype, shape)])
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        match ctx.axis(0) {
            Some(1) | None => ChannelRule::Elementwise,
            Some(a) => ChannelRule::Block(format!("pooling over the channel axis {a}")),
        }
    }
}
