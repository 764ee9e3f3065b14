//! `Split` along one axis (the runtime's geometry); the input gradient is the output gradients
//! put back side by side.

use crate::kernel::{input, needs, Buf, Forward, GradKernel};
use crate::Result;
use coprune_runtime::ops::split::SplitGeom;
use coprune_runtime::LowerCtx;

struct Split(SplitGeom);

/// Lowers `Split`.
pub fn lower(c: &LowerCtx) -> Result<Box<dyn GradKernel>> {
    Ok(Box::new(Split(SplitGeom::from_ctx(c)?)))
}

impl GradKernel for Split {
    fn forward(&self, x: &[Option<&Buf>], _train: bool) -> Result<Forward> {
        let xb = input(x, 0)?;
        Ok(Forward {
            outputs: self
                .0
                .split(&xb.data)
                .into_iter()
                .zip(&self.0.outs)
                .map(|(d, s)| Buf::new(s.clone(), d))
                .collect(),
            state: Vec::new(),
        })
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
            let xb = input(x, 0)?;
            let parts: Vec<&[f32]> = dy.iter().map(|d| d.data.as_slice()).collect();
            out[0] = Some(Buf::new(xb.shape.clone(), self.0.join(&parts)));
        }
        Ok(out)
    }
}
