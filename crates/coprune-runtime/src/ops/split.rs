//! `Split` kernel (f32), sizes from the inferred output shapes.

use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::{Result, Value};

struct Split {
    outs: Vec<Vec<usize>>,
    outer: usize,
    chunk: Vec<usize>,
}

/// Lowers `Split`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let x = c.in_shape(0)?;
    let r = x.len() as i64;
    let axis = c.node.attr_int("axis", 0)?;
    let axis = (if axis < 0 { axis + r } else { axis }) as usize;
    let outs: Vec<Vec<usize>> = (0..c.outputs.len())
        .map(|i| c.out_shape(i))
        .collect::<Result<_>>()?;
    Ok(Box::new(Split {
        chunk: outs.iter().map(|s| s[axis..].iter().product()).collect(),
        outer: x[..axis].iter().product(),
        outs,
    }))
}

impl Kernel for Split {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = f32_in(inputs, 0)?;
        let total: usize = self.chunk.iter().sum();
        let mut ys: Vec<Vec<f32>> = self
            .chunk
            .iter()
            .map(|c| Vec::with_capacity(c * self.outer))
            .collect();
        for o in 0..self.outer {
            let mut off = o * total;
            for (y, &c) in ys.iter_mut().zip(&self.chunk) {
                y.extend_from_slice(&x[off..off + c]);
                off += c;
            }
        }
        Ok(ys
            .into_iter()
            .zip(&self.outs)
            .map(|(y, s)| Value::f32(s.clone(), y))
            .collect())
    }
}
