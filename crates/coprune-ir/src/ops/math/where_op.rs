//! `Where`: picks X where the condition holds, Y elsewhere; the three inputs broadcast together.
//! Tracked integer values are selected too (exports use it on shape vectors).

use crate::ops::util::{broadcast, req};
use crate::{ChannelCtx, ChannelRule, ConstValue, Fact, Node, Op, Result};

/// `Where(condition, X, Y)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Where;

impl Where {
    /// Builds the op (no attributes).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Where))
    }
}

impl Op for Where {
    fn name(&self) -> &'static str {
        "Where"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let c = req(inputs, 0, "condition")?;
        let x = req(inputs, 1, "X")?;
        let y = req(inputs, 2, "Y")?;
        let shape = broadcast(&[&c.shape, &x.shape, &y.shape])?;
        let mut fact = Fact::new(x.dtype, shape);
        if let (Some(cv), Some(xv), Some(yv)) = (c.known_ints(), x.ints(), y.ints()) {
            let n = cv.len().max(xv.len()).max(yv.len());
            let ok = [cv.len(), xv.len(), yv.len()]
                .iter()
                .all(|&l| l == n || l == 1);
            if fact.rank() <= 1 && ok && n > 0 {
                let pick = |v: &[crate::Dim], i: usize| v[i.min(v.len() - 1)].clone();
                let vals = (0..n)
                    .map(|i| {
                        if cv[i.min(cv.len() - 1)] != 0 {
                            pick(xv, i)
                        } else {
                            pick(yv, i)
                        }
                    })
                    .collect();
                fact.value = Some(ConstValue::Ints(vals));
            }
        }
        Ok(vec![fact])
    }

    fn channel_rule(&self, _ctx: &ChannelCtx) -> ChannelRule {
        ChannelRule::Elementwise
    }
}
