//! `ReduceL2`: L2 norm over `axes` (all axes by default; axes are an attribute before opset 18 —
//! opset 13 for ReduceSum — and an input after), keeping reduced axes as 1 when keepdims.

use crate::ops::util::{opt, reduce, req};
use crate::{bail, ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `ReduceL2(data, axes?)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReduceL2 {
    pub attr_axes: Option<Vec<i64>>,
    pub keepdims: bool,
    pub noop_with_empty_axes: bool,
}

impl ReduceL2 {
    /// Reads axes (attribute form), keepdims and noop_with_empty_axes.
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(ReduceL2 {
            attr_axes: node.attr_ints("axes")?,
            keepdims: node.attr_int("keepdims", 1)? != 0,
            noop_with_empty_axes: node.attr_int("noop_with_empty_axes", 0)? != 0,
        }))
    }
}

impl Op for ReduceL2 {
    fn name(&self) -> &'static str {
        "ReduceL2"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "data")?;
        let axes = match (&self.attr_axes, opt(inputs, 1)) {
            (Some(a), _) => Some(a.clone()),
            (None, Some(f)) => match f.known_ints() {
                Some(a) => Some(a),
                None => bail!("axes are computed at run time; cannot infer the output shape"),
            },
            (None, None) => None,
        };
        Ok(vec![reduce(
            x,
            axes,
            self.keepdims,
            self.noop_with_empty_axes,
        )?])
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        let Some(c) = ctx.axis(0) else {
            return ChannelRule::Elementwise;
        };
        let r = ctx.rank(0) as i64;
        let axes = match &self.attr_axes {
            Some(a) => Some(a.clone()),
            None => ctx
                .inputs
                .get(1)
                .copied()
                .flatten()
                .and_then(|f| f.known_ints()),
        };
        match axes {
            Some(a)
                if self.keepdims
                    && !a.is_empty()
                    && !a
                        .iter()
                        .any(|&x| (if x < 0 { x + r } else { x }) == c as i64) =>
            {
                ChannelRule::Elementwise
            }
            _ => ChannelRule::Block("reduction over (or dropping) the channel axis".into()),
        }
    }
}
