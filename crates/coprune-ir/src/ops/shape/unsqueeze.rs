//! `Unsqueeze`: inserts size-1 axes at the given output positions. Axes are an attribute before
//! opset 13 and an input from 13 on. Tracked values pass through (scalar → [1] shape pieces).

use crate::ops::util::{norm_axis, opt, req};
use crate::{bail, ChannelCtx, ChannelRule, Dim, Fact, Node, Op, Result};

/// `Unsqueeze(data, axes?)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsqueeze {
    pub attr_axes: Option<Vec<i64>>,
}

impl Unsqueeze {
    /// Reads the axes attribute (opset < 13).
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Unsqueeze {
            attr_axes: node.attr_ints("axes")?,
        }))
    }
}

impl Op for Unsqueeze {
    fn name(&self) -> &'static str {
        "Unsqueeze"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "data")?;
        let axes = match (&self.attr_axes, opt(inputs, 1)) {
            (Some(a), _) => a.clone(),
            (None, Some(f)) => match f.known_ints() {
                Some(a) => a,
                None => bail!("axes are computed at run time; cannot infer the output rank"),
            },
            (None, None) => bail!("axes are required"),
        };
        let out_rank = x.rank() + axes.len();
        let mut axes: Vec<usize> = axes
            .iter()
            .map(|&a| norm_axis(a, out_rank))
            .collect::<Result<_>>()?;
        axes.sort_unstable();
        if axes.windows(2).any(|w| w[0] == w[1]) {
            bail!("axes {axes:?} repeat");
        }
        let mut src = x.shape.iter();
        let shape = (0..out_rank)
            .map(|i| {
                if axes.contains(&i) {
                    Dim::known(1)
                } else {
                    src.next().cloned().unwrap_or_else(|| Dim::known(1))
                }
            })
            .collect();
        Ok(vec![Fact {
            dtype: x.dtype,
            shape,
            value: x.value.clone(),
        }])
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        let (Some(c), Some(y)) = (ctx.axis(0), ctx.outputs.first()) else {
            return ChannelRule::Elementwise;
        };
        let axes = match &self.attr_axes {
            Some(a) => Some(a.clone()),
            None => ctx
                .inputs
                .get(1)
                .copied()
                .flatten()
                .and_then(|f| f.known_ints()),
        };
        let Some(axes) = axes else {
            return ChannelRule::Block("Unsqueeze with run-time axes".into());
        };
        let r = y.rank() as i64;
        let inserted: Vec<usize> = axes
            .iter()
            .map(|&a| (if a < 0 { a + r } else { a }) as usize)
            .collect();
        // The c-th output position that is not an inserted axis.
        match (0..y.rank()).filter(|i| !inserted.contains(i)).nth(c) {
            Some(axis) => ChannelRule::Moved { axis },
            None => ChannelRule::Block("Unsqueeze with inconsistent axes".into()),
        }
    }
}
