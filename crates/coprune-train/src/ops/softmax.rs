//! `Softmax` along one axis (opset 13 semantics, as the runtime); dx = y ⊙ (dy − Σ dy ⊙ y).

use crate::kernel::{input, needs, Buf, Forward, GradKernel};
use crate::Result;
use coprune_runtime::LowerCtx;

struct Softmax {
    n: usize,
    inner: usize,
}

/// Lowers `Softmax`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    let shape = c.in_shape(0)?;
    let r = shape.len() as i64;
    let axis = c.node.attr_int("axis", -1)?;
    let axis = (if axis < 0 { axis + r } else { axis }).clamp(0, r.max(1) - 1) as usize;
    Ok(Box::new(Softmax {
        n: shape.get(axis).copied().unwrap_or(1),
        inner: shape.get(axis + 1..).map_or(1, |s| s.iter().product()),
    }))
}

impl GradKernel for Softmax {
    fn forward(&self, x: &[Option<&Buf>], _train: bool) -> Result<Forward> {
        let xb = input(x, 0)?;
        let (n, inner) = (self.n, self.inner);
        let mut y = xb.data.clone();
        coprune_runtime::ops::softmax::softmax_in_place(&mut y, n, inner);
        Ok(Forward::one(Buf::new(xb.shape.clone(), y)))
    }

    fn backward(
        &self,
        x: &[Option<&Buf>],
        y: &[&Buf],
        dy: &[&Buf],
        need: &[bool],
    ) -> Result<Vec<Option<Buf>>> {
        let mut out = vec![None; x.len()];
        if !needs(need, 0) {
            return Ok(out);
        }
        let (n, inner) = (self.n, self.inner);
        let mut dx = vec![0f32; y[0].len()];
        for ((d, ys), gs) in dx
            .chunks_mut(n * inner)
            .zip(y[0].data.chunks(n * inner))
            .zip(dy[0].data.chunks(n * inner))
        {
            for i in 0..inner {
                let dot: f32 = (0..n).map(|j| ys[j * inner + i] * gs[j * inner + i]).sum();
                for j in 0..n {
                    let k = j * inner + i;
                    d[k] = ys[k] * (gs[k] - dot);
                }
            }
        }
        out[0] = Some(Buf::new(y[0].shape.clone(), dx));
        Ok(out)
    }
}
