//! `Dropout`: identity at inference; optional second output is a bool mask of the same shape.

use crate::ops::util::{req, same_as};
use crate::{ChannelCtx, ChannelRule, DType, Fact, Node, Op, Result};

/// `Dropout(data, ratio?, training_mode?)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dropout;

impl Dropout {
    /// Builds the op (the ratio does not matter for inference).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Dropout))
    }
}

impl Op for Dropout {
    fn name(&self) -> &'static str {
        "Dropout"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "data")?;
        let mut y = same_as(x);
        y.value = x.value.clone();
        Ok(vec![y, Fact::new(DType::Bool, x.shape.clone())])
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}
