//! `Transpose`: permutes axes (default: reverse them).

use crate::ops::util::req;
use crate::{bail, ChannelCtx, ChannelRule, Fact, Node, Op, Result};

/// `Transpose(data)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Transpose {
    pub perm: Option<Vec<i64>>,
}

impl Transpose {
    /// Reads perm.
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Transpose {
            perm: node.attr_ints("perm")?,
        }))
    }
}

impl Op for Transpose {
    fn name(&self) -> &'static str {
        "Transpose"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "data")?;
        let r = x.rank();
        let perm: Vec<i64> = self
            .perm
            .clone()
            .unwrap_or_else(|| (0..r as i64).rev().collect());
        let mut seen = vec![false; r];
        if perm.len() != r {
            bail!("perm {perm:?} does not match rank {r}");
        }
        for &p in &perm {
            if p < 0 || p as usize >= r || std::mem::replace(&mut seen[p as usize], true) {
                bail!("perm {perm:?} is not a permutation of 0..{r}");
            }
        }
        let shape = perm.iter().map(|&p| x.shape[p as usize].clone()).collect();
        Ok(vec![Fact::new(x.dtype, shape)])
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        let Some(c) = ctx.axis(0) else {
            return ChannelRule::Elementwise;
        };
        let r = ctx.rank(0);
        let perm: Vec<i64> = self
            .perm
            .clone()
            .unwrap_or_else(|| (0..r as i64).rev().collect());
        match perm.iter().position(|&p| p == c as i64) {
            Some(axis) => ChannelRule::Moved { axis },
            None => ChannelRule::Block("Transpose with an invalid perm".into()),
        }
    }
}
