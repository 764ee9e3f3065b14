//! `Size`: the input's element count as an int64 scalar (tracked).

use crate::ops::util::req;
use crate::{ChannelCtx, ChannelRule, ConstValue, DType, Fact, Node, Op, Result};

/// `Size(data)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Size;

impl Size {
    /// Builds the op (no attributes).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Size))
    }
}

impl Op for Size {
    fn name(&self) -> &'static str {
        "Size"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "data")?;
        Ok(vec![Fact {
            dtype: DType::I64,
            shape: vec![],
            value: crate::numel(&x.shape).map(|n| ConstValue::Ints(vec![n])),
        }])
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Passive
    }
}
