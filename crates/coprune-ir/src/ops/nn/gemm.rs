//! `Gemm`: Y = alpha·op(A)·op(B) + beta·C, with op = optional transpose; A [M, K], B [K, N].

use crate::ops::util::req;
use crate::{bail, ChannelCtx, ChannelRule, Cost, Fact, Node, Op, Result};

/// `Gemm(A, B, C?)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gemm {
    pub trans_a: bool,
    pub trans_b: bool,
}

impl Gemm {
    /// Reads transA and transB.
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Gemm {
            trans_a: node.attr_int("transA", 0)? != 0,
            trans_b: node.attr_int("transB", 0)? != 0,
        }))
    }
}

impl Op for Gemm {
    fn name(&self) -> &'static str {
        "Gemm"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let a = req(inputs, 0, "A")?;
        let b = req(inputs, 1, "B")?;
        if a.rank() != 2 || b.rank() != 2 {
            bail!(
                "A {} and B {} must be matrices",
                crate::shape_to_string(&a.shape),
                crate::shape_to_string(&b.shape)
            );
        }
        let (m, ka) = if self.trans_a { (1, 0) } else { (0, 1) };
        let (kb, n) = if self.trans_b { (1, 0) } else { (0, 1) };
        if let (Some(x), Some(y)) = (a.shape[ka].as_known(), b.shape[kb].as_known()) {
            if x != y {
                bail!(
                    "inner dimensions differ: A {} (transA={}) and B {} (transB={})",
                    crate::shape_to_string(&a.shape),
                    self.trans_a as i32,
                    crate::shape_to_string(&b.shape),
                    self.trans_b as i32
                );
            }
        }
        Ok(vec![Fact::new(
            a.dtype,
            vec![a.shape[m].clone(), b.shape[n].clone()],
        )])
    }

    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> Result<Cost> {
        let a = req(inputs, 0, "A")?;
        let k = &a.shape[if self.trans_a { 0 } else { 1 }];
        let y = crate::numel(&outputs[0].shape).unwrap_or_default();
        Ok(Cost { macs: y.mul(k) })
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        if self.trans_a || !ctx.is_const(1) {
            return ChannelRule::Block("Gemm with transA=1 or a run-time B".into());
        }
        let (w_in_axis, w_out_axis) = if self.trans_b { (1, 0) } else { (0, 1) };
        ChannelRule::Dense {
            weight: 1,
            w_in_axis,
            w_out_axis,
            in_axis: 1,
            out_axis: 1,
            bias: None,
            out_broadcast: ctx.inputs.get(2).copied().flatten().map(|_| 2),
        }
    }
}
