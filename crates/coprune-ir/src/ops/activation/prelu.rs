//! `PRelu`: x for x ≥ 0, slope·x otherwise; the slope broadcasts to X (often one per channel).

use crate::ops::util::{broadcast, req};
use crate::{ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `PRelu(X, slope)`.
#[derive(Debug, Clone, PartialEq)]
pub struct PRelu;

impl PRelu {
    /// Builds the op (no attributes).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(PRelu))
    }
}

impl Op for PRelu {
    fn name(&self) -> &'static str {
        "PRelu"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "X")?;
        let slope = req(inputs, 1, "slope")?;
        Ok(vec![Fact::new(
            x.dtype,
            broadcast(&[&x.shape, &slope.shape])?,
        )])
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}
