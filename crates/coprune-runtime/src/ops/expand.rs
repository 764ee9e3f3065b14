//! `Expand` kernel: numpy broadcast to the inferred output shape (f32 or integer data).

use super::binary::{broadcast_to, bstrides};
use crate::kernel::{value_in, Kernel, LowerCtx};
use crate::{Result, Value};

struct Expand {
    strides: Vec<usize>,
    out: Vec<usize>,
}

/// Lowers `Expand`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let out = c.out_shape(0)?;
    Ok(Box::new(Expand {
        strides: bstrides(&c.in_shape(0)?, &out),
        out,
    }))
}

impl Kernel for Expand {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        Ok(vec![match value_in(inputs, 0)? {
            Value::F32 { data, .. } => Value::f32(
                self.out.clone(),
                broadcast_to(data, &self.strides, &self.out),
            ),
            Value::I64 { data, .. } => Value::I64 {
                shape: self.out.clone(),
                data: broadcast_to(data, &self.strides, &self.out),
            },
        }])
    }
}
