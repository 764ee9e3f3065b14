//! `MaxPool` and `AveragePool` (2-D) share the runtime's window geometry. Max pooling routes the
//! gradient to the first maximum of each window (as PyTorch does); average pooling spreads it
//! over the window by the same divisor as the forward pass.

use crate::kernel::{input, needs, Buf, Forward, GradKernel};
use crate::Result;
use coprune_runtime::ops::pool::Pool as Geom;
use coprune_runtime::LowerCtx;
use rayon::prelude::*;

struct Pool {
    g: Geom,
    max: bool,
}

/// Lowers `MaxPool` (`max`) or `AveragePool`.
pub fn lower(c: &LowerCtx, max: bool) -> Result<Box<dyn GradKernel>> {
    if c.node.outputs.get(1).is_some_and(|o| !o.is_empty()) {
        return Err(crate::kernel::unsupported(c, " (Indices output)"));
    }
    Ok(Box::new(Pool {
        g: Geom::lower(c, max)?,
        max,
    }))
}

impl Pool {
    fn planes(&self) -> (usize, usize) {
        let (x, y) = (self.g.x_shape(), self.g.y_shape());
        (x[2] * x[3], y[2] * y[3])
    }
}

impl GradKernel for Pool {
    fn forward(&self, x: &[Option<&Buf>], _train: bool) -> Result<Forward> {
        let xb = input(x, 0)?;
        let (hw, out) = self.planes();
        let mut y = vec![0f32; xb.len() / hw.max(1) * out];
        y.par_chunks_mut(out)
            .zip(xb.data.par_chunks(hw))
            .for_each(|(ys, xs)| self.g.plane(xs, ys));
        Ok(Forward::one(Buf::new(self.g.y_shape().to_vec(), y)))
    }

    fn backward(
        &self,
        x: &[Option<&Buf>],
        y: &[&Buf],
        dy: &[&Buf],
        need: &[bool],
    ) -> Result<Vec<Option<Buf>>> {
        if !needs(need, 0) {
            return Ok(vec![None; x.len()]);
        }
        let xb = input(x, 0)?;
        let (hw, out) = self.planes();
        let mut dx = vec![0f32; xb.len()];
        dx.par_chunks_mut(hw)
            .zip(xb.data.par_chunks(hw))
            .zip(y[0].data.par_chunks(out))
            .zip(dy[0].data.par_chunks(out))
            .for_each(|(((dxs, xs), ys), gs)| {
                self.g.each_window(|o, idx, count| {
                    if self.max {
                        if let Some(&i) = idx.iter().find(|&&i| xs[i as usize] == ys[o]) {
                            dxs[i as usize] += gs[o];
                        }
                    } else {
                        let v = gs[o] / count as f32;
                        idx.iter().for_each(|&i| dxs[i as usize] += v);
                    }
                })
            });
        let mut r = vec![None; x.len()];
        r[0] = Some(Buf::new(xb.shape.clone(), dx));
        Ok(r)
    }
}
