//! `Conv`: N-d convolution, grouped and depthwise included.
//! X [N, C, *spatial], W [M, C/group, *kernel], optional B [M] → Y [N, M, *out].

use crate::ops::util::{req, Window};
use crate::{bail, known_numel, ChannelCtx, ChannelRule, Cost, Dim, Fact, Node, Op, Result};

/// `Conv` with its spatial attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv {
    pub window: Window,
    pub group: i64,
}

impl Conv {
    /// Reads the attributes; the kernel shape may come from the weight at inference.
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        let group = node.attr_int("group", 1)?;
        if group < 1 {
            bail!("group must be ≥ 1, found {group}");
        }
        Ok(Box::new(Conv {
            window: Window::from_node(node, None)?,
            group,
        }))
    }

    fn window_for(&self, w: &Fact) -> Window {
        let mut win = self.window.clone();
        if win.kernel.is_empty() {
            win.kernel = w.shape[2..]
                .iter()
                .map(|d| d.as_known().unwrap_or(1))
                .collect();
            let n = win.kernel.len();
            if win.strides.is_empty() {
                win.strides = vec![1; n];
            }
            if win.pads.is_empty() {
                win.pads = vec![0; 2 * n];
            }
            if win.dilations.is_empty() {
                win.dilations = vec![1; n];
            }
        }
        win
    }
}

impl Op for Conv {
    fn name(&self) -> &'static str {
        "Conv"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "X")?;
        let w = req(inputs, 1, "W")?;
        if x.rank() < 3 || w.rank() != x.rank() {
            bail!(
                "X {} and W {} must both be [N, C, spatial…] of equal rank ≥ 3",
                crate::shape_to_string(&x.shape),
                crate::shape_to_string(&w.shape)
            );
        }
        if let (Some(c), Some(wc)) = (x.shape[1].as_known(), w.shape[1].as_known()) {
            if c != wc * self.group {
                bail!(
                    "X has {c} channels but W {} × group {} expects {}",
                    crate::shape_to_string(&w.shape),
                    self.group,
                    wc * self.group
                );
            }
        }
        let spatial = self.window_for(w).output(&x.shape[2..])?;
        let mut shape = vec![x.shape[0].clone(), w.shape[0].clone()];
        shape.extend(spatial);
        Ok(vec![Fact::new(x.dtype, shape)])
    }

    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> Result<Cost> {
        // MACs = |Y| × (C/group) × prod(kernel) = |Y| × |W| / M.
        let w = req(inputs, 1, "W")?;
        let per_out = known_numel(&w.shape[1..]).unwrap_or(0) as i64;
        let y = crate::numel(&outputs[0].shape).unwrap_or_default();
        Ok(Cost {
            macs: y.mul(&Dim::known(per_out)),
        })
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        conv_rule(ctx, self.group, false)
    }
}

/// How channels pass a convolution (`transposed`: ConvTranspose, weight [C, M/group, k…]) with
/// `group` groups: dense, depthwise, grouped, or blocked when the counts do not divide.
pub(crate) fn conv_rule(ctx: &ChannelCtx, group: i64, transposed: bool) -> ChannelRule {
    let op = if transposed { "ConvTranspose" } else { "Conv" };
    if !ctx.is_const(1) {
        return ChannelRule::Block(format!("{op} with a weight computed at run time"));
    }
    let cin = ctx
        .inputs
        .first()
        .copied()
        .flatten()
        .and_then(|x| x.shape.get(1)?.as_known());
    let cout = ctx.outputs.first().and_then(|y| y.shape.get(1)?.as_known());
    let bias = ctx.inputs.get(2).copied().flatten().map(|_| 2);
    let (w_in_axis, w_out_axis) = if transposed { (0, 1) } else { (1, 0) };
    match (group, cin, cout) {
        (1, _, _) => ChannelRule::Dense {
            weight: 1,
            w_in_axis,
            w_out_axis,
            in_axis: 1,
            out_axis: 1,
            bias,
            out_broadcast: None,
        },
        (g, Some(ci), Some(co)) if g == ci && co % ci == 0 => ChannelRule::Depthwise {
            weight: 1,
            bias,
            multiplier: (co / ci) as usize,
            transposed,
        },
        (g, Some(ci), Some(co)) if ci % g == 0 && co % g == 0 => ChannelRule::Grouped {
            weight: 1,
            bias,
            groups: g as usize,
            transposed,
        },
        (g, _, _) => ChannelRule::Block(format!(
            "grouped {op} (group={g}) with unknown or indivisible channel counts"
        )),
    }
}
