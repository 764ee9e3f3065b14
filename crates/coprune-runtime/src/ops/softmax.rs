//! `Softmax` kernel along one axis (opset 13 semantics).

use crate::kernel::{f32_in, Kernel, LowerCtx};
use crate::{Result, Value};

struct Softmax {
    shape: Vec<usize>,
    n: usize,
    inner: usize,
}

/// Lowers `Softmax`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn Kernel>> {
    let shape = c.in_shape(0)?;
    let r = shape.len() as i64;
    let axis = c.node.attr_int("axis", -1)?;
    let axis = (if axis < 0 { axis + r } else { axis }) as usize;
    Ok(Box::new(Softmax {
        n: shape[axis],
        inner: shape[axis + 1..].iter().product(),
        shape,
    }))
}

impl Kernel for Softmax {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>> {
        let x = f32_in(inputs, 0)?;
        let mut y = x.to_vec();
        softmax_in_place(&mut y, self.n, self.inner);
        Ok(vec![Value::f32(self.shape.clone(), y)])
    }
}

/// Softmax along an axis of `n` positions with `inner` elements after it, in place (shared with
/// the trainer).
pub fn softmax_in_place(y: &mut [f32], n: usize, inner: usize) {
    for block in y.chunks_mut((n * inner).max(1)) {
        for i in 0..inner {
            let max = (0..n)
                .map(|j| block[j * inner + i])
                .fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for j in 0..n {
                let e = (block[j * inner + i] - max).exp();
                block[j * inner + i] = e;
                sum += e;
            }
            for j in 0..n {
                block[j * inner + i] /= sum;
            }
        }
    }
}
