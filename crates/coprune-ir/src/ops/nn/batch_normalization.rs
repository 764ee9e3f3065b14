//! `BatchNormalization`: per-channel affine normalisation along axis 1. Only scale and bias are
//! learned parameters; the running mean and variance are statistics.

use crate::ops::util::{req, same_as};
use crate::{ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `BatchNormalization(X, scale, B, mean, var)`.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormalization {
    pub epsilon: f32,
    pub training_mode: bool,
}

impl BatchNormalization {
    /// Reads epsilon and training_mode.
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(BatchNormalization {
            epsilon: node.attr_float("epsilon", 1e-5)?,
            training_mode: node.attr_int("training_mode", 0)? != 0,
        }))
    }
}

impl Op for BatchNormalization {
    fn name(&self) -> &'static str {
        "BatchNormalization"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "X")?;
        let mut out = vec![same_as(x)];
        if self.training_mode {
            // running_mean and running_var outputs, one value per channel.
            let c = x
                .shape
                .get(1)
                .cloned()
                .unwrap_or_else(|| crate::Dim::known(1));
            out.push(Fact::new(x.dtype, vec![c.clone()]));
            out.push(Fact::new(x.dtype, vec![c]));
        }
        Ok(out)
    }

    fn learned_input(&self, index: usize) -> bool {
        matches!(index, 1 | 2)
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        if self.training_mode {
            return ChannelRule::Block("BatchNormalization in training mode".into());
        }
        ChannelRule::PerChannel {
            params: vec![1, 2, 3, 4],
        }
    }
}
