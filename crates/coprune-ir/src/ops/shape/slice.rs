//! `Slice`: start/end/step per axis (inputs from opset 10, attributes before). Known sizes are
//! computed exactly with numpy clamping; tracked 1-D values are sliced too.

use crate::ops::util::{norm_axis, opt, req, tracked, wrap_axis};
use crate::{bail, ChannelCtx, ChannelRule, ConstValue, Dim, Fact, Node, Op, Result};

/// Pre-opset-10 attributes: starts, ends and optional axes.
pub type SliceAttrs = (Vec<i64>, Vec<i64>, Option<Vec<i64>>);

/// `Slice(data, starts, ends, axes?, steps?)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    /// (starts, ends, axes) from attributes, opset < 10.
    pub attrs: Option<SliceAttrs>,
}

impl Slice {
    /// Reads the pre-opset-10 attributes.
    pub fn build(node: &Node, opset: i64) -> Result<Box<dyn Op>> {
        let attrs = if opset < 10 {
            let (Some(s), Some(e)) = (node.attr_ints("starts")?, node.attr_ints("ends")?) else {
                bail!("attributes starts and ends are required before opset 10");
            };
            Some((s, e, node.attr_ints("axes")?))
        } else {
            None
        };
        Ok(Box::new(Slice { attrs }))
    }
}

/// Clamped (start, length) of a numpy slice over `dim` elements.
pub fn slice_len(dim: i64, start: i64, end: i64, step: i64) -> (i64, i64) {
    let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
    let norm = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
    if step > 0 {
        let s = clamp(norm(start), 0, dim);
        let e = clamp(norm(end), 0, dim);
        (s, ((e - s).max(0) + step - 1) / step)
    } else {
        let s = clamp(norm(start), -1, dim - 1);
        let e = clamp(norm(end), -1, dim - 1);
        (s, ((s - e).max(0) + (-step) - 1) / (-step))
    }
}

impl Op for Slice {
    fn name(&self) -> &'static str {
        "Slice"
    }

    fn output_facts(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>> {
        let x = req(inputs, 0, "data")?;
        let ints = |i: usize, what: &str| -> Result<Option<Vec<i64>>> {
            match opt(inputs, i) {
                None => Ok(None),
                Some(f) => match f.known_ints() {
                    Some(v) => Ok(Some(v)),
                    None => bail!("{what} are computed at run time; cannot infer the output shape"),
                },
            }
        };
        let (starts, ends, axes, steps) = match &self.attrs {
            Some((s, e, a)) => (s.clone(), e.clone(), a.clone(), None),
            None => (
                ints(1, "starts")?.unwrap_or_default(),
                ints(2, "ends")?.unwrap_or_default(),
                ints(3, "axes")?,
                ints(4, "steps")?,
            ),
        };
        if starts.len() != ends.len() {
            bail!(
                "starts ({}) and ends ({}) differ in length",
                starts.len(),
                ends.len()
            );
        }
        let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
        if axes.len() != starts.len() || steps.len() != starts.len() {
            bail!("starts, ends, axes and steps must have equal lengths");
        }
        let mut shape = x.shape.clone();
        let mut value = x.ints().map(<[Dim]>::to_vec);
        for i in 0..starts.len() {
            let ax = norm_axis(axes[i], x.rank())?;
            if steps[i] == 0 {
                bail!("step on axis {ax} is 0");
            }
            match x.shape[ax].as_known() {
                Some(d) => {
                    let (s, len) = slice_len(d, starts[i], ends[i], steps[i]);
                    shape[ax] = Dim::known(len);
                    if let (Some(v), 0) = (&mut value, ax) {
                        *v = (0..len)
                            .map(|k| v[(s + k * steps[i]) as usize].clone())
                            .collect();
                    }
                }
                None => {
                    value = None;
                    shape[ax] = if starts[i] == 0 && ends[i] >= i32::MAX as i64 && steps[i] == 1 {
                        x.shape[ax].clone()
                    } else {
                        Dim::sym(format!(
                            "slice({};{}:{}:{})",
                            x.shape[ax], starts[i], ends[i], steps[i]
                        ))
                    };
                }
            }
        }
        let value = tracked(&shape, value.map(ConstValue::Ints));
        Ok(vec![Fact {
            dtype: x.dtype,
            shape,
            value,
        }])
    }

    fn channel_rule(&self, ctx: &ChannelCtx) -> ChannelRule {
        let Some(c) = ctx.axis(0) else {
            return ChannelRule::Elementwise;
        };
        let x = ctx.inputs.first().copied().flatten();
        let r = ctx.rank(0);
        let ints = |i: usize| {
            ctx.inputs
                .get(i)
                .copied()
                .flatten()
                .and_then(|f| f.known_ints())
        };
        let (starts, ends, axes, steps) = match &self.attrs {
            Some((s, e, a)) => (Some(s.clone()), Some(e.clone()), a.clone(), None),
            None => (ints(1), ints(2), ints(3), ints(4)),
        };
        let (Some(starts), Some(ends)) = (starts, ends) else {
            return ChannelRule::Block("Slice with run-time bounds".into());
        };
        let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let Some(k) = axes.iter().position(|&a| wrap_axis(a, r) == c as i64) else {
            return ChannelRule::Elementwise;
        };
        let step = steps.as_ref().and_then(|s| s.get(k).copied()).unwrap_or(1);
        let dim = x.and_then(|f| f.shape.get(c)).and_then(|d| d.as_known());
        match (dim, starts.get(k), ends.get(k)) {
            (Some(n), Some(&s0), Some(&e0)) if step != 0 && n > 0 => ChannelRule::Range {
                axis: c,
                picks: picks(n, s0, e0, step),
                index: k,
            },
            _ => ChannelRule::Block("Slice of the channel axis with unknown bounds".into()),
        }
    }
}

/// The positions a Slice with these bounds takes from an axis of `n` elements, in output order
/// (ONNX clamping rules: for a negative step the start is clamped to n-1 and the end to -1).
pub fn picks(n: i64, start: i64, end: i64, step: i64) -> Vec<usize> {
    let wrap = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
    let (s, e) = if step > 0 {
        (wrap(start).clamp(0, n), wrap(end).clamp(0, n))
    } else {
        (wrap(start).clamp(-1, n - 1), wrap(end).clamp(-1, n - 1))
    };
    let mut out = Vec::new();
    let mut i = s;
    while (step > 0 && i < e) || (step < 0 && i > e) {
        out.push(i as usize);
        i += step;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::picks;

    #[test]
    fn picks_follow_onnx_clamping() {
        assert_eq!(picks(8, 1, 7, 2), vec![1, 3, 5]);
        assert_eq!(picks(8, 0, i64::MAX, 3), vec![0, 3, 6]);
        assert_eq!(picks(5, -1, i64::MIN, -1), vec![4, 3, 2, 1, 0]);
        assert_eq!(picks(5, 10, -10, -2), vec![4, 2, 0]);
        assert_eq!(picks(6, -2, 100, 1), vec![4, 5]);
        assert!(picks(6, 4, 2, 1).is_empty());
    }
}
