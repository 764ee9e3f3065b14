//! `GlobalAveragePool` / `GlobalMaxPool` kernels: one value per (sample, channel).

use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::{Result, Value};

struct Global {
    y: Vec<usize>,
    plane: usize,
    max: bool,
    /// The input is channels-last (`[N][H·W][C]`, see `layout`); the `[N, C, 1, 1]` output is
    /// the same either way.
    nhwc: bool,
}

impl Kernel for Global {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = f32_in(inputs, 0)?;
        if self.nhwc {
            // Each channel's values summed (or maxed) pixel by pixel in the planar order.
            let c = self.y[1];
            let mut y = Vec::with_capacity(x.len() / self.plane.max(1));
            for sample in x.chunks(self.plane.max(1) * c) {
                let init = if self.max { f32::NEG_INFINITY } else { 0.0 };
                let mut acc = vec![init; c];
                for px in sample.chunks_exact(c) {
                    for (a, &v) in acc.iter_mut().zip(px) {
                        *a = if self.max { a.max(v) } else { *a + v };
                    }
                }
                if !self.max {
                    acc.iter_mut().for_each(|a| *a /= self.plane as f32);
                }
                y.extend(acc);
            }
            return Ok(vec![Value::f32(self.y.clone(), y)]);
        }
        let y = x
            .chunks(self.plane.max(1))
            .map(|c| {
                if self.max {
                    c.iter().copied().fold(f32::NEG_INFINITY, f32::max)
                } else {
                    c.iter().sum::<f32>() / self.plane as f32
                }
            })
            .collect();
        Ok(vec![Value::f32(self.y.clone(), y)])
    }
}

fn lower(c: &LowerCtx, max: bool) -> Result<Box<dyn Kernel>> {
    let x = c.in_shape(0)?;
    Ok(Box::new(Global {
        y: c.out_shape(0)?,
        plane: x[2..].iter().product(),
        max,
        nhwc: c.nhwc_in,
    }))
}

/// Lowers `GlobalAveragePool`.
pub fn lower_average(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    lower(c, false)
}

/// Lowers `GlobalMaxPool`.
pub fn lower_max(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    lower(c, true)
}
