//! `Reshape`: new shape from the second input; 0 copies the input dim (unless allowzero), -1 is
//! inferred from the element count (symbolic counts divide exactly: `[N, seq, 768] → [-1, 768]`
//! gives `N*seq`).

use crate::ops::util::{req, tracked};
use crate::{bail, numel, shape_to_string, ChannelCtx, ChannelRule, Dim, Fact, Node, Op, Result};

/// `Reshape(data, shape)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reshape {
    pub allowzero: bool,
}

impl Reshape {
    /// Reads allowzero.
    pub fn build(node: &Node, _opset: i64) -> Result<Box<dyn Op>> {
        Ok(Box::new(Reshape {
            allowzero: node.attr_int("allowzero", 0)? != 0,
        }))
    }
}

/// Resolves a target shape spec (with 0 and -1) against the input shape.
pub fn resolve_shape(input: &[Dim], spec: &[Dim], allowzero: bool) -> Result<Vec<Dim>> {
    let mut out = Vec::with_capacity(spec.len());
    let mut infer_at = None;
    for (i, d) in spec.iter().enumerate() {
        match d.as_known() {
            Some(0) if !allowzero => match input.get(i) {
                Some(x) => out.push(x.clone()),
                None => bail!(
                    "shape {} copies axis {i} (0), which the input {} lacks",
                    shape_to_string(spec),
                    shape_to_string(input)
                ),
            },
            Some(-1) => {
                if infer_at.replace(i).is_some() {
                    bail!("shape {} has more than one -1", shape_to_string(spec));
                }
                out.push(Dim::known(1));
            }
            Some(v) if v < -1 => bail!("shape {} has a negative dimension", shape_to_string(spec)),
            _ => out.push(d.clone()),
        }
    }
    let total =
        numel(input).ok_or_else(|| crate::IrError::Invalid("element count overflows".into()))?;
    if let Some(i) = infer_at {
        let rest =
            numel(&out).ok_or_else(|| crate::IrError::Invalid("element count overflows".into()))?;
        out[i] = match total.div_exact(&rest) {
            Some(d) => d,
            None if total.is_symbolic() || rest.is_symbolic() => {
                Dim::sym(format!("({total})/({rest})"))
            }
            None => bail!(
                "cannot reshape {} ({total} elements) to {}",
                shape_to_string(input),
                shape_to_string(spec)
            ),
        };
    } else if let (Some(a), Some(b)) = (total.as_known(), numel(&out).and_then(|d| d.as_known())) {
        if a != b {
            bail!(
                "cannot reshape {} ({a} elements) to {} ({b} elements)",
                shape_to_string(input),
                shape_to_string(&out)
            );
        }
    }
    Ok(out)
}

impl Op for Reshape {
    fn name(&self) -> &'static str {
        "Reshape"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "data")?;
        let s = req(inputs, 1, "shape")?;
        let Some(spec) = s.ints() else {
            bail!("the target shape is computed at run time; only constant or shape-derived targets can be inferred");
        };
        let shape = resolve_shape(&x.shape, spec, self.allowzero)?;
        let value = tracked(&shape, x.value.clone());
        Ok(vec![Fact {
            dtype: x.dtype,
            shape,
            value,
        }])
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        let (Some(x), Some(y)) = (ctx.inputs.first().copied().flatten(), ctx.outputs.first())
        else {
            return ChannelRule::Block("Reshape without facts".into());
        };
        let Some(c) = ctx.axis(0) else {
            return ChannelRule::Elementwise;
        };
        // [N, C, rest…] → [N, C·rest]: a flatten.
        if c == 1 && y.rank() == 2 && x.rank() >= 2 && x.shape[0] == y.shape[0] {
            if let Some(inner) = crate::known_numel(&x.shape[2..]) {
                if crate::known_numel(&y.shape[1..]) == crate::known_numel(&x.shape[1..]) {
                    return ChannelRule::Flatten {
                        inner: inner as usize,
                    };
                }
            }
        }
        // Same leading dims up to and including the channel axis: the axis stays where it is.
        if y.rank() > c && x.shape[..=c] == y.shape[..=c] {
            let rest_x = crate::known_numel(&x.shape[c + 1..]);
            if rest_x.is_some() && rest_x == crate::known_numel(&y.shape[c + 1..]) {
                return ChannelRule::Elementwise;
            }
        }
        ChannelRule::Block(format!(
            "Reshape {} → {} mixes the channel axis {c} with others",
            crate::shape_to_string(&x.shape),
            crate::shape_to_string(&y.shape)
        ))
    }
}
