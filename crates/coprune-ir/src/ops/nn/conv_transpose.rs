//! `ConvTranspose`: transposed (fractionally strided) convolution, used by upsampling heads.
//! X [N, C, *in], W [C, M/group, *kernel] → Y [N, M, *out].

use crate::ops::util::req;
use crate::{bail, known_numel, ChannelCtx, ChannelRule, Cost, Dim, Fact, Node, Op, Result};

/// `ConvTranspose` with its spatial attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvTranspose {
    pub kernel: Option<Vec<i64>>,
    pub strides: Option<Vec<i64>>,
    pub pads: Option<Vec<i64>>,
    pub dilations: Option<Vec<i64>>,
    pub output_padding: Option<Vec<i64>>,
    pub output_shape: Option<Vec<i64>>,
    pub auto_pad: String,
    pub group: i64,
}

impl ConvTranspose {
    /// Reads the attributes.
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        let group = node.attr_int("group", 1)?;
        if group < 1 {
            bail!("group must be ≥ 1, found {group}");
        }
        Ok(Box::new(ConvTranspose {
            kernel: node.attr_ints("kernel_shape")?,
            strides: node.attr_ints("strides")?,
            pads: node.attr_ints("pads")?,
            dilations: node.attr_ints("dilations")?,
            output_padding: node.attr_ints("output_padding")?,
            output_shape: node.attr_ints("output_shape")?,
            auto_pad: node.attr_str("auto_pad", "NOTSET")?,
            group,
        }))
    }
}

impl Op for ConvTranspose {
    fn name(&self) -> &'static str {
        "ConvTranspose"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "X")?;
        let w = req(inputs, 1, "W")?;
        if x.rank() < 3 || w.rank() != x.rank() {
            bail!("X and W must both be [N, C, spatial…] of equal rank ≥ 3");
        }
        let n = x.rank() - 2;
        let m = w.shape[1].mul(&Dim::known(self.group));
        let mut shape = vec![x.shape[0].clone(), m];
        if let Some(os) = &self.output_shape {
            let tail = &os[os.len().saturating_sub(n)..];
            shape.extend(tail.iter().map(|&v| Dim::known(v)));
            return Ok(vec![Fact::new(x.dtype, shape)]);
        }
        let kernel = match &self.kernel {
            Some(k) => k.clone(),
            None => w.shape[2..]
                .iter()
                .map(|d| d.as_known().unwrap_or(1))
                .collect(),
        };
        let ones = vec![1; n];
        let strides = self.strides.clone().unwrap_or_else(|| ones.clone());
        let dil = self.dilations.clone().unwrap_or_else(|| ones.clone());
        let pads = self.pads.clone().unwrap_or_else(|| vec![0; 2 * n]);
        let opad = self.output_padding.clone().unwrap_or_else(|| vec![0; n]);
        for i in 0..n {
            let (Some(&k), Some(&s), Some(&d), Some(&op)) =
                (kernel.get(i), strides.get(i), dil.get(i), opad.get(i))
            else {
                bail!("spatial attributes must have {n} entries");
            };
            let xi = &x.shape[2 + i];
            let out = match (self.auto_pad.as_str(), xi.as_known()) {
                ("SAME_UPPER" | "SAME_LOWER", Some(v)) => Dim::known(v * s),
                (_, Some(v)) => {
                    let (Some(&pb), Some(&pe)) = (pads.get(i), pads.get(n + i)) else {
                        bail!("pads must have {} entries", 2 * n);
                    };
                    let pad = if self.auto_pad == "VALID" { 0 } else { pb + pe };
                    Dim::known(s * (v - 1) + op + ((k - 1) * d + 1) - pad)
                }
                (_, None) => Dim::sym(format!("convT({xi};s{s})")),
            };
            shape.push(out);
        }
        Ok(vec![Fact::new(x.dtype, shape)])
    }

    fn cost(&self, inputs: &[Option<&Fact>], _outputs: &[Fact]) -> Result<Cost> {
        // Every input element is multiplied into (M/group) × prod(kernel) outputs.
        let x = req(inputs, 0, "X")?;
        let w = req(inputs, 1, "W")?;
        let per_in = known_numel(&w.shape[1..]).unwrap_or(0) as i64;
        let xn = crate::numel(&x.shape).unwrap_or_default();
        Ok(Cost {
            macs: xn.mul(&Dim::known(per_in)),
        })
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        super::conv::conv_rule(ctx, self.group, true)
    }
}
