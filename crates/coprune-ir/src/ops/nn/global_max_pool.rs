//! `GlobalMaxPool`: max over all spatial positions: [N, C, *spatial] → [N, C, 1, …].

use crate::ops::util::req;
use crate::{bail, ChannelCtx, ChannelRule, Dim, Fact, Node, Op, Result};

/// `GlobalMaxPool(X)`.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalMaxPool;

impl GlobalMaxPool {
    /// Builds the op (no attributes).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(GlobalMaxPool))
    }
}

impl Op for GlobalMaxPool {
    fn name(&self) -> &'static str {
        "GlobalMaxPool"
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
