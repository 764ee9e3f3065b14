//! `Resize` (and `Upsample`, its predecessor): output size from `sizes`, or input × `scales`
//! rounded down.

use crate::ops::util::{opt, req};
use crate::{bail, ChannelCtx, ChannelRule, Dim, Fact, Node, Op, Result};

/// `Resize(X, roi?, scales?, sizes?)`; `Upsample(X, scales)` uses input 1 for scales.
#[derive(Debug, Clone, PartialEq)]
pub struct Resize {
    /// Input index of scales (2 for Resize from opset 11, 1 for Resize-10 and Upsample).
    pub scales_input: usize,
    pub attr_scales: Option<Vec<f32>>,
}

impl Resize {
    /// Resize.
    pub fn build(node: &Node, opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Resize {
            scales_input: if opset < 11 { 1 } else { 2 },
            attr_scales: node.attr_floats("scales")?,
        }))
    }
}

impl Op for Resize {
    fn name(&self) -> &'static str {
        "Resize"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "X")?;
        if let Some(sizes) = opt(inputs, 3).filter(|f| f.ints().is_some_and(|v| !v.is_empty())) {
            let s = sizes.ints().unwrap_or_default();
            if s.len() != x.rank() {
                bail!("{} sizes for rank {}", s.len(), x.rank());
            }
            return Ok(vec![Fact::new(x.dtype, s.to_vec())]);
        }
        let scales = match (&self.attr_scales, opt(inputs, self.scales_input)) {
            (Some(s), _) => s.iter().map(|&v| v as f64).collect(),
            (None, Some(f)) => match f.known_f64() {
                Some(v) => v,
                None => {
                    bail!("scales/sizes are computed at run time; cannot infer the output shape")
                }
            },
            (None, None) => bail!("neither scales nor sizes is given"),
        };
        if scales.len() != x.rank() {
            bail!("{} scales for rank {}", scales.len(), x.rank());
        }
        let shape = x
            .shape
            .iter()
            .zip(&scales)
            .map(|(d, &s)| match d.as_known() {
                Some(v) => Dim::known((v as f64 * s).floor() as i64),
                None if s == 1.0 => d.clone(),
                None => Dim::sym(format!("({d}*{s})")),
            })
            .collect();
        Ok(vec![Fact::new(x.dtype, shape)])
    }

    fn learned_input(&self, _index: usize) -> bool {
        false
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        let Some(c) = ctx.axis(0) else {
            return ChannelRule::Elementwise;
        };
        if ctx.inputs.get(3).copied().flatten().is_some() {
            return ChannelRule::Block(
                "Resize with explicit sizes (they name the channel count)".into(),
            );
        }
        let scales = match &self.attr_scales {
            Some(s) => Some(s.iter().map(|&v| v as f64).collect::<Vec<_>>()),
            None => ctx
                .inputs
                .get(self.scales_input)
                .copied()
                .flatten()
                .and_then(|f| f.known_f64()),
        };
        match scales {
            Some(s) if s.get(c) == Some(&1.0) => ChannelRule::Elementwise,
            _ => ChannelRule::Block("Resize that may scale the channel axis".into()),
        }
    }
}
