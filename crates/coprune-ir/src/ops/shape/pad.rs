//! `Pad`: adds pads[i] before and pads[rank+i] after each axis (attribute before opset 11,
//! input after; `axes` input from opset 18).

use crate::ops::util::{norm_axis, opt, req};
use crate::{bail, ChannelCtx, ChannelRule, Dim, Fact, Node, Op, Result};

/// `Pad(data, pads?, constant_value?, axes?)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pad {
    pub attr_pads: Option<Vec<i64>>,
}

impl Pad {
    /// Reads the pads attribute (opset < 11).
    pub fn build(node: &Node, opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Pad {
            attr_pads: if opset < 11 {
                node.attr_ints("pads")?
            } else {
                None
            },
        }))
    }
}

impl Op for Pad {
    fn name(&self) -> &'static str {
        "Pad"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "data")?;
        let pads = match (&self.attr_pads, opt(inputs, 1)) {
            (Some(p), _) => p.clone(),
            (None, Some(f)) => match f.known_ints() {
                Some(p) => p,
                None => bail!("pads are computed at run time; cannot infer the output shape"),
            },
            (None, None) => bail!("pads are required"),
        };
        let axes: Vec<usize> = match opt(inputs, 3).map(|f| f.known_ints()) {
            Some(Some(a)) => a
                .iter()
                .map(|&v| norm_axis(v, x.rank()))
                .collect::<Result<_>>()?,
            Some(None) => bail!("axes are computed at run time; cannot infer the output shape"),
            None => (0..x.rank()).collect(),
        };
        let n = axes.len();
        if pads.len() != 2 * n {
            bail!("{} pads for {n} axes (need {})", pads.len(), 2 * n);
        }
        let mut shape = x.shape.clone();
        for (k, &ax) in axes.iter().enumerate() {
            shape[ax] = shape[ax].add(&Dim::known(pads[k] + pads[n + k]));
        }
        Ok(vec![Fact::new(x.dtype, shape)])
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        let Some(c) = ctx.axis(0) else {
            return ChannelRule::Elementwise;
        };
        let r = ctx.rank(0);
        let pads = match &self.attr_pads {
            Some(p) => Some(p.clone()),
            None => ctx
                .inputs
                .get(1)
                .copied()
                .flatten()
                .and_then(|f| f.known_ints()),
        };
        let has_axes = ctx.inputs.get(3).copied().flatten().is_some();
        match pads {
            Some(p) if !has_axes && p.len() == 2 * r && p[c] == 0 && p[r + c] == 0 => {
                ChannelRule::Elementwise
            }
            _ => ChannelRule::Block("Pad that may pad the channel axis".into()),
        }
    }
}
