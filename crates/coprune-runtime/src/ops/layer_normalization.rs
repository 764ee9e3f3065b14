//! `LayerNormalization` kernel: each row of the trailing axes from `axis` is normalised to zero
//! mean and unit variance, then scaled and shifted; the optional Mean and InvStdDev outputs are
//! written when asked for.

use super::binary::{broadcast_to, bstrides};
use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::{Result, Value};

struct LayerNorm {
    shape: Vec<usize>,
    /// Leading rows, the normalised axes and their length.
    rows: usize,
    tail: Vec<usize>,
    len: usize,
    /// Shape of the statistics outputs (trailing axes set to 1).
    stat: Vec<usize>,
    eps: f32,
    scale: Option<Vec<f32>>,
    bias: Option<Vec<f32>>,
    /// Strides that broadcast Scale/B (when not constants) over the normalised axes.
    param_strides: [Option<Vec<usize>>; 2],
    outputs: usize,
}

/// Lowers `LayerNormalization`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let shape = c.in_shape(0)?;
    let r = shape.len() as i64;
    let axis = c.node.attr_int("axis", -1)?;
    let axis = if axis < 0 { axis + r } else { axis };
    if !(0..r).contains(&axis) {
        return Err(c.unsupported(&format!(" (axis {axis} of a rank-{r} input)")));
    }
    let a = axis as usize;
    let tail = shape[a..].to_vec();
    let len: usize = tail.iter().product();
    let mut consts: [Option<Vec<f32>>; 2] = [None, None];
    let mut param_strides: [Option<Vec<usize>>; 2] = [None, None];
    for (k, input) in [1usize, 2].into_iter().enumerate() {
        if c.inputs.get(input).copied().flatten().is_none() {
            continue;
        }
        let s = c.in_shape(input)?;
        if s.len() > tail.len()
            || s.iter()
                .rev()
                .zip(tail.iter().rev())
                .any(|(&p, &t)| p != 1 && p != t)
        {
            return Err(c.unsupported(&format!(
                " (input {input} of shape {s:?} does not broadcast to {tail:?})"
            )));
        }
        let strides = bstrides(&s, &tail);
        match c.const_f32(input) {
            Some(v) => consts[k] = Some(broadcast_to(&v, &strides, &tail)),
            None => param_strides[k] = Some(strides),
        }
    }
    let mut stat = shape.clone();
    for d in stat.iter_mut().skip(a) {
        *d = 1;
    }
    let [scale, bias] = consts;
    Ok(Box::new(LayerNorm {
        rows: shape[..a].iter().product(),
        tail,
        len,
        shape,
        stat,
        eps: c.node.attr_float("epsilon", 1e-5)?,
        scale,
        bias,
        param_strides,
        outputs: c.node.outputs.len(),
    }))
}

impl Kernel for LayerNorm {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = f32_in(inputs, 0)?;
        let param = |k: usize, input: usize| -> Result<Option<std::borrow::Cow<'_, [f32]>>> {
            let fixed = if k == 0 { &self.scale } else { &self.bias };
            if let Some(v) = fixed {
                return Ok(Some(std::borrow::Cow::Borrowed(v.as_slice())));
            }
            match &self.param_strides[k] {
                Some(s) => Ok(Some(std::borrow::Cow::Owned(broadcast_to(
                    f32_in(inputs, input)?,
                    s,
                    &self.tail,
                )))),
                None => Ok(None),
            }
        };
        let (scale, bias) = (param(0, 1)?, param(1, 2)?);
        let mut y = vec![0.0f32; x.len()];
        let mut means = Vec::with_capacity(self.rows);
        let mut inv = Vec::with_capacity(self.rows);
        let n = self.len as f32;
        for (row, out) in x.chunks(self.len.max(1)).zip(y.chunks_mut(self.len.max(1))) {
            let mean = row.iter().sum::<f32>() / n;
            let var = row.iter().map(|&v| (v - mean) * (v - mean)).sum::<f32>() / n;
            let is = 1.0 / (var + self.eps).sqrt();
            for (j, (o, &v)) in out.iter_mut().zip(row).enumerate() {
                let mut t = (v - mean) * is;
                if let Some(s) = &scale {
                    t *= s[j];
                }
                if let Some(b) = &bias {
                    t += b[j];
                }
                *o = t;
            }
            means.push(mean);
            inv.push(is);
        }
        let mut outs = vec![Value::f32(self.shape.clone(), y)];
        if self.outputs > 1 {
            outs.push(Value::f32(self.stat.clone(), means));
        }
        if self.outputs > 2 {
            outs.push(Value::f32(self.stat.clone(), inv));
        }
        Ok(outs)
    }
}
