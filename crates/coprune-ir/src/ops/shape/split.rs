//! `Split`: cuts `axis` into pieces given by `split` (attribute before opset 13, input after) or
//! into equal parts (one per output, or `num_outputs` from opset 18).

use crate::ops::util::{norm_axis, opt, req};
use crate::{bail, ChannelCtx, ChannelRule, Dim, Fact, Node, Op, Result};

/// `Split(input, split?)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub axis: i64,
    pub attr_split: Option<Vec<i64>>,
    pub outputs: usize,
}

impl Split {
    /// Reads axis, split (opset < 13) and the number of outputs.
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        let outputs = match node.attr_int("num_outputs", 0)? {
            0 => node.outputs.len(),
            n => n as usize,
        };
        Ok(Box::new(Split {
            axis: node.attr_int("axis", 0)?,
            attr_split: node.attr_ints("split")?,
            outputs,
        }))
    }
}

impl Op for Split {
    fn name(&self) -> &'static str {
        "Split"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "input")?;
        let axis = norm_axis(self.axis, x.rank())?;
        let total = &x.shape[axis];
        let sizes: Vec<Dim> = match (&self.attr_split, opt(inputs, 1)) {
            (Some(s), _) => s.iter().map(|&v| Dim::known(v)).collect(),
            (None, Some(f)) => match f.ints() {
                Some(v) => v.to_vec(),
                None => bail!("split sizes are computed at run time"),
            },
            (None, None) => {
                let n = self.outputs.max(1) as i64;
                match total.as_known() {
                    // Opset 18: the last chunk is smaller when the size does not divide.
                    Some(t) => {
                        let chunk = (t + n - 1) / n;
                        (0..n)
                            .map(|i| Dim::known(chunk.min(t - chunk * i).max(0)))
                            .collect()
                    }
                    None => match total.div_exact(&Dim::known(n)) {
                        Some(d) => vec![d; n as usize],
                        None => bail!("cannot split symbolic size {total} into {n} parts"),
                    },
                }
            }
        };
        if let (Some(t), Some(sum)) = (
            total.as_known(),
            sizes.iter().map(Dim::as_known).sum::<Option<i64>>(),
        ) {
            if t != sum {
                bail!(
                    "split sizes {sizes:?} do not add up to {t}",
                    sizes = sizes.iter().map(|d| d.to_string()).collect::<Vec<_>>()
                );
            }
        }
        Ok(sizes
            .into_iter()
            .map(|s| {
                let mut shape = x.shape.clone();
                shape[axis] = s;
                Fact::new(x.dtype, shape)
            })
            .collect())
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        let r = ctx.rank(0) as i64;
        let axis = if self.axis < 0 {
            self.axis + r
        } else {
            self.axis
        };
        ChannelRule::Split {
            axis: axis.max(0) as usize,
        }
    }
}
