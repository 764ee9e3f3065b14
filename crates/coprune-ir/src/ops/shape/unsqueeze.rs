//! `Unsqueeze`: inserts size-1 axes at the given output positions. Axes are an attribute before
//! opset 13 and an input from 13 on. Tracked values pass through (scalar → [1] shape pieces).

use crate::ops::util::{norm_axis, opt, req};
use crate::{bail, Dim, Fact, Node, Op, Result};

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
}
