//! What every `Reduce*` op shares: axes (attribute before opset 18 — 13 for ReduceSum — input
//! after), keepdims, noop_with_empty_axes; shape inference and the channel rule.

use crate::ops::util::{opt, reduce, req, wrap_axis};
use crate::{bail, ChannelCtx, ChannelRule, Fact, Node, Result};

/// Attributes of a reduction.
#[derive(Debug, Clone, PartialEq)]
pub struct Reduction {
    pub attr_axes: Option<Vec<i64>>,
    pub keepdims: bool,
    pub noop_with_empty_axes: bool,
}

impl Reduction {
    /// Reads axes (attribute form), keepdims and noop_with_empty_axes.
    pub fn from_node(node: &Node) -> Result<Reduction> {
        Ok(Reduction {
            attr_axes: node.attr_ints("axes")?,
            keepdims: node.attr_int("keepdims", 1)? != 0,
            noop_with_empty_axes: node.attr_int("noop_with_empty_axes", 0)? != 0,
        })
    }

    /// Output facts.
    pub fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
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

    /// Channels pass when the channel axis is kept (keepdims, not reduced).
    pub fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        let Some(c) = ctx.axis(0) else {
            return ChannelRule::Elementwise;
        };
        let r = ctx.rank(0);
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
                    && !a.iter().any(|&x| wrap_axis(x, r) == c as i64) =>
            {
                ChannelRule::Elementwise
            }
            _ => ChannelRule::Block("reduction over (or dropping) the channel axis".into()),
        }
    }
}

/// Declares a reduction op (one per file) on top of [`Reduction`].
#[macro_export]
macro_rules! reduce_op {
    ($(#[$meta:meta])* $ty:ident, $name:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $ty(pub $crate::ops::reduce::common::Reduction);

        impl $ty {
            /// Builds the op from a node's attributes.
            pub fn build(node: &$crate::Node, _opset: i64) -> $crate::Result<Box<dyn $crate::Op>> {
                Ok(Box::new($ty($crate::ops::reduce::common::Reduction::from_node(node)?)))
            }
        }

        impl $crate::Op for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn output_facts(&self, inputs: &[Option<&$crate::Fact>]) -> $crate::Result<Vec<$crate::Fact>> {
                self.0.output_facts(inputs)
            }
            fn channel_rule(&self, ctx: &$crate::ChannelCtx) -> $crate::ChannelRule {
                self.0.channel_rule(ctx)
            }
        }
    };
}
