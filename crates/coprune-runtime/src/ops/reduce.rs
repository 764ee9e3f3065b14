//! Reductions over a set of axes (ReduceMean, ReduceSum share this): axes from the attribute
//! (older opsets) or the constant second input, `keepdims` only changes the inferred shape.

use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::{Result, Value};

/// How the reduced elements combine.
#[derive(Clone, Copy)]
pub enum How {
    Sum,
    Mean,
}

struct Reduce {
    /// Per input axis: its size and the stride of the output element it adds into (0 when
    /// reduced).
    dims: Vec<usize>,
    out_strides: Vec<usize>,
    out: Vec<usize>,
    count: usize,
    /// The reduced axes are the trailing ones: each output sums `count` contiguous inputs.
    trailing: bool,
    how: How,
}

/// Lowers a reduction.
pub fn lower(c: &LowerCtx, how: How) -> Result<Box<dyn Kernel>> {
    let dims = c.in_shape(0)?;
    let r = dims.len() as i64;
    let axes = match c.node.attr_ints("axes")? {
        Some(a) => Some(a),
        None if c.inputs.get(1).copied().flatten().is_some() => {
            let t = c
                .constants
                .get(1)
                .copied()
                .flatten()
                .ok_or_else(|| c.unsupported(" (axes computed at run time)"))?;
            Some(
                t.to_i64_vec()
                    .map_err(|e| c.unsupported(&format!(" (axes: {e})")))?,
            )
        }
        None => None,
    };
    let noop = c.node.attr_int("noop_with_empty_axes", 0)? != 0;
    let mut reduced = vec![false; dims.len()];
    match axes {
        Some(a) if !a.is_empty() => {
            for x in a {
                let x = if x < 0 { x + r } else { x };
                match usize::try_from(x).ok().filter(|&x| x < dims.len()) {
                    Some(x) => reduced[x] = true,
                    None => return Err(c.unsupported(&format!(" (axis {x} of a rank-{r} input)"))),
                }
            }
        }
        _ if noop => {}
        _ => reduced.iter_mut().for_each(|x| *x = true),
    }
    let mut out_strides = vec![0usize; dims.len()];
    let mut s = 1;
    for d in (0..dims.len()).rev() {
        if !reduced[d] {
            out_strides[d] = s;
            s *= dims[d];
        }
    }
    let count = dims
        .iter()
        .zip(&reduced)
        .filter(|(_, &r)| r)
        .map(|(&d, _)| d)
        .product();
    let trailing = reduced
        .iter()
        .position(|&r| r)
        .is_none_or(|first| reduced[first..].iter().all(|&r| r));
    Ok(Box::new(Reduce {
        dims,
        out_strides,
        out: c.out_shape(0)?,
        count,
        trailing,
        how,
    }))
}

impl Kernel for Reduce {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = f32_in(inputs, 0)?;
        let n_out: usize = self.out.iter().product();
        let mut acc = vec![0.0f32; n_out];
        let r = self.dims.len();
        if self.trailing {
            for (a, row) in acc.iter_mut().zip(x.chunks(self.count.max(1))) {
                *a = row.iter().sum();
            }
        } else {
            let mut idx = vec![0usize; r];
            let mut at = 0usize;
            for &v in x {
                acc[at] += v;
                for d in (0..r).rev() {
                    idx[d] += 1;
                    at += self.out_strides[d];
                    if idx[d] < self.dims[d] {
                        break;
                    }
                    at -= self.out_strides[d] * self.dims[d];
                    idx[d] = 0;
                }
            }
        }
        if let How::Mean = self.how {
            let k = self.count.max(1) as f32;
            acc.iter_mut().for_each(|a| *a /= k);
        }
        Ok(vec![Value::f32(self.out.clone(), acc)])
    }
}
