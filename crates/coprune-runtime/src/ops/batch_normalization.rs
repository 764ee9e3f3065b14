//! `BatchNormalization` kernel (inference): y = scale·(x − mean)/√(var + ε) + bias per channel,
//! folded into one multiply-add.

use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::{Result, Value};

struct BatchNorm {
    shape: Vec<usize>,
    mul: Vec<f32>,
    add: Vec<f32>,
    plane: usize,
}

/// Lowers `BatchNormalization` with constant statistics.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    if c.node.attr_int("training_mode", 0)? != 0 {
        return Err(c.unsupported(" (training mode)"));
    }
    let eps = c.node.attr_float("epsilon", 1e-5)?;
    let get = |i| {
        c.const_f32(i)
            .ok_or_else(|| c.unsupported(" (statistics computed at run time)"))
    };
    let (s, b, m, v) = (get(1)?, get(2)?, get(3)?, get(4)?);
    let mul: Vec<f32> = s
        .iter()
        .zip(&v)
        .map(|(s, v)| s / (v + eps).sqrt())
        .collect();
    let add: Vec<f32> = b
        .iter()
        .zip(&m)
        .zip(&mul)
        .map(|((b, m), k)| b - m * k)
        .collect();
    let shape = c.in_shape(0)?;
    Ok(Box::new(BatchNorm {
        plane: shape[2..].iter().product(),
        shape,
        mul,
        add,
    }))
}

impl Kernel for BatchNorm {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = f32_in(inputs, 0)?;
        let c = self.mul.len();
        let mut y = x.to_vec();
        for (i, chunk) in y.chunks_mut(self.plane.max(1)).enumerate() {
            let ch = i % c;
            chunk
                .iter_mut()
                .for_each(|v| *v = *v * self.mul[ch] + self.add[ch]);
        }
        Ok(vec![Value::f32(self.shape.clone(), y)])
    }
}
