//! `GlobalAveragePool` / `GlobalMaxPool` kernels: one value per (sample, channel).

use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::{Result, Value};

struct Global {
    y: Vec<usize>,
    plane: usize,
    max: bool,
}

impl Kernel for Global {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = f32_in(inputs, 0)?;
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
