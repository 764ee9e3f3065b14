//! `Concat` kernel (f32).

use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::{Result, Value};

struct Concat {
    out: Vec<usize>,
    outer: usize,
    /// Per input: elements per outer slice.
    chunk: Vec<usize>,
}

/// Lowers `Concat`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let out = c.out_shape(0)?;
    let r = out.len() as i64;
    let axis = c.node.attr_int("axis", 0)?;
    let axis = (if axis < 0 { axis + r } else { axis }) as usize;
    let mut chunk = Vec::new();
    for i in 0..c.inputs.len() {
        let s = c.in_shape(i)?;
        chunk.push(s[axis..].iter().product());
    }
    Ok(Box::new(Concat {
        outer: out[..axis].iter().product(),
        out,
        chunk,
    }))
}

impl Kernel for Concat {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let xs: Vec<&[f32]> = (0..self.chunk.len())
            .map(|i| f32_in(inputs, i))
            .collect::<Result<_>>()?;
        let mut y = Vec::with_capacity(self.out.iter().product());
        for o in 0..self.outer {
            for (x, &c) in xs.iter().zip(&self.chunk) {
                y.extend_from_slice(&x[o * c..(o + 1) * c]);
            }
        }
        Ok(vec![Value::f32(self.out.clone(), y)])
    }
}
