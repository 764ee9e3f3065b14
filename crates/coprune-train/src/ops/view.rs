//! Ops that only relabel the shape (Identity, Flatten, Reshape, Squeeze, Unsqueeze, and Dropout,
//! which is an identity here: exported inference graphs carry it with training off). The
//! gradient is the output gradient under the input's shape.

use crate::kernel::{input, needs, Buf, Forward, GradKernel};
use crate::Result;
use coprune_runtime::LowerCtx;

struct View {
    shape: Vec<usize>,
}

impl GradKernel for View {
    fn forward(&self, x: &[Option<&Buf>], _train: bool) -> Result<Forward> {
        Ok(Forward::one(Buf::new(
            self.shape.clone(),
            input(x, 0)?.data.clone(),
        )))
    }

    fn backward(
        &self,
        x: &[Option<&Buf>],
        _y: &[&Buf],
        dy: &[&Buf],
        need: &[bool],
    ) -> Result<Vec<Option<Buf>>> {
        let mut out = vec![None; x.len()];
        if needs(need, 0) {
            out[0] = Some(Buf::new(input(x, 0)?.shape.clone(), dy[0].data.clone()));
        }
        Ok(out)
    }
}

/// Lowers a view op.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    Ok(Box::new(View {
        shape: c.out_shape(0)?,
    }))
}
