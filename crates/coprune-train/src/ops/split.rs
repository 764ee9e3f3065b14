//! `Split` along one axis (sizes from the inferred output shapes); the input gradient is the
//! output gradients put back side by side.

use crate::kernel::{input, needs, Buf, Forward, GradKernel};
use crate::Result;
use coprune_runtime::LowerCtx;

struct Split {
    outs: Vec<Vec<usize>>,
    outer: usize,
    /// Elements of each output per outer index.
    chunk: Vec<usize>,
}

/// Lowers `Split`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    let x = c.in_shape(0)?;
    let r = x.len() as i64;
    let axis = c.node.attr_int("axis", 0)?;
    let axis = (if axis < 0 { axis + r } else { axis }).clamp(0, r.max(1) - 1) as usize;
    let outs: Vec<Vec<usize>> = (0..c.outputs.len())
        .map(|i| c.out_shape(i))
        .collect::<coprune_runtime::Result<_>>()?;
    Ok(Box::new(Split {
        chunk: outs.iter().map(|s| s[axis..].iter().product()).collect(),
        outer: x[..axis].iter().product(),
        outs,
    }))
}

impl GradKernel for Split {
    fn forward(&self, x: &[Option<&Buf>], _train: bool) -> Result<Forward> {
        let xb = input(x, 0)?;
        let total: usize = self.chunk.iter().sum();
        let mut ys: Vec<Vec<f32>> = self
            .chunk
            .iter()
            .map(|c| Vec::with_capacity(c * self.outer))
            .collect();
        for o in 0..self.outer {
            let mut off = o * total;
            for (y, &c) in ys.iter_mut().zip(&self.chunk) {
                y.extend_from_slice(&xb.data[off..off + c]);
                off += c;
            }
        }
        Ok(Forward {
            outputs: ys
                .into_iter()
                .zip(&self.outs)
                .map(|(d, s)| Buf::new(s.clone(), d))
                .collect(),
            state: Vec::new(),
        })
    }

    fn backward(
        &self,
        x: &[Option<&Buf>],
        _y: &[&Buf],
        dy: &[&Buf],
        need: &[bool],
    ) -> Result<Vec<Option<Buf>>> {
        let mut out = vec![None; x.len()];
        if needs(need, 0) {
            let xb = input(x, 0)?;
            let mut dx = Vec::with_capacity(xb.len());
            for o in 0..self.outer {
                for (d, &c) in dy.iter().zip(&self.chunk) {
                    dx.extend_from_slice(&d.data[o * c..(o + 1) * c]);
                }
            }
            out[0] = Some(Buf::new(xb.shape.clone(), dx));
        }
        Ok(out)
    }
}
