//! `Concat`: copies along one axis; each input's gradient is its slice of the output gradient.

use crate::kernel::{needs, Buf, Forward, GradKernel};
use crate::{Result, TrainError};
use coprune_runtime::LowerCtx;

struct Concat {
    /// Per input: size along the axis.
    sizes: Vec<usize>,
    outer: usize,
    inner: usize,
    y: Vec<usize>,
}

/// Lowers `Concat`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    let y = c.out_shape(0)?;
    let r = y.len() as i64;
    let axis = c.node.attr_int("axis", 0)?;
    let axis = (if axis < 0 { axis + r } else { axis }).clamp(0, r.max(1) - 1) as usize;
    let sizes = (0..c.inputs.len())
        .map(|i| Ok(c.in_shape(i)?.get(axis).copied().unwrap_or(1)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Box::new(Concat {
        sizes,
        outer: y[..axis].iter().product(),
        inner: y[axis + 1..].iter().product(),
        y,
    }))
}

impl GradKernel for Concat {
    fn forward(&self, x: &[Option<&Buf>], _train: bool) -> Result<Forward> {
        let total: usize = self.sizes.iter().sum();
        let mut y = vec![0f32; self.outer * total * self.inner];
        let mut off = 0;
        for (i, &s) in self.sizes.iter().enumerate() {
            let xb = x.get(i).copied().flatten().ok_or_else(|| {
                TrainError::Mismatch(format!("Concat input {i} is not a float tensor"))
            })?;
            let w = s * self.inner;
            for o in 0..self.outer {
                y[o * total * self.inner + off..][..w]
                    .copy_from_slice(&xb.data[o * w..(o + 1) * w]);
            }
            off += w;
        }
        Ok(Forward::one(Buf::new(self.y.clone(), y)))
    }

    fn backward(
        &self,
        x: &[Option<&Buf>],
        _y: &[&Buf],
        dy: &[&Buf],
        need: &[bool],
    ) -> Result<Vec<Option<Buf>>> {
        let total: usize = self.sizes.iter().sum();
        let mut out = vec![None; x.len()];
        let mut off = 0;
        for (i, &s) in self.sizes.iter().enumerate() {
            let w = s * self.inner;
            if needs(need, i) {
                if let Some(xb) = x.get(i).copied().flatten() {
                    let mut d = Vec::with_capacity(self.outer * w);
                    for o in 0..self.outer {
                        d.extend_from_slice(&dy[0].data[o * total * self.inner + off..][..w]);
                    }
                    out[i] = Some(Buf::new(xb.shape.clone(), d));
                }
            }
            off += w;
        }
        Ok(out)
    }
}
