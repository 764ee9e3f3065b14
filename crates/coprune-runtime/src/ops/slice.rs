//! `Slice` kernel (any steps, f32 or integer data). Bounds come from the attributes (opset < 10)
//! or from the integer inputs, read when the kernel runs.

use crate::kernel::{value_in, Kernel, LowerCtx};
use crate::{Result, RuntimeError, Value};
use coprune_ir::ops::shape::slice::slice_len;

/// Opset < 10 bounds: starts, ends and (optional) axes attributes.
type Bounds = (Vec<i64>, Vec<i64>, Option<Vec<i64>>);

struct Slice {
    input: Vec<usize>,
    out: Vec<usize>,
    /// Opset < 10: (starts, ends, axes) attributes.
    attrs: Option<Bounds>,
}

/// Lowers `Slice`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let attrs = match c.node.attr_ints("starts")? {
        Some(starts) => Some((
            starts,
            c.node.attr_ints("ends")?.unwrap_or_default(),
            c.node.attr_ints("axes")?,
        )),
        None => None,
    };
    Ok(Box::new(Slice {
        input: c.in_shape(0)?,
        out: c.out_shape(0)?,
        attrs,
    }))
}

fn ints(inputs: &[Option<&Value>], i: usize) -> Result<Option<Vec<i64>>> {
    match inputs.get(i).copied().flatten() {
        None => Ok(None),
        Some(Value::I64 { data, .. }) => Ok(Some(data.clone())),
        Some(_) => Err(RuntimeError::Input {
            name: format!("Slice input {i}"),
            msg: "expected an integer tensor".into(),
        }),
    }
}

fn take<T: Copy>(
    data: &[T],
    input: &[usize],
    out: &[usize],
    start: &[i64],
    step: &[i64],
) -> Vec<T> {
    let r = input.len();
    let mut stride = vec![1i64; r];
    for d in (0..r.saturating_sub(1)).rev() {
        stride[d] = stride[d + 1] * input[d + 1] as i64;
    }
    let n: usize = out.iter().product();
    let mut y = Vec::with_capacity(n);
    if n == 0 {
        return y;
    }
    let mut idx = vec![0usize; r];
    let mut at: i64 = (0..r).map(|d| start[d] * stride[d]).sum();
    for _ in 0..n {
        y.push(data[at as usize]);
        for d in (0..r).rev() {
            idx[d] += 1;
            at += step[d] * stride[d];
            if idx[d] < out[d] {
                break;
            }
            at -= step[d] * stride[d] * out[d] as i64;
            idx[d] = 0;
        }
    }
    y
}

impl Kernel for Slice {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = value_in(inputs, 0)?;
        let (starts, ends, axes, steps) = match &self.attrs {
            Some((s, e, a)) => (s.clone(), e.clone(), a.clone(), None),
            None => {
                let need = |i: usize, what: &str| -> Result<Vec<i64>> {
                    ints(inputs, i)?.ok_or_else(|| RuntimeError::Input {
                        name: format!("Slice {what}"),
                        msg: "missing".into(),
                    })
                };
                (
                    need(1, "starts")?,
                    need(2, "ends")?,
                    ints(inputs, 3)?,
                    ints(inputs, 4)?,
                )
            }
        };
        let r = self.input.len();
        let mut start = vec![0i64; r];
        let mut step = vec![1i64; r];
        let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        for (k, &a) in axes.iter().enumerate() {
            let a = if a < 0 { a + r as i64 } else { a };
            let (Some(&s), Some(&e), Ok(a)) = (starts.get(k), ends.get(k), usize::try_from(a))
            else {
                continue;
            };
            if a >= r {
                continue;
            }
            let st = steps.as_ref().and_then(|v| v.get(k).copied()).unwrap_or(1);
            if st == 0 {
                return Err(RuntimeError::Input {
                    name: "Slice steps".into(),
                    msg: format!("step 0 on axis {a}"),
                });
            }
            let (s0, len) = slice_len(self.input[a] as i64, s, e, st);
            if len != self.out[a] as i64 {
                return Err(RuntimeError::Input {
                    name: "Slice".into(),
                    msg: format!(
                        "bounds give {len} elements on axis {a}, the model says {}",
                        self.out[a]
                    ),
                });
            }
            start[a] = s0;
            step[a] = st;
        }
        Ok(vec![match x {
            Value::F32 { data, .. } => Value::f32(
                self.out.clone(),
                take(data, &self.input, &self.out, &start, &step),
            ),
            Value::I64 { data, .. } => Value::I64 {
                shape: self.out.clone(),
                data: take(data, &self.input, &self.out, &start, &step),
            },
        }])
    }
}
