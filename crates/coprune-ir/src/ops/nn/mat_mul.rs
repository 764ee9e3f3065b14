//! `MatMul`: numpy matmul: batched over leading dims with broadcasting; 1-D operands are promoted
//! and the added axis removed.

use crate::ops::util::{broadcast, req};
use crate::{bail, ChannelCtx, ChannelRule, Cost, Dim, Fact, Node, Op, Result};

/// `MatMul(A, B)`.
#[derive(Debug, Clone, PartialEq)]
pub struct MatMul;

impl MatMul {
    /// Builds the op (no attributes).
    pub fn build(_node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(MatMul))
    }
}

/// Output shape and inner dimension of numpy matmul.
pub fn matmul_shape(a: &[Dim], b: &[Dim]) -> Result<(Vec<Dim>, Dim)> {
    if a.is_empty() || b.is_empty() {
        bail!("matmul operands must have rank ≥ 1");
    }
    let one = Dim::known(1);
    let a2: Vec<Dim> = if a.len() == 1 {
        vec![one.clone(), a[0].clone()]
    } else {
        a.to_vec()
    };
    let b2: Vec<Dim> = if b.len() == 1 {
        vec![b[0].clone(), one.clone()]
    } else {
        b.to_vec()
    };
    let (ra, rb) = (a2.len(), b2.len());
    let k = a2[ra - 1].clone();
    if let (Some(x), Some(y)) = (k.as_known(), b2[rb - 2].as_known()) {
        if x != y {
            bail!(
                "inner dimensions differ: {} × {}",
                crate::shape_to_string(a),
                crate::shape_to_string(b)
            );
        }
    }
    let mut out = broadcast(&[&a2[..ra - 2], &b2[..rb - 2]])?;
    if a.len() > 1 {
        out.push(a2[ra - 2].clone());
    }
    if b.len() > 1 {
        out.push(b2[rb - 1].clone());
    }
    Ok((out, k))
}

impl Op for MatMul {
    fn name(&self) -> &'static str {
        "MatMul"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let a = req(inputs, 0, "A")?;
        let b = req(inputs, 1, "B")?;
        Ok(vec![Fact::new(
            a.dtype,
            matmul_shape(&a.shape, &b.shape)?.0,
        )])
    }

    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> Result<Cost> {
        let a = req(inputs, 0, "A")?;
        let b = req(inputs, 1, "B")?;
        let (_, k) = matmul_shape(&a.shape, &b.shape)?;
        let y = crate::numel(&outputs[0].shape).unwrap_or_default();
        Ok(Cost { macs: y.mul(&k) })
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        let (ra, rb) = (ctx.rank(0), ctx.rank(1));
        if !ctx.is_const(1) || rb != 2 || ra < 2 {
            return ChannelRule::Block("MatMul without a constant 2-D weight".into());
        }
        ChannelRule::Dense {
            weight: 1,
            w_in_axis: 0,
            w_out_axis: 1,
            in_axis: ra - 1,
            out_axis: ra - 1,
            bias: None,
            out_broadcast: None,
        }
    }
}
