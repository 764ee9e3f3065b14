//! `Squeeze`: removes axes of size 1 (given axes, or all size-1 axes). Axes are an attribute
//! before opset 13 and an input from 13 on.

use crate::ops::util::{norm_axis, opt, req};
use crate::{bail, ChannelCtx, ChannelRule, ConstValue, Dim, Fact, Node, Op, Result};

/// `Squeeze(data, axes?)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Squeeze {
    pub attr_axes: Option<Vec<i64>>,
}

impl Squeeze {
    /// Reads the axes attribute (opset < 13).
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Squeeze {
            attr_axes: node.attr_ints("axes")?,
        }))
    }
}

impl Op for Squeeze {
    fn name(&self) -> &'static str {
        "Squeeze"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "data")?;
        let axes = match (&self.attr_axes, opt(inputs, 1)) {
            (Some(a), _) => Some(a.clone()),
            (None, Some(f)) => match f.known_ints() {
                Some(a) => Some(a),
                None => bail!("axes are computed at run time; cannot infer the output rank"),
            },
            (None, None) => None,
        };
        let one = Dim::known(1);
        let drop: Vec<usize> = match axes {
            Some(a) => a
                .iter()
                .map(|&v| norm_axis(v, x.rank()))
                .collect::<Result<_>>()?,
            None => (0..x.rank()).filter(|&i| x.shape[i] == one).collect(),
        };
        for &i in &drop {
            if x.shape[i].as_known().is_some_and(|v| v != 1) {
                bail!(
                    "axis {i} of {} has size {}, not 1",
                    crate::shape_to_string(&x.shape),
                    x.shape[i]
                );
            }
        }
        let shape: Vec<Dim> = (0..x.rank())
            .filter(|i| !drop.contains(i))
            .map(|i| x.shape[i].clone())
            .collect();
        let value = match &x.value {
            Some(ConstValue::Ints(v)) => Some(ConstValue::Ints(v.clone())),
            other => other.clone(),
        };
        Ok(vec![Fact {
            dtype: x.dtype,
            shape,
            value,
        }])
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        let (Some(c), Some(x)) = (ctx.axis(0), ctx.inputs.first().copied().flatten()) else {
            return ChannelRule::Elementwise;
        };
        let r = x.rank() as i64;
        let axes: Option<Vec<i64>> = match &self.attr_axes {
            Some(a) => Some(a.clone()),
            None => match ctx.inputs.get(1).copied().flatten() {
                Some(f) => f.known_ints(),
                None => Some(
                    (0..r)
                        .filter(|&i| x.shape[i as usize] == crate::Dim::known(1))
                        .collect(),
                ),
            },
        };
        let Some(axes) = axes else {
            return ChannelRule::Block("Squeeze with run-time axes".into());
        };
        let axes: Vec<usize> = axes
            .iter()
            .map(|&a| (if a < 0 { a + r } else { a }) as usize)
            .collect();
        if axes.contains(&c) {
            return ChannelRule::Block("Squeeze of the channel axis".into());
        }
        ChannelRule::Moved {
            axis: c - axes.iter().filter(|&&a| a < c).count(),
        }
    }
}
