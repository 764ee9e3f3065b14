//! `Gather` kernel: slices of `data` along `axis` picked by integer indices (negative indices
//! count from the end), for f32 and integer data.

use crate::kernel::{value_in, Kernel, LowerCtx};
use crate::{Result, RuntimeError, Value};

struct Gather {
    /// Product of the data dims before the axis, the axis length, and the product after it.
    outer: usize,
    axis_len: usize,
    inner: usize,
    out: Vec<usize>,
}

/// Lowers `Gather`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let data = c.in_shape(0)?;
    let r = data.len() as i64;
    let axis = c.node.attr_int("axis", 0)?;
    let axis = if axis < 0 { axis + r } else { axis };
    if !(0..r).contains(&axis) {
        return Err(c.unsupported(&format!(" (axis {axis} of a rank-{r} tensor)")));
    }
    let a = axis as usize;
    Ok(Box::new(Gather {
        outer: data[..a].iter().product(),
        axis_len: data[a],
        inner: data[a + 1..].iter().product(),
        out: c.out_shape(0)?,
    }))
}

fn pick<T: Copy>(g: &Gather, data: &[T], idx: &[i64]) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(g.outer * idx.len() * g.inner);
    for o in 0..g.outer {
        for &i in idx {
            let j = if i < 0 { i + g.axis_len as i64 } else { i };
            if !(0..g.axis_len as i64).contains(&j) {
                return Err(RuntimeError::Input {
                    name: "indices".into(),
                    msg: format!("index {i} outside an axis of {}", g.axis_len),
                });
            }
            let start = (o * g.axis_len + j as usize) * g.inner;
            out.extend_from_slice(&data[start..start + g.inner]);
        }
    }
    Ok(out)
}

impl Kernel for Gather {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let data = value_in(inputs, 0)?;
        let Some(Value::I64 { data: idx, .. }) = inputs.get(1).copied().flatten() else {
            return Err(RuntimeError::Input {
                name: "indices".into(),
                msg: "expected an integer tensor".into(),
            });
        };
        Ok(vec![match data {
            Value::F32 { data, .. } => Value::f32(self.out.clone(), pick(self, data, idx)?),
            Value::I64 { data, .. } => Value::I64 {
                shape: self.out.clone(),
                data: pick(self, data, idx)?,
            },
        }])
    }
}
