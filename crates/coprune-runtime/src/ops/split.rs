//! `Split` kernel (f32), sizes from the inferred output shapes. The geometry is shared with the
//! trainer, whose backward pass joins the parts again.

use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::{Result, Value};

/// How one input splits into outputs along an axis.
pub struct SplitGeom {
    /// Output shapes.
    pub outs: Vec<Vec<usize>>,
    /// Product of the dims before the axis.
    outer: usize,
    /// Elements of each output per outer index.
    chunk: Vec<usize>,
}

impl SplitGeom {
    /// Reads the geometry of a `Split` node.
    pub fn from_ctx(c: &LowerCtx) -> Result<SplitGeom> {
        let x = c.in_shape(0)?;
        let r = x.len() as i64;
        let axis = c.node.attr_int("axis", 0)?;
        let axis = (if axis < 0 { axis + r } else { axis }).clamp(0, r.max(1) - 1) as usize;
        let outs: Vec<Vec<usize>> = (0..c.outputs.len())
            .map(|i| c.out_shape(i))
            .collect::<Result<_>>()?;
        Ok(SplitGeom {
            chunk: outs.iter().map(|s| s[axis..].iter().product()).collect(),
            outer: x[..axis].iter().product(),
            outs,
        })
    }

    /// The parts of `x`, one per output.
    pub fn split(&self, x: &[f32]) -> Vec<Vec<f32>> {
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
        ys
    }

    /// The inverse of [`SplitGeom::split`]: the parts put back side by side.
    pub fn join(&self, parts: &[&[f32]]) -> Vec<f32> {
        let total: usize = self.chunk.iter().sum();
        let mut x = Vec::with_capacity(total * self.outer);
        for o in 0..self.outer {
            for (p, &c) in parts.iter().zip(&self.chunk) {
                x.extend_from_slice(&p[o * c..(o + 1) * c]);
            }
        }
        x
    }
}

/// Lowers `Split`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    Ok(Box::new(SplitGeom::from_ctx(c)?))
}

impl Kernel for SplitGeom {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = f32_in(inputs, 0)?;
        Ok(self
            .split(x)
            .into_iter()
            .zip(&self.outs)
            .map(|(y, s)| Value::f32(s.clone(), y))
            .collect())
    }
}
