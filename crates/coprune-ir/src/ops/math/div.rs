//! `Div`: A / B (integer division truncates), with numpy broadcasting. Tracked integer values (shape arithmetic) are combined too.

use crate::ops::util::binary;
use crate::Dim;
use crate::{ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `Div` (A / B (integer division truncates)).
#[derive(Debug, Clone, PartialEq)]
pub struct Div;

impl Div {
    /// Builds the op (no attributes matter for inference).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Div))
    }
}

impl Op for Div {
    fn name(&self) -> &'static str {
        "Div"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        binary(inputs, None, Some(&|a: &Dim, b: &Dim| div(a, b)))
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}

/// Exact integer division of tracked values; negative or inexact results stop tracking.
fn div(a: &Dim, b: &Dim) -> Option<Dim> {
    match (a.as_known(), b.as_known()) {
        (Some(x), Some(y)) if y != 0 => Some(Dim::known(x / y)),
        _ => a.div_exact(b),
    }
}
