//! `Concat`: joins inputs along `axis`; sizes on that axis add. Tracked 1-D values are joined
//! too (exports build Reshape targets this way).

use crate::ops::util::norm_axis;
use crate::{bail, ChannelCtx, ChannelRule, ConstValue, Dim, Fact, Node, Op, Result};

/// `Concat(inputs…)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Concat {
    pub axis: i64,
}

impl Concat {
    /// Reads axis (required).
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        if node.attr("axis").is_none() {
            bail!("attribute axis is required");
        }
        Ok(Box::new(Concat {
            axis: node.attr_int("axis", 0)?,
        }))
    }
}

impl Op for Concat {
    fn name(&self) -> &'static str {
        "Concat"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let parts: Vec<&Fact> = inputs.iter().flatten().copied().collect();
        let Some(first) = parts.first() else {
            bail!("needs at least one input");
        };
        let axis = norm_axis(self.axis, first.rank())?;
        let mut shape = first.shape.clone();
        for p in &parts[1..] {
            if p.rank() != first.rank() {
                bail!(
                    "inputs {} and {} differ in rank",
                    crate::shape_to_string(&first.shape),
                    crate::shape_to_string(&p.shape)
                );
            }
            for (i, (a, b)) in shape.iter_mut().zip(&p.shape).enumerate() {
                if i == axis {
                    *a = a.add(b);
                } else if let (Some(x), Some(y)) = (a.as_known(), b.as_known()) {
                    if x != y {
                        bail!(
                            "inputs {} and {} differ on axis {i}",
                            crate::shape_to_string(&first.shape),
                            crate::shape_to_string(&p.shape)
                        );
                    }
                }
            }
        }
        let mut fact = Fact::new(first.dtype, shape);
        if first.rank() == 1 {
            let vals: Option<Vec<Dim>> = parts
                .iter()
                .map(|p| p.ints().map(<[Dim]>::to_vec))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.concat());
            fact.value = vals.map(ConstValue::Ints);
        }
        Ok(vec![fact])
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        let r = ctx.outputs.first().map_or(0, |f| f.rank()) as i64;
        let axis = if self.axis < 0 {
            self.axis + r
        } else {
            self.axis
        };
        ChannelRule::Concat {
            axis: axis.max(0) as usize,
        }
    }
}
