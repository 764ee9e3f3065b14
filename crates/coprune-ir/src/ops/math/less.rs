//! `Less`: A < B (bool output), with numpy broadcasting. Tracked integer values (shape arithmetic) are combined too.

use crate::ops::util::binary;
use crate::DType;
use crate::Dim;
use crate::{ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `Less` (A < B (bool output)).
#[derive(Debug, Clone, PartialEq)]
pub struct Less;

impl Less {
    /// Builds the op (no attributes matter for inference).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Less))
    }
}

impl Op for Less {
    fn name(&self) -> &'static str {
        "Less"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        binary(
            inputs,
            Some(DType::Bool),
            Some(&|a: &Dim, b: &Dim| cmp(a, b, |x, y| x < y)),
        )
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}

/// Comparison of two known tracked values as a 0/1 value.
fn cmp(a: &Dim, b: &Dim, f: fn(i64, i64) -> bool) -> Option<Dim> {
    Some(Dim::known(f(a.as_known()?, b.as_known()?) as i64))
}
