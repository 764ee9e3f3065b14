//! `Transpose` kernel (f32, any rank).

use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::{Result, Value};

struct Transpose {
    out: Vec<usize>,
    /// Input stride for each output axis.
    strides: Vec<usize>,
}

/// Lowers `Transpose`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let x = c.in_shape(0)?;
    let r = x.len();
    let perm: Vec<usize> = c
        .node
        .attr_ints("perm")?
        .map(|p| p.iter().map(|&v| v as usize).collect())
        .unwrap_or_else(|| (0..r).rev().collect());
    let mut in_strides = vec![1usize; r];
    for i in (0..r.saturating_sub(1)).rev() {
        in_strides[i] = in_strides[i + 1] * x[i + 1];
    }
    Ok(Box::new(Transpose {
        out: c.out_shape(0)?,
        strides: perm.iter().map(|&p| in_strides[p]).collect(),
    }))
}

impl Kernel for Transpose {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = f32_in(inputs, 0)?;
        let n: usize = self.out.iter().product();
        let r = self.out.len();
        let mut y = Vec::with_capacity(n);
        let mut idx = vec![0usize; r];
        let mut src = 0usize;
        for _ in 0..n {
            y.push(x[src]);
            for d in (0..r).rev() {
                idx[d] += 1;
                src += self.strides[d];
                if idx[d] < self.out[d] {
                    break;
                }
                src -= self.strides[d] * self.out[d];
                idx[d] = 0;
            }
        }
        Ok(vec![Value::f32(self.out.clone(), y)])
    }
}
