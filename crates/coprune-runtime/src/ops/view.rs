//! Ops that only relabel the shape (Identity, Dropout at inference, Flatten, Reshape, Squeeze,
//! Unsqueeze): the data is passed through under the inferred output shape.

use crate::kernel::{Kernel, LowerCtx};
use crate::{Result, RuntimeError, Value};

struct View {
    shape: Vec<usize>,
}

impl Kernel for View {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = inputs
            .first()
            .copied()
            .flatten()
            .ok_or_else(|| RuntimeError::Input {
                name: "#0".into(),
                msg: "missing".into(),
            })?;
        Ok(vec![x.reshaped(self.shape.clone())])
    }
}

/// Lowers a view op.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    Ok(Box::new(View {
        shape: c.out_shape(0)?,
    }))
}
