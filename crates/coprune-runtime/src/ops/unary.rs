//! Element-wise unary kernels share this: f applied to every element.

use crate::kernel::{f32_in, Kernel};
use crate::{Result, Value};

/// Applies `f` element-wise.
pub struct Map<F: Fn(f32) -> f32 + Send + Sync>(pub F);

impl<F: Fn(f32) -> f32 + Send + Sync> Kernel for Map<F> {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = f32_in(inputs, 0)?;
        let shape = inputs[0].map(|v| v.shape().to_vec()).unwrap_or_default();
        // A recycled output: a Relu after a residual Add is as large as a convolution's.
        let mut y = crate::buffers::take(x.len());
        for (o, &v) in y.iter_mut().zip(x) {
            *o = (self.0)(v);
        }
        Ok(vec![Value::f32(shape, y)])
    }
}
